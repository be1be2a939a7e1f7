"""The table of prompt kinds (gsam_lab.sam.PROMPT_KINDS): what each kind draws, how its settings are named,
that every user reads it and that every user refuses a kind it does not hold; and SAM's box noise."""
import numpy as np
import pandas as pd
import pytest

from gsam_lab import sam
from gsam_lab.sam.prompts import PROMPT_KINDS, PromptSampler, prompt_kind

UNKNOWN = "unknown prompt kind 'nosy_box'; known: gt_box, noisy_box, points"


def blob(h=40, w=50):
    m = np.zeros((h, w), bool)
    m[10:20, 5:30] = True
    return m


def test_each_kind_draws_with_its_sampler_and_names_its_settings():
    m = blob()
    assert list(PROMPT_KINDS) == ["gt_box", "noisy_box", "points"]
    assert [PROMPT_KINDS[k].setting(v) for k, v in [("gt_box", None), ("noisy_box", 0.4), ("points", 3)]] == \
        ["gt_box", "noisy_box s=0.4", "points k=3"]
    assert [kind.is_box for kind in PROMPT_KINDS.values()] == [True, True, False]
    assert [kind.param for kind in PROMPT_KINDS.values()] == [None, "noise", "k"]
    boxes = PROMPT_KINDS["gt_box"].draw(PromptSampler(0), m, n=3)
    assert boxes.shape == (3, 4) and (boxes == PromptSampler(0).gt_box(m)).all()
    assert np.array_equal(PROMPT_KINDS["noisy_box"].draw(PromptSampler(1), m, 0.3, n=2),
                          PromptSampler(1).noisy_box(m, 0.3, n=2))
    coords, labels = PROMPT_KINDS["points"].draw(PromptSampler(2), m, 2, n=4)
    assert coords.shape == (4, 2, 2) and (labels == 1).all()
    assert prompt_kind("points") is PROMPT_KINDS["points"] and sam.PROMPT_KINDS is PROMPT_KINDS


def _summary(kind):
    return pd.DataFrame([dict(kind=kind, noise=0.4, k=0, setting=f"{kind} s=0.4", miou=0.7, mbiou=0.5,
                              stability=0.8)])


def _rts_mix():
    from gsam_lab.stable_sam import RTSConfig
    RTSConfig(prompt_mix={"gt_box": 1.0, "nosy_box": 1.0}).validate()


def _plot(x):
    from gsam_lab import viz
    viz.plot_sweep(_summary("nosy_box"), x=x)


@pytest.mark.parametrize("call", [
    lambda: prompt_kind("nosy_box"),
    lambda: sam.stability_sweep(None, [], prompt_kinds=("gt_box", "nosy_box"), progress=False),
    lambda: sam.stability.sweep_settings(("nosy_box",), (0.4,), (1,)),
    # the masks of one setting, below the sweep's own check of its arguments
    lambda: sam.stability._setting_masks(None, np.ones((8, 8), np.int64), np.array([1]), ("nosy_box", 0.4, 0), 2,
                                         False, (0, 0, 0)),
    lambda: _plot("noise"),
    lambda: _plot("k"),
    _rts_mix,
], ids=["prompt_kind", "stability_sweep", "sweep_settings", "setting_masks", "plot_sweep noise", "plot_sweep k",
        "RTS prompt_mix"])
def test_a_misspelled_kind_is_a_clear_error_in_every_user(call):
    with pytest.raises(ValueError, match=UNKNOWN):
        call()


def test_the_users_read_the_table():
    from gsam_lab.sam import evaluate
    from gsam_lab.stable_sam import RTSConfig, rts
    assert evaluate.MODEL_KINDS == tuple(PROMPT_KINDS)
    # box kinds first: a box setting has the same position, so the same prompt seeds, for SAM and the box baselines
    assert evaluate.BOX_KINDS == ("gt_box", "noisy_box") == evaluate.MODEL_KINDS[:len(evaluate.BOX_KINDS)]
    assert set(rts.PROMPT_MIX_KINDS) <= set(PROMPT_KINDS)
    by_name = RTSConfig(prompt_mix={"points": 2.0, "gt_box": 1.0}).validate()
    assert by_name.mix_weights().tolist() == RTSConfig(prompt_mix=(1.0, 0.0, 2.0)).mix_weights().tolist()
    assert [sam.stability._kind_and_value(s)[1] for s in [("gt_box", 0.0, 0), ("noisy_box", 0.2, 0),
                                                          ("points", 0.0, 5)]] == [None, 0.2, 5]


def test_sam_box_noise_is_sams_training_noise():
    m = blob()
    gt = PromptSampler(0).gt_box(m)                          # x 5..29, y 10..19: sides 25 and 10 px
    b = PromptSampler(3).sam_box(m, n=4000)
    assert b.shape == (4000, 4) and b.dtype == np.float32 and PromptSampler(3).sam_box(m).shape == (4,)
    assert (b >= 0).all() and (b[:, [0, 2]] <= 49).all() and (b[:, [1, 3]] <= 39).all()
    assert (b[:, 2] >= b[:, 0] + 1).all() and (b[:, 3] >= b[:, 1] + 1).all()
    std = (b - gt).std(0)                                    # 10 % of the side (2.5 px along x, 1 px along y)
    np.testing.assert_allclose(std, [2.5, 1.0, 2.5, 1.0], rtol=0.1)
    big = np.ones((400, 400), bool)
    big[:, :10] = False
    assert (PromptSampler(4).sam_box(big, n=4000) - PromptSampler(0).gt_box(big))[:, 0].std() < 8.5   # capped at 8 px
    # a Generator is shared, not copied: the sampler draws from (and advances) the caller's stream
    rng, same = np.random.default_rng(9), np.random.default_rng(9)
    first = PromptSampler(rng).sam_box(m)
    assert np.array_equal(first, PromptSampler(same).sam_box(m)) and rng.random() == same.random()


def test_the_training_recipe_draws_its_first_boxes_with_sam_box():
    from gsam_lab.recipes.interactive import draw_training_prompt
    from gsam_lab.recipes.tiny_sam import TrainConfig
    m, small = blob(), np.zeros((40, 50), bool)
    small[0:4, 45:50] = True
    cfg = TrainConfig(box_fraction=1.0)
    p = draw_training_prompt(np.random.default_rng(5), PromptSampler(0), [m, small], cfg)
    rng = np.random.default_rng(5)
    rng.random()                                              # the draw that picks a box over a click
    expected = np.stack([PromptSampler(rng).sam_box(x) for x in (m, small)])
    assert p["boxes"].dtype == np.float64 and np.array_equal(p["boxes"], expected)
