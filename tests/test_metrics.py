"""Tests of gsam_lab.metrics against small cases computed by hand."""
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from gsam_lab import metrics as M

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])

# 4x4 case, K = 3, one ignored pixel (bottom right; its prediction 0 is not counted).
GT = np.array([[0, 0, 1, 1],
               [0, 0, 1, 1],
               [2, 2, 2, 2],
               [2, 2, 2, 255]])
PRED = np.array([[0, 0, 0, 1],
                 [0, 1, 1, 1],
                 [2, 2, 2, 1],
                 [2, 2, 0, 0]])
# rows = gt, cols = pred, counted on paper:
#   gt 0: pred 0,0,0,1          -> [3, 1, 0]
#   gt 1: pred 0,1,1,1          -> [1, 3, 0]
#   gt 2: pred 2,2,2,1,2,2,0    -> [1, 1, 5]
CM = [[3, 1, 0], [1, 3, 0], [1, 1, 5]]
# IoU_0 = 3 / (4 + 5 - 3) = 1/2, IoU_1 = 3 / (4 + 5 - 3) = 1/2, IoU_2 = 5 / (7 + 5 - 5) = 5/7
IOU = [0.5, 0.5, 5 / 7]
MIOU = (0.5 + 0.5 + 5 / 7) / 3  # = 4/7


# ---------------------------------------------------------------- confusion matrix and mIoU

@pytest.mark.parametrize("device", DEVICES)
def test_hand_case(device):
    pred, gt = torch.as_tensor(PRED, device=device), torch.as_tensor(GT, device=device)
    cm = M.confusion_matrix(pred, gt, 3)
    assert cm.dtype == torch.int64 and cm.device.type == device
    assert cm.cpu().tolist() == CM
    assert torch.allclose(M.per_class_iou(pred, gt, 3).cpu(), torch.tensor(IOU, dtype=torch.float64))
    assert M.miou(pred, gt, 3) == pytest.approx(4 / 7)
    assert M.miou(pred, gt, 3) == pytest.approx(MIOU)
    assert M.pixel_accuracy(pred, gt, 3) == pytest.approx(11 / 15)


def test_numpy_input_and_ignore_none():
    assert M.confusion_matrix(PRED, GT, 3).tolist() == CM
    g = GT.copy()
    g[3, 3] = 2  # now the bottom-right pixel counts: gt 2 predicted 0
    assert M.confusion_matrix(PRED, g, 3, ignore_index=None).tolist() == [[3, 1, 0], [1, 3, 0], [2, 1, 5]]


def test_custom_ignore_index():
    g = np.where(GT == 255, -1, GT)
    assert M.confusion_matrix(PRED, g, 3, ignore_index=-1).tolist() == CM


def test_absent_class_is_nan_and_excluded():
    iou = M.per_class_iou(PRED, GT, 5)
    assert torch.isnan(iou[3]) and torch.isnan(iou[4])
    assert M.miou(PRED, GT, 5) == pytest.approx(4 / 7)
    # a class present only in the prediction has IoU 0 and does count
    pred = PRED.copy()
    pred[0, 0] = 3
    iou = M.per_class_iou(pred, GT, 4)
    assert iou[3] == 0.0 and not torch.isnan(iou).any()


def test_all_ignored_is_nan():
    gt = np.full((3, 3), 255)
    assert M.confusion_matrix(np.zeros((3, 3), int), gt, 2).sum() == 0
    assert math.isnan(M.miou(np.zeros((3, 3), int), gt, 2))
    assert torch.isnan(M.iou_from_confusion(torch.zeros(2, 2, dtype=torch.long))).all()


def test_batched_equals_sum_of_singles():
    g = torch.Generator().manual_seed(0)
    gt = torch.randint(0, 4, (5, 9, 11), generator=g)
    gt[gt == 3] = 255
    pred = torch.randint(0, 4, (5, 9, 11), generator=g)
    cm = M.confusion_matrix(pred, gt, 4)
    assert torch.equal(cm, sum(M.confusion_matrix(p, t, 4) for p, t in zip(pred, gt)))
    assert int(cm.sum()) == int((gt != 255).sum())


def test_confusion_meter_accumulates():
    g = torch.Generator().manual_seed(1)
    gt = torch.randint(0, 5, (6, 8, 16), generator=g)
    pred = torch.where(torch.rand(gt.shape, generator=g) < 0.7, gt, torch.randint(0, 5, gt.shape, generator=g))
    gt[:, 0] = 255
    meter = M.ConfusionMeter(5)
    assert math.isnan(meter.miou()) and meter.confusion.sum() == 0
    for p, t in zip(pred, gt):
        meter.update(p, t.numpy())
    assert torch.equal(meter.confusion, M.confusion_matrix(pred, gt, 5))
    assert meter.miou() == pytest.approx(M.miou(pred, gt, 5))
    assert torch.allclose(meter.per_class_iou(), M.per_class_iou(pred, gt, 5), equal_nan=True)
    assert meter.pixel_accuracy() == pytest.approx(M.pixel_accuracy(pred, gt, 5))
    assert "ConfusionMeter" in repr(meter)
    meter.reset()
    assert meter.confusion.sum() == 0
    meter.update(PRED, GT)
    assert meter.miou() == pytest.approx(4 / 7)


def test_label_errors():
    with pytest.raises(ValueError, match=r"\(4, 4\).*\(4, 5\)"):
        M.confusion_matrix(PRED, np.zeros((4, 5), int), 3)
    with pytest.raises(ValueError, match="pred holds class id 3"):
        M.confusion_matrix(np.where(PRED == 2, 3, PRED), GT, 3)
    with pytest.raises(ValueError, match="pred holds class id -1"):
        M.confusion_matrix(np.where(PRED == 2, -1, PRED), GT, 3)
    with pytest.raises(ValueError, match="gt holds class id 7"):
        M.confusion_matrix(PRED, np.where(GT == 2, 7, GT), 3)
    with pytest.raises(ValueError, match="integer label map"):
        M.miou(PRED.astype(np.float32), GT, 3)
    with pytest.raises(ValueError, match="num_classes"):
        M.miou(PRED, GT, 0)
    with pytest.raises(ValueError, match="square"):
        M.iou_from_confusion(torch.zeros(2, 3))
    with pytest.raises(TypeError):
        M.miou("abc", GT, 3)
    # predictions under ignored gt are not checked
    pred = PRED.copy()
    pred[3, 3] = 255
    assert M.confusion_matrix(pred, GT, 3).tolist() == CM


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 6), st.integers(1, 6), st.integers(1, 4), st.integers(0, 2 ** 31 - 1))
def test_iou_symmetric_and_bounded(h, w, k, seed):
    g = torch.Generator().manual_seed(seed)
    a, b = torch.randint(0, k, (h, w), generator=g), torch.randint(0, k, (h, w), generator=g)
    assert torch.equal(M.confusion_matrix(a, b, k), M.confusion_matrix(b, a, k).T)
    iou = M.per_class_iou(a, b, k)
    assert torch.allclose(iou, M.per_class_iou(b, a, k), equal_nan=True)
    assert ((iou >= 0) & (iou <= 1) | torch.isnan(iou)).all()
    assert M.miou(a, a, k) == 1.0


# ---------------------------------------------------------------- binary masks

def _square(h, w, r0, r1, c0, c1):
    m = torch.zeros(h, w, dtype=torch.bool)
    m[r0:r1, c0:c1] = True
    return m


def test_mask_iou_hand_and_empty_convention():
    a = _square(4, 4, 0, 2, 0, 2)
    b = _square(4, 4, 0, 2, 1, 3)
    assert M.mask_iou(a, b) == pytest.approx(2 / 6)  # inter 2, union 6
    assert M.mask_iou(a, a) == 1.0
    assert M.mask_iou(a, ~a) == 0.0
    empty = torch.zeros(4, 4, dtype=torch.bool)
    assert M.mask_iou(empty, empty) == 1.0  # documented convention
    assert M.mask_iou(a, empty) == 0.0
    assert M.mask_iou(a.numpy().astype(np.uint8), b.float()) == pytest.approx(1 / 3)


def test_mask_iou_batched_equals_loop_and_broadcasts():
    g = torch.Generator().manual_seed(2)
    a = torch.rand(7, 10, 12, generator=g) > 0.5
    b = torch.rand(7, 10, 12, generator=g) > 0.6
    a[3] = False
    b[3] = False
    out = M.mask_iou(a, b)
    assert out.shape == (7,)
    assert torch.allclose(out, torch.tensor([M.mask_iou(x, y) for x, y in zip(a, b)], dtype=torch.float64))
    assert out[3] == 1.0
    one = M.mask_iou(a, b[0])  # N x H x W against one H x W
    assert torch.allclose(one, torch.tensor([M.mask_iou(x, b[0]) for x in a], dtype=torch.float64))


def test_mask_errors():
    with pytest.raises(ValueError, match="binary mask"):
        M.mask_iou(torch.rand(4, 4), torch.ones(4, 4))
    with pytest.raises(ValueError, match="same H x W"):
        M.mask_iou(torch.ones(4, 4), torch.ones(4, 5))
    with pytest.raises(ValueError, match="broadcast"):
        M.mask_iou(torch.ones(3, 4, 4), torch.ones(2, 4, 4))
    with pytest.raises(ValueError, match="H x W"):
        M.mask_iou(torch.ones(4), torch.ones(4))


def _reference_boundary(mask: np.ndarray, d: int) -> np.ndarray:
    """Cheng et al.'s recipe written out with numpy: pad 1 px of background, erode d times with a
    3x3 square (outside the padded image never erodes, like cv2's default border), crop back."""
    h, w = mask.shape
    x = np.pad(mask.astype(bool), 1, constant_values=False)
    for _ in range(d):
        p = np.pad(x, 1, constant_values=True)
        x = np.logical_and.reduce([p[1 + dy:1 + dy + h + 2, 1 + dx:1 + dx + w + 2]
                                   for dy in (-1, 0, 1) for dx in (-1, 0, 1)])
    return mask.astype(bool) & ~x[1:h + 1, 1:w + 1]


def test_boundary_of_square_by_hand():
    a = _square(10, 10, 2, 7, 2, 7)  # 5x5 square; d = max(1, round(0.02 * 14.1)) = 1
    bd = M.mask_to_boundary(a)
    assert bd.sum() == 25 - 9  # the ring of the square
    assert not bd[3:6, 3:6].any()
    full = torch.ones(5, 5, dtype=torch.bool)  # touching the border: the image edge is a contour
    assert M.mask_to_boundary(full).sum() == 16


@pytest.mark.parametrize("d", [1, 2, 3, 5])
def test_boundary_matches_iterated_3x3_erosion(d):
    g = torch.Generator().manual_seed(d)
    h, w = 23, 31
    ratio = d / math.hypot(h, w)
    small = (torch.rand(h // 3 + 1, w // 3 + 1, generator=g) > 0.5).float()
    mask = torch.nn.functional.interpolate(small[None, None], size=(h, w), mode="nearest")[0, 0] > 0
    ours = M.mask_to_boundary(mask, ratio)
    assert np.array_equal(ours.numpy(), _reference_boundary(mask.numpy(), d))


def test_boundary_iou_identical_and_shifted():
    a = _square(10, 10, 2, 7, 2, 7)
    b = _square(10, 10, 2, 7, 3, 8)  # shifted right by one pixel
    assert M.boundary_iou(a, a) == 1.0
    # rings of 16 px each; they share rows 2 and 6 at columns 3..6 -> 8 px; union 16 + 16 - 8 = 24
    assert M.boundary_iou(a, b) == pytest.approx(8 / 24)
    assert M.mask_iou(a, b) == pytest.approx(20 / 30)
    empty = torch.zeros(10, 10, dtype=torch.bool)
    assert M.boundary_iou(empty, empty) == 1.0
    assert M.boundary_iou(a, empty) == 0.0


def test_negative_or_nan_dilation_ratio_is_refused():
    a = _square(10, 10, 2, 7, 2, 7)
    assert M.boundary_iou(a, a, dilation_ratio=0) == 1.0                 # 0: the thinnest boundary, 1 px
    for bad in (-0.02, float("nan"), "0.02", True):
        with pytest.raises(ValueError, match="dilation_ratio must be a number >= 0"):
            M.boundary_iou(a, a, dilation_ratio=bad)


def test_boundary_iou_batched_equals_loop():
    g = torch.Generator().manual_seed(3)
    a = torch.rand(4, 40, 50, generator=g) > 0.4
    b = a.clone()
    b[:, 10:20, 10:30] = ~b[:, 10:20, 10:30]
    out = M.boundary_iou(a, b, dilation_ratio=0.05)
    assert out.shape == (4,)
    ref = torch.tensor([M.boundary_iou(x, y, dilation_ratio=0.05) for x, y in zip(a, b)], dtype=torch.float64)
    assert torch.allclose(out, ref)


def test_boundary_iou_broadcasts_one_truth_against_many_draws():
    """objects x draws against objects x 1 (how the sweeps call it): the same as pairing each draw by hand."""
    g = torch.Generator().manual_seed(4)
    draws = torch.rand(3, 5, 30, 40, generator=g) > 0.4
    truth = torch.rand(3, 1, 30, 40, generator=g) > 0.5
    out = M.boundary_iou(draws, truth)
    assert out.shape == (3, 5)
    ref = torch.tensor([[M.boundary_iou(d, t[0]) for d in ds] for ds, t in zip(draws, truth)], dtype=torch.float64)
    assert torch.equal(out, ref)
    assert torch.equal(M.boundary_iou(truth, draws), out)


def test_boundary_wraps_across_erp_seam():
    m = torch.zeros(6, 12, dtype=torch.bool)
    m[1:5, [0, 1, 2, 9, 10, 11]] = True  # one 4x6 block that crosses the +-180 deg seam
    assert M.mask_to_boundary(m).sum() == 24 - 4  # without wrap the seam columns are border too
    assert M.mask_to_boundary(m, wrap_lon=True).sum() == 24 - 8  # ring of a 4x6 block
    big_d = M.mask_to_boundary(m, dilation_ratio=1.0, wrap_lon=True)  # d larger than W still works
    assert torch.equal(big_d, m)


def test_semantic_boundary_miou_by_hand():
    gt = _square(10, 10, 2, 7, 2, 7).long()
    pred = _square(10, 10, 2, 7, 3, 8).long()
    # class 1: 8/24 (above). class 0 (background): image border ring (36 px) + ring around the
    # square (24 px) = 60 px each; shared: the border ring and 6 + 6 px of the top and bottom rows
    # of the surrounding rings -> 48; union 72 -> 2/3.
    mean, per = M.semantic_boundary_miou(pred, gt, 2, return_per_class=True)
    assert per.tolist() == pytest.approx([2 / 3, 1 / 3])
    assert mean == pytest.approx(0.5)
    assert M.semantic_boundary_miou(gt, gt, 3) == 1.0  # class 2 absent from both: NaN, excluded
    batch = M.semantic_boundary_miou(torch.stack([pred, gt]), torch.stack([gt, gt]), 2, return_per_class=True)[1]
    assert batch.tolist() == pytest.approx([(48 + 60) / (72 + 60), (8 + 16) / (24 + 16)])
    gt_ign = gt.clone()
    gt_ign[:, :] = 255
    assert math.isnan(M.semantic_boundary_miou(pred, gt_ign, 2))


def test_mean_pairwise_iou_hand_and_loop():
    masks = torch.tensor([[[1, 1, 0, 0]], [[1, 1, 0, 0]], [[0, 0, 1, 1]]], dtype=torch.bool)
    assert M.mean_pairwise_iou(masks) == pytest.approx((1 + 0 + 0) / 3)
    assert M.mean_pairwise_iou(torch.zeros(5, 3, 3, dtype=torch.bool)) == 1.0
    g = torch.Generator().manual_seed(4)
    ms = torch.rand(3, 6, 17, 13, generator=g) > 0.5
    ms[0, 2] = False
    ms[0, 4] = False
    out = M.mean_pairwise_iou(ms)
    assert out.shape == (3,)
    for b in range(3):
        ref = np.mean([M.mask_iou(ms[b, i], ms[b, j]) for i in range(6) for j in range(i + 1, 6)])
        assert float(out[b]) == pytest.approx(ref, abs=1e-12)
        assert M.mean_pairwise_iou(ms[b].numpy()) == pytest.approx(ref, abs=1e-12)


def test_mean_pairwise_iou_errors():
    with pytest.raises(ValueError, match="at least 2"):
        M.mean_pairwise_iou(torch.ones(1, 4, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match="N x H x W"):
        M.mean_pairwise_iou(torch.ones(4, 4, dtype=torch.bool))


# ---------------------------------------------------------------- latitude bands

def test_latitude_band_edges():
    assert M.latitude_band_edges(6, 3) == ([0, 2, 4, 6], [90.0, 30.0, -30.0, -90.0])
    # row centres of a 7-row ERP at 0.5/7 .. 6.5/7 of the height; thirds at 1/3 and 2/3
    assert M.latitude_band_edges(7, 3)[0] == [0, 2, 5, 7]
    assert M.latitude_band_edges(5, 2)[0] == [0, 2, 5]  # row 2's centre is on the equator
    assert M.latitude_band_edges(4, 4, lat_range=(40, -40))[1] == [40.0, 20.0, 0.0, -20.0, -40.0]
    with pytest.raises(ValueError, match="bands"):
        M.latitude_band_edges(4, 5)
    with pytest.raises(ValueError, match="lat_range"):
        M.latitude_band_edges(4, 2, lat_range=(-90, 90))


def test_latitude_miou_one_band_wrong():
    g = torch.Generator().manual_seed(5)
    k = 4
    gt = torch.randint(0, k, (6, 12), generator=g)
    pred = gt.clone()
    pred[2:4] = (gt[2:4] + 1) % k  # every pixel of the middle band wrong
    gt[0, :6] = 255  # 6 ignored pixels in the top band
    df = M.latitude_miou(pred, gt, k, bands=3)
    assert list(df.columns[:8]) == ["band", "row_start", "row_stop", "lat_min", "lat_max", "miou", "pixel_acc",
                                    "pixel_share"]
    assert df["miou"].tolist() == [1.0, 0.0, 1.0]
    assert df["pixel_acc"].tolist() == [1.0, 0.0, 1.0]
    assert df["lat_max"].tolist() == [90.0, 30.0, -30.0]
    assert df["lat_min"].tolist() == [30.0, -30.0, -90.0]
    assert df["pixel_share"].tolist() == pytest.approx([18 / 66, 24 / 66, 24 / 66])
    # batched: the same map twice gives the same table
    df2 = M.latitude_miou(torch.stack([pred, pred]), torch.stack([gt, gt]), k, bands=3)
    assert df2["miou"].tolist() == [1.0, 0.0, 1.0]
    assert df2["pixel_share"].tolist() == pytest.approx(df["pixel_share"].tolist())


def test_latitude_miou_band_equals_crop_miou():
    g = torch.Generator().manual_seed(6)
    gt = torch.randint(0, 5, (2, 16, 32), generator=g)
    pred = torch.where(torch.rand(gt.shape, generator=g) < 0.6, gt, torch.randint(0, 5, gt.shape, generator=g))
    df = M.latitude_miou(pred, gt, 5, bands=4)
    for r in df.itertuples():
        assert r.miou == pytest.approx(M.miou(pred[:, r.row_start:r.row_stop], gt[:, r.row_start:r.row_stop], 5))
        crop = (pred[:, r.row_start:r.row_stop] == gt[:, r.row_start:r.row_stop]).double().mean()
        assert r.pixel_acc == pytest.approx(float(crop))
    assert df["pixel_share"].sum() == pytest.approx(1.0)


def test_latitude_pixel_accuracy_tells_what_band_miou_hides():
    # a sky band: 100 sky pixels, 1 pole pixel the model calls sky -> mIoU 0.495, yet 99 % of the pixels right
    gt = torch.zeros(2, 101, dtype=torch.long)
    gt[:, -1] = 1
    gt[1] = 255
    pred = torch.zeros(2, 101, dtype=torch.long)
    df = M.latitude_miou(pred, gt, 2, bands=2)
    assert df.loc[0, "miou"] == pytest.approx(100 / 101 / 2)
    assert df.loc[0, "pixel_acc"] == pytest.approx(100 / 101)
    assert np.isnan(df.loc[1, "pixel_acc"]) and np.isnan(df.loc[1, "miou"])     # nothing labelled


def test_latitude_miou_errors():
    with pytest.raises(ValueError, match="H x W"):
        M.latitude_miou(torch.zeros(2, 2, 4, 8, dtype=torch.long), torch.zeros(2, 2, 4, 8, dtype=torch.long), 2)
    with pytest.raises(ValueError, match="bands"):
        M.latitude_miou(torch.zeros(4, 8, dtype=torch.long), torch.zeros(4, 8, dtype=torch.long), 2, bands=0)


def test_mean_pairwise_iou_chunked_over_pixels():
    # B * N = 4096 masks -> pixel chunks of 4096; P = 5120 makes two chunks
    g = torch.Generator().manual_seed(7)
    ms = torch.rand(64, 64, 64, 80, generator=g) > 0.5
    f = ms.flatten(2).double()
    inter = f @ f.transpose(1, 2)
    area = inter.diagonal(dim1=1, dim2=2)
    iou = inter / (area[:, :, None] + area[:, None, :] - inter)
    iu = torch.triu_indices(64, 64, offset=1)
    assert torch.allclose(M.mean_pairwise_iou(ms), iou[:, iu[0], iu[1]].mean(-1))
