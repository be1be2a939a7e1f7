"""Small helpers shared by every layer: device choice, cache folder, seeding, atomic writes, safe loading."""
from __future__ import annotations

import glob
import hashlib
import os
import pickle
import random
import re
import tempfile
from pathlib import Path
from typing import Mapping, Type, Union

import numpy as np
import torch

__all__ = ["resolve_device", "cache_dir", "seed_everything", "atomic_write_bytes", "atomic_save", "load_torch_file",
           "check_finite", "weights_fingerprint"]


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
        return torch.device(device)
    except (RuntimeError, TypeError) as e:
        raise ValueError(f"device must be 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps', got {device!r}") from e


def cache_dir(*parts: str) -> Path:
    """The package's on-disk cache, ``$GSAM_LAB_CACHE`` or ``~/.cache/gsam_lab``, joined with ``parts``."""
    root = Path(os.environ.get("GSAM_LAB_CACHE", Path.home() / ".cache" / "gsam_lab")).expanduser()
    path = root.joinpath(*parts)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise NotADirectoryError(f"the cache folder {path} cannot be made: {root} or a folder inside it is a file; "
                                 "point $GSAM_LAB_CACHE at a folder") from None
    return path


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


def load_torch_file(path: Union[str, Path], error: Type[Exception] = ValueError, what: str = "torch file"):
    """``torch.load(path)`` on the CPU, restricted to tensors and plain containers (``weights_only=True``).

    A pickle can hold any Python object, and loading one may run code (a class whose ``__reduce__`` calls
    a function). Every file gsam_lab writes holds only tensors, numbers, strings, lists, tuples and dicts,
    so anything else is refused before it runs.

    Raises:
        error: naming ``path``, when the file holds other objects, or is not a readable ``what``
            (truncated, corrupt, something else).
    """
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
