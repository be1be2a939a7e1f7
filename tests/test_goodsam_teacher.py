"""Teacher assistant: interface shapes, class mapping, loading errors, save/load round trip."""
from __future__ import annotations

import pytest
import torch

from gsam_lab import data, goodsam
from gsam_lab.goodsam.classmap import ClassMappingError, class_groups, map_logits
from gsam_lab.goodsam.teacher import TeacherLoadError, save_teacher


@pytest.fixture(scope="module")
def untrained():
    torch.manual_seed(0)
    return goodsam.load_teacher("tiny-synth", device="cpu", pretrained=False)


def test_forward_shapes_and_attributes(untrained):
    t = untrained
    assert t.classes == data.CLASSES and t.num_classes == 9 and len(t.feature_channels) == 4
    x = torch.rand(2, 3, 64, 128)
    with torch.no_grad():
        out = t(x)
    assert isinstance(out, goodsam.TeacherOutput)
    assert out.logits.shape == (2, 9, 16, 32)
    for s, f in enumerate(out.features):
        assert f.shape == (2, t.feature_channels[s], 64 // 2 ** (s + 2), 128 // 2 ** (s + 2))
    with torch.no_grad():
        full = t.predict(x)
    assert full.shape == (2, 9, 64, 128)
    assert not t.training


def test_normalisation_happens_inside(untrained):
    # a [0, 1] image and the same image in 0..255 give different logits: the teacher expects [0, 1]
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        a, b = untrained(x).logits, untrained(x * 255).logits
    assert not torch.allclose(a, b)


@pytest.mark.parametrize("bad", [torch.rand(3, 64, 64), torch.rand(1, 1, 64, 64),
                                 torch.randint(0, 255, (1, 3, 64, 64), dtype=torch.uint8), torch.rand(1, 3, 16, 16)])
def test_bad_images_raise(untrained, bad):
    with pytest.raises(ValueError, match="teacher input"):
        untrained(bad)


def test_cityscapes_groups_follow_documented_table():
    groups = class_groups(goodsam.CITYSCAPES_CLASSES, data.CLASSES)
    named = {data.CLASSES[k]: [goodsam.CITYSCAPES_CLASSES[i] for i in g] for k, g in enumerate(groups)}
    assert named["building"] == ["building", "wall"]
    assert named["pole"] == ["pole", "traffic light", "traffic sign"]
    assert named["person"] == ["person", "rider"]
    assert named["car"] == ["car", "truck", "bus", "train"]
    assert named["sky"] == ["sky"]
    dropped = set(goodsam.CITYSCAPES_CLASSES) - {n for v in named.values() for n in v}
    assert dropped == {"fence", "motorcycle", "bicycle"}
    # agrees with data.CITYSCAPES_TO_SYNTH
    for src, dst in data.CITYSCAPES_TO_SYNTH.items():
        if dst != data.IGNORE_INDEX:
            assert src in groups[dst]


def test_map_logits_sums_probabilities():
    groups = class_groups(goodsam.CITYSCAPES_CLASSES, data.CLASSES)
    logits = torch.randn(2, 19, 4, 5)
    mapped = map_logits(logits, groups)
    assert mapped.shape == (2, 9, 4, 5)
    p = logits.softmax(1)
    kept = sum(p[:, i] for g in groups for i in g)
    expect_car = (p[:, 13] + p[:, 14] + p[:, 15] + p[:, 16]) / kept
    assert torch.allclose(mapped.softmax(1)[:, data.CLASSES.index("car")], expect_car, atol=1e-5)
    ident = tuple((k,) for k in range(9))
    x = torch.randn(1, 9, 2, 2)
    assert map_logits(x, ident) is x


def test_unmappable_classes_raise_clear_error():
    with pytest.raises(ClassMappingError, match=r"no teacher class for \['pole', 'person'\]"):
        class_groups(["road", "sidewalk", "building", "vegetation", "terrain", "sky", "car"], data.CLASSES)
    s2d3d = data.folder.S2D3D_CLASSES
    with pytest.raises(ClassMappingError, match="cannot be mapped"):
        class_groups(goodsam.CITYSCAPES_CLASSES, s2d3d)


def test_untrained_with_other_target_classes():
    t = goodsam.load_teacher("tiny-synth", device="cpu", pretrained=False, classes=("sky", "road"))
    with torch.no_grad():
        assert t(torch.rand(1, 3, 32, 32)).logits.shape == (1, 2, 8, 8)


def test_save_load_roundtrip(tmp_path, untrained):
    path = save_teacher(untrained, tmp_path / "t.pt", meta={"note": "test"}, half=False)
    again = goodsam.load_teacher(str(path), device="cpu")
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(untrained(x).logits, again(x).logits, atol=1e-6)
    assert again.classes == untrained.classes


def test_loading_errors(tmp_path):
    with pytest.raises(ValueError, match="unknown teacher 'nope'"):
        goodsam.load_teacher("nope")
    with pytest.raises(TeacherLoadError, match="no teacher file"):
        goodsam.load_teacher(str(tmp_path / "missing.pt"))
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a torch file")
    with pytest.raises(TeacherLoadError, match="cannot read teacher weights"):
        goodsam.load_teacher(str(bad))
    torch.save({"format": "other"}, tmp_path / "other.pt")
    with pytest.raises(TeacherLoadError, match="not a gsam_lab teacher file"):
        goodsam.load_teacher(str(tmp_path / "other.pt"))
    # an empty folder is not a save_pretrained folder: clear error, offline only
    (tmp_path / "empty").mkdir()
    with pytest.raises(TeacherLoadError, match="cannot load the SegFormer"):
        goodsam.load_teacher(str(tmp_path / "empty"))


def test_hf_folder_with_cityscapes_classes_maps_to_synthetic(tmp_path):
    from transformers import SegformerForSemanticSegmentation

    from gsam_lab.goodsam.segformer_config import TINY_SYNTH_CONFIG, segformer_config

    cfg = segformer_config(goodsam.CITYSCAPES_CLASSES, dict(TINY_SYNTH_CONFIG, depths=[1, 1, 1, 1]))
    SegformerForSemanticSegmentation(cfg).save_pretrained(tmp_path / "cs")
    t = goodsam.load_teacher(str(tmp_path / "cs"), device="cpu")
    assert t.source_classes == goodsam.CITYSCAPES_CLASSES and t.classes == data.CLASSES
    with torch.no_grad():
        assert t(torch.rand(1, 3, 64, 64)).logits.shape == (1, 9, 16, 16)


def test_registry_lists_paper_teacher():
    assert "tiny-synth" in goodsam.TEACHERS and goodsam.TEACHERS["tiny-synth"].bundled
    assert goodsam.TEACHERS["segformer-b5-cityscapes"].source == "nvidia/segformer-b5-finetuned-cityscapes-1024-1024"
