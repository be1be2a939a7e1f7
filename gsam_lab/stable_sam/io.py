"""Save and load trained plugins (and, for the decoder-tuning baseline, a tuned mask decoder).

File format (``torch.save`` of a dict, written atomically)::

    {"format": "gsam_lab.stable_sam/1",
     "config": StableSam.config,                # dsp, drp, routing, deform_attn, transformer_dim, ...
     "sam": {"name": "tiny-synth" | "vit_b" | ... | None, "fingerprint": "<hex>"},
     "plugins": {"dsp.*": ..., "drp.*": ...},
     "mask_decoder": state dict or absent,      # only when the decoder itself was tuned
     "meta": {...}}                             # training record (steps, seconds, config)

``fingerprint`` hashes SAM's *original* mask-decoder weights, so plugins trained on one SAM are
refused by another (tiny-synth vs ViT-B, or two tiny-synth trainings) unless ``strict=False``.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Union

from torch import nn

from gsam_lab.bundled import check_bundled
from gsam_lab.registry import BundledFile, Registry
from gsam_lab.sam import load_sam
from gsam_lab.utils import atomic_save, check_finite, load_torch_file, weights_fingerprint

from .model import StableSam

__all__ = ["save", "load", "sam_fingerprint", "PluginCheckpointError", "FORMAT", "PluginSpec", "PLUGINS",
           "list_plugins", "register_plugins"]

FORMAT = "gsam_lab.stable_sam/1"
PathLike = Union[str, os.PathLike]


class PluginCheckpointError(ValueError):
    """A plugin file is missing, unreadable, or belongs to another model / transformer_dim."""


@dataclass(frozen=True)
class PluginSpec(BundledFile):
    """Named plugins: their file in ``gsam_lab/assets`` and the SAM (registry name) they were trained on."""

    name: str
    filename: str
    sam: str
    description: str = ""
    bundled: bool = True


#: name -> :class:`PluginSpec` (a :class:`gsam_lab.registry.Registry`; ``register_plugins`` adds one)
PLUGINS: "Registry[PluginSpec]" = Registry("Stable-SAM plugins", hint="or the path of a file written by save", specs=(
    PluginSpec("tiny-synth", "stable_sam_tiny_synth.pt", sam="tiny-synth",
               description="DSP + DRP for the bundled tiny-synth SAM (one RTS epoch on synthetic renders), 0.08M"),
))


def list_plugins():
    """Names accepted by :func:`load` (besides paths)."""
    return PLUGINS.names()


def register_plugins(spec: PluginSpec, overwrite: bool = False) -> PluginSpec:
    """Add named plugins to :data:`PLUGINS`."""
    return PLUGINS.register(spec, overwrite)


def sam_fingerprint(model: nn.Module) -> str:
    """Short hash of a SAM's mask-decoder weights (fp32 bytes, sorted names)."""
    return weights_fingerprint(model.mask_decoder)


def save(stable: StableSam, path: PathLike, sam_name: Optional[str] = None, meta: Optional[dict] = None,
         include_decoder: bool = False, sam_fingerprint_value: Optional[str] = None) -> Path:
    """Write ``stable``'s plugins to ``path`` (atomic; the parent folder is created).

    Args:
        sam_name: registry name of the SAM (``"tiny-synth"``, ``"vit_b"``...) so that
            :func:`load` can build it when no model is given.
        include_decoder: also store the (tuned) mask decoder weights (the decoder-tuning baseline).
        sam_fingerprint_value: fingerprint of the SAM the plugins belong to; default: computed from
            ``stable.sam`` now (pass the original one when the decoder was tuned).
    """
    fp = sam_fingerprint_value or sam_fingerprint(stable.sam)
    obj = {"format": FORMAT, "config": dict(stable.config), "sam": {"name": sam_name, "fingerprint": fp},
           "plugins": stable.plugin_state_dict(), "meta": dict(meta or {})}
    if include_decoder:
        obj["mask_decoder"] = {k: v.detach().cpu().clone() for k, v in stable.sam.mask_decoder.state_dict().items()}
    return atomic_save(obj, path)


def _read(path: Path) -> dict:
    if not path.is_file():
        raise PluginCheckpointError(f"no Stable-SAM plugin file at {path} (the shipped one is "
                                    "gsam_lab/assets/stable_sam_tiny_synth.pt, "
                                    "made by data_scripts/train_stable_sam.py)")
    check_bundled(path, PluginCheckpointError)
    obj = load_torch_file(path, PluginCheckpointError)
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        got = obj.get("format") if isinstance(obj, dict) else type(obj).__name__
        raise PluginCheckpointError(f"{path} is not a Stable-SAM plugin file: expected format {FORMAT!r}, got {got!r}"
                                    " (a SAM checkpoint goes to gsam_lab.sam.load_sam)")
    _check_fields(obj, path)
    check_finite(obj.get("plugins", {}), path, PluginCheckpointError)
    check_finite(obj.get("mask_decoder", {}), path, PluginCheckpointError)
    return obj


#: what a plugin file written by :func:`save` holds: part -> its type, and the keys of ``config`` that load reads
_PARTS = {"config": dict, "plugins": dict, "sam": dict, "meta": dict, "mask_decoder": dict}
_CONFIG_KEYS = ("transformer_dim", "dsp", "drp", "routing", "deform_attn")


def _check_fields(obj: dict, path: Path) -> None:
    """Raise :class:`PluginCheckpointError` naming the first part of ``obj`` that is missing or of the wrong type."""
    for part in ("config", "plugins"):
        if part not in obj:
            raise PluginCheckpointError(f"{path} is not a complete Stable-SAM plugin file: it has no {part!r} "
                                        "(stable_sam.save writes config, plugins, sam and meta)")
    for part, kind in _PARTS.items():
        if part in obj and not isinstance(obj[part], kind):
            raise PluginCheckpointError(f"{path}: {part!r} must be a {kind.__name__}, got {type(obj[part]).__name__}")
    missing = [k for k in _CONFIG_KEYS if k not in obj["config"]]
    if missing:
        raise PluginCheckpointError(f"{path}: its 'config' lacks {', '.join(missing)} "
                                    f"(expected {', '.join(_CONFIG_KEYS)}, as written by stable_sam.save)")


def load(path: PathLike, model: Union[nn.Module, str, None] = None, device="auto", strict: bool = True) -> StableSam:
    """Build a :class:`StableSam` with the plugins stored in ``path``.

    Args:
        path: a name of :data:`PLUGINS` (``"tiny-synth"``: the shipped plugins of the tiny-synth SAM) or
            a file written by :func:`save` (e.g. ``gsam_lab/assets/stable_sam_tiny_synth.pt``).
        model: the SAM to host the plugins: a ``Sam``, a registry name for
            :func:`gsam_lab.sam.load_sam`, or None (the SAM named in the file). It is not copied
            unless the file holds a tuned decoder.
        device: where the result lives (``"auto"``: CUDA, MPS, CPU); with a ``Sam`` given, its device.
        strict: refuse plugins trained on a SAM with other decoder weights (fingerprint mismatch).

    Raises:
        PluginCheckpointError: missing / unreadable / unsafe file (see :func:`gsam_lab.utils.load_torch_file`),
            another format, another transformer_dim, another model (fingerprint), weights of the wrong shapes
            or non-finite ones, or a bundled file whose SHA-256 is not the listed one.
    """
    if isinstance(path, str) and path in PLUGINS:
        path = PLUGINS[path].location()
    path = Path(path)
    obj = _read(path)
    cfg, info = dict(obj["config"]), obj.get("sam", {})
    if model is None or isinstance(model, str):
        name = model or info.get("name")
        if not name:
            raise PluginCheckpointError(f"{path} does not name its SAM; pass model=<a Sam or a name like 'vit_b'>")
        model = load_sam(name, device=device)
    dim = int(model.mask_decoder.transformer_dim)
    if dim != int(cfg["transformer_dim"]):
        raise PluginCheckpointError(
            f"{path} holds plugins for transformer_dim {cfg['transformer_dim']}, but the given SAM's mask decoder "
            f"has transformer_dim {dim}: plugins only fit the decoder width they were trained for")
    if "mask_decoder" in obj:
        import copy
        model = copy.deepcopy(model)
    if strict and info.get("fingerprint") and sam_fingerprint(model) != info["fingerprint"]:
        raise PluginCheckpointError(
            f"{path} holds plugins trained on another SAM ({info.get('name') or 'unnamed'}, decoder fingerprint "
            f"{info['fingerprint']}); the given model's decoder fingerprint is {sam_fingerprint(model)}. "
            "Load the SAM they were trained on, or pass strict=False to use them anyway")
    stable = StableSam(model, dsp=cfg["dsp"], drp=cfg["drp"], routing=cfg["routing"], deform_attn=cfg["deform_attn"],
                       drp_hidden=cfg.get("drp_hidden", 16), kernel_size=cfg.get("kernel_size", 5))
    try:
        stable.plugin_modules().load_state_dict(obj["plugins"], strict=True)
        if "mask_decoder" in obj:
            stable.sam.mask_decoder.load_state_dict(obj["mask_decoder"], strict=True)
    except RuntimeError as e:
        raise PluginCheckpointError(f"{path}: stored weights do not fit: {str(e).splitlines()[0]}") from e
    stable.meta = dict(obj.get("meta", {}))
    stable.sam_name = info.get("name")
    return stable.eval()
