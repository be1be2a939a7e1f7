"""RTS's training images: each embedded once by SAM's frozen image encoder, with its objects.

The image encoder is by far the most expensive part of SAM and stays frozen in RTS, so every image is
embedded once, up front (:func:`embed_dataset`); a training step then runs only the prompt encoder
and the mask decoder on the cached embeddings.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Sequence, Tuple

import numpy as np
import torch

from gsam_lab.images import as_rgb_uint8
from gsam_lab.sam import PromptPredictor
from gsam_lab.training import content_hash
from gsam_lab.utils import progress_bar

from .model import StableSam

__all__ = ["EmbeddedImage", "embed_dataset", "item_digests"]


@dataclass
class EmbeddedImage:
    """One training image: its cached embedding and its objects.

    ``embedding``: ``1 x C x h x w``; ``instance``: ``H x W`` int64 numpy; ``objects``: the ids
    with at least ``min_area`` pixels; ``input_size``: the resized image's size in SAM's frame;
    ``index``: the item's index in its dataset; ``digest``: a :func:`~gsam_lab.training.content_hash`
    of the image (uint8) and its instance map, what a training job fingerprints of this item.
    """

    embedding: torch.Tensor
    instance: np.ndarray
    objects: np.ndarray
    original_size: Tuple[int, int]
    input_size: Tuple[int, int]
    index: int = -1
    digest: str = ""


def item_digests(embedded: Sequence[EmbeddedImage]) -> Dict[str, str]:
    """``{dataset index: digest}`` of every embedded image (an image made without a digest: a hash of its
    instance map and size), so that a resume notices a changed image or instance map and names it."""
    return {str(e.index if e.index >= 0 else f"#{j}"): e.digest or content_hash((e.instance, e.original_size))
            for j, e in enumerate(embedded)}


@torch.no_grad()
def embed_dataset(stable: StableSam, dataset, min_area: int = 64, progress: bool = True) -> List[EmbeddedImage]:
    """Embed every image of ``dataset`` once with SAM's frozen image encoder.

    Args:
        dataset: a sequence of dicts with ``image`` (``3 x H x W`` float in [0, 1] or ``H x W x 3``
            uint8) and ``instance`` (``H x W`` ids, 0 = no object), e.g. ``data.SyntheticPinholes``.

    Returns:
        one :class:`EmbeddedImage` per item that has at least one object of ``min_area`` pixels.

    Raises:
        ValueError: the dataset is empty or none of its images has an object (instance id > 0)
            with ``min_area`` pixels.
    """
    try:
        n = len(dataset)
    except TypeError:
        raise TypeError(f"dataset must have a length (a torch Dataset or a list of samples), got "
                        f"{type(dataset).__name__}") from None
    if n == 0:
        raise ValueError("the dataset is empty: RTS needs images with instance masks")
    pred = PromptPredictor(stable.sam, cache_size=0)
    out: List[EmbeddedImage] = []
    it = range(n)
    if progress:
        it = progress_bar(it, desc="embedding images", leave=False)
    for i in it:
        item = dataset[i]
        if not isinstance(item, dict) or "image" not in item or "instance" not in item:
            raise KeyError(f"dataset item {i} must be a dict with 'image' and 'instance'")
        inst = item["instance"]
        inst = inst.detach().cpu().numpy() if isinstance(inst, torch.Tensor) else np.asarray(inst)
        if not np.issubdtype(inst.dtype, np.integer):
            raise TypeError(f"dataset item {i}: 'instance' must hold integer ids, got dtype {inst.dtype}")
        ids, areas = np.unique(inst[inst > 0], return_counts=True)
        ids = ids[areas >= min_area]
        if len(ids) == 0:
            continue
        img = as_rgb_uint8(item["image"])
        if inst.shape != img.shape[:2]:
            raise ValueError(f"dataset item {i}: instance map {inst.shape} does not match the image {img.shape[:2]}")
        pred.set_image(img)
        inst = inst.astype(np.int64)
        out.append(EmbeddedImage(pred.features.detach(), inst, ids, pred.original_size, pred.input_size, i,
                                 content_hash((img, inst))))
    if not out:
        raise ValueError(f"none of the {n} dataset images has an object (instance id > 0) of at least "
                         f"{min_area} pixels: RTS trains on per-instance prompts and needs instance masks")
    return out
