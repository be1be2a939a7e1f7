"""The weights shipped in ``gsam_lab/assets`` and their SHA-256, checked whenever one is loaded.

A damaged or half-copied file would otherwise load (or fail) in confusing ways, so every file read with
:func:`gsam_lab.utils.load_torch_file` goes through :func:`check_bundled`: a bundled file (by name or by
path, directly or through a symbolic link) with another hash is an error.

**Replacing a bundled file** (new weights from a ``data_scripts/train_*.py`` run): put its new hash in
:data:`BUNDLED_SHA256`. ``python -m gsam_lab.bundled`` prints the table for the files on disk, ready to
paste; ``tests/test_bundled_assets.py`` fails until the table matches the files.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Dict, Optional, Tuple, Type, Union

__all__ = ["ASSETS_DIR", "BUNDLED_SHA256", "AssetError", "sha256_file", "bundled_name", "check_bundled",
           "asset_status"]

ASSETS_DIR = Path(__file__).resolve().parent / "assets"

#: file name in ``gsam_lab/assets`` -> SHA-256 of its bytes (one line per file; see the module doc to update).
BUNDLED_SHA256: Dict[str, str] = {
    # data_scripts/train_tiny_sam.py
    "tiny_sam_synth.pt": "5c492d0ce3271a632f11be85474758ef651147110888658ce6933f54e51fd6eb",
    # data_scripts/train_teacher.py
    "teacher_tiny_synth.pt": "960977f02a68e80d30f0fd5883ab62067f735903de33346e6e2734858ac92172",
    # data_scripts/train_stable_sam.py
    "stable_sam_tiny_synth.pt": "250f3c488418ef65dccfed3a42c8b2bc58bceb904ae6dd62622ae9a8f9b47ae7",
    # data_scripts/train_student.py
    "student_synth.pt": "b54f04f681ee4d1d219b15422dc123600c49cb9f625c6072c752ed0fa14ce135",
}

#: (path, inode, size, mtime, ctime) -> hash: each file is hashed once per process, again once it changes
#: (the ctime moves on every write, even one that restores the size and the modification time)
_seen: Dict[Tuple[str, int, int, int, int], str] = {}


class AssetError(ValueError):
    """A bundled file does not have the SHA-256 listed in :data:`BUNDLED_SHA256`."""


def sha256_file(path: Union[str, Path]) -> str:
    """The SHA-256 of a file's bytes, as 64 hex digits."""
    path = Path(path)
    st = path.stat()
    key = (str(path.resolve()), st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
    if key not in _seen:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        _seen[key] = h.hexdigest()
    return _seen[key]


def bundled_name(path: Union[str, Path]) -> Optional[str]:
    """The name in :data:`BUNDLED_SHA256` of the bundled file that ``path`` reaches, else None.

    ``path`` reaches a bundled file when it names ``gsam_lab/assets/<name>`` (even if that entry is a symbolic
    link to a file elsewhere) or leads to the same file through symbolic links (a link to the file, or to
    the ``assets`` folder).
    """
    path = Path(path).expanduser()
    reached = {Path(os.path.abspath(path)), path.resolve()}
    for name in BUNDLED_SHA256:
        shipped = ASSETS_DIR / name
        if reached & {shipped, shipped.resolve(), ASSETS_DIR.resolve() / name}:
            return name
    return None


def check_bundled(path: Union[str, Path], error: Type[Exception] = AssetError) -> None:
    """If ``path`` reaches one of the bundled files (:func:`bundled_name`), raise ``error`` unless the
    SHA-256 of the bytes it reads is the listed one.

    Files outside ``gsam_lab/assets`` (your own checkpoints) are not checked.
    """
    path = Path(path)
    name = bundled_name(path)
    if name is None or not path.is_file():
        return
    expected, actual = BUNDLED_SHA256[name], sha256_file(path)
    if actual != expected:
        shown = str(path) if path.name == name else f"{path} (gsam_lab/assets/{name})"
        raise error(f"the bundled file {shown} has SHA-256 {actual}, but gsam_lab/bundled.py lists {expected}: "
                    "it is damaged or was replaced. Reinstall gsam_lab (or restore the file from git); if you replaced "
                    f"it on purpose, put its new hash in BUNDLED_SHA256 (python -m gsam_lab.bundled prints the table)")


def asset_status() -> Dict[str, str]:
    """``{file name: "ok" | "missing" | "SHA-256 mismatch" | "not in BUNDLED_SHA256"}`` for ``gsam_lab/assets``."""
    names = sorted(set(BUNDLED_SHA256) | {p.name for p in ASSETS_DIR.glob("*")
                                          if p.is_file() and not p.name.startswith(".")})
    out = {}
    for name in names:
        path = ASSETS_DIR / name
        if name not in BUNDLED_SHA256:
            out[name] = "not in BUNDLED_SHA256"
        elif not path.is_file():
            out[name] = "missing"
        else:
            out[name] = "ok" if sha256_file(path) == BUNDLED_SHA256[name] else "SHA-256 mismatch"
    return out


if __name__ == "__main__":  # pragma: no cover - prints the table for the files on disk
    print("BUNDLED_SHA256: Dict[str, str] = {")
    for p in sorted(ASSETS_DIR.glob("*.pt")):
        print(f'    "{p.name}": "{sha256_file(p)}",')
    print("}")
