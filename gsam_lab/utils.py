"""Small helpers shared by every layer: device choice, cache folder, seeding, atomic writes, safe loading."""
from __future__ import annotations

import glob
import hashlib
import os
import pickle
import random
import re
import tempfile
import warnings
import zipfile
from pathlib import Path
from typing import Dict, Mapping, Optional, Tuple, Type, Union

import numpy as np
import torch

__all__ = ["resolve_device", "CACHE_ENV", "cache_root", "cache_dir", "cache_problem", "warn_cache_unwritable",
           "seed_everything", "atomic_write_bytes", "atomic_save", "verify_archive",
           "load_torch_file", "check_finite", "weights_fingerprint"]


#: the device types the lab runs on (torch knows others, such as "meta", that hold no data)
COMPUTE_DEVICES = ("cpu", "cuda", "mps", "xpu")


def resolve_device(device: Union[str, torch.device, None] = "auto") -> torch.device:
    """``"auto"`` (or ``None``) picks CUDA, then MPS, then CPU; anything else goes to ``torch.device``."""
    if device is None or (isinstance(device, str) and device == "auto"):
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as e:
        raise ValueError(f"device must be 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps', got {device!r}") from e
    if dev.type not in COMPUTE_DEVICES:        # e.g. "meta": tensors without data, every result would be empty
        raise ValueError(f"device must be 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps', got {device!r} "
                         f"(a {dev.type!r} device does not compute)")
    return dev


#: the variable that moves the on-disk cache (renders, Meta's checkpoints, training work folders)
CACHE_ENV = "GSAM_LAB_CACHE"
_cache_roots: Dict[Tuple[str, str], Path] = {}     # ($GSAM_LAB_CACHE, home) -> the absolute folder it meant first
_cache_warned = set()                              # cache folders already reported as unwritable


def cache_root() -> Path:
    """The cache folder as an absolute path: ``$GSAM_LAB_CACHE`` (empty counts as unset), else
    ``~/.cache/gsam_lab``.

    A relative value is resolved once, against the working folder of the first call: a notebook kernel
    that starts elsewhere, or a later ``os.chdir``, does not move the cache.
    """
    value = os.environ.get(CACHE_ENV, "").strip()
    key = (value, str(Path.home()))
    if key not in _cache_roots:
        raw = Path(value).expanduser() if value else Path.home() / ".cache" / "gsam_lab"
        _cache_roots[key] = Path(os.path.abspath(raw))
    return _cache_roots[key]


def cache_problem(path: Union[str, Path, None] = None) -> Optional[str]:
    """Why the cache folder (or ``path`` in it) cannot hold files, in a few words; None when it can."""
    path = Path(path) if path is not None else cache_root()
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except (FileExistsError, NotADirectoryError):
        return f"{path} cannot be made: a file is in the way; point ${CACHE_ENV} at a folder"
    except OSError as e:
        return f"{path} is not writable ({e.strerror or type(e).__name__}); point ${CACHE_ENV} at a writable folder"
    return None


def cache_dir(*parts: str) -> Path:
    """The package's on-disk cache (:func:`cache_root`) joined with ``parts``, made if missing.

    When the folder cannot be made or written (a read-only home, a shared cache of another user), a
    ``RuntimeWarning`` says so once and the path is returned anyway: readers find nothing there, and
    callers that can work without the cache (the renders) do.

    Raises:
        NotADirectoryError: a file stands where the folder should be.
    """
    root = cache_root()
    path = root.joinpath(*parts)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise NotADirectoryError(f"the cache folder {path} cannot be made: {root} or a folder inside it is a file; "
                                 f"point ${CACHE_ENV} at a folder") from None
    except OSError as e:
        warn_cache_unwritable(path, e)
    return path


def warn_cache_unwritable(path: Union[str, Path], exc: OSError) -> None:
    """One ``RuntimeWarning`` per folder: the cache at ``path`` cannot be written (``exc``), the work goes on
    without it."""
    if str(path) not in _cache_warned:
        _cache_warned.add(str(path))
        warnings.warn(f"the cache folder {path} is not writable ({exc.strerror or type(exc).__name__}): working "
                      f"without the cache (slower); point ${CACHE_ENV} at a writable folder", RuntimeWarning,
                      stacklevel=3)


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch; return a fresh CPU ``torch.Generator`` seeded the same."""
    random.seed(seed)
    np.random.seed(seed % (2 ** 32))
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def _process_alive(pid: int) -> bool:
    if os.name == "nt":            # os.kill(pid, 0) would terminate the process on Windows: assume it lives
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:        # exists, owned by someone else
        return True
    return True


def _remove_stale_temps(path: Path) -> None:
    """Delete the temporary files of earlier atomic writes of ``path`` whose process died mid-write (a kill).

    Temporary files are named ``.<name>.<pid>.<random>.tmp``; those of a living process are left alone.
    """
    prefix = f".{path.name}."
    for tmp in path.parent.glob(glob.escape(prefix) + "*.tmp"):
        pid = tmp.name[len(prefix):].split(".", 1)[0]
        if not (pid.isdigit() and _process_alive(int(pid))):
            tmp.unlink(missing_ok=True)


def atomic_write_bytes(path: Union[str, Path], payload: bytes) -> Path:
    """Write ``payload`` to ``path`` through a temporary file and ``os.replace`` (no torn files).

    Temporary files left next to ``path`` by a write that was killed are removed first.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temps(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)          # mkstemp makes 0600 files; give the usual permissions
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def atomic_save(obj, path: Union[str, Path]) -> Path:
    """``torch.save`` to ``path`` atomically."""
    import io
    buf = io.BytesIO()
    torch.save(obj, buf)
    return atomic_write_bytes(path, buf.getvalue())


#: (path, inode, size, mtime, ctime) of the archives found intact in this process (each is read once)
_intact: Dict[Tuple[str, int, int, int, int], bool] = {}


def verify_archive(path: Union[str, Path], error: Type[Exception] = ValueError, what: str = "torch file") -> None:
    """Check the CRC-32 of every member of the zip archive ``torch.save`` wrote to ``path``.

    ``torch.load`` does not check them, so a damaged block (a bad sector, an interrupted copy) would load
    as wrong weights. Files that are not zip archives (the pre-1.6 torch format) are left to ``torch.load``.

    Raises:
        error: naming ``path`` and the damaged member, when the archive is damaged.
    """
    path = Path(path)
    st = path.stat()
    key = (str(path.resolve()), st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
    if key in _intact:
        return
    with open(path, "rb") as f:
        if f.read(4) != b"PK\x03\x04":          # not a zip archive
            return
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
    except Exception as e:  # noqa: BLE001 - BadZipFile, OSError, struct/zlib errors: one message for all
        raise error(f"{path} is not a readable {what} (corrupt or truncated?): its zip archive is damaged "
                    f"({type(e).__name__}: {(str(e).strip().splitlines() or [''])[0]}); it was not loaded") from None
    if bad is not None:
        raise error(f"{path} is damaged: the CRC-32 of {bad!r} inside it does not match its bytes (a damaged "
                    f"block or an incomplete copy); it was not loaded: restore or re-create the {what}")
    _intact[key] = True


def load_torch_file(path: Union[str, Path], error: Type[Exception] = ValueError, what: str = "torch file"):
    """``torch.load(path)`` on the CPU, restricted to tensors and plain containers (``weights_only=True``),
    after checking the file's integrity.

    A pickle can hold any Python object, and loading one may run code (a class whose ``__reduce__`` calls
    a function). Every file gsam_lab writes holds only tensors, numbers, strings, lists, tuples and dicts,
    so anything else is refused before it runs. Before loading, a bundled file must have its listed
    SHA-256 (:func:`gsam_lab.bundled.check_bundled`) and the archive its CRC-32s (:func:`verify_archive`).

    Raises:
        error: naming ``path``, when the file holds other objects, is damaged, or is not a readable ``what``
            (truncated, corrupt, something else).
    """
    from gsam_lab.bundled import check_bundled

    try:
        check_bundled(path, error)
        verify_archive(path, error, what)
    except OSError as e:
        raise error(f"{path} is not a readable {what}: {e.strerror or e}") from None
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - zip / pickle / OS errors vary by torch version: one message for all
        found = re.search(r"GLOBAL (\S+) (?:was not an allowed global|whose module \S+ is blocked)", str(e))
        if isinstance(e, pickle.UnpicklingError) and found:
            raise error(f"{path} holds a Python object ({found.group(1)}) besides tensors and plain containers; "
                        "refusing to load it (nothing in it was run): gsam_lab reads only files of tensors, "
                        "numbers, strings, lists and dicts") from e
        reason = "not a torch file" if isinstance(e, pickle.UnpicklingError) else \
            f"{type(e).__name__}: {(str(e).strip().splitlines() or [''])[0]}"
        raise error(f"{path} is not a readable {what} (corrupt or truncated?): {reason}") from e


def check_finite(state: Mapping[str, torch.Tensor], source: Union[str, Path],
                 error: Type[Exception] = ValueError) -> None:
    """Raise ``error`` naming ``source`` when a floating tensor of ``state`` holds NaN or infinity.

    Damaged files and checkpoints of a diverged training would otherwise load silently and give NaN outputs.
    """
    bad = [k for k, v in state.items()
           if isinstance(v, torch.Tensor) and v.is_floating_point() and not bool(torch.isfinite(v).all())]
    if bad:
        raise error(f"{source} holds non-finite weights (NaN or infinity) in {len(bad)} tensor(s), first {bad[0]!r}: "
                    "the file is damaged or was saved from a diverged training run; it was not loaded")


@torch.no_grad()
def weights_fingerprint(module: torch.nn.Module) -> str:
    """16-hex-digit hash of ``module``'s state dict (sorted names, fp32 bytes): a cache key that changes
    when the weights do (e.g. new shipped ``tiny-synth`` weights), not only when a model's name does."""
    h = hashlib.blake2b(digest_size=8)
    for k, v in sorted(module.state_dict().items()):
        h.update(k.encode())
        h.update(v.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    return h.hexdigest()


#: seconds between two redraws of a progress bar. tqdm's default (0.1 s) redraws on nearly every step of a
#: training loop; in Jupyter each redraw is 2-3 widget messages, and a few thousand of them queued behind one
#: long cell can make a headless runner (nbval waits only 5 s for a cell's trailing output) miss the end of it.
PROGRESS_INTERVAL_S = 1.0
#: set to "0" to switch every progress bar off: ``gsam-lab run`` and the nbval runs (notebooks/conftest.py) do,
#: so that executed notebooks do not store bar widgets among their outputs
PROGRESS_ENV = "GSAM_LAB_PROGRESS"


def progress_bar(iterable=None, **kwargs):
    """A ``tqdm.auto`` bar (a widget in Jupyter, text in a terminal) that redraws at most once a second.

    Takes tqdm's arguments (``desc``, ``total``, ``initial``, ``disable``, ``leave`` ...); ``mininterval``
    defaults to :data:`PROGRESS_INTERVAL_S`. Use ``bar.set_postfix(..., refresh=False)`` in loops so a postfix
    does not force a redraw either. With ``$GSAM_LAB_PROGRESS`` set to ``0`` the bar is disabled.
    """
    from tqdm.auto import tqdm

    kwargs.setdefault("mininterval", PROGRESS_INTERVAL_S)
    if os.environ.get(PROGRESS_ENV, "1") == "0":
        kwargs["disable"] = True
    return tqdm(iterable, **kwargs)
