"""Small helpers shared by every layer: device choice, cache folder, seeding, atomic writes."""
from __future__ import annotations

import hashlib
import os
import random
import tempfile
from pathlib import Path
from typing import Union

import numpy as np
import torch

__all__ = ["resolve_device", "cache_dir", "seed_everything", "atomic_write_bytes", "atomic_save", "weights_fingerprint"]


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
    path.mkdir(parents=True, exist_ok=True)
    return path


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch; return a fresh CPU ``torch.Generator`` seeded the same."""
    random.seed(seed)
    np.random.seed(seed % (2 ** 32))
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def atomic_write_bytes(path: Union[str, Path], payload: bytes) -> Path:
    """Write ``payload`` to ``path`` through a temporary file and ``os.replace`` (no torn files)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
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


def progress_bar(iterable=None, **kwargs):
    """A ``tqdm.auto`` bar (a widget in Jupyter, text in a terminal) that redraws at most once a second.

    Takes tqdm's arguments (``desc``, ``total``, ``initial``, ``disable``, ``leave`` ...); ``mininterval``
    defaults to :data:`PROGRESS_INTERVAL_S`. Use ``bar.set_postfix(..., refresh=False)`` in loops so a postfix
    does not force a redraw either.
    """
    from tqdm.auto import tqdm

    kwargs.setdefault("mininterval", PROGRESS_INTERVAL_S)
    return tqdm(iterable, **kwargs)
