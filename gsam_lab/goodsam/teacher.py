"""The teacher assistant (TA): a SegFormer trained on pinhole images, read out on our classes.

One entry point, :func:`load_teacher`, reads like ``sam.load_sam``: a name from the registry
:data:`TEACHERS` (``"tiny-synth"`` is bundled; the Cityscapes SegFormers come from the Hugging Face
hub or its cache), a Hugging Face model id, a local ``save_pretrained`` folder, or a ``.pt`` file
written by :func:`save_teacher`::

    teacher = load_teacher("tiny-synth")                 # bundled, 9 synthetic classes
    out = teacher(images)                                # images B x 3 x H x W float in [0, 1]
    out.logits                                           # B x K x H/4 x W/4 (K = teacher.num_classes)
    [f.shape for f in out.features]                      # B x C_s x H/2^(s+2) x W/2^(s+2), s = 0..3
    teacher.predict(images)                              # B x K x H x W logits

Teachers with other classes (Cityscapes' 19) are mapped onto ``classes`` (default ``data.CLASSES``)
by :mod:`gsam_lab.goodsam.classmap`; logits always come out over ``teacher.classes``.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from torch import nn

from gsam_lab.bundled import ASSETS_DIR, check_bundled
from gsam_lab.data.classes import CLASSES
from gsam_lab.registry import Registry
from gsam_lab.utils import atomic_save, check_finite, load_torch_file, resolve_device

from .classmap import class_groups, map_logits
from .segformer_config import TINY_SYNTH_CONFIG, segformer_config

__all__ = ["Teacher", "TeacherOutput", "TeacherSpec", "TEACHERS", "list_teachers", "register_teacher",
           "load_teacher", "save_teacher",
           "TeacherLoadError", "IMAGENET_MEAN", "IMAGENET_STD"]

TRAIN_SCRIPT = "data_scripts/train_teacher.py"
#: ``format`` tag of files written by :func:`save_teacher`.
TEACHER_FORMAT = "gsam_lab.teacher/1"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class TeacherLoadError(ValueError):
    """A teacher's weights are missing, unreadable or of the wrong kind."""


class TeacherOutput(NamedTuple):
    """What a :class:`Teacher` returns for ``B x 3 x H x W`` images.

    Attributes:
        logits: ``B x K x H/4 x W/4`` float, over ``teacher.classes`` (after class mapping).
        features: 4 encoder-stage tensors, stage ``s`` is ``B x C_s x H/2^(s+2) x W/2^(s+2)``
            (``C_s = teacher.feature_channels[s]``; sizes round up when H, W are not multiples of 32).
    """

    logits: torch.Tensor
    features: Tuple[torch.Tensor, ...]


class Teacher(nn.Module):
    """A Hugging Face ``SegformerForSemanticSegmentation`` with input normalisation and class mapping.

    Args:
        segformer: the network (its ``config.id2label`` names the source classes).
        classes: target class names the logits are mapped to (default ``data.CLASSES``).
        aliases: source -> target name aliases for :func:`~gsam_lab.goodsam.classmap.class_groups`
            (default: the Cityscapes -> synthetic table).
        mean, std: per-channel normalisation applied to ``[0, 1]`` images (ImageNet, as SegFormer).
        name: a label for printing.

    Attributes:
        classes: tuple of the K target class names; ``num_classes`` = K.
        source_classes: the network's own class names (S of them).
        groups: K-tuple of source indices merged into each target class.
        feature_channels: the 4 encoder stages' widths.
    """

    def __init__(self, segformer: nn.Module, classes: Sequence[str] = CLASSES,
                 aliases: Optional[Dict[str, str]] = None, mean: Sequence[float] = IMAGENET_MEAN,
                 std: Sequence[float] = IMAGENET_STD, name: str = "teacher"):
        super().__init__()
        self.segformer = segformer
        cfg = segformer.config
        self.source_classes: Tuple[str, ...] = tuple(str(cfg.id2label[i]) for i in range(cfg.num_labels))
        self.classes: Tuple[str, ...] = tuple(str(c) for c in classes)
        self.groups = class_groups(self.source_classes, self.classes, aliases)
        self.feature_channels: Tuple[int, ...] = tuple(int(c) for c in cfg.hidden_sizes)
        self.name = name
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1), persistent=False)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @staticmethod
    def _check_images(images: torch.Tensor) -> None:
        if not isinstance(images, torch.Tensor) or images.dim() != 4 or images.shape[1] != 3:
            shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
            raise ValueError(f"teacher input must be a B x 3 x H x W float tensor in [0, 1], got {shape}")
        if not images.is_floating_point():
            raise ValueError(f"teacher input must be float in [0, 1] (divide uint8 images by 255), got {images.dtype}")
        if images.shape[2] < 32 or images.shape[3] < 32:
            raise ValueError(f"teacher input must be at least 32 x 32 pixels, got {tuple(images.shape[2:])}")

    def forward(self, images: torch.Tensor) -> TeacherOutput:
        """``images`` ``B x 3 x H x W`` float in [0, 1] -> :class:`TeacherOutput` (logits at ``H/4``)."""
        self._check_images(images)
        x = (images.to(self.mean.dtype) - self.mean) / self.std
        out = self.segformer(pixel_values=x, output_hidden_states=True, return_dict=True)
        feats = tuple(out.hidden_states[-4:])
        return TeacherOutput(map_logits(out.logits, self.groups), feats)

    def predict(self, images: torch.Tensor) -> torch.Tensor:
        """Logits upsampled (bilinear) to the input size: ``B x K x H x W``."""
        logits = self(images).logits
        return F.interpolate(logits, size=images.shape[-2:], mode="bilinear", align_corners=False)

    def extra_repr(self) -> str:
        return f"name={self.name!r}, classes={len(self.classes)}, source_classes={len(self.source_classes)}"


# ----------------------------------------------------------------------------------------------
# registry
# ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class TeacherSpec:
    """One named teacher.

    Attributes:
        name: registry key.
        source: the bundled file name (``bundled=True``) or a Hugging Face model id.
        bundled: weights ship in ``gsam_lab/assets``.
        description: one line for listings.
    """

    name: str
    source: str
    bundled: bool = False
    description: str = ""

    def location(self) -> Union[Path, str]:
        """The bundled file, or the Hugging Face id (read from the hub or its cache)."""
        return ASSETS_DIR / self.source if self.bundled else self.source

    def present(self) -> bool:
        """The bundled file exists, or the model's ``config.json`` is in the Hugging Face cache."""
        if self.bundled:
            return self.location().is_file()
        try:
            from huggingface_hub import try_to_load_from_cache
            return isinstance(try_to_load_from_cache(self.source, "config.json"), str)
        except Exception:  # noqa: BLE001 - no hub client, or an unreadable cache: not present
            return False


#: name -> :class:`TeacherSpec` (a :class:`gsam_lab.registry.Registry`; ``register_teacher`` adds one)
TEACHERS: "Registry[TeacherSpec]" = Registry("teacher", hint="or a Hugging Face SegFormer id, a folder or a .pt file",
                                             specs=(
    TeacherSpec("tiny-synth", "teacher_tiny_synth.pt", bundled=True,
                description="tiny SegFormer (~2.3M params) trained on synthetic 256 x 512 pinhole renders, 9 classes"),
    TeacherSpec("segformer-b5-cityscapes", "nvidia/segformer-b5-finetuned-cityscapes-1024-1024",
                description="GoodSAM's TA: SegFormer-B5 (85M) fine-tuned on Cityscapes, 19 classes"),
    TeacherSpec("segformer-b2-cityscapes", "nvidia/segformer-b2-finetuned-cityscapes-1024-1024",
                description="SegFormer-B2 (27M) fine-tuned on Cityscapes, 19 classes"),
    TeacherSpec("segformer-b0-cityscapes", "nvidia/segformer-b0-finetuned-cityscapes-1024-1024",
                description="SegFormer-B0 (3.7M) fine-tuned on Cityscapes, 19 classes"),
))


def list_teachers() -> List[str]:
    """Names accepted by :func:`load_teacher` (besides Hugging Face ids, folders and files)."""
    return TEACHERS.names()


def register_teacher(spec: TeacherSpec, overwrite: bool = False) -> TeacherSpec:
    """Add a named teacher (a bundled file name or a Hugging Face id) to :data:`TEACHERS`."""
    return TEACHERS.register(spec, overwrite)


def save_teacher(teacher: Teacher, path: Union[str, os.PathLike], meta: Optional[dict] = None,
                 half: bool = True) -> Path:
    """Write ``teacher`` (config, source classes, weights in fp16 by default, ``meta``) atomically."""
    sd = teacher.segformer.state_dict()
    if half:
        sd = {k: (v.half() if v.is_floating_point() else v) for k, v in sd.items()}
    payload = {"format": TEACHER_FORMAT, "config": teacher.segformer.config.to_dict(),
               "source_classes": list(teacher.source_classes), "state_dict": sd, "meta": dict(meta or {})}
    return atomic_save(payload, path)


def _from_file(path: Path, classes, aliases, pretrained: bool, name: str) -> Teacher:
    from transformers import SegformerConfig, SegformerForSemanticSegmentation

    check_bundled(path, TeacherLoadError)
    try:
        payload = load_torch_file(path, TeacherLoadError)
    except TeacherLoadError as e:    # unreadable, or pickled objects refused (nothing in them ran)
        raise TeacherLoadError(f"cannot read teacher weights: {e}; re-create them with {TRAIN_SCRIPT}") from None
    if not isinstance(payload, dict) or payload.get("format") != TEACHER_FORMAT:
        raise TeacherLoadError(f"{path} is not a gsam_lab teacher file (expected format {TEACHER_FORMAT!r}); "
                               f"for a Hugging Face model pass its folder or id")
    cfg = SegformerConfig.from_dict(payload["config"])
    model = SegformerForSemanticSegmentation(cfg)
    if pretrained:
        check_finite(payload["state_dict"], path, TeacherLoadError)
        try:
            model.load_state_dict(payload["state_dict"], strict=True)
        except RuntimeError as e:
            raise TeacherLoadError(f"{path}: weights do not fit its config: {str(e).splitlines()[0]}") from None
    return Teacher(model, classes=classes, aliases=aliases, name=name)


def _from_hf(source: str, classes, aliases, local_files_only: Optional[bool], name: str) -> Teacher:
    from transformers import SegformerForSemanticSegmentation

    if local_files_only is None:
        local_files_only = os.environ.get("HF_HUB_OFFLINE", "0") not in ("", "0") or Path(source).is_dir()
    try:
        model = SegformerForSemanticSegmentation.from_pretrained(source, local_files_only=local_files_only)
    except (OSError, ValueError) as e:
        raise TeacherLoadError(
            f"cannot load the SegFormer {source!r} ({'local files only' if local_files_only else 'hub or cache'}): "
            f"{str(e).splitlines()[0]}. Expected a Hugging Face model id reachable online or in the HF cache, "
            f"or a folder written by save_pretrained (config.json + weights). Offline, the bundled "
            f"load_teacher('tiny-synth') always works.") from None
    check_finite(model.state_dict(), source, TeacherLoadError)
    return Teacher(model, classes=classes, aliases=aliases, name=name)


def load_teacher(name_or_path: Union[str, os.PathLike] = "tiny-synth", device: Union[str, torch.device] = "auto",
                 classes: Sequence[str] = CLASSES, aliases: Optional[Dict[str, str]] = None,
                 pretrained: bool = True, local_files_only: Optional[bool] = None, seed: int = 0) -> Teacher:
    """Load a teacher assistant, in eval mode on ``device``.

    Args:
        name_or_path: a :data:`TEACHERS` name (``"tiny-synth"``, ``"segformer-b5-cityscapes"``, ...), a
            Hugging Face SegFormer id (``"nvidia/segformer-b5-finetuned-cityscapes-1024-1024"``), a local
            ``save_pretrained`` folder, or a ``.pt`` file from :func:`save_teacher`.
        device: ``"auto"`` (CUDA, then MPS, then CPU) or any torch device.
        classes: the classes the logits are mapped to (default ``data.CLASSES``).
        aliases: extra source -> target class aliases (default: the Cityscapes table of
            :mod:`~gsam_lab.goodsam.classmap`).
        pretrained: ``False`` returns the ``tiny-synth`` architecture with random weights (seeded by
            ``seed``; tests, training from scratch). Only for bundled / ``.pt`` teachers.
        local_files_only: for hub ids; default ``True`` when ``HF_HUB_OFFLINE`` is set or for folders.

    Raises:
        ValueError: unknown name (lists :data:`TEACHERS`).
        TeacherLoadError: missing or unreadable weights (names the expected path and the script).
        ClassMappingError: the teacher's classes cannot produce every class in ``classes``.
    """
    dev = resolve_device(device)
    key = os.fspath(name_or_path)
    if key in TEACHERS:
        spec = TEACHERS[key]
        name = spec.name
        if spec.bundled:
            path = ASSETS_DIR / spec.source
            if not pretrained:
                from transformers import SegformerForSemanticSegmentation
                torch.manual_seed(seed)
                teacher = Teacher(SegformerForSemanticSegmentation(segformer_config(CLASSES, TINY_SYNTH_CONFIG)),
                                  classes=classes, aliases=aliases, name=name)
                return teacher.to(dev).eval()
            if not path.is_file():
                raise TeacherLoadError(f"the bundled weights of teacher {key!r} are missing: expected {path}. "
                                       f"Re-create them with `python {TRAIN_SCRIPT}`.")
            teacher = _from_file(path, classes, aliases, True, name)
        else:
            teacher = _from_hf(spec.source, classes, aliases, local_files_only, name)
    else:
        path = Path(key).expanduser()
        if path.is_file():
            teacher = _from_file(path, classes, aliases, pretrained, path.stem)
        elif path.is_dir() or ("/" in key and not key.startswith((".", "/", "~")) and not path.suffix):
            teacher = _from_hf(key, classes, aliases, local_files_only, key)
        elif key.endswith((".pt", ".pth", ".bin")) or os.sep in key:
            raise TeacherLoadError(f"no teacher file or folder at {path}")
        else:
            raise ValueError(f"unknown teacher {key!r}; expected one of {sorted(TEACHERS)}, a Hugging Face "
                             f"SegFormer id (owner/name), a local folder or a .pt file")
    return teacher.to(dev).eval()
