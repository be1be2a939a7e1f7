"""gsam_lab.sam.PromptSampler: boxes contain the mask, noise grows with scale, points land inside."""
import numpy as np
import pytest
import torch

from gsam_lab.sam import PromptSampler


def blob(h=60, w=90, cy=25, cx=40, ry=12, rx=20):
    yy, xx = np.mgrid[:h, :w]
    return ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1


def random_masks(n=20, seed=0):
    rng = np.random.default_rng(seed)
    for _ in range(n):
        h, w = rng.integers(20, 80, 2)
        m = np.zeros((h, w), bool)
        y0, x0 = rng.integers(0, h - 2), rng.integers(0, w - 2)
        m[y0:rng.integers(y0 + 1, h + 1), x0:rng.integers(x0 + 1, w + 1)] = True
        yield m & (rng.random((h, w)) < 0.9) | (m.sum() == 1) * m


def test_gt_box_is_tight_and_contains_the_mask():
    for m in random_masks():
        if not m.any():
            continue
        x0, y0, x1, y1 = PromptSampler(0).gt_box(m)
        ys, xs = np.nonzero(m)
        assert (xs.min(), ys.min(), xs.max(), ys.max()) == (x0, y0, x1, y1)


def test_noisy_box_scale_zero_is_gt_and_noise_grows():
    m = blob()
    s = PromptSampler(1)
    gt = s.gt_box(m)
    assert np.array_equal(s.noisy_box(m, 0.0), gt)
    err = [np.abs(PromptSampler(2).noisy_box(m, sc, n=400) - gt).mean() for sc in (0.1, 0.2, 0.4, 0.8)]
    assert all(a < b for a, b in zip(err, err[1:])), err


def test_noisy_boxes_stay_valid_inside_the_image():
    for m in random_masks(10, seed=3):
        if not m.any():
            continue
        H, W = m.shape
        b = PromptSampler(4).noisy_box(m, 1.5, n=200)
        assert b.shape == (200, 4) and b.dtype == np.float32
        assert (b[:, 0] >= 0).all() and (b[:, 2] <= W - 1).all() and (b[:, 1] >= 0).all() and (b[:, 3] <= H - 1).all()
        assert (b[:, 2] - b[:, 0] >= min(1, W - 1) - 1e-6).all() and (b[:, 3] - b[:, 1] >= min(1, H - 1) - 1e-6).all()


def test_points_inside_mask_and_negatives_outside():
    m = blob()
    c, l = PromptSampler(5).points(m, 5, negatives=2)
    assert c.shape == (7, 2) and l.tolist() == [1] * 5 + [0] * 2
    xs, ys = c[:, 0].astype(int), c[:, 1].astype(int)
    assert m[ys[:5], xs[:5]].all() and not m[ys[5:], xs[5:]].any()
    assert len({(x, y) for x, y in zip(xs[:5], ys[:5])}) == 5  # distinct positives
    cb, lb = PromptSampler(5).points(m, 3, n=10)
    assert cb.shape == (10, 3, 2) and lb.shape == (10, 3) and (lb == 1).all()
    assert m[cb[..., 1].astype(int), cb[..., 0].astype(int)].all()
    tiny = np.zeros((8, 8), bool)
    tiny[3, 4] = True
    c1, _ = PromptSampler(0).points(tiny, 4)  # fewer pixels than k: drawn with replacement
    assert (c1 == [4, 3]).all()


def test_reproducible_with_seed():
    m = blob()
    a, b, c = PromptSampler(7), PromptSampler(7), PromptSampler(8)
    assert np.array_equal(a.noisy_box(m, 0.3, n=5), b.noisy_box(m, 0.3, n=5))
    assert np.array_equal(a.points(m, 3)[0], b.points(m, 3)[0])
    assert not np.array_equal(PromptSampler(7).noisy_box(m, 0.3, n=5), c.noisy_box(m, 0.3, n=5))
    assert np.array_equal(PromptSampler([1, 2, 3]).points(m, 2)[0], PromptSampler([1, 2, 3]).points(m, 2)[0])


def test_accepts_tensors_and_int_masks():
    m = blob()
    gt = PromptSampler(0).gt_box(m)
    assert np.array_equal(PromptSampler(0).gt_box(torch.from_numpy(m)), gt)
    assert np.array_equal(PromptSampler(0).gt_box(m.astype(np.uint8)), gt)


@pytest.mark.parametrize("call, err, match", [
    (lambda s: s.gt_box(np.zeros((5, 5), bool)), ValueError, "empty"),
    (lambda s: s.points(blob(), 0), ValueError, "k"),
    (lambda s: s.points(blob(), 2, negatives=-1), ValueError, "negatives"),
    (lambda s: s.gt_box(blob().astype(np.float32)), TypeError, "bool"),
    (lambda s: s.gt_box(np.stack([blob()] * 2)), ValueError, "H x W"),
    (lambda s: s.gt_box(blob().astype(np.int64) * 7), ValueError, "binary"),
    (lambda s: s.noisy_box(blob(), -0.1), ValueError, "scale"),
    (lambda s: s.noisy_box(blob(), 0.1, n=0), ValueError, "n"),
    (lambda s: s.points(np.ones((4, 4), bool), 1, negatives=1), ValueError, "whole image"),
])
def test_errors(call, err, match):
    with pytest.raises(err, match=match):
        call(PromptSampler(0))
