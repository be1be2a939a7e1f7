"""DAR: window layouts and wrap-around, boundary weights, seam pairing, vote / ctcf fusion, bad input."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from gsam_lab import data, goodsam
from gsam_lab.goodsam.fusion import (
    FUSION_RULES,
    MaskSet,
    fuse_ctcf,
    fuse_vote,
    fusion_rule,
    interior_vote,
    pair_seam_masks,
)
from gsam_lab.goodsam.teacher import TeacherOutput
from gsam_lab.goodsam.windows import border_ramp, sliding_window_logits, whole_logits, window_layout


class PointwiseTeacher(nn.Module):
    """A context-free 'teacher': logits = a fixed linear map of the colour, averaged over 4x4 cells."""

    classes = data.CLASSES
    num_classes = len(data.CLASSES)
    name = "pointwise"

    def __init__(self):
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.w = nn.Parameter(torch.randn(self.num_classes, 3, generator=g) * 4)

    def forward(self, x):
        lg = torch.einsum("kc,bchw->bkhw", self.w, x)
        return TeacherOutput(nn.functional.avg_pool2d(lg, 4), ())


def erp(h=64, seed=0):
    return torch.rand(3, h, 2 * h, generator=torch.Generator().manual_seed(seed))


def blocks_erp(h=64):
    """An ERP of flat colour blocks (so a pointwise teacher is exact away from block edges)."""
    x = torch.zeros(3, h, 2 * h)
    cols = torch.rand(8, 3, generator=torch.Generator().manual_seed(1))
    for i in range(8):
        x[:, :, i * h // 4:(i + 1) * h // 4] = cols[i][:, None, None]
    return x


def test_window_layout_defaults_and_coverage():
    wins = window_layout((64, 128), "h")
    assert len(wins) == 4 and all(w.h == 64 and w.w == 64 for w in wins)
    cover = torch.zeros(128)
    for w in wins:
        cover[(torch.arange(w.w) + w.left) % 128] += 1
    assert torch.all(cover == 2)                     # 50 % overlap, every column twice, incl. the seam
    hv = window_layout((64, 128), "hv")
    assert len(hv) == 3 * 4 and {w.top for w in hv} == {0, 16, 32}
    assert any(w.left + w.w > 128 for w in wins)     # at least one window crosses the seam


@pytest.mark.parametrize("kw,match", [
    (dict(mode="hv", window_hw=(65, 64)), "larger than the ERP"),
    (dict(mode="h", window_hw=(64, 256)), "larger than the ERP"),
    (dict(mode="h", window_hw=(32, 64)), "full ERP height"),
    (dict(mode="h", window_hw=(64, 32), stride_hw=(64, 40)), "leaves gaps"),
    (dict(mode="x"), "mode"),
])
def test_window_layout_errors(kw, match):
    with pytest.raises(ValueError, match=match):
        window_layout((64, 128), **kw)


def test_border_ramp():
    r = border_ramp(8, 16, frac=0.25, floor=0.05)
    assert r.shape == (8, 16) and float(r[4, 8]) == 1.0 and float(r[0, 0]) < 0.3 and float(r.min()) >= 0.05
    only_lr = border_ramp(8, 16, edges=(False, False, True, True))
    assert torch.all(only_lr[:, 8] == 1.0) and float(only_lr[0, 0]) < 1


def test_sliding_windows_wrap_match_whole_for_context_free_teacher():
    t = PointwiseTeacher()
    x = blocks_erp()
    with torch.no_grad():
        whole = whole_logits(t, x)
        merged, wsum = sliding_window_logits(t, x, window_layout((64, 128), "h"), boundary=True)
    assert merged.shape == whole.shape == (9, 64, 128) and float(wsum.min()) > 0
    # the seam columns are merged from windows that wrap around: they must agree with the whole pass
    inner = [c for c in range(128) if min(c % 16, 15 - c % 16) >= 3]
    assert torch.allclose(merged[:, :, inner], whole[:, :, inner], atol=1e-4)
    # a wrong wrap (e.g. no modulo) would give the seam windows other colours
    assert torch.allclose(merged[:, :, 124], whole[:, :, 124], atol=0.5)


def test_dar_bad_input():
    t = PointwiseTeacher()
    with pytest.raises(ValueError, match="2:1"):
        goodsam.dar(t, None, torch.rand(3, 64, 64), fusion="none")
    with pytest.raises(ValueError, match="larger than the ERP"):
        goodsam.dar(t, None, erp(), windows="hv", window_hw=(32, 256), fusion="none")
    with pytest.raises(ValueError, match="needs SAM masks"):
        goodsam.dar(t, None, erp(), fusion="ctcf")
    with pytest.raises(ValueError, match="windows must be one of"):
        goodsam.dar(t, None, erp(), windows="vertical", fusion="none")


def test_dar_refuses_images_it_would_misread():
    """0..255 floats would saturate to one class everywhere and NaN pixels spread NaN: both are refused."""
    t = PointwiseTeacher()
    with pytest.raises(ValueError, match=r"values in \[0, 1\], got \[0.*255\].*uint8"):
        goodsam.dar(t, None, erp() * 255, fusion="none")
    nan = erp()
    nan[0, 3, 5] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        goodsam.dar(t, None, nan, fusion="none")
    with pytest.raises(TypeError, match="uint8 .* or float"):
        goodsam.dar(t, None, (erp() * 255).long(), fusion="none")
    res = goodsam.dar(t, None, (erp() * 255).round().byte(), fusion="none")      # uint8 stays fine
    assert res.pseudo_label.shape == (64, 128)
    for bad in (-0.1, 1.5, float("nan")):
        with pytest.raises(ValueError, match="conf_thresh"):
            goodsam.dar(t, None, erp(), fusion="none", conf_thresh=bad)


def test_pair_seam_masks_joins_halves():
    m = torch.zeros(3, 16, 32, dtype=torch.bool)
    m[0, 4:10, :3] = True            # left half of an object on the seam
    m[1, 5:10, -4:] = True           # right half
    m[2, 0:2, 10:20] = True          # unrelated
    ms = pair_seam_masks(MaskSet(m, torch.tensor([0.9, 0.8, 0.7]), torch.zeros(3, dtype=torch.bool)))
    assert len(ms.masks) == 2 and bool(ms.seam[-1]) and not bool(ms.seam[0])
    assert int(ms.masks[-1].sum()) == int(m[0].sum() + m[1].sum())
    assert abs(float(ms.iou[-1]) - 0.8) < 1e-6
    # rows that do not overlap are not joined
    m2 = m.clone()
    m2[1] = False
    m2[1, 12:16, -4:] = True
    assert len(pair_seam_masks(MaskSet(m2, torch.ones(3), torch.zeros(3, dtype=torch.bool))).masks) == 3


def _probs():
    p = torch.full((3, 8, 8), 0.1)
    p[0] = 0.8                       # class 0 everywhere ...
    p[:, :, 6:] = torch.tensor([0.1, 0.8, 0.1])[:, None, None]   # ... but class 1 in the last two columns
    return p


def test_ctcf_pulls_pure_masks_and_leaves_the_rest():
    p = _probs()
    m = torch.zeros(2, 8, 8, dtype=torch.bool)
    m[0, :, 4:8] = True              # 2/4 columns class 0, 2/4 class 1: impure (purity 0.45)
    m[1, :4, :7] = True              # mostly class 0: pure enough, pulls column 6 to class 0
    fused, info = fuse_ctcf(p, MaskSet(m, torch.tensor([1.0, 1.0]), torch.zeros(2, dtype=torch.bool)),
                            purity_thresh=0.6, strength=2.0)
    assert float(info["mask_alpha"][0]) == 0.0 and float(info["mask_alpha"][1]) > 0.6
    assert int(fused[:, 0, 6].argmax()) == 0 and int(p[:, 0, 6].argmax()) == 1     # pulled
    assert torch.allclose(fused[:, 5:, :], p[:, 5:, :])                              # uncovered: TA kept
    assert torch.allclose(fused.sum(0), torch.ones(8, 8))


def test_vote_paints_majority():
    p = _probs()
    m = torch.zeros(1, 8, 8, dtype=torch.bool)
    m[0, :, 3:8] = True              # 3 columns class 0, 2 class 1 -> 0
    fused, info = fuse_vote(p, MaskSet(m, torch.ones(1), torch.zeros(1, dtype=torch.bool)))
    assert int(info["mask_class"][0]) == 0 and torch.all(fused[:, :, 3:].argmax(0) == 0)
    assert torch.equal(fused[:, :, :3], p[:, :, :3])


def test_vote_min_share_leaves_a_mixed_mask_to_the_ta():
    """3 of 5 columns class 0 (share 0.6): votes at min_share 0.6, is left to the TA at 0.7."""
    p = _probs()
    m = torch.zeros(1, 8, 8, dtype=torch.bool)
    m[0, :, 3:8] = True
    ms = MaskSet(m, torch.ones(1), torch.zeros(1, dtype=torch.bool))
    fused, info = fuse_vote(p, ms, min_share=0.6)
    assert abs(float(info["mask_share"][0]) - 0.6) < 1e-6 and int(info["mask_class"][0]) == 0
    assert torch.all(fused[:, :, 3:].argmax(0) == 0)
    fused, info = fuse_vote(p, ms, min_share=0.7)
    assert int(info["mask_class"][0]) == -1 and torch.equal(fused, p) and not info["covered"].any()


def test_vote_keep_confident_paints_only_unsure_pixels():
    """Columns 6-7 hold an unsure class 1 (0.5): the mask's class 0 takes them; the sure pixels keep the TA."""
    p = _probs()
    p[:, :, 6:] = torch.tensor([0.25, 0.5, 0.25])[:, None, None]
    m = torch.zeros(1, 8, 8, dtype=torch.bool)
    m[0, :, 3:8] = True
    fused, info = fuse_vote(p, MaskSet(m, torch.ones(1), torch.zeros(1, dtype=torch.bool)), keep_confident=0.7)
    assert torch.equal(fused[:, :, :6], p[:, :, :6])                     # sure pixels (0.8) untouched
    assert torch.all(fused[:, :, 6:].argmax(0) == 0)                      # unsure ones take the mask's class
    assert info["covered"][:, 6:].all() and not info["covered"][:, :6].any()


def test_interior_vote_decides_border_pixels():
    p = _probs()
    ctx = torch.ones(8, 8)
    ctx[:, 6:] = 0.0                                            # the last columns saw no context
    m = torch.zeros(1, 8, 8, dtype=torch.bool)
    m[0, :, 2:8] = True
    out = interior_vote(p, ctx, MaskSet(m, torch.ones(1), torch.zeros(1, dtype=torch.bool)))
    assert torch.all(out[:, :, 6:].argmax(0) == 0) and torch.equal(out[:, :, :6], p[:, :, :6])


def test_dar_end_to_end_with_given_masks():
    t = PointwiseTeacher()
    x = blocks_erp()
    m = torch.zeros(2, 64, 128, dtype=torch.bool)
    m[0, :, :16] = True
    m[1, 40:, 60:90] = True
    for windows in ("none", "h", "hv", "tangent"):
        res = goodsam.dar(t, None, x, windows=windows, boundary=True, fusion="ctcf", masks=(m, torch.ones(2)),
                          conf_thresh=0.6)
        assert res.ensemble_logits.shape == (9, 64, 128) and res.pseudo_label.shape == (64, 128)
        assert torch.allclose(res.ensemble_logits.exp().sum(0), torch.ones(64, 128), atol=1e-3)
        low = res.parts["confidence"] < 0.6
        assert torch.all(res.pseudo_label[low] == 255) and torch.all(res.pseudo_label[~low] < 9)
        assert {"ta_logits", "window_logits", "context", "masks", "fusion_info"} <= set(res.parts)


def _three_masks():
    m = torch.zeros(3, 64, 128, dtype=torch.bool)
    m[0, :, :16] = True
    m[1, 40:, 60:90] = True
    m[2, 10:30, 100:128] = True
    return MaskSet(m, torch.tensor([1.0, 0.7, 0.9]), torch.zeros(3, dtype=torch.bool))


@pytest.mark.parametrize("boundary", [False, True])
@pytest.mark.parametrize("name", ["none", "vote", "ctcf"])
def test_each_fusion_rule_is_its_function_bit_for_bit(name, boundary):
    """dar(fusion=name) runs the table's function on the step-2 distribution, with the context as the pixel
    weight under boundary=True, exactly as a direct call: the same numbers bit for bit, and the same again
    when the function itself is passed."""
    t, x, ms = PointwiseTeacher(), blocks_erp(), _three_masks()
    res = goodsam.dar(t, None, x, windows="h", boundary=boundary, fusion=name, masks=ms)
    p = res.parts
    weight = p["context"].clamp_min(0.05) if boundary else None
    if name == "none":
        want, info = p["boundary_probs"], {}
    elif name == "vote":
        want, info = fuse_vote(p["boundary_probs"], p["masks"])
    else:
        want, info = fuse_ctcf(p["boundary_probs"], p["masks"], 0.5, 2.0, 1.0, weight=weight)
    assert torch.equal(res.ensemble_logits, want.clamp_min(1e-6).log())
    assert res.parts["fusion_info"].keys() == info.keys()
    again = goodsam.dar(t, None, x, windows="h", boundary=boundary, fusion=FUSION_RULES[name].fuse, masks=ms)
    assert torch.equal(again.ensemble_logits, res.ensemble_logits)
    assert FUSION_RULES[name].name == name and res.parts["settings"]["fusion"] == name


def test_fusion_kwargs_reach_the_rule():
    t, x, ms = PointwiseTeacher(), blocks_erp(), _three_masks()
    kw = dict(purity_thresh=0.3, strength=5.0, gamma=2.0)
    res = goodsam.dar(t, None, x, windows="none", boundary=False, fusion="ctcf", fusion_kwargs=kw, masks=ms)
    want, _ = fuse_ctcf(res.parts["boundary_probs"], res.parts["masks"], **kw)
    assert torch.equal(res.ensemble_logits, want.clamp_min(1e-6).log())
    assert res.parts["settings"]["fusion_kwargs"] == kw
    default = goodsam.dar(t, None, x, windows="none", boundary=False, fusion="ctcf", masks=ms)
    assert not torch.equal(default.ensemble_logits, res.ensemble_logits)


def paint_first_mask(probs, masks, weight=None, cls=0):
    """A rule of one's own, as a notebook would write it: the first mask becomes class ``cls``."""
    out = probs.clone()
    out[:, masks.masks[0]] = 0.0
    out[cls, masks.masks[0]] = 1.0
    return out, {"painted": masks.masks[0].sum()}


def test_a_rule_of_ones_own():
    t, x, ms = PointwiseTeacher(), blocks_erp(), _three_masks()
    res = goodsam.dar(t, None, x, windows="h", boundary=True, fusion=paint_first_mask, fusion_kwargs=dict(cls=3),
                      masks=ms)
    first = res.parts["masks"].masks[0]          # the masks after step 2 (halves joined across the seam)
    assert torch.all(res.pseudo_label[first] == 3) and not torch.all(res.pseudo_label == 3)
    assert int(res.parts["fusion_info"]["painted"]) == int(first.sum())
    assert res.parts["settings"]["fusion"].endswith("paint_first_mask")
    with pytest.raises(ValueError, match="needs SAM masks"):          # a rule of one's own is given masks
        goodsam.dar(t, None, x, fusion=paint_first_mask)
    with pytest.raises(ValueError, match=r"one of \('none', 'vote', 'ctcf'\) or a function, got 'best'"):
        goodsam.dar(t, None, x, fusion="best")
    with pytest.raises(ValueError, match="or a function, got int"):
        fusion_rule(3)


def test_dar_with_tiny_sam_runs():
    from gsam_lab import sam

    torch.set_num_threads(1)
    t = goodsam.load_teacher("tiny-synth", device="cpu", pretrained=False)
    model = sam.load_sam("tiny-synth", device="cpu")
    res = goodsam.dar(t, model, (erp(64) * 255).byte(), windows="h", fusion="vote",
                      sam_kwargs=dict(points_per_side=1, pred_iou_thresh=0.0, stability_thresh=0.0))
    assert res.pseudo_label.shape == (64, 128) and res.parts["masks"].masks.shape[1:] == (64, 128)


def test_pad_band_to_erp():
    from gsam_lab.goodsam.rectification import pad_band_to_erp

    band = torch.rand(3, 20, 128)
    sem = torch.zeros(20, 128, dtype=torch.long)
    erp_, s, rows = pad_band_to_erp(band, sem)
    assert erp_.shape == (3, 64, 128) and torch.equal(erp_[:, rows], band) and rows == slice(22, 42)
    assert torch.all(s[:22] == 255) and torch.all(s[rows] == 0)
    with pytest.raises(ValueError, match="does not fit"):
        pad_band_to_erp(torch.rand(3, 70, 128))


def test_window_masks_map_back_to_the_erp():
    from gsam_lab import sam
    from gsam_lab.goodsam.fusion import window_masks

    torch.set_num_threads(1)
    model = sam.load_sam("tiny-synth", device="cpu")
    x = blocks_erp(64)
    ms = window_masks(model, x, points_per_side=1, pred_iou_thresh=0.0, stability_thresh=0.0, nms_iou=0.99)
    assert ms.masks.shape[1:] == (64, 128) and 1 <= len(ms.masks) <= 4 * 3
    areas = ms.masks.flatten(1).sum(1)
    assert torch.all(areas[:-1] >= areas[1:]), "largest first"
    # a window covers half the width: no mask from one window can be wider than the window
    for m in ms.masks:
        assert int(m.any(0).sum()) <= 64


def test_run_ablation_tables_carry_intervals_and_band_accuracy():
    t = PointwiseTeacher()
    pans = []
    for i in range(4):
        x = blocks_erp() * (0.8 + 0.05 * i)
        with torch.no_grad():
            sem = t(x[None]).logits[0].argmax(0)
        sem = nn.functional.interpolate(sem[None, None].float(), size=(64, 128), mode="nearest")[0, 0].long()
        sem[:, 8 * i:8 * i + 20] = (sem[:, 8 * i:8 * i + 20] + 1) % 9       # a different wrong strip per panorama
        pans.append({"image": x, "semantic": sem})
    m = torch.zeros(1, 64, 128, dtype=torch.bool)
    m[0, :, :32] = True
    masks = [MaskSet(m, torch.ones(1), torch.zeros(1, dtype=torch.bool))] * 4
    variants = {"TA alone": dict(windows="none", boundary=False, fusion="none"),
                "vote": dict(windows="none", boundary=False, fusion="vote")}
    res = goodsam.run_ablation(t, None, pans, variants=variants, masks=masks, progress=False)
    tab = res.table.set_index("variant")
    assert (tab["n"] == 4).all()
    assert (tab["miou_lo"] <= tab["miou"]).all() and (tab["miou"] <= tab["miou_hi"]).all()
    assert tab.loc["TA alone", ["delta_vs_ta", "delta_lo", "delta_hi"]].tolist() == [0.0, 0.0, 0.0]
    assert tab.loc["vote", "delta_lo"] <= tab.loc["vote", "delta_vs_ta"] <= tab.loc["vote", "delta_hi"]
    assert tab.loc["vote", "miou_hi"] - tab.loc["vote", "miou_lo"] > 0       # panoramas differ: a real interval
    acc = res.latitude_acc.set_index("variant")
    assert list(acc.columns) == list(res.latitude.set_index("variant").columns)
    assert ((acc >= 0) & (acc <= 1)).all().all()


def test_dar_names_a_missing_teacher_and_a_non_numeric_threshold():
    erp = np.zeros((32, 64, 3), np.uint8)
    with pytest.raises(TypeError, match="teacher"):
        goodsam.dar(None, None, erp, fusion="none")
    with pytest.raises(ValueError, match="conf_thresh"):
        goodsam.dar(None, None, erp, fusion="none", conf_thresh="abc")


@pytest.mark.parametrize("empty", [torch.zeros(3, 0, 0), torch.zeros(3, 0, 0, dtype=torch.uint8),
                                   np.zeros((0, 0, 3), np.float32)])
def test_an_empty_panorama_names_the_expected_shape(empty):
    with pytest.raises(ValueError, match=r"the ERP is empty .*expected 3 x H x W with W == 2 H"):
        goodsam.dar(PointwiseTeacher(), None, empty, fusion="none")
