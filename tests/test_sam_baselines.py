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


def test_grabcut_finds_a_coloured_object_inside_a_loose_box():
    from gsam_lab.metrics import mask_iou
    from gsam_lab.sam.baselines import GrabCutPredictor
    rng = np.random.default_rng(0)
    img = (rng.normal(60, 8, (64, 64, 3))).clip(0, 255).astype(np.uint8)
    obj = np.zeros((64, 64), bool)
    yy, xx = np.mgrid[:64, :64]
    obj[(yy - 32) ** 2 + (xx - 30) ** 2 < 12 ** 2] = True        # a red disc on grey noise
    img[obj] = (200, 40, 40)
    box = np.array([[12, 14, 48, 50]])                         # loose: the disc fills about half of it
    p = GrabCutPredictor(iterations=5).set_image(img)
    out = p.predict(boxes=box)
    assert out.masks.shape == (1, 64, 64) and out.masks.dtype == torch.bool
    got = float(mask_iou(out.masks[0], torch.as_tensor(obj)))
    filled = float(mask_iou(fill_boxes(box, (64, 64))[0], torch.as_tensor(obj)))
    assert got > 0.9 and got > filled + 0.3
    assert not out.masks[0][~fill_boxes(box, (64, 64))[0]].any()   # nothing outside the box
    whole = p.predict(boxes=[[0, 0, 63, 63]])                     # no background to learn from: the box, filled
    assert whole.masks.all()
    with pytest.raises(ValueError, match="iterations"):
        GrabCutPredictor(iterations=0)
    with pytest.raises(ValueError, match="box prompts only"):
        p.predict(points=np.zeros((1, 1, 2)), labels=np.ones((1, 1)))


def test_grabcut_cuts_a_repeated_box_once(monkeypatch):
    from gsam_lab.sam.baselines import GrabCutPredictor
    p = GrabCutPredictor().set_image(np.zeros((32, 32, 3), np.uint8))
    calls = []
    monkeypatch.setattr(p, "_one", lambda box: calls.append(box) or fill_boxes(box[None].numpy(), p.hw)[0])
    masks = p.masks_for(np.array([[2, 2, 9, 9], [2, 2, 9, 9], [4, 4, 20, 20], [2, 2, 9, 9]], np.float32))
    assert len(calls) == 2 and masks.shape == (4, 32, 32)
    assert torch.equal(masks[0], masks[3]) and not torch.equal(masks[0], masks[2])


def test_score_models_grabcut_on_the_gt_box_alone():
    from gsam_lab.sam import score_models
    inst = np.zeros((48, 48), np.int64)
    inst[8:30, 6:26] = 1
    img = np.full((48, 48, 3), 50, np.uint8)
    img[inst == 1] = (220, 200, 30)
    ds = [{"image": img, "instance": inst}]
    ev = score_models({}, {"toy": ds}, noise=(0.2,), points=(1,), grabcut="gt_box", draws=2, min_area=10,
                      progress=False)
    settings = ev.objects.groupby("method")["setting"].unique()
    assert list(settings["GrabCut"]) == ["gt_box"]
    assert set(settings["fill box"]) == {"gt_box", "noisy_box s=0.2"}
    with pytest.raises(ValueError, match="grabcut must be"):
        score_models({}, {"toy": ds}, grabcut="noisy", progress=False)
