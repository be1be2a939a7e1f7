"""Write synthetic panoramas to a folder of PNG files (the ``gsam-lab render`` command)."""
from __future__ import annotations

from pathlib import Path
from typing import List, Sequence, Union

import numpy as np

from gsam_lab.images import as_rgb_uint8, to_png
from gsam_lab.utils import atomic_write_bytes

from .classes import colorize
from .datasets import SyntheticPanoramas

__all__ = ["export_panoramas"]


def export_panoramas(out_dir: Union[str, Path], split: str = "test", n: int = 4, hw: Sequence[int] = (256, 512),
                     seed: int = 0, overwrite: bool = False) -> List[Path]:
    """Render ``n`` panoramas of ``split`` into ``out_dir`` in the "generic" folder layout.

    Writes ``images/<name>.png``, ``labels/<name>.png`` (class ids, readable by
    ``FolderDataset(out_dir, layout="generic")``) and ``preview/<name>.png`` (colourised labels).
    Each file is written atomically (a killed run leaves whole files or none). Existing files are never
    overwritten unless ``overwrite=True`` (``gsam-lab render --overwrite``).
    """
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"{out} is a file, not a folder; choose a folder for the PNG files")
    ds = SyntheticPanoramas(split, n=n, hw=tuple(hw), seed=seed)
    names = [f"{split}_{seed}_{i:04d}" for i in range(n)]
    targets = [out / sub / f"{name}.png" for name in names for sub in ("images", "labels", "preview")]
    clash = [p for p in targets if p.exists()]
    if clash and not overwrite:
        raise FileExistsError(f"{clash[0]} already exists (and {len(clash) - 1} more); pass overwrite=True "
                              "(gsam-lab render --overwrite) or choose another folder")
    for sub in ("images", "labels", "preview"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    written = []
    for i, name in enumerate(names):
        item = ds[i]
        image = as_rgb_uint8(item["image"])
        semantic = item["semantic"].numpy().astype(np.uint8)
        for sub, arr in (("images", image), ("labels", semantic), ("preview", colorize(semantic))):
            written.append(atomic_write_bytes(out / sub / f"{name}.png", to_png(arr)))
    return written
