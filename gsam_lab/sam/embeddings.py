"""Image embeddings shared by every predictor of one SAM image encoder.

Embedding an image is SAM's expensive step (Meta's ViT-B takes seconds per image on a CPU, ViT-H far
more); decoding prompts is cheap. The same image often goes through the same encoder several times:
a notebook builds a :class:`~gsam_lab.sam.PromptPredictor` for a figure, an evaluation builds its own
for each model it compares, and a :class:`~gsam_lab.stable_sam.StableSamPredictor` embeds with the very
SAM it wraps (frozen). Each predictor already keeps its own few embeddings; this module keeps the last
:data:`SHARED_SIZE` embeddings of each image encoder for all of them, so the second predictor to see an
image gets the first one's embedding instead of running the encoder again.

A shared embedding is only reused while it is still right: the key holds the image's bytes (a hash and
the shape) and a stamp of the encoder's weights and of SAM's pixel mean and std (every tensor's identity,
storage address, dtype and in-place version counter). An optimiser step, ``load_state_dict``, ``.to(...)``
or any in-place edit of a weight changes the stamp, so a trained or moved encoder embeds afresh. Writes
through a tensor's ``.data`` are the one edit the version counter does not see: call
:func:`clear_shared_embeddings` after one. Embeddings made under autocast are never shared (their
precision depends on the caller's context).

``PromptPredictor(model, cache_size=0)`` opts out of both caches (nothing kept, nothing reused).
"""
from __future__ import annotations

import itertools
import weakref
from collections import OrderedDict
from typing import Callable, Hashable, Iterable, Optional

import torch

__all__ = ["SHARED_SIZE", "weights_stamp", "shared_embedding", "clear_shared_embeddings"]

#: embeddings kept per image encoder (a Meta SAM embedding is 1 x 256 x 64 x 64 floats: 4 MB)
SHARED_SIZE = 8

_shared: "weakref.WeakKeyDictionary[torch.nn.Module, OrderedDict]" = weakref.WeakKeyDictionary()


def weights_stamp(encoder: torch.nn.Module, also: Iterable[torch.Tensor] = ()) -> tuple:
    """Identity, storage address, dtype and version counter of each of ``encoder``'s parameters and buffers
    and of the tensors ``also`` (e.g. SAM's pixel mean and std, which the input is normalised with).

    Equal stamps: the same tensors, untouched since (in-place edits bump ``Tensor._version``)."""
    return tuple((id(t), t.data_ptr(), t.dtype, t._version)
                 for t in itertools.chain(encoder.parameters(), encoder.buffers(), also))


def _autocast_on(encoder: torch.nn.Module) -> bool:
    first = next(itertools.chain(encoder.parameters(), encoder.buffers()), None)
    device_type = first.device.type if first is not None else "cpu"
    try:
        return torch.is_autocast_enabled(device_type)
    except TypeError:                       # torch < 2.4 takes no device type
        return torch.is_autocast_enabled() if device_type == "cuda" else torch.is_autocast_cpu_enabled()


def shared_embedding(encoder: torch.nn.Module, image_key: Hashable, embed: Callable[[], torch.Tensor],
                     also: Iterable[torch.Tensor] = ()) -> torch.Tensor:
    """The embedding ``encoder`` made of the image ``image_key`` with its current weights (and the current
    tensors ``also``), else ``embed()`` (kept for the next predictor that asks)."""
    if _autocast_on(encoder):
        return embed()
    key = (image_key, weights_stamp(encoder, also))
    kept = _shared.setdefault(encoder, OrderedDict())
    if key in kept:
        kept.move_to_end(key)
        return kept[key]
    features = embed()
    if SHARED_SIZE > 0:
        kept[key] = features
        while len(kept) > SHARED_SIZE:
            kept.popitem(last=False)
    return features


def clear_shared_embeddings(encoder: Optional[torch.nn.Module] = None) -> None:
    """Forget the shared embeddings of ``encoder`` (of every encoder when ``None``)."""
    if encoder is None:
        _shared.clear()
    else:
        _shared.pop(encoder, None)
