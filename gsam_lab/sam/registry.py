"""The table of named SAM models that :func:`gsam_lab.sam.load_sam` knows.

One row per model (timm-style: a new model is a new line in :data:`SAM_MODELS`, not a new code
path). A row says how to build the network, where its weights live, and which tensor shapes
identify it in a checkpoint (so that a bare ``.pth`` path can be recognised).

Where the weights are looked up (first match wins):

1. the ``checkpoint=`` argument of :func:`load_sam` (a file, or a folder holding ``filename``);
2. for bundled models (``tiny-synth``): ``gsam_lab/assets/<filename>``;
3. for Meta's models: the checkpoint cache ``$GSAM_LAB_CACHE/checkpoints/<filename>``
   (default ``~/.cache/gsam_lab/checkpoints/``), which ``data_scripts/download_checkpoints.py`` fills.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional

import torch
from segment_anything import sam_model_registry
from segment_anything.modeling import Sam

from gsam_lab.bundled import ASSETS_DIR, BUNDLED_SHA256
from gsam_lab.registry import Registry
from gsam_lab.utils import cache_dir

from .cnn_encoder import is_conv_encoder_state
from .tiny import build_tiny_sam

__all__ = ["SamSpec", "SAM_MODELS", "register_sam", "list_sams", "get_spec", "meta_builder", "ASSETS_DIR",
           "DOWNLOAD_SCRIPT", "TRAIN_SCRIPT"]

DOWNLOAD_SCRIPT = "data_scripts/download_checkpoints.py"
TRAIN_SCRIPT = "data_scripts/train_tiny_sam.py"


@dataclass(frozen=True)
class SamSpec:
    """One named SAM model.

    Attributes:
        name: registry key (``"vit_b"``).
        build: ``build(seed) -> Sam`` with random initial weights drawn from ``seed`` (an int; ``None``:
            torch's global random state), as :func:`~gsam_lab.sam.build_tiny_sam` and :func:`meta_builder`.
        filename: the weights' file name (Meta's official name for Meta's models).
        encoder: the shapes that identify the model in a state dict:
            ``embed_dim`` (``image_encoder.patch_embed.proj.weight.shape[0]``), ``depth`` (number of
            ``image_encoder.blocks.*``), ``patch_size`` and ``img_size``.
        url: the official download URL (``None`` for bundled models).
        size_bytes: the official file size in bytes (``None`` if not fixed).
        sha256: the official file's SHA-256 (``None`` if not fixed); for bundled files, their line of
            :data:`gsam_lab.bundled.BUNDLED_SHA256`, checked at every load.
        bundled: ``True`` if the weights ship inside the package (``gsam_lab/assets``).
        description: one line for listings.
        matches: ``matches(state_dict) -> bool`` recognises the model in a state dict when its
            encoder is not a ViT (tiny-synth's convolutional encoder); ``None``: compare ``encoder``.
    """

    name: str
    build: Callable[[Optional[int]], Sam]
    filename: str
    encoder: Dict[str, int]
    url: Optional[str] = None
    size_bytes: Optional[int] = None
    sha256: Optional[str] = None
    bundled: bool = False
    description: str = ""
    matches: Optional[Callable[[Dict], bool]] = None

    def location(self) -> Path:
        """Where :func:`~gsam_lab.sam.load_sam` reads the weights of this name when ``checkpoint=`` is not
        given (see the module doc; ``gsam-lab doctor`` lists it)."""
        if self.bundled:
            return ASSETS_DIR / self.filename
        return cache_dir("checkpoints") / self.filename

    def present(self) -> bool:
        return self.location().is_file()


_META = "https://dl.fbaipublicfiles.com/segment_anything/"


def meta_builder(kind: str) -> Callable[[Optional[int]], Sam]:
    """``build(seed)`` for Meta's SAM ``kind`` (``"vit_b"``, ``"vit_l"``, ``"vit_h"``): segment_anything's
    own builder (``sam_model_registry[kind]``, no checkpoint), its random weights drawn from ``seed``."""
    def build(seed: Optional[int] = 0) -> Sam:
        if seed is None:
            return sam_model_registry[kind]()
        with torch.random.fork_rng(devices=[]):      # the caller's random state is left as it was
            torch.manual_seed(seed)
            return sam_model_registry[kind]()

    return build

#: name -> :class:`SamSpec` (a :class:`gsam_lab.registry.Registry`, the same shape as the TA, student and plugin tables)
SAM_MODELS: "Registry[SamSpec]" = Registry("SAM model", hint="or pass the path of a .pth checkpoint")


def register_sam(spec: SamSpec, overwrite: bool = False) -> SamSpec:
    """Add a row to :data:`SAM_MODELS` (``overwrite=True`` to replace an existing name)."""
    return SAM_MODELS.register(spec, overwrite)


def list_sams() -> List[str]:
    """Names accepted by :func:`gsam_lab.sam.load_sam`."""
    return SAM_MODELS.names()


def get_spec(name: str) -> SamSpec:
    """The :class:`SamSpec` of ``name``; an unknown name raises ``ValueError`` listing known names."""
    return SAM_MODELS.spec(name)


for _row in (
    SamSpec("tiny-synth", build_tiny_sam, "tiny_sam_synth.pt",
            encoder={}, matches=is_conv_encoder_state,
            sha256=BUNDLED_SHA256["tiny_sam_synth.pt"], bundled=True,
            description="small convolutional encoder + SAM's real prompt encoder / mask decoder, trained "
                        f"on synthetic renders by {TRAIN_SCRIPT}"),
    SamSpec("vit_b", meta_builder("vit_b"), "sam_vit_b_01ec64.pth",
            encoder=dict(embed_dim=768, depth=12, patch_size=16, img_size=1024),
            url=_META + "sam_vit_b_01ec64.pth", size_bytes=375_042_383,
            sha256="ec2df62732614e57411cdcf32a23ffdf28910380d03139ee0f4fcbe91eb8c912",
            description="Meta's SAM ViT-B (91M encoder parameters)"),
    SamSpec("vit_l", meta_builder("vit_l"), "sam_vit_l_0b3195.pth",
            encoder=dict(embed_dim=1024, depth=24, patch_size=16, img_size=1024),
            url=_META + "sam_vit_l_0b3195.pth", size_bytes=1_249_524_607,
            sha256="3adcc4315b642a4d2101128f611684e8734c41232a17c648ed1693702a49a622",
            description="Meta's SAM ViT-L (308M encoder parameters)"),
    SamSpec("vit_h", meta_builder("vit_h"), "sam_vit_h_4b8939.pth",
            encoder=dict(embed_dim=1280, depth=32, patch_size=16, img_size=1024),
            url=_META + "sam_vit_h_4b8939.pth", size_bytes=2_564_550_879,
            sha256="a7bf3b02f3ebf1267aba913ff637d9a2d5c33d3173bb679e46d9f338c26f262e",
            description="Meta's SAM ViT-H (636M encoder parameters)"),
):
    register_sam(_row)
