"""``load_sam``: one entry point for the bundled tiny SAM, Meta's checkpoints and bare paths.

Nothing is ever downloaded here: a missing file raises :class:`CheckpointError` that names the
expected path, the official URL and ``data_scripts/download_checkpoints.py``.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Dict, Mapping, Optional, Union

import torch
from segment_anything.modeling import Sam

from gsam_lab.bundled import check_bundled
from gsam_lab.utils import atomic_save, check_finite, load_torch_file, resolve_device

from .registry import DOWNLOAD_SCRIPT, SAM_MODELS, TRAIN_SCRIPT, SamSpec, get_spec

__all__ = ["CheckpointError", "load_sam", "read_state_dict", "infer_sam_type", "encoder_signature",
           "save_tiny_checkpoint"]

PathLike = Union[str, os.PathLike]

#: ``format`` tag of the files written by :func:`save_tiny_checkpoint`.
TINY_FORMAT = "gsam_lab.sam/1"


class CheckpointError(ValueError):
    """A checkpoint is missing, unreadable (corrupt or truncated), or of another model type."""


def _how_to_get(spec: Optional[SamSpec], path: Optional[Path]) -> str:
    lines = []
    if path is not None:
        lines.append(f"  expected file: {path}")
    if spec is not None and spec.url:
        size = f" ({spec.size_bytes:,} bytes)" if spec.size_bytes else ""
        lines.append(f"  official URL:  {spec.url}{size}")
        lines.append(f"  download with: python {DOWNLOAD_SCRIPT} {spec.name}   "
                     f"(or pass checkpoint=<path>; the cache folder is set by $GSAM_LAB_CACHE)")
    elif spec is not None and spec.bundled:
        lines.append(f"  these weights are produced by: python {TRAIN_SCRIPT}")
        lines.append(f"  (or use load_sam({spec.name!r}, pretrained=False) for randomly initialised weights)")
    else:
        lines.append(f"  Meta's checkpoints can be fetched with: python {DOWNLOAD_SCRIPT} vit_b|vit_l|vit_h")
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------------
# reading checkpoints and recognising the model type
# ----------------------------------------------------------------------------------------------

def read_state_dict(path: PathLike, spec: Optional[SamSpec] = None) -> Dict[str, torch.Tensor]:
    """Read a SAM state dict (Meta's plain ``.pth`` or our wrapped ``{"state_dict": ...}`` file).

    Floating tensors stored in fp16 (the bundled tiny model) come back as fp32.

    Raises:
        CheckpointError: the file does not exist, is not a torch checkpoint, is truncated, holds
            no SAM weights or non-finite ones, or is a bundled file whose SHA-256 is not the listed one.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        what = "is a folder, not a file" if path.is_dir() else "does not exist"
        raise CheckpointError(f"SAM checkpoint {path} {what}.\n{_how_to_get(spec, path)}")
    check_bundled(path, CheckpointError)
    try:
        obj = load_torch_file(path, CheckpointError, "torch checkpoint")
    except CheckpointError as e:     # unreadable, or pickled objects refused (nothing in them ran)
        size = path.stat().st_size
        hint = ""
        if spec is not None and spec.size_bytes and size != spec.size_bytes:
            hint = f" The file has {size:,} bytes, the official file {spec.size_bytes:,} (truncated download?)."
        raise CheckpointError(f"{e}.{hint}\n{_how_to_get(spec, path)}") from e
    if isinstance(obj, Mapping):
        for key in ("state_dict", "model"):
            if key in obj and isinstance(obj[key], Mapping):
                obj = obj[key]
                break
    if not isinstance(obj, Mapping) or not any(isinstance(v, torch.Tensor) for v in obj.values()):
        raise CheckpointError(f"{path} holds no model weights (a {type(obj).__name__}, not a state dict).\n"
                              f"{_how_to_get(spec, path)}")
    check_finite(obj, path, CheckpointError)
    return {k: (v.float() if v.is_floating_point() else v) for k, v in obj.items() if isinstance(v, torch.Tensor)}


def encoder_signature(state_dict: Mapping[str, torch.Tensor]) -> Dict[str, int]:
    """The image-encoder shapes that identify a SAM checkpoint.

    Reads ``image_encoder.patch_embed.proj.weight`` (``embed_dim x 3 x patch x patch``),
    ``image_encoder.pos_embed`` (``1 x img/patch x img/patch x embed_dim``) and counts the blocks
    ``image_encoder.blocks.<i>.*``.

    Returns:
        ``{"embed_dim", "depth", "patch_size", "img_size"}``.

    Raises:
        CheckpointError: the state dict has no SAM image encoder.
    """
    w = state_dict.get("image_encoder.patch_embed.proj.weight")
    if w is None or w.ndim != 4:
        some = ", ".join(list(state_dict)[:5])
        raise CheckpointError("not a SAM checkpoint: it has no 'image_encoder.patch_embed.proj.weight' "
                              f"(first keys: {some})")
    blocks = {int(m.group(1)) for k in state_dict
              if (m := re.match(r"image_encoder\.blocks\.(\d+)\.", k))}
    patch = int(w.shape[-1])
    pos = state_dict.get("image_encoder.pos_embed")
    img = int(pos.shape[1]) * patch if pos is not None and pos.ndim == 4 else -1
    return dict(embed_dim=int(w.shape[0]), depth=(max(blocks) + 1) if blocks else 0,
                patch_size=patch, img_size=img)


def infer_sam_type(state_dict: Mapping[str, torch.Tensor]) -> str:
    """The registry name whose encoder shapes match ``state_dict`` (see :func:`encoder_signature`).

    Raises:
        CheckpointError: no registered model has these shapes (the message lists what was found
            and what each known model has).
    """
    for name, spec in SAM_MODELS.items():
        if spec.matches is not None and spec.matches(state_dict):
            return name
    sig = encoder_signature(state_dict)
    for name, spec in SAM_MODELS.items():
        if spec.matches is None and all(sig.get(k) == v for k, v in spec.encoder.items()):
            return name
    known = "; ".join(f"{n}: {s.encoder or 'its own encoder keys'}" for n, s in SAM_MODELS.items())
    raise CheckpointError(f"the checkpoint's image encoder {sig} matches no known SAM model ({known})")


# ----------------------------------------------------------------------------------------------
# the entry point
# ----------------------------------------------------------------------------------------------

def _looks_like_path(s: str) -> bool:
    return os.sep in s or "/" in s or s.endswith((".pth", ".pt", ".bin")) or Path(s).expanduser().exists()


def load_sam(name_or_path: Union[str, os.PathLike] = "tiny-synth", device: Union[str, torch.device] = "auto",
             checkpoint: Optional[PathLike] = None, pretrained: bool = True, seed: int = 0) -> Sam:
    """Build a SAM and load its weights.

    Args:
        name_or_path: a registry name (``"tiny-synth"``, ``"vit_b"``, ``"vit_l"``, ``"vit_h"``; see
            :func:`gsam_lab.sam.list_sams`) or the path of a ``.pth`` file, whose model type is then
            inferred from its tensor shapes (:func:`infer_sam_type`).
        device: ``"auto"`` (CUDA, then MPS, then CPU), ``"cpu"``, ``"cuda:0"``, ...
        checkpoint: weights for a named model: a file, or a folder that holds the official file
            name. Default: the bundled asset (``tiny-synth``) or the cache folder
            ``$GSAM_LAB_CACHE/checkpoints`` (Meta's models; see :mod:`gsam_lab.sam.registry`).
        pretrained: ``False`` skips the weights and returns the randomly initialised network
            (seeded by ``seed``); used by tests and for training from scratch.
        seed: seed of the random initialisation (``pretrained=False``).

    Returns:
        ``segment_anything.modeling.Sam`` in eval mode on ``device``, fp32.

    Raises:
        ValueError: unknown name (the message lists the known ones).
        CheckpointError: missing file, unreadable (corrupt / truncated) file, or a checkpoint of
            another model type. The message names the expected path, the official URL and
            ``data_scripts/download_checkpoints.py``. Nothing is downloaded.
    """
    dev = resolve_device(device)
    key = os.fspath(name_or_path)
    if not key.strip():
        raise ValueError(f"name_or_path is empty: give a model name ({', '.join(SAM_MODELS)}) or a checkpoint path")
    if key in SAM_MODELS:
        spec = get_spec(key)
        if not pretrained:
            return spec.build(seed).to(dev).eval()
        path = Path(checkpoint).expanduser() if checkpoint is not None else spec.location()
        if path.is_dir():
            path = path / spec.filename
        if not path.is_file():
            if spec.bundled and checkpoint is None:
                raise CheckpointError(
                    f"the bundled weights of {spec.name!r} are not in this installation.\n"
                    f"{_how_to_get(spec, path)}")
            raise CheckpointError(f"no checkpoint for SAM {spec.name!r} at {path}.\n{_how_to_get(spec, path)}")
        state = read_state_dict(path, spec)
        try:
            found = infer_sam_type(state)
        except CheckpointError as e:
            raise CheckpointError(f"{path} is not a {spec.name!r} checkpoint: {e}\n{_how_to_get(spec, path)}") from None
        if found != spec.name:
            raise CheckpointError(
                f"{path} is a {found!r} checkpoint, not {spec.name!r}: use load_sam({found!r}, checkpoint=...) "
                f"or load_sam({str(path)!r}).\n{_how_to_get(spec, path)}")
    else:
        if not _looks_like_path(key):
            get_spec(key)  # raises the "unknown model" error with the list of names
        path = Path(key).expanduser()
        if checkpoint is not None:
            raise ValueError("pass either a model name with checkpoint=..., or a bare path, not both")
        state = read_state_dict(path)
        spec = get_spec(infer_sam_type(state))
    model = spec.build(seed)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        raise CheckpointError(f"{path} has the shapes of {spec.name!r} but its weights do not fit: "
                              f"{str(e).splitlines()[0]} ...\n{_how_to_get(spec, path)}") from e
    return model.to(dev).eval()


def save_tiny_checkpoint(model: Sam, path: PathLike, meta: Optional[dict] = None, half: bool = True) -> Path:
    """Write ``model``'s weights (fp16 unless ``half=False``) atomically, in the format :func:`load_sam` reads.

    The file is ``{"format": "gsam_lab.sam/1", "state_dict": ..., "meta": meta}``.
    """
    sd = {k: (v.detach().to("cpu", torch.float16) if (half and v.is_floating_point()) else v.detach().cpu())
          for k, v in model.state_dict().items()}
    return atomic_save({"format": TINY_FORMAT, "state_dict": sd, "meta": dict(meta or {})}, path)
