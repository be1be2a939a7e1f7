#!/usr/bin/env python
"""Download Meta's SAM checkpoints (ViT-B/L/H) into the gsam_lab checkpoint cache.

    python data_scripts/download_checkpoints.py vit_b            # -> $GSAM_LAB_CACHE/checkpoints/sam_vit_b_01ec64.pth
    python data_scripts/download_checkpoints.py all --dest ./ckpt
    python data_scripts/download_checkpoints.py vit_h --dry-run  # print what would happen

The cache folder is ``gsam_lab.utils.cache_dir("checkpoints")``: ``$GSAM_LAB_CACHE/checkpoints``,
default ``~/.cache/gsam_lab/checkpoints``, where ``gsam_lab.sam.load_sam("vit_b")`` looks.

Each file is streamed to a temporary file next to the destination with a progress bar, its byte
size and SHA-256 are checked against the registry (``gsam_lab/sam/registry.py``), and only then
is it renamed into place (atomic). An existing file with the right size is kept as it is (add
``--verify`` to also check its SHA-256); a wrong-sized one is replaced by a fresh download.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tempfile
import urllib.request
from pathlib import Path
from typing import Callable, Optional

CHUNK = 1 << 20


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def existing_ok(path: Path, size: Optional[int], sha256: Optional[str], verify: bool) -> bool:
    """True if ``path`` is a complete download (right size; right SHA-256 too with ``verify``)."""
    if not path.is_file():
        return False
    if size is not None and path.stat().st_size != size:
        return False
    if verify and sha256 and sha256_of(path) != sha256:
        return False
    return True


def download(url: str, dest: Path, size: Optional[int] = None, sha256: Optional[str] = None,
             opener: Callable = urllib.request.urlopen, progress: bool = True) -> Path:
    """Stream ``url`` to ``dest`` through a temporary file; check size and SHA-256; rename into place.

    Raises ``IOError`` (and leaves no partial file) when the size or the checksum is wrong.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    h = hashlib.sha256()
    got = 0
    try:
        with os.fdopen(fd, "wb") as out, opener(url) as resp:
            total = size
            if total is None:
                try:
                    total = int(resp.headers.get("Content-Length")) if getattr(resp, "headers", None) else None
                except (TypeError, ValueError):
                    total = None
            bar = None
            if progress:
                from tqdm.auto import tqdm
                bar = tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=dest.name)
            try:
                while True:
                    block = resp.read(CHUNK)
                    if not block:
                        break
                    out.write(block)
                    h.update(block)
                    got += len(block)
                    if bar is not None:
                        bar.update(len(block))
            finally:
                if bar is not None:
                    bar.close()
        if size is not None and got != size:
            raise IOError(f"download of {url} is incomplete: got {got:,} bytes, expected {size:,}")
        if sha256 and h.hexdigest() != sha256:
            raise IOError(f"download of {url} has SHA-256 {h.hexdigest()}, expected {sha256}")
        os.replace(tmp, dest)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return dest


def fetch(name: str, dest_dir: Path, dry_run: bool = False, verify: bool = False, url: Optional[str] = None,
          opener: Callable = urllib.request.urlopen, progress: bool = True, log=print) -> Path:
    """Make sure the checkpoint of registry model ``name`` is in ``dest_dir``; return its path."""
    from gsam_lab.sam.registry import get_spec
    spec = get_spec(name)
    if not spec.url:
        raise ValueError(f"{name!r} has no download URL (bundled models are trained, see data_scripts/README.md)")
    path = Path(dest_dir) / spec.filename
    src = url or spec.url
    if existing_ok(path, spec.size_bytes, spec.sha256, verify):
        log(f"[ok] {path} is already complete ({path.stat().st_size:,} bytes); kept")
        return path
    what = "replace the incomplete" if path.exists() else "download"
    if dry_run:
        log(f"[dry-run] would {what} {path} from {src} ({spec.size_bytes:,} bytes, sha256 {spec.sha256[:12]}...)")
        return path
    log(f"[get] {src} -> {path}")
    return download(src, path, spec.size_bytes, spec.sha256, opener=opener, progress=progress)


def main(argv=None) -> int:
    from gsam_lab.sam.registry import SAM_MODELS
    from gsam_lab.utils import cache_dir
    meta = [n for n, s in SAM_MODELS.items() if s.url]
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("names", nargs="*", default=["vit_b"], help=f"{' '.join(meta)} or all (default vit_b)")
    ap.add_argument("--dest", type=Path, default=None, help="folder (default: the gsam_lab checkpoint cache)")
    ap.add_argument("--dry-run", action="store_true", help="print what would be done, download nothing")
    ap.add_argument("--verify", action="store_true", help="also check the SHA-256 of files already there")
    args = ap.parse_args(argv)
    names = meta if "all" in args.names else args.names
    unknown = [n for n in names if n not in meta]
    if unknown:
        ap.error(f"unknown checkpoint(s) {unknown}; choose from {meta} or all")
    dest = args.dest or cache_dir("checkpoints")
    for n in names:
        fetch(n, dest, dry_run=args.dry_run, verify=args.verify)
    return 0


if __name__ == "__main__":
    sys.exit(main())
