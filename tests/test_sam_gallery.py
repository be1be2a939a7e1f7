import numpy as np
import pytest
import torch

from gsam_lab import metrics, sam


@pytest.fixture(scope="module")
def predictor(tiny_sam):
    torch.manual_seed(0)
    img = np.random.default_rng(1).integers(0, 255, (64, 96, 3), dtype=np.uint8)
    return sam.PromptPredictor(tiny_sam).set_image(img)


def _gt():
    gt = np.zeros((64, 96), bool)
    gt[10:40, 20:60] = True
    return gt


def test_casual_prompts_lineup_is_seeded():
    a = sam.casual_prompts(_gt(), seed=3, noise=(0.1, 0.4), points=(1, 3))
    b = sam.casual_prompts(_gt(), seed=3, noise=(0.1, 0.4), points=(1, 3))
    assert list(a) == ["GT box", "noisy box s=0.1", "noisy box s=0.4", "1 point", "3 points"]
    np.testing.assert_array_equal(a["GT box"]["boxes"], [20, 10, 59, 39])
    np.testing.assert_array_equal(a["noisy box s=0.4"]["boxes"], b["noisy box s=0.4"]["boxes"])
    assert a["3 points"]["points"].shape == (3, 2) and (a["3 points"]["labels"] == 1).all()


def test_prompt_outcomes_match_the_predictor_and_metrics(predictor):
    gt = _gt()
    prompts = sam.casual_prompts(gt, seed=0, noise=(0.2,), points=(2,))
    outs = sam.prompt_outcomes(predictor, gt, prompts)
    assert [o.name for o in outs] == list(prompts)
    direct = predictor.predict(boxes=prompts["GT box"]["boxes"][None]).masks[0].numpy()
    np.testing.assert_array_equal(outs[0].mask, direct)
    for o in outs:
        assert o.mask.shape == gt.shape and o.mask.dtype == bool
        assert o.iou == pytest.approx(float(metrics.mask_iou(o.mask, gt)))
    assert outs[-1].boxes is None and outs[-1].points.shape == (2, 2)


def test_prompt_outcomes_bad_input(predictor):
    with pytest.raises(ValueError, match="like the predictor's image"):
        sam.prompt_outcomes(predictor, np.ones((10, 10), bool), {"b": dict(boxes=[0, 0, 5, 5])})
    with pytest.raises(ValueError, match="unknown keys"):
        sam.prompt_outcomes(predictor, _gt(), {"b": dict(box=[0, 0, 5, 5])})
