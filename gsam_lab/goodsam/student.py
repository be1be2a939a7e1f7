"""The compact GoodSAM student: a SegFormer (MiT encoder + all-MLP decoder) built from a named config.

GoodSAM distils into SegFormer-B0 / B1 / B2 (3.7M / 13.7M / 27.4M parameters with Cityscapes' 19
classes); ``"tiny"`` is a smaller config of the same architecture for the quick CPU profile. Weights
are randomly initialised from the config (no download)::

    student = Student("b0", num_classes=9)
    out = student(images)          # images B x 3 x H x W float in [0, 1]
    out.logits                     # B x K x H/4 x W/4
    out.features                   # 4 tensors, stage s: B x C_s x H/2^(s+2) x W/2^(s+2)
    student.predict(images)        # B x K x H x W logits (bilinear upsampling)

The output has the same fields as the teacher assistant's (``TeacherOutput``), so MKA can pair the
student's and the TA's stages one to one.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from torch import nn

from gsam_lab.registry import BundledFile, Registry
from gsam_lab.utils import atomic_save, check_finite, load_torch_file, resolve_device

__all__ = ["Student", "StudentOutput", "STUDENT_CONFIGS", "StudentSpec", "STUDENTS", "list_students",
           "register_student", "load_student", "count_parameters"]

_HEADS = (1, 2, 5, 8)

#: name -> SegFormer architecture (``transformers.SegformerConfig`` fields). b0-b5 are the MiT-B0..B5
#: encoders of the SegFormer paper with their decoder widths (GoodSAM's students are b0-b2; b5 is its
#: TA's architecture); "tiny" is ours (quick CPU profile).
STUDENT_CONFIGS: Dict[str, dict] = {
    "tiny": dict(hidden_sizes=(16, 32, 64, 128), depths=(1, 1, 1, 1), num_attention_heads=(1, 1, 2, 4),
                 decoder_hidden_size=64, drop_path_rate=0.0, classifier_dropout_prob=0.0),
    "b0": dict(hidden_sizes=(32, 64, 160, 256), depths=(2, 2, 2, 2), num_attention_heads=_HEADS,
               decoder_hidden_size=256, drop_path_rate=0.1, classifier_dropout_prob=0.1),
    "b1": dict(hidden_sizes=(64, 128, 320, 512), depths=(2, 2, 2, 2), num_attention_heads=_HEADS,
               decoder_hidden_size=256, drop_path_rate=0.1, classifier_dropout_prob=0.1),
    "b2": dict(hidden_sizes=(64, 128, 320, 512), depths=(3, 4, 6, 3), num_attention_heads=_HEADS,
               decoder_hidden_size=768, drop_path_rate=0.1, classifier_dropout_prob=0.1),
    # larger SegFormers, for comparison: b5 is the architecture of GoodSAM's TA (84.7M with 19 classes)
    "b3": dict(hidden_sizes=(64, 128, 320, 512), depths=(3, 4, 18, 3), num_attention_heads=_HEADS,
               decoder_hidden_size=768, drop_path_rate=0.1, classifier_dropout_prob=0.1),
    "b4": dict(hidden_sizes=(64, 128, 320, 512), depths=(3, 8, 27, 3), num_attention_heads=_HEADS,
               decoder_hidden_size=768, drop_path_rate=0.1, classifier_dropout_prob=0.1),
    "b5": dict(hidden_sizes=(64, 128, 320, 512), depths=(3, 6, 40, 3), num_attention_heads=_HEADS,
               decoder_hidden_size=768, drop_path_rate=0.1, classifier_dropout_prob=0.1),
}

# ImageNet statistics: SegFormer's usual input normalisation (images arrive in [0, 1])
_MEAN = (0.485, 0.456, 0.406)
_STD = (0.229, 0.224, 0.225)


class StudentOutput(NamedTuple):
    """``logits`` B x K x H/4 x W/4; ``features``: 4 encoder stages, stage s B x C_s x H/2^(s+2) x W/2^(s+2)."""
    logits: torch.Tensor
    features: Tuple[torch.Tensor, ...]


def _segformer_config(name: str, num_classes: int, dropout: Optional[bool]):
    from transformers import SegformerConfig
    if not isinstance(name, str) or name not in STUDENT_CONFIGS:
        raise ValueError(f"unknown student config {name!r}; expected one of {', '.join(map(repr, STUDENT_CONFIGS))}")
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive int, got {num_classes!r}")
    arch = {k: (list(v) if isinstance(v, tuple) else v) for k, v in STUDENT_CONFIGS[name].items()}
    if dropout is False:
        arch.update(drop_path_rate=0.0, classifier_dropout_prob=0.0)
    return SegformerConfig(num_labels=num_classes, semantic_loss_ignore_index=255, **arch)


class Student(nn.Module):
    """A SegFormer student for ``num_classes`` classes, built from ``STUDENT_CONFIGS[config]``.

    Args:
        config: ``"tiny" | "b0" | "b1" | "b2"`` (GoodSAM's students) or ``"b3" | "b4" | "b5"``.
        num_classes: K (the synthetic world has 9; Cityscapes 19).
        classes: optional class names (length K), kept for display.
        dropout: ``False`` turns off stochastic depth and classifier dropout (bit-reproducible training
            across process layouts); ``None`` keeps the config's values.
        seed: if given, the random initialisation is drawn from this seed (without touching the global RNG).
    """

    def __init__(self, config: str = "b0", num_classes: int = 9, classes: Optional[Sequence[str]] = None,
                 dropout: Optional[bool] = None, seed: Optional[int] = None):
        super().__init__()
        from transformers import SegformerForSemanticSegmentation
        hf_cfg = _segformer_config(config, num_classes, dropout)
        if classes is not None and len(classes) != num_classes:
            raise ValueError(f"classes has {len(classes)} names but num_classes is {num_classes}")
        if seed is None:
            self.model = SegformerForSemanticSegmentation(hf_cfg)
        else:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                self.model = SegformerForSemanticSegmentation(hf_cfg)
        self.config_name = config
        self.num_classes = num_classes
        self.classes = tuple(classes) if classes is not None else tuple(f"class_{k}" for k in range(num_classes))
        self.dropout = dropout
        self.feature_channels: Tuple[int, ...] = tuple(int(c) for c in hf_cfg.hidden_sizes)
        self.register_buffer("mean", torch.tensor(_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(_STD).view(1, 3, 1, 1), persistent=False)

    # -- description ------------------------------------------------------------------------------
    @property
    def spec(self) -> dict:
        """What identifies this architecture (stored in checkpoints and compared on resume)."""
        return {"config": self.config_name, "num_classes": self.num_classes, "dropout": self.dropout}

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def extra_repr(self) -> str:
        return (f"config={self.config_name!r}, num_classes={self.num_classes}, "
                f"params={self.num_parameters() / 1e6:.2f}M")

    # -- forward ----------------------------------------------------------------------------------
    def forward(self, images: torch.Tensor) -> StudentOutput:
        """``images`` B x 3 x H x W float in [0, 1] -> :class:`StudentOutput` (logits at H/4 x W/4)."""
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"images must be B x 3 x H x W, got shape {tuple(images.shape)}")
        x = (images - self.mean.to(images.dtype)) / self.std.to(images.dtype)
        out = self.model(pixel_values=x, output_hidden_states=True, return_dict=True)
        return StudentOutput(out.logits, tuple(out.hidden_states))

    @torch.no_grad()
    def predict(self, images: torch.Tensor) -> torch.Tensor:
        """B x 3 x H x W in [0, 1] -> B x K x H x W logits (the H/4 logits upsampled bilinearly)."""
        logits = self.forward(images).logits
        return F.interpolate(logits.float(), size=images.shape[-2:], mode="bilinear", align_corners=False)

    # -- files ------------------------------------------------------------------------------------
    def save(self, path: Union[str, Path], meta: Optional[dict] = None) -> Path:
        """Write ``{"spec", "classes", "state_dict", "meta"}`` atomically (read back by :func:`load_student`)."""
        state = {k: v.detach().cpu() for k, v in self.state_dict().items()}
        return atomic_save({"kind": "gsam_lab.goodsam.Student", "spec": self.spec, "classes": list(self.classes),
                            "state_dict": state, "meta": dict(meta or {})}, path)


def count_parameters(config: str, num_classes: int = 19) -> int:
    """Parameters of ``Student(config, num_classes)``, counted on the meta device (no memory, no init time)."""
    with torch.device("meta"):
        return Student(config, num_classes).num_parameters()


@dataclass(frozen=True)
class StudentSpec(BundledFile):
    """One named, trained student: its file in ``gsam_lab/assets`` (made by ``data_scripts/train_student.py``)."""

    name: str
    filename: str
    description: str = ""
    bundled: bool = True
    #: (H, W) of the panoramas it was distilled at: score it there (a student learns the scale it is trained at)
    train_hw: Optional[Tuple[int, int]] = None


#: name -> :class:`StudentSpec` (a :class:`gsam_lab.registry.Registry`; ``register_student`` adds one)
STUDENTS: "Registry[StudentSpec]" = Registry("student", hint="or the path of a file written by Student.save", specs=(
    StudentSpec("tiny-synth", "student_synth.pt", train_hw=(256, 512),
                description="tiny SegFormer student (0.46M) distilled with MKA from DAR pseudo-labels, 9 classes"),
))


def list_students() -> List[str]:
    """Names accepted by :func:`load_student` (besides paths)."""
    return STUDENTS.names()


def register_student(spec: StudentSpec, overwrite: bool = False) -> StudentSpec:
    """Add a named student file to :data:`STUDENTS`."""
    return STUDENTS.register(spec, overwrite)


def load_student(path: Union[str, Path] = "tiny-synth", device="cpu") -> Student:
    """A :class:`Student` from a file written by :meth:`Student.save` (clear error for anything else).

    ``path`` may also be a name of :data:`STUDENTS`: ``"tiny-synth"`` (the default) is the shipped
    0.46M-parameter student distilled with MKA from DAR pseudo-labels (``data_scripts/README.md``).
    """
    if isinstance(path, str) and path in STUDENTS:
        path = STUDENTS[path].location()
        if not path.is_file():
            raise FileNotFoundError(f"the bundled student is not in this installation ({path}); "
                                    "python data_scripts/train_student.py makes one")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no student weights at {path}")
    ck = load_torch_file(path)          # a bundled file's SHA-256 is checked, whatever path reaches it
    if not isinstance(ck, dict) or ck.get("kind") != "gsam_lab.goodsam.Student":
        raise ValueError(f"{path} is not a gsam_lab student file (expected kind 'gsam_lab.goodsam.Student'); "
                         "a training checkpoint is read by train_mka(resume=...)")
    check_finite(ck["state_dict"], path)
    spec = ck["spec"]
    model = Student(spec["config"], spec["num_classes"], classes=ck.get("classes"), dropout=spec.get("dropout"))
    model.load_state_dict(ck["state_dict"])
    return model.to(resolve_device(device)).eval()
