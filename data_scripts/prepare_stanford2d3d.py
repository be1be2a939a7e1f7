"""Turn the official Stanford2D3D download into the layout ``gsam_lab.data.FolderDataset(root, "stanford2d3d")`` reads.

The official release (http://buildingparser.stanford.edu/dataset.html) comes as one archive per area
(``area_1_no_xyz.tar`` ... or extracted ``area_1/``), each with ``pano/rgb/*_rgb.png`` and
``pano/semantic/*_semantic.png`` (2048 x 4096), plus ``assets/semantic_labels.json`` (in the
``noXYZ`` download or the GitHub repo ``alexsax/2D-3D-Semantics``). This script copies only the
panorama RGB and semantic images (``--height`` downsizes them: area-averaged RGB, nearest semantic, so
label colours stay valid) and the labels file::

    <out>/area_<N>/pano/rgb/<name>_rgb.png
    <out>/area_<N>/pano/semantic/<name>_semantic.png
    <out>/semantic_labels.json

``--src`` may be given several times (folders or ``.tar``/``.tar.gz`` archives). Existing identical
files are skipped; a different existing file is an error (nothing is overwritten)::

    python data_scripts/prepare_stanford2d3d.py --src area_1_no_xyz.tar --src area_5a_no_xyz.tar \\
        --labels assets/semantic_labels.json --out data/Stanford2D3D --height 512
"""
from __future__ import annotations

import argparse
import io
import re
import sys
import tarfile
from pathlib import Path

from PIL import Image

# the same write-or-refuse rule; a sibling script (Python puts this script's folder on sys.path)
from prepare_densepass import _put

_MEMBER = re.compile(r"(?:^|/)(area_[0-9a-z]+)/pano/(rgb|semantic)/([^/]+_(?:rgb|semantic)\.png)$")


def _resize(data: bytes, kind: str, height):
    img = Image.open(io.BytesIO(data))
    if height is None or img.height == height:
        return img
    w = int(round(img.width * height / img.height))
    return img.convert("RGB").resize((w, height), Image.BOX if kind == "rgb" else Image.NEAREST)


def _members(src: Path):
    """Yield (area, kind, name, bytes) for every pano rgb/semantic image in a folder or tar archive."""
    if src.is_dir():
        for p in sorted(src.rglob("*.png")):
            m = _MEMBER.search(p.relative_to(src.parent).as_posix())
            if m:
                yield m.group(1), m.group(2), m.group(3), p.read_bytes()
    elif tarfile.is_tarfile(src):
        with tarfile.open(src) as tf:
            for info in tf:
                m = _MEMBER.search(info.name)
                if m and info.isfile():
                    yield m.group(1), m.group(2), m.group(3), tf.extractfile(info).read()
    else:
        raise ValueError(f"{src} is neither a folder nor a tar archive")


def _find_labels(srcs, labels):
    if labels:
        return Path(labels)
    for s in srcs:
        if s.is_dir():
            hit = next(iter(sorted(s.rglob("semantic_labels.json"))), None)
            if hit:
                return hit
    return None


def prepare(srcs, out: Path, labels=None, height=None) -> dict:
    srcs = [Path(s).expanduser() for s in srcs]
    for s in srcs:
        if not s.exists():
            raise FileNotFoundError(f"no Stanford2D3D download at {s}")
    lab = _find_labels(srcs, labels)
    if lab is None or not lab.is_file():
        raise FileNotFoundError("semantic_labels.json not found: pass --labels (it ships in the noXYZ download's "
                                "assets/ folder and in github.com/alexsax/2D-3D-Semantics)")
    stats = {"rgb": 0, "semantic": 0, "areas": set()}
    for s in srcs:
        for area, kind, name, data in _members(s):
            img = _resize(data, kind, height)
            dst = out / area / "pano" / kind / name
            _put(dst, lambda t, img=img: img.save(t, format="PNG"))
            stats[kind] += 1
            stats["areas"].add(area)
    if stats["rgb"] == 0:
        raise FileNotFoundError(f"no area_*/pano/rgb/*_rgb.png found in {[str(s) for s in srcs]}")
    _put(out / "semantic_labels.json", lambda t: t.write_bytes(lab.read_bytes()))
    stats["areas"] = sorted(stats["areas"])
    return stats


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--src", action="append", required=True, help="area folder or tar archive (repeatable)")
    p.add_argument("--out", required=True)
    p.add_argument("--labels", default=None, help="semantic_labels.json (default: searched in the sources)")
    p.add_argument("--height", type=int, default=None, help="resize panoramas to this height (e.g. 512)")
    a = p.parse_args(argv)
    stats = prepare(a.src, Path(a.out).expanduser(), a.labels, a.height)
    print(f"{stats['rgb']} panoramas, {stats['semantic']} semantic maps of {stats['areas']} in {a.out}; read with "
          f"gsam_lab.data.FolderDataset({a.out!r}, layout='stanford2d3d', split='all')")
    return stats


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
