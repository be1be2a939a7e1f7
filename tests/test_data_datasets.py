"""Synthetic datasets: item format, split seed ranges, on-disk cache."""
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from gsam_lab.data import SyntheticPanoramas, SyntheticPinholes, split_of_world_seed, world_seed
from gsam_lab.data.datasets import SPLITS

SMALL = dict(n_cars=3, n_persons=2, n_poles=2, n_trees=2, n_bushes=1)


def test_panorama_items(tmp_path):
    ds = SyntheticPanoramas("val", 3, hw=(32, 64), cache_dir=tmp_path, world_params=SMALL)
    assert len(ds) == 3
    item = ds[0]
    assert item["image"].shape == (3, 32, 64) and item["image"].dtype == torch.float32
    assert 0.0 <= item["image"].min() and item["image"].max() <= 1.0
    assert item["semantic"].shape == (32, 64) and item["semantic"].dtype == torch.int64
    assert item["instance"].dtype == torch.int64 and item["depth"].dtype == torch.float32
    assert item["meta"]["world_seed"] == ds.world_seed(0) and item["meta"]["camera"]["kind"] == "erp"
    assert ds[-1]["meta"]["index"] == 2
    batch = next(iter(DataLoader(ds, batch_size=2)))
    assert batch["image"].shape == (2, 3, 32, 64)
    with pytest.raises(IndexError):
        ds[3]


def test_pinhole_items_share_worlds_and_vary_cameras(tmp_path):
    ds = SyntheticPinholes("train", 5, hw=(24, 48), fov_deg=(60, 90), pitch_deg=(-5, 5), views_per_world=2,
                           cache_dir=tmp_path, world_params=SMALL)
    cams = [ds.camera(i) for i in range(5)]
    assert cams[0][0] == cams[1][0] != cams[2][0]
    for _, c in cams:
        assert 60 <= c["fov_deg"] <= 90 and -5 <= c["pitch_deg"] <= 5 and -180 <= c["yaw_deg"] <= 180
    assert cams[0][1]["yaw_deg"] != cams[1][1]["yaw_deg"]
    item = ds[1]
    assert item["image"].shape == (3, 24, 48) and item["meta"]["camera"] == cams[1][1]
    assert ds.camera(1) == cams[1]                                       # deterministic


def test_split_seed_ranges_are_disjoint():
    seen = {s: {world_seed(s, seed, i) for seed in range(5) for i in range(300)} for s in SPLITS}
    assert not seen["train"] & seen["test"] and not seen["train"] & seen["val"] and not seen["val"] & seen["test"]
    for split, seeds in seen.items():
        assert all(split_of_world_seed(ws) == split for ws in seeds)
    # no train dataset seed can produce a test world, whatever the dataset seed
    for seed in (0, 1, 2 ** 40, 123456789):
        assert split_of_world_seed(world_seed("train", seed, 10 ** 9)) == "train"
    assert (SyntheticPanoramas("train", 2, cache=False).world_seed(0)
            != SyntheticPanoramas("test", 2, cache=False).world_seed(0))
    assert (SyntheticPanoramas("val", 2, seed=0, cache=False).world_seed(1)
            != SyntheticPanoramas("val", 2, seed=1, cache=False).world_seed(1))


def test_cache_hit_returns_identical_arrays(tmp_path):
    ds = SyntheticPanoramas("test", 1, hw=(32, 64), cache_dir=tmp_path, world_params=SMALL)
    a = ds[0]
    files = list(tmp_path.glob("*.npz"))
    assert len(files) == 1
    mtime = files[0].stat().st_mtime_ns
    b = ds[0]
    assert files[0].stat().st_mtime_ns == mtime                          # read, not rewritten
    for k in ("image", "semantic", "instance", "depth"):
        assert torch.equal(a[k], b[k]), k
    fresh = SyntheticPanoramas("test", 1, hw=(32, 64), cache=False, world_params=SMALL)[0]
    assert torch.equal(fresh["image"], a["image"]) and torch.equal(fresh["semantic"], a["semantic"])
    # other render parameters -> another file
    SyntheticPanoramas("test", 1, hw=(16, 32), cache_dir=tmp_path, world_params=SMALL)[0]
    assert len(list(tmp_path.glob("*.npz"))) == 2


def test_corrupt_cache_is_rerendered(tmp_path):
    ds = SyntheticPanoramas("val", 1, hw=(32, 64), cache_dir=tmp_path, world_params=SMALL)
    good = ds[0]
    path = next(tmp_path.glob("*.npz"))
    path.write_bytes(b"not a zip file")
    with pytest.warns(RuntimeWarning, match="re-rendering"):
        again = ds[0]
    assert torch.equal(again["image"], good["image"])
    with np.load(path) as z:                                             # the file was repaired
        assert z["semantic"].shape == (32, 64)
    assert not list(tmp_path.glob(".*.tmp"))


def test_default_cache_dir_follows_env(tmp_path, monkeypatch):
    monkeypatch.setenv("GSAM_LAB_CACHE", str(tmp_path))
    ds = SyntheticPanoramas("val", 1, hw=(16, 32), world_params=SMALL)
    ds[0]
    assert ds.cache_folder == tmp_path / "renders" / "erp"
    assert len(list(ds.cache_folder.glob("*.npz"))) == 1


def test_bad_arguments():
    with pytest.raises(ValueError, match="split"):
        SyntheticPanoramas("training", 2)
    with pytest.raises(ValueError, match="n"):
        SyntheticPanoramas("train", 0)
    with pytest.raises(ValueError, match="2:1"):
        SyntheticPanoramas("train", 2, hw=(32, 32))
    with pytest.raises(ValueError, match="hw"):
        SyntheticPinholes("train", 2, hw=(32,))
    with pytest.raises(ValueError, match="fov_deg"):
        SyntheticPinholes("train", 2, fov_deg=(90, 60))
    with pytest.raises(ValueError, match="views_per_world"):
        SyntheticPinholes("train", 2, views_per_world=0)
    with pytest.raises(TypeError, match="unknown scene parameter"):
        SyntheticPanoramas("train", 2, world_params={"n_bikes": 3})
    with pytest.raises(ValueError, match="seed"):
        SyntheticPanoramas("train", 2, seed=-3)
