"""The fill-the-box baseline: masks, the predictor interface, and its place in evaluate_prompts."""
import numpy as np
import pytest
import torch

from gsam_lab.sam.baselines import BoxFillPredictor, fill_boxes


def test_fill_boxes_is_the_box_inclusive_and_clipped():
    m = fill_boxes([[2, 1, 4, 3], [8, 8, 20, 20]], (10, 10))
    assert m.shape == (2, 10, 10) and m.dtype == torch.bool
    assert m[0].sum() == 3 * 3 and m[0, 1:4, 2:5].all()
    assert m[1].sum() == 2 * 2                        # clipped to the image


def test_predictor_interface_and_its_errors():
    img = np.zeros((12, 16, 3), np.uint8)
    with pytest.raises(RuntimeError, match="set_image"):
        BoxFillPredictor().predict(boxes=[[0, 0, 3, 3]])
    p = BoxFillPredictor().set_image(img)
    out = p.predict(boxes=np.array([[0, 0, 3, 3]]))
    assert out.masks.shape == (1, 12, 16) and out.iou_predictions.shape == (1,)
    assert p.predict(boxes=[[0, 0, 3, 3]], multimask=True).masks.shape == (1, 1, 12, 16)
    with pytest.raises(ValueError, match="box prompts only"):
        p.predict(points=np.zeros((1, 1, 2)), labels=np.ones((1, 1)))


def test_a_rectangle_is_filled_perfectly_and_a_diagonal_bar_is_not():
    from gsam_lab.sam import stability_sweep
    inst = np.zeros((64, 64), np.int64)
    inst[10:30, 5:40] = 1                             # a rectangle: the box is the object
    for i in range(40):                               # a diagonal bar: the box is mostly background
        inst[34 + i // 2, 20 + i:23 + i] = 2
    img = np.zeros((64, 64, 3), np.uint8)
    res = stability_sweep(BoxFillPredictor(), [{"image": img, "instance": inst}], prompt_kinds=("gt_box",),
                          draws=2, min_area=10, progress=False)
    iou = res.objects.set_index("object")["iou"]
    assert iou[1] == pytest.approx(1.0) and iou[2] < 0.3
