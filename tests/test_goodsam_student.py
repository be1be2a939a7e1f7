"""goodsam.Student: SegFormer configs, parameter counts, output shapes, errors, save/load."""
import pytest
import torch

from gsam_lab import goodsam
from gsam_lab.goodsam.student import load_student


@pytest.mark.parametrize("name, millions", [("b0", 3.7), ("b1", 13.7), ("b2", 27.4)])
def test_parameter_counts_match_segformer_with_19_classes(name, millions):
    # GoodSAM / SegFormer report 3.7M / 13.7M / 27.4M for B0 / B1 / B2 on Cityscapes (19 classes)
    n = goodsam.Student(name, num_classes=19).num_parameters()
    assert abs(n / 1e6 - millions) < 0.05, (name, n)


def test_meta_device_count_matches_and_b5_is_the_paper_ta_size():
    from gsam_lab.goodsam.student import count_parameters
    assert count_parameters("b0", 19) == goodsam.Student("b0", 19).num_parameters()
    assert abs(count_parameters("b5", 19) / 1e6 - 84.7) < 0.15          # SegFormer-B5, GoodSAM's TA


def test_tiny_is_much_smaller_than_b0():
    assert goodsam.Student("tiny", 9).num_parameters() * 5 < goodsam.Student("b0", 9).num_parameters()


def test_forward_shapes_follow_the_teacher_layout():
    s = goodsam.Student("tiny", num_classes=9, seed=0)
    x = torch.rand(2, 3, 64, 128)
    out = s(x)
    assert out.logits.shape == (2, 9, 16, 32)
    assert len(out.features) == 4
    for k, (f, c) in enumerate(zip(out.features, s.feature_channels)):
        assert f.shape == (2, c, 64 // 2 ** (k + 2), 128 // 2 ** (k + 2))
    assert s.predict(x).shape == (2, 9, 64, 128)


def test_seed_fixes_the_initialisation_without_touching_the_global_rng():
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a = goodsam.Student("tiny", seed=3)
    assert torch.rand(1) == before
    b = goodsam.Student("tiny", seed=3)
    c = goodsam.Student("tiny", seed=4)
    pa, pb, pc = (torch.cat([p.flatten() for p in m.parameters()]) for m in (a, b, c))
    assert torch.equal(pa, pb) and not torch.equal(pa, pc)


def test_unknown_config_lists_the_known_ones():
    with pytest.raises(ValueError, match=r"unknown student config 'b9'.*'tiny'.*'b0'.*'b1'.*'b2'"):
        goodsam.Student("b9")
    with pytest.raises(ValueError, match="num_classes"):
        goodsam.Student("tiny", num_classes=0)
    with pytest.raises(ValueError, match="B x 3 x H x W"):
        goodsam.Student("tiny")(torch.rand(3, 32, 64))


def test_save_and_load_round_trip(tmp_path):
    s = goodsam.Student("tiny", 9, classes=[f"c{i}" for i in range(9)], seed=1).eval()
    path = s.save(tmp_path / "s.pt", meta={"note": 1})
    t = load_student(path)
    x = torch.rand(1, 3, 64, 128)
    assert torch.allclose(s.predict(x), t.predict(x))
    assert t.classes == s.classes and t.spec == s.spec
    torch.save({"something": 1}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not a gsam_lab student file"):
        load_student(tmp_path / "other.pt")
    with pytest.raises(FileNotFoundError):
        load_student(tmp_path / "missing.pt")


def test_the_shipped_student_loads_by_name_and_segments_a_panorama():
    from gsam_lab import data, goodsam
    m = goodsam.load_student("tiny-synth")
    assert m.num_classes == data.NUM_CLASSES and sum(p.numel() for p in m.parameters()) < 1_000_000
    item = data.SyntheticPanoramas("test", 1, (64, 128))[0]
    logits = m.predict(item["image"][None].float())
    assert logits.shape == (1, data.NUM_CLASSES, 64, 128) and torch.isfinite(logits).all()
