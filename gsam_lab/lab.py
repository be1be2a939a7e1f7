"""The set-up every notebook starts with, as one call: profile settings, device, output folder, seeds, threads.

::

    import gsam_lab
    lab = gsam_lab.setup("04", profile, device=device, seed=seed, out_dir=out_dir, threads=2, erp_hw=erp_hw)
    cfg, dev, out = lab.cfg, lab.device, lab.out     # sizes of the profile, torch.device, a Path that exists
    print(f"ran in {lab.elapsed():.0f} s")

``sizes`` are the notebook's size parameters; ``None`` leaves a value to the profile (the table in
:mod:`gsam_lab.profiles`), anything else wins over it.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Optional, Union

import torch

from gsam_lab.profiles import settings
from gsam_lab.utils import resolve_device, seed_everything

__all__ = ["Lab", "setup"]


@dataclass(frozen=True)
class Lab:
    """What :func:`setup` prepared for one notebook run."""

    notebook: str                 # "01" ... "06": the row of the profile table
    cfg: SimpleNamespace          # the profile's settings with the user's values on top (``cfg.profile`` too)
    device: torch.device
    out: Path                     # the output folder (created)
    seed: int
    threads: int                  # torch's CPU threads after set-up
    started: float = field(default_factory=time.time, repr=False)

    def elapsed(self) -> float:
        """Seconds of wall time since :func:`setup` ran."""
        return time.time() - self.started

    def describe(self) -> str:
        """One line: profile, device, seed, threads and the output folder."""
        return (f"notebook {self.notebook}: profile={self.cfg.profile}  device={self.device}  seed={self.seed}  "
                f"threads={self.threads}  out={self.out}")


def setup(notebook: str, profile: str = "quick", *, device: Union[str, torch.device, None] = "auto",
          seed: int = 0, out_dir: Union[str, Path, None] = None, threads: Optional[int] = None,
          verbose: bool = True, **sizes) -> Lab:
    """Prepare a notebook run and return a :class:`Lab`.

    Args:
        notebook: the notebook's number, ``"01"`` ... ``"06"`` (its row of the profile table).
        profile: ``"quick"`` or ``"full"``.
        device: ``"auto"`` (CUDA, then MPS, then CPU), ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"mps"``.
        seed: seeds Python's, NumPy's and torch's random generators.
        out_dir: folder for figures and tables, created if missing (default ``outputs/<notebook>``).
        threads: torch's CPU threads when the device is the CPU (at most the current number);
            ``None``: the profile's ``threads`` where its table has one, otherwise torch's default.
        verbose: print :meth:`Lab.describe`.
        sizes: the notebook's size parameters (``erp_hw=None`` means "the profile decides").

    Raises:
        ValueError: an unknown notebook, profile, size name or device, a seed that is not an int, or
            ``threads`` below 1.
        NotADirectoryError: ``out_dir`` is a file.
    """
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise ValueError(f"seed must be an int, got {seed!r}")
    cfg = settings(notebook, profile, **sizes)
    if threads is None:
        threads = getattr(cfg, "threads", None)
    if threads is not None and (not isinstance(threads, int) or isinstance(threads, bool) or threads < 1):
        raise ValueError(f"threads must be a positive int or None, got {threads!r}")
    dev = resolve_device(device)
    if threads is not None and dev.type == "cpu":
        torch.set_num_threads(min(threads, torch.get_num_threads()))
    seed_everything(seed)
    out = Path(out_dir if out_dir is not None else Path("outputs") / notebook)
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"out_dir {out} is a file; expected a folder for the notebook's figures")
    out.mkdir(parents=True, exist_ok=True)
    lab = Lab(notebook=notebook, cfg=cfg, device=dev, out=out, seed=seed, threads=torch.get_num_threads())
    if verbose:
        print(lab.describe())
    return lab
