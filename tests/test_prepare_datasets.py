"""data_scripts/prepare_densepass.py and prepare_stanford2d3d.py on tiny fake downloads."""
from __future__ import annotations

import json
import tarfile
from pathlib import Path

import numpy as np
import pytest
from datascripts import load_script
from PIL import Image

from gsam_lab import data


def _load(name):
    return load_script(name, name)


def _png(path: Path, arr):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(arr, dtype=np.uint8)).save(path)


def test_densepass_train_ids_and_label_ids(tmp_path):
    dp = _load("prepare_densepass")
    src = tmp_path / "DensePASS"
    rng = np.random.default_rng(0)
    _png(src / "leftImg8bit" / "val" / "a_leftImg8bit.png", rng.integers(0, 255, (8, 32, 3)))
    _png(src / "gtFine" / "val" / "a_labelTrainIds.png", np.full((8, 32), 13))          # car
    _png(src / "images" / "b.png", rng.integers(0, 255, (8, 32, 3)))
    _png(src / "gt" / "b_labelIds.png", np.full((8, 32), 26))                            # label id 26 = car
    _png(src / "images" / "c.png", rng.integers(0, 255, (8, 32, 3)))                     # unlabelled
    out = tmp_path / "out"
    stats = dp.main(["--src", str(src), "--out", str(out)])
    assert stats == {"images": 3, "labels": 2, "skipped_same": 0}
    ds = data.FolderDataset(out, layout="densepass", split="val")
    assert len(ds) == 2
    assert (out / "leftImg8bit" / "train" / "c_leftImg8bit.png").is_file()       # unlabelled -> train
    car = data.CLASSES.index("car")
    assert all(int(ds[i]["semantic"].unique()[0]) == car for i in range(2))
    # re-running is a no-op; a changed source is refused and the output kept
    assert dp.main(["--src", str(src), "--out", str(out)])["skipped_same"] == 3
    before = (out / "gtFine" / "val" / "a_gtFine_labelTrainIds.png").read_bytes()
    _png(src / "gtFine" / "val" / "a_labelTrainIds.png", np.full((8, 32), 0))
    with pytest.raises(FileExistsError, match="refusing to overwrite"):
        dp.main(["--src", str(src), "--out", str(out)])
    assert (out / "gtFine" / "val" / "a_gtFine_labelTrainIds.png").read_bytes() == before
    with pytest.raises(FileNotFoundError, match="no label"):
        dp.main(["--src", str(src), "--out", str(tmp_path / "o2"), "--require-labels"])
    with pytest.raises(FileNotFoundError, match="no DensePASS download"):
        dp.main(["--src", str(tmp_path / "nothing"), "--out", str(tmp_path / "o3")])


def test_densepass_label_id_table():
    dp = _load("prepare_densepass")
    ids = np.array([7, 8, 11, 26, 33, 0, 4, 255], dtype=np.uint8)
    assert dp.label_ids_to_train_ids(ids).tolist() == [0, 1, 2, 13, 18, 255, 255, 255]


def test_stanford2d3d_from_tar(tmp_path):
    s2 = _load("prepare_stanford2d3d")
    raw = tmp_path / "raw"
    names = ["<UNK>", "chair_1_office_1", "wall_2_office_1"]
    sem = np.zeros((16, 32, 3), dtype=np.uint8)
    sem[:8, :, 2] = 1                 # index 1 -> chair
    sem[8:, :, 2] = 2                 # index 2 -> wall
    _png(raw / "area_1" / "pano" / "rgb" / "camera_x_rgb.png", np.full((16, 32, 3), 100))
    _png(raw / "area_1" / "pano" / "semantic" / "camera_x_semantic.png", sem)
    _png(raw / "area_1" / "pano" / "depth" / "camera_x_depth.png", np.zeros((16, 32)))
    (raw / "assets").mkdir()
    (raw / "assets" / "semantic_labels.json").write_text(json.dumps(names))
    tar = tmp_path / "area_1_no_xyz.tar"
    with tarfile.open(tar, "w") as tf:
        tf.add(raw / "area_1", arcname="area_1")
    out = tmp_path / "s2d3d"
    stats = s2.main(["--src", str(tar), "--labels", str(raw / "assets" / "semantic_labels.json"),
                     "--out", str(out), "--height", "8"])
    assert stats["rgb"] == 1 and stats["semantic"] == 1 and stats["areas"] == ["area_1"]
    assert not (out / "area_1" / "pano" / "depth").exists()
    ds = data.FolderDataset(out, layout="stanford2d3d", split="all")
    item = ds[0]
    assert item["image"].shape == (3, 8, 16)
    from gsam_lab.data.folder import S2D3D_CLASSES
    assert int(item["semantic"][0, 0]) == S2D3D_CLASSES.index("chair")
    assert int(item["semantic"][-1, 0]) == S2D3D_CLASSES.index("wall")
    # a folder source works too, and finds the labels file itself
    stats2 = s2.main(["--src", str(raw), "--out", str(tmp_path / "s2"), "--height", "8"])
    assert stats2["rgb"] == 1
    with pytest.raises(FileNotFoundError, match="semantic_labels.json"):
        s2.main(["--src", str(tar), "--out", str(tmp_path / "s3")])
