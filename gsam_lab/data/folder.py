"""Read real images from a folder: DensePASS (Cityscapes-style), Stanford2D3D panoramas, generic, unlabelled.

Items are dicts like the synthetic datasets': ``image`` float32 ``3 x H x W`` in [0, 1], ``semantic``
int64 ``H x W`` (``IGNORE_INDEX`` = 255 where the label is unknown) and ``meta`` (``image_path``,
``label_path``, ``layout``, ``index``). There is no ``instance`` or ``depth``; the ``"images"``
layout has no ``semantic`` (nor ``label_path``) either.

Layouts (``root`` is the dataset folder):

``"densepass"`` (also any Cityscapes-style folder)
    images ``leftImg8bit/<split>/**/*.png`` and labels ``gtFine/<split>/**/*_labelTrainIds.png`` holding
    Cityscapes train ids (0..18, 255 = ignore). An image ``<base>[_leftImg8bit].png`` is paired with
    ``<base>_gtFine_labelTrainIds.png`` or ``<base>_labelTrainIds.png`` in the same sub-folder of
    ``gtFine/<split>``. Default ``label_map``: ``CITYSCAPES_TO_SYNTH`` (our 9 classes, so a model of this
    package is evaluated directly); ``label_map="identity"`` keeps the 19 Cityscapes train ids.
    DensePASS ships only ``val`` (and ``test``) splits; default ``split="val"``.
``"stanford2d3d"``
    ``area_<N>/pano/rgb/*_rgb.png`` with ``area_<N>/pano/semantic/*_semantic.png``. A semantic PNG's
    colour encodes an index ``R * 65536 + G * 256 + B`` into ``semantic_labels.json`` (a JSON list of
    names such as ``"chair_3_office_1"`` read from ``root`` or ``root/assets``); the name's first field
    is the class, mapped to its position in ``S2D3D_CLASSES`` (13 classes); ``<UNK>`` and unknown
    names -> 255. ``split``: ``"all"``, ``"fold<k>_train"`` / ``"fold<k>_val"`` (the standard 3 folds,
    e.g. fold 1 validates on area 5) or a list of area folder names.
``"generic"``
    ``images/*.png|jpg|jpeg`` with ``labels/<same stem>.png`` (single-channel class ids: grayscale or
    palette PNGs; colour labels are refused, as their first channel is not a class id); if
    ``images/<split>`` exists, ``images/<split>`` and ``labels/<split>`` are used. Default: ids as stored.
``"images"`` (no labels)
    every ``*.png|jpg|jpeg`` under ``root`` (or ``root/<split>``), sub-folders included, sorted by path:
    e.g. the unlabelled panoramas that ``goodsam.pseudo_label_dataset`` labels.

``label_map``: ``None`` (the layout's default above), ``"identity"``, a dict ``{stored id: our id}``
(unlisted ids -> 255) or a 256-entry array. ``hw``: resize to ``(H, W)`` (bilinear image, nearest
labels); None keeps the files' size. Stored ids are 0..255 (a 16-bit label holding a larger id is
refused); with ``num_classes``, every id (after ``label_map``) must be below it or 255.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from .classes import IGNORE_INDEX, cityscapes_to_synth_lut

__all__ = ["FolderDataset", "S2D3D_CLASSES", "S2D3D_FOLDS"]

S2D3D_CLASSES: Tuple[str, ...] = ("ceiling", "floor", "wall", "beam", "column", "window", "door", "table",
                                  "chair", "sofa", "bookcase", "board", "clutter")
S2D3D_FOLDS = {
    1: ((1, 2, 3, 4, 6), (5,)),
    2: ((1, 3, 5, 6), (2, 4)),
    3: ((2, 4, 5), (1, 3, 6)),
}
_IMG_EXT = (".png", ".jpg", ".jpeg")
_LAYOUTS = ("densepass", "stanford2d3d", "generic", "images")
_ID_MODES = ("1", "L", "P", "I", "I;16", "I;16B", "I;16L", "I;16N")    # single-channel PIL modes: class ids


def _lut(label_map, default: Optional[np.ndarray]) -> Optional[np.ndarray]:
    """A lookup table (or None = keep ids) from a ``label_map`` argument."""
    if label_map is None:
        return default
    if isinstance(label_map, str):
        if label_map != "identity":
            raise ValueError(f"label_map must be None, 'identity', a dict or a 256-entry array, got {label_map!r}")
        return None
    if isinstance(label_map, dict):
        lut = np.full(256, IGNORE_INDEX, dtype=np.int64)
        for k, v in label_map.items():
            if not (0 <= int(k) < 256 and (0 <= int(v) < 256)):
                raise ValueError(f"label_map entries must map ids 0..255 to 0..255, got {k!r}: {v!r}")
            lut[int(k)] = int(v)
        return lut
    arr = np.asarray(label_map)
    if arr.shape != (256,):
        raise ValueError(f"a label_map array must have 256 entries, got shape {arr.shape}")
    return arr.astype(np.int64)


class FolderDataset(Dataset):
    """Images (labelled but for the ``"images"`` layout) under ``root`` in one of the layouts of the module doc.

    Raises ``FileNotFoundError`` for a missing root / split folder / label, ``ValueError`` for an
    unknown layout, an empty folder or a bad ``label_map``/``hw``/``num_classes``, and, on reading an
    item, for a damaged image or label file, a colour (RGB / RGBA) label outside Stanford2D3D or a class
    id out of range (naming the file); ``TypeError`` for an index that is not an int.
    """

    def __init__(self, root: Union[str, Path], layout: str = "generic", split: Union[str, Sequence[str], None] = None,
                 hw: Optional[Sequence[int]] = None, label_map=None, num_classes: Optional[int] = None):
        self.root = Path(root).expanduser()
        if layout not in _LAYOUTS:
            raise ValueError(f"layout must be one of {_LAYOUTS}, got {layout!r}")
        if num_classes is not None and (isinstance(num_classes, bool) or not isinstance(num_classes, int)
                                        or not 0 < num_classes <= IGNORE_INDEX):
            raise ValueError(f"num_classes must be None or an int in 1..{IGNORE_INDEX}, got {num_classes!r}")
        self.num_classes = num_classes
        if not self.root.is_dir():
            raise FileNotFoundError(f"dataset root {self.root} does not exist or is not a folder")
        if hw is not None:
            try:
                hw = (int(hw[0]), int(hw[1]))
                assert len(hw) == 2 and hw[0] > 0 and hw[1] > 0
            except Exception:
                raise ValueError(f"hw must be None or a pair of positive ints (H, W), got {hw!r}") from None
        self.layout, self.hw = layout, hw
        self._s2d3d_names: Optional[np.ndarray] = None
        self._names_file: Optional[Path] = None
        if layout == "densepass":
            self.split = "val" if split is None else split
            self.pairs = self._densepass_pairs()
            self.lut = _lut(label_map, cityscapes_to_synth_lut().astype(np.int64))
        elif layout == "stanford2d3d":
            self.split = "all" if split is None else split
            self.pairs = self._s2d3d_pairs()
            self.lut = _lut(label_map, None)
        elif layout == "generic":
            self.split = split
            self.pairs = self._generic_pairs()
            self.lut = _lut(label_map, None)
        else:
            if label_map is not None:
                raise ValueError("the 'images' layout has no labels: leave label_map=None")
            self.split = split
            self.pairs = self._unlabelled_images()
            self.lut = None

    # -- layouts ---------------------------------------------------------------------------------
    def _densepass_pairs(self) -> List[Tuple[Path, Path]]:
        img_dir, lab_dir = self.root / "leftImg8bit" / str(self.split), self.root / "gtFine" / str(self.split)
        for d in (img_dir, lab_dir):
            if not d.is_dir():
                raise FileNotFoundError(f"DensePASS layout expects {d} "
                                        "(root/leftImg8bit/<split> and root/gtFine/<split>)")
        images = sorted(p for p in img_dir.rglob("*.png"))
        if not images:
            raise ValueError(f"no .png images under {img_dir}")
        pairs = []
        for img in images:
            base = re.sub(r"_leftImg8bit$", "", img.stem)
            rel = img.parent.relative_to(img_dir)
            cands = [lab_dir / rel / f"{base}_gtFine_labelTrainIds.png", lab_dir / rel / f"{base}_labelTrainIds.png"]
            lab = next((c for c in cands if c.is_file()), None)
            if lab is None:
                raise FileNotFoundError(f"no label for image {img}: expected {cands[0]} or {cands[1]}")
            pairs.append((img, lab))
        return pairs

    def _s2d3d_areas(self) -> List[str]:
        split = self.split
        present = sorted(p.name for p in self.root.glob("area_*") if p.is_dir())
        if not present:
            raise ValueError(f"no area_* folders under {self.root}")
        if isinstance(split, str) and split == "all":
            return present
        if isinstance(split, str):
            m = re.fullmatch(r"fold([123])_(train|val)", split)
            if not m:
                raise ValueError(f"Stanford2D3D split must be 'all', 'fold<1|2|3>_<train|val>' or a list of area "
                                 f"folders, got {split!r}")
            nums = S2D3D_FOLDS[int(m.group(1))][0 if m.group(2) == "train" else 1]
            areas = [a for a in present
                     if re.match(r"area_(\d+)", a) and int(re.match(r"area_(\d+)", a).group(1)) in nums]
        else:
            areas = [str(a) for a in split]
            missing = [a for a in areas if a not in present]
            if missing:
                raise FileNotFoundError(f"areas {missing} not found under {self.root} (present: {present})")
        if not areas:
            raise ValueError(f"split {split!r} selects none of the areas present under {self.root}: {present}")
        return areas

    def _s2d3d_pairs(self) -> List[Tuple[Path, Path]]:
        candidates = (self.root / "semantic_labels.json", self.root / "assets" / "semantic_labels.json")
        names_file = next((p for p in candidates if p.is_file()), None)
        if names_file is None:
            raise FileNotFoundError(f"Stanford2D3D layout needs semantic_labels.json in {self.root} "
                                    f"or {self.root / 'assets'}")
        self._names_file = names_file
        try:
            names = json.loads(names_file.read_text())
        except (OSError, ValueError) as e:
            raise ValueError(f"cannot read {names_file} (damaged or not JSON: {e}); expected a JSON list of "
                             "label names such as 'chair_3_office_1'") from None
        if not isinstance(names, list):
            raise ValueError(f"{names_file} holds a JSON {type(names).__name__}; expected a JSON list of label names "
                             "such as 'chair_3_office_1'")
        cls = {c: i for i, c in enumerate(S2D3D_CLASSES)}
        self._s2d3d_names = np.array([cls.get(str(n).split("_")[0], IGNORE_INDEX) for n in names], dtype=np.int64)
        pairs = []
        for area in self._s2d3d_areas():
            rgb_dir = self.root / area / "pano" / "rgb"
            sem_dir = self.root / area / "pano" / "semantic"
            images = sorted(rgb_dir.glob("*_rgb.png"))
            if not images:
                raise ValueError(f"no *_rgb.png images under {rgb_dir}")
            for img in images:
                lab = sem_dir / (img.name[: -len("_rgb.png")] + "_semantic.png")
                if not lab.is_file():
                    raise FileNotFoundError(f"no label for image {img}: expected {lab}")
                pairs.append((img, lab))
        return pairs

    def _generic_pairs(self) -> List[Tuple[Path, Path]]:
        img_dir, lab_dir = self.root / "images", self.root / "labels"
        if self.split is not None and (img_dir / str(self.split)).is_dir():
            img_dir, lab_dir = img_dir / str(self.split), lab_dir / str(self.split)
        elif self.split is not None:
            raise FileNotFoundError(f"split folder {img_dir / str(self.split)} does not exist")
        if not img_dir.is_dir():
            raise FileNotFoundError(f"generic layout expects {img_dir} (root/images and root/labels)")
        images = sorted(p for p in img_dir.iterdir() if p.suffix.lower() in _IMG_EXT)
        if not images:
            raise ValueError(f"no .png/.jpg images in {img_dir}")
        pairs = []
        for img in images:
            lab = lab_dir / f"{img.stem}.png"
            if not lab.is_file():
                raise FileNotFoundError(f"no label for image {img}: expected {lab}")
            pairs.append((img, lab))
        return pairs

    def _unlabelled_images(self) -> List[Tuple[Path, None]]:
        img_dir = self.root if self.split is None else self.root / str(self.split)
        if not img_dir.is_dir():
            raise FileNotFoundError(f"split folder {img_dir} does not exist")
        images = sorted(p for p in img_dir.rglob("*") if p.suffix.lower() in _IMG_EXT and p.is_file())
        if not images:
            raise ValueError(f"no .png/.jpg images under {img_dir}")
        return [(img, None) for img in images]

    # -- items -------------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.pairs)

    def files(self) -> List[Path]:
        """Every file the items are read from: images, labels (and Stanford2D3D's ``semantic_labels.json``).

        A training job fingerprints them (:func:`gsam_lab.training.describe_data`), so that a resume
        notices a fixed label or a replaced image."""
        return [f for pair in self.pairs for f in pair if f is not None] + (
            [self._names_file] if self._names_file is not None else [])

    def _read_label(self, path: Path) -> np.ndarray:
        try:
            lab = Image.open(path)
            lab.load()                             # decode now: a truncated file fails here, not later
        except Exception as e:  # noqa: BLE001 - PIL raises several kinds for damaged files
            raise ValueError(f"cannot read label {path} (corrupt or truncated?): {type(e).__name__}: {e}") from e
        if self.layout != "stanford2d3d" and lab.mode not in _ID_MODES:
            raise ValueError(f"label {path} is a {lab.mode} colour image; expected single-channel class ids "
                             f"(a grayscale or palette PNG, mode L, P or I), not a colourised label")
        if self.hw is not None:
            lab = lab.resize((self.hw[1], self.hw[0]), Image.NEAREST)
        arr = np.asarray(lab)
        if self.layout == "stanford2d3d":
            if arr.ndim != 3:
                raise ValueError(f"Stanford2D3D semantic image {path} must be RGB, got shape {arr.shape}")
            a64 = arr.astype(np.int64)
            idx = (a64[..., 0] << 16) | (a64[..., 1] << 8) | a64[..., 2]
            names = self._s2d3d_names
            ids = np.where(idx < len(names), names[np.minimum(idx, len(names) - 1)], IGNORE_INDEX)
        else:
            ids = arr.astype(np.int64)
            out_of_range = ids[(ids < 0) | (ids > 255)]     # 16- or 32-bit labels may hold any id
            if out_of_range.size:
                raise ValueError(f"label {path} holds class id {int(out_of_range[0])}; expected stored ids 0..255 "
                                 f"({IGNORE_INDEX} = ignore)")
        if self.lut is not None:
            ids = self.lut[ids]
        if self.num_classes is not None:
            bad = ids[(ids >= self.num_classes) & (ids != IGNORE_INDEX)]
            if bad.size:
                raise ValueError(f"label {path} holds class id {int(bad.max())}; expected ids 0..{self.num_classes - 1}"
                                 f" (num_classes={self.num_classes}) or {IGNORE_INDEX} = ignore")
        return ids

    def __getitem__(self, index: int) -> dict:
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
            raise TypeError(f"index must be an int, got {type(index).__name__} {index!r}")
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} items")
        img_path, lab_path = self.pairs[index]
        try:
            img = Image.open(img_path).convert("RGB")
        except Exception as e:
            raise ValueError(f"cannot read image {img_path}: {e}") from e
        if self.hw is not None:
            img = img.resize((self.hw[1], self.hw[0]), Image.BILINEAR)
        image = torch.from_numpy(np.asarray(img).transpose(2, 0, 1).copy()).float().div_(255.0)
        meta = {"image_path": str(img_path), "layout": self.layout, "index": int(index)}
        if lab_path is None:                       # the "images" layout
            return {"image": image, "meta": meta}
        sem = self._read_label(lab_path)
        if sem.shape != tuple(image.shape[1:]):
            raise ValueError(f"label {lab_path} has size {sem.shape}, image {img_path} has {tuple(image.shape[1:])}")
        return {"image": image, "semantic": torch.from_numpy(sem), "meta": dict(meta, label_path=str(lab_path))}
