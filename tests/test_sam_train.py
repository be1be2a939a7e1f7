"""Pieces of the tiny-SAM training recipe: losses and training prompts (the loop itself is a script)."""
import numpy as np
import torch

from gsam_lab.sam.losses import dice_loss, sam_loss, sigmoid_focal_loss
from gsam_lab.sam.prompts import PromptSampler
from gsam_lab.sam.train import TrainConfig, draw_training_prompt


def test_losses_prefer_the_right_mask():
    tgt = torch.zeros(2, 16, 16)
    tgt[:, 4:12, 4:12] = 1
    good, bad = (tgt * 20 - 10), -(tgt * 20 - 10)
    assert (sigmoid_focal_loss(good, tgt) < sigmoid_focal_loss(bad, tgt)).all()
    assert (dice_loss(good, tgt) < 0.01).all() and (dice_loss(bad, tgt) > 0.9).all()
    logits = torch.stack([bad, good], 1)  # 2 prompts x 2 candidates: the best one is trained
    loss, parts = sam_loss(logits, torch.tensor([[0.0, 1.0], [0.0, 1.0]]), tgt)
    assert torch.isfinite(loss) and parts["iou"] == 1.0 and parts["iou_mse"] < 1e-6
    w = torch.zeros(16, 16)
    w[:, :8] = 1
    assert torch.isfinite(sam_loss(logits, torch.zeros(2, 2), tgt, w)[0])


def test_training_prompts_are_valid():
    m = np.zeros((40, 50), bool)
    m[10:20, 5:30] = True
    rng = np.random.default_rng(0)
    kinds = set()
    for _ in range(30):
        p = draw_training_prompt(rng, PromptSampler(0), [m, m], TrainConfig())
        if "boxes" in p:
            b = p["boxes"]
            assert b.shape == (2, 4) and (b[:, 2] > b[:, 0]).all() and (b[:, 3] > b[:, 1]).all()
            assert (b >= 0).all() and (b[:, [0, 2]] <= 49).all() and (b[:, [1, 3]] <= 39).all()
            kinds.add("box")
        else:
            c, l = p["points"], p["labels"]
            assert c.shape[:2] == l.shape and c.shape[0] == 2 and (l[:, 0] == 1).all()
            pos = c[l == 1].astype(int)
            assert m[pos[:, 1], pos[:, 0]].all()
            kinds.add("points")
    assert kinds == {"box", "points"}
