"""gsam_lab.sam.automatic_masks ("segment everything"): the point grid, the mask NMS, the masks."""
import numpy as np
import pytest
import torch

from gsam_lab import sam
from gsam_lab.sam.automatic import greedy_mask_nms, point_grid

H, W = 40, 80


@pytest.fixture(scope="module")
def image():
    return np.random.default_rng(0).integers(0, 255, (H, W, 3)).astype(np.uint8)


def test_point_grid_covers_a_2_to_1_image_with_twice_the_columns():
    pts = point_grid((40, 80), 2)
    assert pts.shape == (8, 1, 2)                         # 2 rows x 4 columns, one point per prompt
    assert sorted(set(pts[:, 0, 1].tolist())) == [10.0, 30.0]
    assert sorted(set(pts[:, 0, 0].tolist())) == [10.0, 30.0, 50.0, 70.0]
    with pytest.raises(ValueError, match="points_per_side"):
        point_grid((40, 80), 0)


def test_greedy_mask_nms_keeps_the_first_of_each_duplicate_group():
    m = torch.zeros(4, 10, 10, dtype=torch.bool)
    m[0, :5] = True
    m[1, :4] = True                                        # IoU 0.8 with mask 0
    m[2, 5:] = True                                        # disjoint
    m[3, 5:, :9] = True                                    # IoU 0.9 with mask 2
    assert greedy_mask_nms(m, 0.7) == [0, 2]
    assert greedy_mask_nms(m, 0.95) == [0, 1, 2, 3]
    assert greedy_mask_nms(m[[1, 0, 3, 2]], 0.7) == [0, 2]   # the order decides which one stays
    assert greedy_mask_nms(m[:0], 0.7) == []


def test_automatic_masks_largest_first_at_the_image_size(tiny_sam, image):
    out = sam.automatic_masks(tiny_sam, image, points_per_side=2, pred_iou_thresh=0.0, stability_thresh=0.0,
                              min_area=0.0, nms_iou=1.01)
    n = len(out.masks)
    assert n >= 1 and out.masks.shape == (n, H, W) and out.masks.dtype == torch.bool
    assert out.iou.shape == (n,) and torch.all((out.iou >= 0) & (out.iou <= 1))
    areas = out.masks.flatten(1).sum(1)
    assert torch.all(areas[:-1] >= areas[1:])
    # a dataset's 3 x H x W float image gives the same masks
    chw = torch.from_numpy(image).permute(2, 0, 1).float() / 255
    again = sam.automatic_masks(tiny_sam, chw, points_per_side=2, pred_iou_thresh=0.0, stability_thresh=0.0,
                                min_area=0.0, nms_iou=1.01)
    assert torch.equal(again.masks, out.masks)


def test_automatic_masks_filters_and_deduplicates(tiny_sam, image):
    kw = dict(points_per_side=2, pred_iou_thresh=-1e9, stability_thresh=0.0, min_area=0.0)
    every = sam.automatic_masks(tiny_sam, image, nms_iou=1.01, **kw)
    assert len(every.masks) == 8 * 3                      # 8 points x SAM's 3 candidates, none dropped
    fewer = sam.automatic_masks(tiny_sam, image, nms_iou=0.5, **kw)
    assert len(fewer.masks) < len(every.masks)            # the 3 candidates of a point overlap
    none = sam.automatic_masks(tiny_sam, image, **dict(kw, pred_iou_thresh=1.01))
    assert none.masks.shape == (0, H, W) and none.iou.shape == (0,)


def test_automatic_masks_refuses_an_image_it_would_misread(tiny_sam):
    with pytest.raises(ValueError, match=r"values in \[0, 1\]"):
        sam.automatic_masks(tiny_sam, np.full((H, W, 3), 200.0))
