"""Crop-and-zoom: the window around a box, and PromptPredictor(zoom=True) pasting its masks back."""
import numpy as np
import pytest
import torch

from gsam_lab import sam
from gsam_lab.sam.zoom import box_in_window, zoom_window


def test_window_is_a_square_around_the_box_inside_the_image():
    x0, y0, x1, y1 = zoom_window([100, 50, 119, 59], (256, 512), context=1.0)
    assert x1 - x0 == y1 - y0 == 40                       # (1 + 1) x the longer side (20 px)
    assert x0 <= 100 and x1 >= 120 and y0 <= 50 and y1 >= 60
    assert zoom_window([0, 0, 3, 3], (256, 512), min_side=32)[:2] == (0, 0)   # shifted inside, not cut
    assert zoom_window([0, 0, 3, 3], (256, 512), min_side=32)[2] == 32
    big = zoom_window([0, 0, 400, 200], (256, 512))
    assert big[3] - big[1] == 256 and big[0] >= 0 and big[2] <= 512          # at most the shorter side
    np.testing.assert_allclose(box_in_window([100, 50, 119, 59], (90, 35, 130, 75), 256),
                               [64, 96, 185.6, 153.6])
    with pytest.raises(ValueError, match="XYXY"):
        zoom_window([10, 10, 5, 20], (64, 64))
    with pytest.raises(ValueError, match="context"):
        zoom_window([0, 0, 5, 5], (64, 64), context=-1)


def test_zoomed_masks_stay_in_their_window_and_large_boxes_take_the_usual_path(tiny_sam):
    img = np.random.default_rng(0).integers(0, 255, (128, 256, 3), dtype=np.uint8)
    plain = sam.PromptPredictor(tiny_sam).set_image(img)
    zoom = sam.PromptPredictor(tiny_sam, zoom=True).set_image(img)
    small, large = np.array([[100, 40, 115, 60]]), np.array([[0, 0, 255, 127]])
    out = zoom.predict(boxes=np.concatenate([small, large]), return_logits=True)
    assert out.masks.shape == (2, 128, 256)
    assert out.low_res_logits.shape[1:] == plain.predict(boxes=small).low_res_logits.shape[1:]
    x0, y0, x1, y1 = zoom_window(small[0], (128, 256))
    outside = torch.ones(128, 256, dtype=torch.bool)
    outside[y0:y1, x0:x1] = False
    assert (out.masks[0][outside] < -1e3).all()           # nothing is pasted outside the window
    usual = plain.predict(boxes=large, return_logits=True).masks[0]
    assert torch.allclose(out.masks[1], usual, atol=1e-4)   # a box as large as the image is not zoomed
    again = zoom.predict(boxes=small, multimask=True)
    assert again.masks.shape == (1, 3, 128, 256) and again.iou_predictions.shape == (1, 3)
    with_click = zoom.predict(boxes=small, points=np.array([[[107, 50]]]), labels=np.array([[1]]))
    assert with_click.masks.shape == (1, 128, 256)
    refined = zoom.predict(boxes=small, mask_input=out.low_res_logits[:1])   # mask_input: the usual path
    assert refined.masks.shape == (1, 128, 256)
    with pytest.raises(TypeError, match="zoom"):
        sam.PromptPredictor(tiny_sam, zoom="yes")
    with pytest.raises(ValueError, match="zoom_context"):
        sam.PromptPredictor(tiny_sam, zoom=True, zoom_context=-0.5)

