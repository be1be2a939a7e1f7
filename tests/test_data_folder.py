"""FolderDataset on tiny fake folders of each layout."""
import json

import numpy as np
import pytest
import torch
from PIL import Image

from gsam_lab.data import CITYSCAPES_TO_SYNTH, IGNORE_INDEX, FolderDataset
from gsam_lab.data.folder import S2D3D_CLASSES


def _img(path, h=8, w=16, seed=0):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.random.default_rng(seed).integers(0, 255, (h, w, 3), dtype=np.uint8)).save(path)


def _lab(path, arr):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(arr, dtype=np.uint8)).save(path)


def test_densepass_layout_maps_cityscapes_ids(tmp_path):
    ids = np.tile(np.array([0, 1, 2, 4, 5, 8, 10, 11, 12, 13, 14, 18, 255, 9, 3, 7], np.uint8), (8, 1))
    _img(tmp_path / "leftImg8bit/val/city/a_leftImg8bit.png")
    _lab(tmp_path / "gtFine/val/city/a_gtFine_labelTrainIds.png", ids)
    _img(tmp_path / "leftImg8bit/val/b_.png", seed=1)
    _lab(tmp_path / "gtFine/val/b__labelTrainIds.png", ids)
    ds = FolderDataset(tmp_path, layout="densepass")
    assert len(ds) == 2
    item = ds[0]
    assert item["image"].shape == (3, 8, 16) and item["image"].dtype == torch.float32
    expect = np.array([CITYSCAPES_TO_SYNTH.get(int(v), IGNORE_INDEX) for v in ids[0]])
    assert np.array_equal(item["semantic"][0].numpy(), expect)
    paths = sorted((ds[i]["meta"]["image_path"], ds[i]["meta"]["label_path"]) for i in range(2))
    assert paths[0][0].endswith("b_.png") and paths[0][1].endswith("b__labelTrainIds.png")
    assert paths[1][0].endswith("a_leftImg8bit.png") and paths[1][1].endswith("a_gtFine_labelTrainIds.png")
    raw = FolderDataset(tmp_path, layout="densepass", label_map="identity")[0]
    assert np.array_equal(raw["semantic"][0].numpy(), ids[0])
    small = FolderDataset(tmp_path, layout="densepass", hw=(4, 8))[1]
    assert small["image"].shape == (3, 4, 8) and small["semantic"].shape == (4, 8)


def test_stanford2d3d_layout_decodes_rgb_indices(tmp_path):
    names = ["<UNK>_0_<UNK>_0", "chair_1_office_1", "wall_3_office_1", "ceiling_1_hallway_2", "mystery_1_x_1"]
    (tmp_path / "semantic_labels.json").write_text(json.dumps(names))
    idx = np.array([[0, 1, 2, 3], [4, 300, 1, 2]])               # 300: outside the list
    rgb = np.stack([(idx >> 16) & 255, (idx >> 8) & 255, idx & 255], -1).astype(np.uint8)
    for area in ("area_1", "area_5a"):
        _img(tmp_path / area / "pano/rgb/camera_x_rgb.png", 2, 4)
        _lab(tmp_path / area / "pano/semantic/camera_x_semantic.png", rgb)
    ds = FolderDataset(tmp_path, layout="stanford2d3d")
    assert len(ds) == 2
    sem = ds[0]["semantic"].numpy()
    c = S2D3D_CLASSES.index
    assert sem.tolist() == [[255, c("chair"), c("wall"), c("ceiling")], [255, 255, c("chair"), c("wall")]]
    val = FolderDataset(tmp_path, layout="stanford2d3d", split="fold1_val")
    assert len(val) == 1 and "area_5a" in val[0]["meta"]["image_path"]
    assert len(FolderDataset(tmp_path, layout="stanford2d3d", split=["area_1"])) == 1
    with pytest.raises(ValueError, match="split"):
        FolderDataset(tmp_path, layout="stanford2d3d", split="fold9_val")


def test_generic_layout_and_label_map(tmp_path):
    _img(tmp_path / "images/x.jpg")
    _lab(tmp_path / "labels/x.png", np.full((8, 16), 3))
    _img(tmp_path / "images/y.png")
    _lab(tmp_path / "labels/y.png", np.full((8, 16), 7))
    ds = FolderDataset(tmp_path, layout="generic")
    assert len(ds) == 2 and int(ds[0]["semantic"][0, 0]) == 3
    mapped = FolderDataset(tmp_path, layout="generic", label_map={3: 1})
    assert int(mapped[0]["semantic"][0, 0]) == 1 and int(mapped[1]["semantic"][0, 0]) == IGNORE_INDEX


def test_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        FolderDataset(tmp_path / "nope", layout="generic")
    with pytest.raises(ValueError, match="layout"):
        FolderDataset(tmp_path, layout="cityscapes-ish")
    (tmp_path / "images").mkdir()
    with pytest.raises(ValueError, match="no .png/.jpg images"):
        FolderDataset(tmp_path, layout="generic")
    _img(tmp_path / "images/lonely.png")
    with pytest.raises(FileNotFoundError, match="no label for image .*lonely"):
        FolderDataset(tmp_path, layout="generic")
    with pytest.raises(FileNotFoundError, match="leftImg8bit"):
        FolderDataset(tmp_path, layout="densepass")
    with pytest.raises(FileNotFoundError, match="semantic_labels.json"):
        FolderDataset(tmp_path, layout="stanford2d3d")
    _lab(tmp_path / "labels/lonely.png", np.zeros((8, 16)))
    with pytest.raises(ValueError, match="label_map"):
        FolderDataset(tmp_path, layout="generic", label_map="cityscapes")


def _generic(tmp_path, label):
    _img(tmp_path / "images/a.png")
    (tmp_path / "labels").mkdir(parents=True, exist_ok=True)
    if isinstance(label, bytes):
        (tmp_path / "labels/a.png").write_bytes(label)
    else:
        label.save(tmp_path / "labels/a.png")
    return FolderDataset(tmp_path, layout="generic")


@pytest.mark.parametrize("mode", ["RGB", "RGBA"])
def test_colour_labels_are_refused_not_read_as_their_first_channel(tmp_path, mode):
    colour = Image.fromarray(np.full((8, 16, len(mode)), 7, np.uint8), mode)
    with pytest.raises(ValueError, match=f"labels/a.png is a {mode} colour image; expected single-channel class ids"):
        _generic(tmp_path, colour)[0]


@pytest.mark.parametrize("mode", ["L", "P", "I"])
def test_single_channel_labels_are_read(tmp_path, mode):
    ids = np.tile(np.arange(16), (8, 1))
    img = Image.fromarray(ids.astype(np.uint8)).convert(mode) if mode != "I" else Image.fromarray(ids.astype(np.uint16))
    assert np.array_equal(_generic(tmp_path, img)[0]["semantic"].numpy(), ids)


def test_damaged_label_files_are_named(tmp_path):
    good = tmp_path / "good.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 9, (8, 16), dtype=np.uint8)).save(good)
    for name, payload in (("truncated", good.read_bytes()[:60]), ("corrupt", b"\x89PNG\r\n\x1a\n garbage")):
        ds = _generic(tmp_path / name, payload)
        with pytest.raises(ValueError, match=rf"cannot read label .*{name}/labels/a.png \(corrupt or truncated\?\)"):
            ds[0]


def test_images_layout_reads_unlabelled_images_recursively(tmp_path):
    _img(tmp_path / "train/city/b.png", seed=1)
    _img(tmp_path / "train/a.jpg", h=10, w=20)
    (tmp_path / "train/notes.txt").write_text("not an image")
    ds = FolderDataset(tmp_path, layout="images", split="train")
    assert [p.name for p, _ in ds.pairs] == ["a.jpg", "b.png"]     # sorted by path, sub-folders included
    item = ds[1]
    assert set(item) == {"image", "meta"} and item["image"].shape == (3, 8, 16)
    assert item["meta"]["image_path"].endswith("city/b.png") and "label_path" not in item["meta"]
    expected = np.asarray(Image.open(tmp_path / "train/city/b.png"))
    assert np.array_equal((item["image"] * 255).round().byte().permute(1, 2, 0).numpy(), expected)
    assert FolderDataset(tmp_path, layout="images", hw=(4, 8))[0]["image"].shape == (3, 4, 8)
    with pytest.raises(ValueError, match="no labels"):
        FolderDataset(tmp_path, layout="images", label_map="identity")
    with pytest.raises(FileNotFoundError, match="split folder"):
        FolderDataset(tmp_path, layout="images", split="val")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no .png/.jpg images under"):
        FolderDataset(tmp_path / "empty", layout="images")
    (tmp_path / "train/zz.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    with pytest.raises(ValueError, match=r"cannot read image .*zz\.png"):
        FolderDataset(tmp_path, layout="images", split="train")[2]


def test_label_ids_out_of_range_are_refused_naming_the_file(tmp_path):
    ids = np.zeros((8, 16), np.uint16)
    ids[0, 0] = 300                                        # a 16-bit label
    with pytest.raises(ValueError, match="labels/a.png holds class id 300; expected stored ids 0..255"):
        _generic(tmp_path, Image.fromarray(ids))[0]
    ids[0, 0] = 12                                         # a stored id beyond the model's classes
    ds = _generic(tmp_path / "b", Image.fromarray(ids))
    assert int(ds[0]["semantic"].max()) == 12                # no num_classes: ids as stored
    ds = FolderDataset(tmp_path / "b", layout="generic", num_classes=9)
    with pytest.raises(ValueError, match=r"labels/a.png holds class id 12; expected ids 0..8 \(num_classes=9\)"):
        ds[0]
    ids[0, 0] = IGNORE_INDEX
    assert FolderDataset(_generic(tmp_path / "c", Image.fromarray(ids)).root, num_classes=9)[0]["semantic"].max() == 255
    with pytest.raises(ValueError, match="num_classes must be None or an int"):
        FolderDataset(tmp_path / "b", num_classes=0)


def test_an_index_that_is_not_an_int_is_a_type_error(tmp_path):
    ds = _generic(tmp_path, Image.fromarray(np.zeros((8, 16), np.uint8)))
    with pytest.raises(TypeError, match="index must be an int, got str 'a'"):
        ds["a"]
    assert ds[np.int64(0)]["semantic"].shape == (8, 16)


@pytest.mark.parametrize("text", ['["chair_1_office_1", ', '{"chair": 1}'])
def test_a_damaged_stanford2d3d_names_list_names_the_file(tmp_path, text):
    (tmp_path / "semantic_labels.json").write_text(text)
    _img(tmp_path / "area_1/pano/rgb/camera_x_rgb.png", 2, 4)
    with pytest.raises(ValueError, match=r"semantic_labels.json .*expected a JSON list of label names"):
        FolderDataset(tmp_path, layout="stanford2d3d")
