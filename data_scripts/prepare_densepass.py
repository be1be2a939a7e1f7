"""Turn the official DensePASS download into the folder layout ``gsam_lab.data.FolderDataset(root, "densepass")`` reads.

DensePASS (Ma et al. 2021, https://github.com/chma1024/DensePASS) ships 400 x 2048 panoramas (a
±35° latitude band of the sphere) with Cityscapes-style labels for ``val`` (100 images) and unlabelled
``train`` panoramas. Downloads differ in naming; this script finds, under ``--src`` (an extracted folder
or a ``.zip``), every image and its label by file stem:

- images: ``*.png|*.jpg`` whose name does not look like a label; a trailing ``_leftImg8bit`` is dropped;
- labels: ``<stem>_labelTrainIds.png`` / ``<stem>_gtFine_labelTrainIds.png`` (Cityscapes train ids, kept)
  or ``<stem>_labelIds.png`` / ``<stem>_gtFine_labelIds.png`` / ``<stem>.png`` in a folder named
  ``gt*``/``label*`` (Cityscapes label ids 0..33, converted to train ids with the official table).

Output (``--out``)::

    leftImg8bit/<split>/<stem>_leftImg8bit.png             images with a label
    gtFine/<split>/<stem>_gtFine_labelTrainIds.png
    leftImg8bit/<unlabelled-split>/<stem>_leftImg8bit.png  images without one (default "train": the
                                                           unlabelled target-domain panoramas that
                                                           goodsam.pseudo_label_dataset labels)

Existing identical files are skipped; an existing different file is an error (nothing is overwritten)::

    python data_scripts/prepare_densepass.py --src ~/Downloads/DensePASS --out data/DensePASS --split val
"""
from __future__ import annotations

import argparse
import hashlib
import re
import shutil
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

#: Cityscapes label id (0..33) -> train id (0..18, 255 = ignore), the official table.
LABEL_TO_TRAIN = {7: 0, 8: 1, 11: 2, 12: 3, 13: 4, 17: 5, 19: 6, 20: 7, 21: 8, 22: 9, 23: 10, 24: 11, 25: 12,
                  26: 13, 27: 14, 28: 15, 31: 16, 32: 17, 33: 18}
_IMG = (".png", ".jpg", ".jpeg")
_TRAIN_SUFFIX = re.compile(r"(_gtFine)?_labelTrainIds$")
_ID_SUFFIX = re.compile(r"(_gtFine)?_labelIds$")


def label_ids_to_train_ids(lab: np.ndarray) -> np.ndarray:
    lut = np.full(256, 255, dtype=np.uint8)
    for k, v in LABEL_TO_TRAIN.items():
        lut[k] = v
    return lut[lab]


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _put(dst: Path, write) -> str:
    """Write through a temporary file; skip when identical, refuse when different. Returns the action."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".{dst.name}.tmp")
    write(tmp)
    if dst.exists():
        same = _digest(dst) == _digest(tmp)
        tmp.unlink()
        if not same:
            raise FileExistsError(f"{dst} exists with other content; refusing to overwrite it "
                                  f"(move it away or choose another --out)")
        return "same"
    tmp.replace(dst)
    return "new"


def find_pairs(src: Path):
    """``[(stem, image_path, label_path or None, label_kind)]`` with label_kind 'train' | 'id' | None."""
    files = [p for p in src.rglob("*") if p.suffix.lower() in _IMG and not p.name.startswith(".")]
    labels, images = {}, []
    for p in files:
        stem = p.stem
        in_gt = any(part.lower().startswith(("gt", "label")) for part in p.relative_to(src).parts[:-1])
        if _TRAIN_SUFFIX.search(stem):
            labels[_TRAIN_SUFFIX.sub("", stem)] = (p, "train")
        elif _ID_SUFFIX.search(stem):
            labels.setdefault(_ID_SUFFIX.sub("", stem), (p, "id"))
        elif re.search(r"(_gtFine_(color|instanceIds|polygons))$|_color$", stem):
            continue
        elif in_gt:
            labels.setdefault(stem, (p, "id"))
        else:
            images.append(p)
    out = []
    for p in sorted(images):
        stem = re.sub(r"_leftImg8bit$", "", p.stem)
        lab = labels.get(stem)
        out.append((stem, p, lab[0] if lab else None, lab[1] if lab else None))
    return out


def prepare(src: Path, out: Path, split: str = "val", require_labels: bool = False,
            unlabelled_split: str = "train") -> dict:
    if not src.exists():
        raise FileNotFoundError(f"no DensePASS download at {src} (expected a folder or a .zip)")
    tmpdir = None
    if src.is_file():
        if not zipfile.is_zipfile(src):
            raise ValueError(f"{src} is neither a folder nor a .zip archive")
        tmpdir = tempfile.mkdtemp(prefix="densepass_")
        with zipfile.ZipFile(src) as z:
            z.extractall(tmpdir)
        src = Path(tmpdir)
    try:
        pairs = find_pairs(src)
        if not pairs:
            raise FileNotFoundError(f"no images found under {src}")
        if require_labels and any(lab is None for _, _, lab, _ in pairs):
            missing = [s for s, _, lab, _ in pairs if lab is None][:5]
            raise FileNotFoundError(f"no label for {missing} ...; expected <stem>_labelTrainIds.png next to each image")
        if unlabelled_split == split and any(lab is None for _, _, lab, _ in pairs):
            raise ValueError(f"--unlabelled-split must differ from --split {split!r}: FolderDataset needs a label "
                             f"for every image of a split")
        stats = {"images": 0, "labels": 0, "skipped_same": 0}
        for stem, img, lab, kind in pairs:
            dst_img = out / "leftImg8bit" / (split if lab is not None else unlabelled_split) / f"{stem}_leftImg8bit.png"
            if img.suffix.lower() == ".png":
                act = _put(dst_img, lambda t, img=img: shutil.copyfile(img, t))
            else:
                act = _put(dst_img, lambda t, img=img: Image.open(img).convert("RGB").save(t, format="PNG"))
            stats["images"] += 1
            stats["skipped_same"] += act == "same"
            if lab is not None:
                arr = np.asarray(Image.open(lab))
                if arr.ndim != 2:
                    raise ValueError(f"label {lab} must be a single-channel PNG of ids, got shape {arr.shape}")
                arr = arr if kind == "train" else label_ids_to_train_ids(arr.astype(np.uint8))
                dst_lab = out / "gtFine" / split / f"{stem}_gtFine_labelTrainIds.png"
                _put(dst_lab, lambda t, arr=arr: Image.fromarray(arr.astype(np.uint8)).save(t, format="PNG"))
                stats["labels"] += 1
        return stats
    finally:
        if tmpdir:
            shutil.rmtree(tmpdir, ignore_errors=True)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--src", required=True, help="extracted DensePASS folder or its .zip")
    p.add_argument("--out", required=True)
    p.add_argument("--split", default="val")
    p.add_argument("--unlabelled-split", default="train", help="where images without a label go")
    p.add_argument("--require-labels", action="store_true", help="fail if an image has no label")
    a = p.parse_args(argv)
    stats = prepare(Path(a.src).expanduser(), Path(a.out).expanduser(), a.split, a.require_labels,
                    a.unlabelled_split)
    print(f"{stats['images']} images, {stats['labels']} labels in {a.out} ({stats['skipped_same']} already there); "
          f"read with gsam_lab.data.FolderDataset({a.out!r}, layout='densepass', split={a.split!r})")
    return stats


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
