"""One scorer for every mIoU: a model (evaluate_miou), any label function (evaluate_labels), DAR's fusions
(dar_labels), and the in-memory DAR training set of a short MKA run (pseudo_label_items)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from gsam_lab import goodsam

K = 4


class ColourModel(nn.Module):
    """``predict``: logits that are a fixed linear map of each pixel's colour."""

    num_classes = K

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.randn(K, 3, generator=torch.Generator().manual_seed(0)))

    def predict(self, x):
        return torch.einsum("kc,bchw->bkhw", self.w, x)


def dataset(n=3, hw=(8, 16)):
    g = torch.Generator().manual_seed(1)
    return [{"image": torch.rand(3, *hw, generator=g), "semantic": torch.randint(0, K, hw, generator=g)}
            for _ in range(n)]


def test_a_label_function_is_scored_as_the_model_it_wraps():
    torch.set_num_threads(1)
    ds, model = dataset(), ColourModel()
    e = goodsam.evaluate_miou(model, ds, K, batch_size=2, device="cpu", keep=2)
    labels = goodsam.evaluate_labels(lambda img: model.predict(img[None]).argmax(1)[0], ds, K, keep=1)
    assert np.array_equal(e["confusions"], labels["confusions"]) and e["miou"] == pytest.approx(labels["miou"])
    assert len(e["predictions"]) == 2 and len(labels["predictions"]) == 1
    assert torch.equal(e["predictions"][0], labels["predictions"][0])
    # several label maps from one call: one result per name, each scored alone
    both = goodsam.evaluate_labels(lambda img: {"model": model.predict(img[None]).argmax(1)[0],
                                                "zeros": torch.zeros(img.shape[1:], dtype=torch.long)}, ds, K)
    assert set(both) == {"model", "zeros"} and np.array_equal(both["model"]["confusions"], e["confusions"])
    assert both["zeros"]["confusions"][:, :, 1:].sum() == 0
    with pytest.raises(ValueError, match="shape"):
        goodsam.evaluate_labels(lambda img: torch.zeros(2, 2, dtype=torch.long), ds, K)


def test_dar_labels_runs_every_fusion_on_one_set_of_sam_masks(tiny_sam, monkeypatch):
    ta = goodsam.load_teacher("tiny-synth", device="cpu", pretrained=False)
    erp = torch.rand(3, 32, 64, generator=torch.Generator().manual_seed(2))
    calls = []
    real = goodsam.evaluate.sam_masks
    monkeypatch.setattr(goodsam.evaluate, "sam_masks", lambda *a, **kw: calls.append(1) or real(*a, **kw))
    kw = dict(pred_iou_thresh=0.0, stability_thresh=0.0)
    out = goodsam.dar_labels(ta, tiny_sam, fusions=("vote", "ctcf"), points_per_side=1, sam_kwargs=kw)(erp)
    assert set(out) == {"DAR vote", "DAR ctcf"} and len(calls) == 1
    masks = real(tiny_sam, erp, points_per_side=1, **kw)
    for fusion in ("vote", "ctcf"):
        ref = goodsam.dar(ta, None, erp, windows="h", boundary=True, fusion=fusion, masks=masks)
        assert torch.equal(out[f"DAR {fusion}"], ref.ensemble_logits.argmax(0))


def test_pseudo_label_items_are_what_train_mka_reads():
    ta = goodsam.load_teacher("tiny-synth", device="cpu", pretrained=False)
    panos = [{"image": torch.rand(3, 32, 64, generator=torch.Generator().manual_seed(i))} for i in range(2)]
    items = goodsam.pseudo_label_items(ta, None, panos, fusion="none", pool=4)
    assert [it["index"] for it in items] == [0, 1] and items[1]["image"] is panos[1]["image"]
    assert items[0]["pseudo_label"].shape == (32, 64) and items[0]["pseudo_label"].dtype == torch.int64
    assert items[0]["ensemble_logits"].shape == (ta.num_classes, 8, 16)
    assert items[0]["ensemble_logits"].dtype == torch.float16


def test_confidence_curve_counts_kept_and_right_pixels():
    """4 labelled pixels (one ignored): confidences 0.2 / 0.6 / 0.9 / 0.95, the 0.6 one wrong."""
    pred = torch.tensor([[0, 1, 1, 0, 1]])
    gt = torch.tensor([[0, 0, 1, 0, 255]])
    conf = torch.tensor([[0.2, 0.6, 0.9, 0.95, 1.0]])
    curve = goodsam.confidence_curve([pred], [conf], [gt], num_classes=2, thresholds=(0.0, 0.5, 0.8, 0.99))
    assert curve["coverage"].tolist() == [1.0, 0.75, 0.5, 0.0]
    assert curve["accuracy"].tolist()[:3] == [0.75, 2 / 3, 1.0] and np.isnan(curve["accuracy"].iloc[3])
    assert curve.loc[2, "miou"] == 1.0 and curve.loc[0, "miou"] < 1.0
    with pytest.raises(ValueError, match="as many"):
        goodsam.confidence_curve([pred], [], [gt], num_classes=2)
