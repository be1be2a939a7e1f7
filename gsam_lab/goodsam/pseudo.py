"""Pseudo-label a set of panoramas with DAR and read them back for distillation (MKA).

::

    out = pseudo_label_dataset(teacher, sam_model, data.SyntheticPanoramas("train", 64), "outputs/pseudo",
                               windows="h", boundary=True, fusion="ctcf")
    ds = PseudoLabelDataset(out)
    item = ds[0]     # image 3 x H x W float [0, 1], pseudo_label H x W int64 (255 = ignore),
                     # ensemble_logits K x H x W float, index int
    few = pseudo_label_items(teacher, sam_model, data.SyntheticPanoramas("train", 6, (64, 128)))   # in memory

:func:`pseudo_label_items` is the same without a folder: a list of items for a short run, the ensemble
logits kept at a quarter of the size in float16 (what the student's 1/4-size logits are compared with).

**On-disk format** (``format = "gsam_lab.pseudo/1"``), one folder:

``manifest.json``
    ``format``, ``classes`` (the K class names), ``teacher`` (its name), ``teacher_weights`` and
    ``sam_weights`` (fingerprints of the TA's weights and of the SAM's mask decoder,
    :func:`gsam_lab.utils.weights_fingerprint`; ``None`` without a SAM), ``source`` (a description of
    the panoramas: dataset class, split, size, or the folder), ``n`` (number of panoramas),
    ``source_items`` (a fingerprint of every panorama, :func:`gsam_lab.training.item_fingerprints`: a
    folder's files by size and modification time), ``topk`` (k), ``dar`` (the DAR settings: windows,
    boundary, fusion and their parameters). Written first, atomically.
``items/<index:06d>.pt`` (``torch.save`` of a dict, written atomically, one per panorama)
    ``index`` (int, position in the source), ``image`` (``3 x H x W`` uint8), ``pseudo_label``
    (``H x W`` uint8, 255 = ignore), ``topk_index`` (``k x H x W`` uint8, class ids, most likely first),
    ``topk_logp`` (``k x H x W`` float16, log-probabilities of those classes), ``meta`` (the source
    item's ``meta`` when it has one).

The ensemble logits are stored compactly as the top-k log-probabilities (``k = 3`` by default: a
9-class ERP of 256 x 512 takes 0.8 MB instead of 4.7 MB in float32). :class:`PseudoLabelDataset` makes
them dense again: the k stored classes keep their log-probability, the other ``K - k`` share the
remaining probability mass equally (``log((1 - sum_k p) / (K - k))``, floored at ``log 1e-6``). With
``k = K`` the reconstruction is exact up to float16.

Resuming: a folder whose manifest matches (same classes, TA and SAM weights, source and its
panoramas, n, k and DAR settings) is continued - complete items are kept, missing or damaged ones
(:func:`read_item` fails) computed again. A folder with a different manifest (e.g. made with another
SAM or TA, whose labels would be mixed with these, or from panoramas changed since), or other files
and no manifest, is refused with an error naming what differs, and left untouched.

Several processes: under ``torchrun`` (``RANK`` / ``WORLD_SIZE`` in the environment) or with
``rank=`` / ``world_size=``, process ``r`` labels the indices ``i`` with ``i % world_size == r``.
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Union

import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from gsam_lab.data.folder import FolderDataset
from gsam_lab.training import describe_dataset, differences, item_fingerprints
from gsam_lab.utils import atomic_save, atomic_write_bytes, load_torch_file, progress_bar, weights_fingerprint

from .fusion import fusion_rule
from .rectification import dar

__all__ = ["pseudo_label_dataset", "pseudo_label_items", "PseudoLabelDataset", "PSEUDO_FORMAT",
           "PseudoLabelFolderError", "dense_from_topk", "topk_from_logits", "read_item", "model_fingerprint"]

PSEUDO_FORMAT = "gsam_lab.pseudo/1"


class PseudoLabelFolderError(FileExistsError):
    """The output folder holds something else than a matching, resumable pseudo-label run."""


def topk_from_logits(logits: torch.Tensor, k: int):
    """``K x H x W`` logits -> (``k x H x W`` uint8 class ids, ``k x H x W`` float16 log-probabilities)."""
    logp = logits.float().log_softmax(0)
    val, idx = logp.topk(k, dim=0)
    return idx.to(torch.uint8), val.to(torch.float16)


def dense_from_topk(topk_index: torch.Tensor, topk_logp: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Inverse of :func:`topk_from_logits`: ``K x H x W`` float32 log-probabilities (see the module doc)."""
    k = topk_index.shape[0]
    lp = topk_logp.float()
    if k < num_classes:
        rest = (1 - lp.exp().sum(0)).clamp_min(1e-6 * (num_classes - k)) / (num_classes - k)
        out = rest.log()[None].expand(num_classes, *lp.shape[1:]).clone()
    else:
        out = torch.full((num_classes,) + tuple(lp.shape[1:]), math.log(1e-6))
    out.scatter_(0, topk_index.long(), lp)
    return out


_ITEM_KEYS = ("index", "image", "pseudo_label", "topk_index", "topk_logp")


def read_item(path: Union[str, os.PathLike]) -> dict:
    """One ``items/<index>.pt`` record (format in the module doc).

    Raises:
        ValueError: naming ``path``, for a damaged file (torn by a kill, truncated, corrupt, or holding
            something else); ``pseudo_label_dataset(..., resume=True)`` makes such items again.
    """
    how = "; re-make it with pseudo_label_dataset(..., resume=True), which redoes damaged items"
    try:
        rec = load_torch_file(path)
    except ValueError as e:
        raise ValueError(f"damaged pseudo-label item: {e}{how}") from e
    if not isinstance(rec, dict) or any(k not in rec for k in _ITEM_KEYS):
        raise ValueError(f"damaged pseudo-label item: {path} lacks some of {list(_ITEM_KEYS)}{how}")
    return rec


def _item_ok(path: Path) -> bool:
    """Whether ``path`` is a complete, readable item (a resume redoes the others)."""
    try:
        read_item(path)
    except ValueError:
        return False
    return True


def model_fingerprint(model) -> Optional[str]:
    """Fingerprint of the weights a pseudo-label depends on: a SAM's mask decoder (as
    :func:`gsam_lab.stable_sam.sam_fingerprint`), any other module's whole state, ``None`` for no model."""
    if model is None:
        return None
    decoder = getattr(model, "mask_decoder", None)
    if isinstance(decoder, torch.nn.Module):
        return weights_fingerprint(decoder)
    if isinstance(model, torch.nn.Module):
        return weights_fingerprint(model)
    return type(model).__name__


def _dist_rank() -> tuple:
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))


def _jsonable(v):
    if isinstance(v, (tuple, list)):
        return [_jsonable(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    return v if isinstance(v, (str, int, float, bool, type(None))) else str(v)


def _prepare_folder(out: Path, manifest: Dict[str, Any], resume: bool) -> None:
    mpath = out / "manifest.json"
    if mpath.is_file():
        try:
            old = json.loads(mpath.read_text())
        except (OSError, ValueError) as e:
            raise PseudoLabelFolderError(f"{mpath} is unreadable ({e}); refusing to touch {out}") from None
        if not isinstance(old, dict):
            raise PseudoLabelFolderError(f"{mpath} holds a JSON {type(old).__name__}, not a pseudo-label manifest; "
                                         f"refusing to touch {out}")
        diff = sorted(k for k in set(old) | set(manifest) if old.get(k) != manifest.get(k))
        if diff:
            why = [w for k, w in (("sam_weights", "another SAM"), ("teacher_weights", "another TA")) if k in diff]
            fields = differences(old, manifest, diff, old_name="folder", new_name="requested")
            raise PseudoLabelFolderError(
                f"{out} already holds other pseudo-labels" + (f", made with {' and '.join(why)}" if why else "")
                + f" (manifest differs: {'; '.join(fields)}). "
                f"Nothing was changed; choose another out_dir (e.g. named after the models' fingerprints) "
                f"or delete that folder.")
        if not resume:
            raise PseudoLabelFolderError(f"{out} already holds these pseudo-labels; pass resume=True to continue "
                                         f"or choose another out_dir. Nothing was changed.")
        return
    if out.exists() and any(out.iterdir()):
        raise PseudoLabelFolderError(f"{out} is not empty and has no {mpath.name}: it is not a pseudo-label folder "
                                     f"of gsam_lab. Nothing was changed; choose an empty or new out_dir.")
    atomic_write_bytes(mpath, json.dumps(manifest, indent=2).encode())


def pseudo_label_dataset(teacher, model, panoramas: Union[Dataset, str, os.PathLike], out_dir: Union[str, os.PathLike],
                         *, windows: str = "h", boundary: bool = True, fusion: Union[str, Callable] = "ctcf",
                         topk: int = 3, resume: bool = True, progress: bool = True, rank: Optional[int] = None,
                         world_size: Optional[int] = None, indices: Optional[Sequence[int]] = None,
                         **dar_kwargs) -> Path:
    """Run :func:`~gsam_lab.goodsam.dar` on every panorama and write the folder described in the module doc.

    Args:
        teacher, model: the TA and the SAM (as for ``dar``).
        panoramas: a Dataset of items with ``image`` (``3 x H x W`` float in [0, 1], ``W == 2 H``), or a
            folder of ERP images (read as ``data.FolderDataset(folder, layout="images")``).
        out_dir: output folder (created; must be new, empty, or a matching earlier run: same settings,
            same TA and SAM weights).
        windows, boundary, fusion, **dar_kwargs: DAR settings (recorded in the manifest; a fusion rule of your
            own by its module and name).
        topk: classes kept per pixel of the ensemble logits (1..K).
        resume: continue a matching earlier run (default) or refuse it.
        rank, world_size: this process's share; default from ``RANK`` / ``WORLD_SIZE`` (torchrun).
        indices: label only these indices (default all).

    Returns: ``Path(out_dir)``.

    Raises:
        PseudoLabelFolderError: ``out_dir`` holds other pseudo-labels (other settings, another SAM or TA)
            or unrelated files (nothing written).
        ValueError: bad ``topk`` / rank, or an ERP that is not 2:1 (from ``dar``).
    """
    ds = FolderDataset(panoramas, layout="images") if isinstance(panoramas, (str, os.PathLike)) else panoramas
    k = teacher.num_classes
    if not 1 <= int(topk) <= k:
        raise ValueError(f"topk must be in 1..{k} (the teacher's classes), got {topk}")
    env_rank, env_world = _dist_rank()
    rank = env_rank if rank is None else int(rank)
    world_size = env_world if world_size is None else int(world_size)
    if world_size < 1 or not 0 <= rank < world_size:
        raise ValueError(f"need 0 <= rank < world_size, got rank={rank}, world_size={world_size}")
    out = Path(out_dir)
    manifest = {"format": PSEUDO_FORMAT, "classes": list(teacher.classes), "teacher": getattr(teacher, "name", ""),
                "teacher_weights": model_fingerprint(teacher), "sam_weights": model_fingerprint(model),
                "source": describe_dataset(ds), "n": len(ds), "source_items": item_fingerprints(ds), "topk": int(topk),
                "dar": _jsonable(dict(windows=windows, boundary=boundary, fusion=fusion_rule(fusion).name,
                                      **dar_kwargs))}
    _prepare_folder(out, manifest, resume)
    items_dir = out / "items"
    items_dir.mkdir(parents=True, exist_ok=True)
    todo = [i for i in (range(len(ds)) if indices is None else indices) if i % world_size == rank]
    todo = [i for i in todo if not _item_ok(items_dir / f"{i:06d}.pt")]      # missing or damaged (e.g. by a kill)
    for i in progress_bar(todo, desc=f"pseudo-labels (rank {rank}/{world_size})", disable=not progress):
        item = ds[i]
        res = dar(teacher, model, item["image"], windows=windows, boundary=boundary, fusion=fusion, **dar_kwargs)
        idx, lp = topk_from_logits(res.ensemble_logits, int(topk))
        img = (item["image"].clamp(0, 1) * 255).round().to(torch.uint8)
        rec = {"index": i, "image": img, "pseudo_label": res.pseudo_label.to(torch.uint8),
               "topk_index": idx, "topk_logp": lp, "meta": _jsonable(item.get("meta", {}))}
        atomic_save(rec, items_dir / f"{i:06d}.pt")
    return out


def pseudo_label_items(teacher, model, panoramas: Dataset, *, windows: str = "h", boundary: bool = True,
                       fusion: Union[str, Callable] = "vote", pool: int = 4, **dar_kwargs) -> List[dict]:
    """DAR on every panorama of ``panoramas``, in memory: the training set of a short MKA run.

    Returns:
        one dict per panorama, as :func:`~gsam_lab.goodsam.train_mka` reads them: ``image`` (the
        panorama's, unchanged), ``pseudo_label`` (``H x W`` int64, 255 = ignore), ``ensemble_logits``
        (``K x H/pool x W/pool`` float16, average-pooled) and ``index``; on the CPU.
    """
    items = []
    for i in range(len(panoramas)):
        image = panoramas[i]["image"]
        r = dar(teacher, model, image, windows=windows, boundary=boundary, fusion=fusion, **dar_kwargs)
        logits = F.avg_pool2d(r.ensemble_logits[None].float(), pool)[0] if pool > 1 else r.ensemble_logits.float()
        items.append({"image": image, "pseudo_label": r.pseudo_label.cpu(), "ensemble_logits": logits.half().cpu(),
                      "index": i})
    return items


class PseudoLabelDataset(Dataset):
    """Read a folder written by :func:`pseudo_label_dataset` (format in the module doc).

    Items: ``image`` ``3 x H x W`` float in [0, 1], ``pseudo_label`` ``H x W`` int64 (255 = ignore),
    ``ensemble_logits`` ``K x H x W`` float32 (dense log-probabilities), ``index`` int. A slice gives a list
    of items, as slicing the list of dicts that DAR makes in notebook 05 does.

    Args:
        root: the folder.
        require_complete: raise if some of the manifest's ``n`` items are missing (default: use those present).

    Raises:
        FileNotFoundError: no manifest (names the expected file) or no item.
        ValueError: a damaged manifest or one of another format (naming the file); on reading, a damaged
            item (:func:`read_item`).
    """

    def __init__(self, root: Union[str, os.PathLike], require_complete: bool = False):
        self.root = Path(root)
        mpath = self.root / "manifest.json"
        if not mpath.is_file():
            raise FileNotFoundError(f"no pseudo-label manifest at {mpath}; expected a folder written by "
                                    f"gsam_lab.goodsam.pseudo_label_dataset")
        try:
            self.manifest = json.loads(mpath.read_text())
        except (OSError, UnicodeDecodeError, ValueError) as e:
            raise ValueError(f"cannot read the pseudo-label manifest {mpath} (damaged or not JSON: {e}); re-make the "
                             f"folder with gsam_lab.goodsam.pseudo_label_dataset") from None
        if not isinstance(self.manifest, dict) or self.manifest.get("format") != PSEUDO_FORMAT:
            got = self.manifest.get("format") if isinstance(self.manifest, dict) else type(self.manifest).__name__
            raise ValueError(f"{mpath} has format {got!r}, expected {PSEUDO_FORMAT!r}")
        missing = [k for k in ("classes", "n") if k not in self.manifest]
        if missing:
            raise ValueError(f"the pseudo-label manifest {mpath} lacks {missing}; re-make the folder with "
                             f"gsam_lab.goodsam.pseudo_label_dataset")
        self.classes = tuple(self.manifest["classes"])
        self.num_classes = len(self.classes)
        self.paths = sorted((self.root / "items").glob("*.pt"))
        if require_complete and len(self.paths) != self.manifest["n"]:
            raise FileNotFoundError(f"{self.root} holds {len(self.paths)} of {self.manifest['n']} items; "
                                    f"finish it with pseudo_label_dataset(..., resume=True)")
        if not self.paths:
            raise FileNotFoundError(f"{self.root}/items holds no pseudo-labels yet")

    def __len__(self) -> int:
        return len(self.paths)

    def files(self) -> List[Path]:
        """The manifest and every item file (fingerprinted by a training job: a re-made item is noticed)."""
        return [self.root / "manifest.json"] + list(self.paths)

    def __getitem__(self, i: Union[int, slice]) -> Union[dict, List[dict]]:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        rec = read_item(self.paths[i])
        return {"image": rec["image"].float() / 255.0,
                "pseudo_label": rec["pseudo_label"].long(),
                "ensemble_logits": dense_from_topk(rec["topk_index"], rec["topk_logp"], self.num_classes),
                "index": int(rec["index"])}
