"""The folder a ``gsam-lab run`` writes into, and the rule that keeps the files in it safe.

The folder holds a marker file (:data:`MARKER`) naming the folder and recording every file the runs
wrote there (its size and modification time). A later run may delete a file the record lists unchanged,
and nothing else:

* a non-empty folder without the marker holds someone else's files and is refused;
* a folder whose marker names another folder is a copy (``cp -r runs/a/. thesis/``) and is refused;
* a notebook's executed copy and figures folder are replaced only when every file there is the lab's
  (listed unchanged, or written by a run that was killed after it started that notebook); any other
  file stops the run before anything is deleted.

One run at a time holds a folder: the run locks :data:`LOCK` (the operating system frees the lock when
the process ends, however it ends), and a second run is refused with the first one's process id.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Iterable, List, Optional

from gsam_lab.utils import atomic_write_bytes

__all__ = ["MARKER", "LOCK", "RunError", "RunFolder"]

#: the file that says "this folder was written by gsam-lab run" and lists the files it wrote there
MARKER = ".gsam-lab-run"
#: the file a run holds locked while it writes into the folder
LOCK = ".gsam-lab-run.lock"
#: file times come from a coarser clock than ``time.time_ns``: a file written just after a notebook started
#: may carry a time up to a clock tick earlier
CLOCK_SLACK_NS = 50_000_000


class RunError(Exception):
    """A run that cannot start: unknown notebook, profile or parameter, unsafe output folder."""


def _read_marker(out: Path) -> Optional[dict]:
    """The folder's record (``folder``, ``files``, ``running``), or None when ``out`` has no marker.

    A marker that is not such a record (an older plain-text one) counts as a record of no files.
    """
    try:
        text = (out / MARKER).read_text()
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return None
    try:
        record = json.loads(text)
    except ValueError:
        record = None
    if not isinstance(record, dict) or not isinstance(record.get("files"), dict):
        return {"folder": None, "files": {}, "running": None}
    record.setdefault("running", None)
    return record


def _entries(path: Path) -> List[Path]:
    """The files (and links) at or under ``path``; none when it does not exist."""
    if path.is_symlink() or path.is_file():
        return [path]
    found = []
    for root, dirs, files in os.walk(path):
        found += [Path(root) / n for n in files] + [Path(root) / d for d in dirs if (Path(root) / d).is_symlink()]
    return sorted(found)


def _stamp(path: Path) -> List[int]:
    st = path.lstat()
    return [st.st_size, st.st_mtime_ns]


class RunFolder:
    """The run folder ``out`` (an absolute path) while this run holds it: ``with RunFolder(out) as folder:``.

    Entering makes the folder, takes the lock (:class:`RunError` naming the holder's pid if another run
    has it) and reads the record; leaving frees the lock.
    """

    def __init__(self, out: Path):
        self.out = Path(out)
        self.record: dict = {"folder": str(self.out), "files": {}, "running": None}
        self._lock = None

    @staticmethod
    def check(out: Path, notebooks: Iterable[Path]) -> None:
        """Refuse an ``out`` that is a file, the notebooks' own folder, or a non-empty folder that is not a
        run folder of its own (no marker, or the marker of another folder)."""
        if any(out.resolve() == nb.resolve().parent for nb in notebooks):
            raise RunError(f"--out {out} is the notebooks' own folder; "
                           "choose another so the sources are never overwritten")
        if out.exists() and not out.is_dir():
            raise RunError(f"--out {out} is a file, not a folder; choose a new or empty folder")
        if not out.is_dir() or not any(p.name != LOCK for p in out.iterdir()):
            return
        record = _read_marker(out)
        if record is None:
            raise RunError(f"--out {out} is not empty and was not written by gsam-lab run (no {MARKER} in it); "
                           "refusing to overwrite its files: choose a new or empty folder")
        if record.get("folder") not in (None, str(out.resolve())):
            raise RunError(f"--out {out} holds the {MARKER} of another run folder ({record['folder']}), so it is "
                           "a copy and its files are not the lab's to replace: choose a new or empty folder")

    def __enter__(self) -> "RunFolder":
        self._lock = self._take_lock()
        self.record = {**(_read_marker(self.out) or {"files": {}, "running": None}), "folder": str(self.out)}
        return self

    def __exit__(self, *exc) -> None:
        self._lock.close()

    def _take_lock(self):
        try:
            self.out.mkdir(parents=True, exist_ok=True)
            handle = open(self.out / LOCK, "a+")
        except OSError as e:
            raise RunError(f"cannot use --out {self.out}: {e.strerror or e}") from None
        try:
            if os.name == "nt":                       # pragma: no cover - Windows
                import msvcrt
                handle.seek(0)
                msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
            else:
                import fcntl
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            try:
                handle.seek(0)
                pid = handle.read().strip() or "unknown"
            except OSError:                           # Windows: the holder's lock covers what we would read
                pid = "unknown"
            handle.close()
            raise RunError(f"--out {self.out} is in use by another gsam-lab run (pid {pid}); "
                           "wait for it to finish or choose another folder") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        return handle

    def save(self) -> None:
        """Write the record into the marker file."""
        body = {"about": "This folder was written by `gsam-lab run`. A later run into it deletes the files "
                         "listed below (unchanged) and refuses to run if it would replace any other file.",
                **self.record}
        atomic_write_bytes(self.out / MARKER, json.dumps(body, indent=1).encode())

    def is_ours(self, path: Path) -> bool:
        """Whether ``path`` (inside the folder) was written by gsam-lab run: listed in the record with its size
        and time unchanged, or written into the paths of a run that was killed, after it started them."""
        rel = path.relative_to(self.out).as_posix()
        if self.record["files"].get(rel) == _stamp(path):
            return True
        running = self.record.get("running") or {}
        return (any(rel == p or rel.startswith(p + "/") for p in running.get("paths", ()))
                and path.lstat().st_mtime_ns >= running.get("started_ns", float("inf")))

    def check_replaceable(self, paths: Iterable[Path]) -> None:
        """Raise :class:`RunError` naming the first file at ``paths`` that the lab did not write (or that was
        changed since)."""
        foreign = [f for p in paths for f in _entries(p) if not self.is_ours(f)]
        if foreign:
            more = f" and {len(foreign) - 1} more" if len(foreign) > 1 else ""
            raise RunError(f"{foreign[0]}{more} in the run folder {self.out} was not written by gsam-lab run (or "
                           "was changed since); refusing to replace it: move it elsewhere or choose another --out")

    def clear(self, paths: Iterable[Path]) -> None:
        """Delete the lab's files at ``paths`` (other files stay), then the folders this left empty."""
        paths = list(paths)
        for f in [f for p in paths for f in _entries(p) if self.is_ours(f)]:
            f.unlink(missing_ok=True)
        for top in paths:
            for root, _dirs, _files in sorted(os.walk(top), key=lambda w: -len(w[0])):
                if not os.listdir(root):
                    os.rmdir(root)

    def start(self, paths: Iterable[Path]) -> None:
        """Record that a notebook is about to write at ``paths``: a run killed now leaves files there that the
        next run may replace."""
        self.record["running"] = {"started_ns": time.time_ns() - CLOCK_SLACK_NS,
                                  "paths": [p.relative_to(self.out).as_posix() for p in paths]}
        self.save()

    def finish(self, paths: Iterable[Path]) -> None:
        """Record every file at ``paths`` as written by this run (forgetting listed files that are gone)."""
        files = {rel: stamp for rel, stamp in self.record["files"].items() if os.path.lexists(self.out / rel)}
        for p in paths:
            for f in _entries(p):
                files[f.relative_to(self.out).as_posix()] = _stamp(f)
        self.record["files"], self.record["running"] = files, None
        self.save()
