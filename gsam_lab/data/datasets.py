"""Torch datasets of synthetic renders: ERP panoramas (target domain) and pinhole views (source domain).

Splits and world seeds. Item ``index`` of split ``split`` with dataset seed ``seed`` shows the world
with seed::

    world_seed = SPLIT_ID[split] * 2**48 + (blake2b("{seed}:{index}") mod 2**48)
    SPLIT_ID = {"train": 0, "val": 1, "test": 2}

so the three splits draw worlds from disjoint ranges ``[k * 2**48, (k+1) * 2**48)``: no choice of
``seed`` or ``index`` in one split can produce a world of another (``split_of_world_seed`` inverts the
rule). Pinhole datasets show ``views_per_world`` views of each world (item ``i`` -> world ``i //
views_per_world``), with cameras drawn from ``world_seed`` and the view number.

Cache. Every render is stored as a compressed ``.npz`` (image, semantic, instance, depth) in
``cache_dir`` (default ``gsam_lab.utils.cache_dir("renders", kind)``, moved by ``$GSAM_LAB_CACHE``),
named by a SHA-256 of all render parameters and ``RENDERER_VERSION``; writes are atomic
(``gsam_lab.utils.atomic_write_bytes``), and an unreadable or inconsistent file is re-rendered with
a warning. Renders are made on the CPU so that cached and fresh arrays are bit-identical.

Items are dicts: ``image`` float32 ``3 x H x W`` in [0, 1], ``semantic`` int64 ``H x W``, ``instance``
int64 ``H x W``, ``depth`` float32 ``H x W`` (inf = sky) and ``meta`` (split, index, world_seed,
camera: kind, fov_deg, yaw_deg, pitch_deg, roll_deg, h, w).
"""
from __future__ import annotations

import hashlib
import io
import json
import warnings
from pathlib import Path
from typing import Dict, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch.utils.data import Dataset

from gsam_lab.utils import atomic_write_bytes, warn_cache_unwritable
from gsam_lab.utils import cache_dir as _cache_root

from .render import RENDERER_VERSION, render_panorama, render_pinhole
from .world import make_world

__all__ = ["SyntheticPanoramas", "SyntheticPinholes", "world_seed", "split_of_world_seed", "SPLITS",
           "load_or_render", "heldout_domains"]

SPLITS: Dict[str, int] = {"train": 0, "val": 1, "test": 2}
_RANGE = 1 << 48
_KEYS = ("image", "semantic", "instance", "depth")


def world_seed(split: str, seed: int, index: int) -> int:
    """The world seed of item ``index`` of ``split`` for dataset seed ``seed`` (see module doc)."""
    _check_split(split)
    digest = hashlib.blake2b(f"{int(seed)}:{int(index)}".encode(), digest_size=8).digest()
    return SPLITS[split] * _RANGE + int.from_bytes(digest, "little") % _RANGE


def split_of_world_seed(ws: int) -> str:
    """Which split's range a world seed lies in (``ValueError`` outside all of them)."""
    k = int(ws) // _RANGE
    for name, i in SPLITS.items():
        if i == k and ws >= 0:
            return name
    raise ValueError(f"world seed {ws} lies outside every split's range")


def _check_split(split) -> None:
    if split not in SPLITS:
        raise ValueError(f"split must be one of {tuple(SPLITS)}, got {split!r}")


def _check_hw(hw, erp: bool) -> Tuple[int, int]:
    try:
        h, w = (int(x) for x in hw)
        ok = all(isinstance(x, (int, np.integer)) for x in hw) and h > 0 and w > 0
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(f"hw must be a pair of positive ints (H, W), got {hw!r}")
    if erp and w != 2 * h:
        raise ValueError(f"a panorama (ERP) must be 2:1, W == 2*H; got hw={tuple(hw)}")
    return h, w


def _check_n(n) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n <= 0:
        raise ValueError(f"n (number of items) must be a positive int, got {n!r}")
    return int(n)


def _range(value, name: str, lo: float, hi: float) -> Tuple[float, float]:
    try:
        a, b = (float(value), float(value)) if np.isscalar(value) else (float(value[0]), float(value[1]))
    except (TypeError, ValueError, IndexError):
        raise ValueError(f"{name} must be a number or a (min, max) pair, got {value!r}") from None
    if not (lo <= a <= b <= hi):
        raise ValueError(f"{name} must satisfy {lo} <= min <= max <= {hi}, got {value!r}")
    return a, b


def _cache_path(folder: Path, params: dict) -> Path:
    key = json.dumps({**params, "renderer": RENDERER_VERSION}, sort_keys=True, default=str)
    return folder / f"{hashlib.sha256(key.encode()).hexdigest()[:32]}.npz"


def load_or_render(path: Optional[Path], render_fn, hw: Tuple[int, int]) -> Dict[str, np.ndarray]:
    """Read a cached render at ``path`` or render (``render_fn()``) and store it atomically.

    ``path=None`` disables the cache. A file that cannot be read, lacks a key or has the wrong shapes
    is re-rendered (``RuntimeWarning``) and replaced. A cache folder that cannot be written is reported
    once (``RuntimeWarning``) and the render is returned without being stored.
    """
    try:
        cached = path is not None and path.is_file()
    except OSError:                                 # a folder we may not even look into
        cached = False
    if cached:
        try:
            with np.load(path, allow_pickle=False) as z:
                out = {k: z[k] for k in _KEYS}
            h, w = hw
            if out["image"].shape != (h, w, 3) or any(out[k].shape != (h, w) for k in _KEYS[1:]):
                raise ValueError("unexpected array shapes")
            return out
        except Exception as e:  # noqa: BLE001 - any unreadable file is re-rendered
            warnings.warn(f"cached render {path} is unreadable ({type(e).__name__}: {e}); re-rendering",
                          RuntimeWarning, stacklevel=3)
    out = render_fn()
    if path is not None:
        buf = io.BytesIO()
        np.savez_compressed(buf, **{k: out[k] for k in _KEYS})
        try:
            atomic_write_bytes(path, buf.getvalue())
        except (FileExistsError, NotADirectoryError, IsADirectoryError):
            raise                                   # something is in the way: a clear error, not a warning
        except OSError as e:                        # read-only or foreign cache folder, full disk
            warn_cache_unwritable(path.parent, e)
    return out


def _to_item(r: Dict[str, np.ndarray], meta: dict) -> dict:
    return {"image": torch.from_numpy(np.ascontiguousarray(r["image"].transpose(2, 0, 1))).float().div_(255.0),
            "semantic": torch.from_numpy(r["semantic"].astype(np.int64)),
            "instance": torch.from_numpy(r["instance"].astype(np.int64)),
            "depth": torch.from_numpy(r["depth"].astype(np.float32)), "meta": meta}


class _Synthetic(Dataset):
    kind = ""

    def __init__(self, split: str, n: int, hw, seed: int, cache: bool, cache_dir, world_params, erp: bool):
        _check_split(split)
        self.split, self.n = split, _check_n(n)
        self.hw = _check_hw(hw, erp)
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"seed must be a non-negative int, got {seed!r}")
        self.seed = int(seed)
        self.world_params = dict(world_params or {})
        make_world(0, **self.world_params)          # validate the scene parameters now, not at item 0
        self.cache = bool(cache)
        self._cache_dir = Path(cache_dir) if cache_dir is not None else None

    @property
    def cache_folder(self) -> Optional[Path]:
        """Where renders are cached (None when caching is off)."""
        if not self.cache:
            return None
        if self._cache_dir is not None:
            try:
                self._cache_dir.mkdir(parents=True, exist_ok=True)
            except (FileExistsError, NotADirectoryError):
                raise
            except OSError as e:
                warn_cache_unwritable(self._cache_dir, e)
            return self._cache_dir
        return _cache_root("renders", self.kind)

    def __len__(self) -> int:
        return self.n

    def identity(self) -> dict:
        """Every parameter the items follow from (they are rendered from these alone): what a training
        job fingerprints of this data set (:func:`gsam_lab.training.describe_data`)."""
        out = {"kind": self.kind, "split": self.split, "n": self.n, "hw": list(self.hw), "seed": self.seed,
               "world_params": self.world_params, "renderer": RENDERER_VERSION}
        for attr in ("fov_deg", "pitch_deg", "views_per_world"):
            if hasattr(self, attr):
                out[attr] = getattr(self, attr)
        return out

    def _index(self, index) -> int:
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
            raise TypeError(f"index must be an int, got {type(index).__name__}")
        i = int(index) + (self.n if index < 0 else 0)
        if not 0 <= i < self.n:
            raise IndexError(f"index {index} out of range for a dataset of {self.n} items")
        return i

    def _get(self, ws: int, camera: dict, index: int) -> dict:
        h, w = self.hw
        params = {"kind": self.kind, "world_seed": ws, "world_params": self.world_params, "camera": camera}
        folder = self.cache_folder
        path = _cache_path(folder, params) if folder is not None else None

        def render():
            world = make_world(ws, **self.world_params)
            if camera["kind"] == "erp":
                return render_panorama(world, h, w)
            return render_pinhole(world, h, w, camera["fov_deg"], camera["yaw_deg"], camera["pitch_deg"],
                                  camera["roll_deg"])

        r = load_or_render(path, render, (h, w))
        return _to_item(r, {"split": self.split, "index": index, "world_seed": ws, "camera": dict(camera)})


class SyntheticPanoramas(_Synthetic):
    """``n`` ERP renders (``hw = (H, 2H)``) of distinct worlds of ``split`` ("train" | "val" | "test").

    ``world_params``: scene parameters for :func:`~gsam_lab.data.make_world`; ``cache``/``cache_dir``:
    see the module doc. Items: see the module doc (``meta["camera"]["kind"] == "erp"``).
    """
    kind = "erp"

    def __init__(self, split: str, n: int, hw: Sequence[int] = (256, 512), seed: int = 0, cache: bool = True,
                 cache_dir: Union[str, Path, None] = None, world_params: Optional[dict] = None):
        super().__init__(split, n, hw, seed, cache, cache_dir, world_params, erp=True)

    def world_seed(self, index: int) -> int:
        return world_seed(self.split, self.seed, self._index(index))

    def __getitem__(self, index: int) -> dict:
        i = self._index(index)
        h, w = self.hw
        cam = {"kind": "erp", "fov_deg": 360.0, "yaw_deg": 0.0, "pitch_deg": 0.0, "roll_deg": 0.0, "h": h, "w": w}
        return self._get(world_seed(self.split, self.seed, i), cam, i)


class SyntheticPinholes(_Synthetic):
    """``n`` Cityscapes-like pinhole renders of ``split``: ``views_per_world`` views per world, each
    with a random yaw (uniform over 360 deg), horizontal FoV uniform in ``fov_deg`` and pitch uniform
    in ``pitch_deg`` (horizon near the middle), roll 0. Items: see the module doc.
    """
    kind = "pinhole"

    def __init__(self, split: str, n: int, hw: Sequence[int] = (256, 512), seed: int = 0,
                 fov_deg=(60.0, 90.0), pitch_deg=(-5.0, 5.0), views_per_world: int = 4, cache: bool = True,
                 cache_dir: Union[str, Path, None] = None, world_params: Optional[dict] = None):
        super().__init__(split, n, hw, seed, cache, cache_dir, world_params, erp=False)
        self.fov_deg = _range(fov_deg, "fov_deg", 1e-3, 179.0)
        self.pitch_deg = _range(pitch_deg, "pitch_deg", -90.0, 90.0)
        if (isinstance(views_per_world, bool) or not isinstance(views_per_world, (int, np.integer))
                or views_per_world < 1):
            raise ValueError(f"views_per_world must be a positive int, got {views_per_world!r}")
        self.views_per_world = int(views_per_world)

    def camera(self, index: int) -> Tuple[int, dict]:
        """(world seed, camera dict) of item ``index``."""
        i = self._index(index)
        ws = world_seed(self.split, self.seed, i // self.views_per_world)
        rng = np.random.default_rng([ws, i % self.views_per_world, 7])
        h, w = self.hw
        cam = {"kind": "pinhole", "fov_deg": float(rng.uniform(*self.fov_deg)),
               "yaw_deg": float(rng.uniform(-180.0, 180.0)), "pitch_deg": float(rng.uniform(*self.pitch_deg)),
               "roll_deg": 0.0, "h": h, "w": w}
        return ws, cam

    def __getitem__(self, index: int) -> dict:
        ws, cam = self.camera(index)
        return self._get(ws, cam, self._index(index))


def heldout_domains(n_pinhole: int = 16, n_erp: int = 8, pinhole_hw: Tuple[int, int] = (256, 256),
                    erp_hw: Tuple[int, int] = (256, 512), split: str = "test", seed: int = 0,
                    fov_deg: Tuple[float, float] = (50.0, 110.0)) -> Dict[str, "_Synthetic"]:
    """Held-out evaluation images:
    ``{"pinhole": SyntheticPinholes(split, ...), "erp": SyntheticPanoramas(split, ...)}``.

    The one place where SAM, Stable-SAM and the notebooks get the images they are scored on:
    worlds of the ``test`` (or ``val``) split, which no training recipe renders. A domain with
    ``n = 0`` is left out.
    """
    out: Dict[str, _Synthetic] = {}
    if n_pinhole:
        out["pinhole"] = SyntheticPinholes(split, n_pinhole, pinhole_hw, seed=seed, fov_deg=fov_deg)
    if n_erp:
        out["erp"] = SyntheticPanoramas(split, n_erp, erp_hw, seed=seed)
    return out
