"""Pieces of the tiny-SAM training recipe: losses, first prompts, corrective clicks, targets, zoom views."""
import numpy as np
import pytest
import torch

from gsam_lab.recipes.dense_aux import DenseAuxHead, boundary_map, dense_aux_loss
from gsam_lab.recipes.interactive import draw_training_prompt, error_clicks
from gsam_lab.recipes.tiny_sam import TrainConfig, _step_loss
from gsam_lab.recipes.training_views import ViewPool, render_training_view, sample_targets
from gsam_lab.sam.losses import dice_loss, sam_loss, sigmoid_focal_loss
from gsam_lab.sam.prompts import PromptSampler


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
            assert c.shape == (2, 1, 2) and l.shape == (2, 1) and (l == 1).all()     # one positive click
            pos = c[l == 1].astype(int)
            assert m[pos[:, 1], pos[:, 0]].all()
            kinds.add("points")
    assert kinds == {"box", "points"}


def test_first_clicks_draws_between_its_ends_and_rejects_an_empty_range():
    m = np.zeros((40, 50), bool)
    m[10:20, 5:30] = True
    rng = np.random.default_rng(1)
    cfg = TrainConfig(box_fraction=0.0, first_clicks=(2, 4))
    counts = set()
    for _ in range(40):
        p = draw_training_prompt(rng, PromptSampler(0), [m, m, m], cfg)
        k = p["points"].shape[1]
        assert p["points"].shape == (3, k, 2) and p["labels"].shape == (3, k) and (p["labels"] == 1).all()
        pos = p["points"].reshape(-1, 2).astype(int)
        assert m[pos[:, 1], pos[:, 0]].all()                     # every click on the object
        counts.add(k)
    assert counts == {2, 3, 4}                                    # both ends drawn, nothing outside
    with pytest.raises(ValueError, match="first_clicks"):
        draw_training_prompt(rng, PromptSampler(0), [m], TrainConfig(box_fraction=0.0, first_clicks=(3, 2)))


def test_conv_encoder_gives_sams_embedding_layout_and_checks_its_input():
    from gsam_lab.sam.cnn_encoder import ConvImageEncoder
    enc = ConvImageEncoder(img_size=64, widths=(8, 16, 16, 16), depths=(1, 1, 1), pyramid_chans=16, out_chans=32).eval()
    assert enc(torch.randn(2, 3, 64, 64)).shape == (2, 32, 8, 8)           # stride 8, like SAM's 8-px tokens
    assert enc(torch.randn(1, 3, 64, 96)).shape == (1, 32, 8, 12)
    with pytest.raises(ValueError, match="multiples of 32"):
        enc(torch.randn(1, 3, 60, 64))
    with pytest.raises(ValueError, match="multiple of 32"):
        ConvImageEncoder(img_size=100)
    # a fresh residual block is the identity (its last BatchNorm starts at zero)
    from gsam_lab.sam.cnn_encoder import ResidualBlock
    block = ResidualBlock(4).eval()
    x = torch.rand(1, 4, 5, 5)
    assert torch.equal(block(x), x)



def test_boundary_map_marks_both_sides_of_a_label_change():
    lab = torch.zeros(1, 6, 6, dtype=torch.long)
    lab[0, :, 3:] = 1
    b = boundary_map(lab)[0]
    assert b[:, 2:4].all() and not b[:, :2].any() and not b[:, 4:].any()


def test_dense_aux_loss_learns_and_ignores_padding():
    torch.manual_seed(0)
    sem = np.zeros((64, 32), np.int64)
    sem[:, 16:] = 2
    inst = np.zeros((64, 32), np.int64)
    inst[10:20, 4:10] = 1
    view = {"semantic": sem, "instance": inst}
    head = DenseAuxHead(in_dim=8, num_classes=3)
    emb = torch.randn(1, 8, 8, 8, requires_grad=True)
    sizes = [(64, 32)]                                 # a 64 x 32 image in a 64 x 64 input: right half is padding
    loss, parts = dense_aux_loss(head(emb), [view], sizes, img_size=64, num_classes=3, res=32)
    assert torch.isfinite(loss) and set(parts) == {"aux_ce", "aux_edge"}
    loss.backward()
    g = emb.grad.abs().sum((0, 1))
    assert g[:, :4].sum() > 0
    opt = torch.optim.Adam([emb, *head.parameters()], lr=0.05)
    first = loss.item()
    for _ in range(60):
        opt.zero_grad()
        loss, _ = dense_aux_loss(head(emb), [view], sizes, img_size=64, num_classes=3, res=32)
        loss.backward()
        opt.step()
    assert loss.item() < 0.5 * first


def test_bf16_autocast_keeps_the_objective():
    """amp=1 (bf16 encoder/decoder, fp32 prompt encoder and losses) gives the fp32 loss and IoU closely."""
    from dataclasses import replace

    from segment_anything.utils.transforms import ResizeLongestSide

    from gsam_lab import sam
    cfg = TrainConfig(pool_size=2, box_fraction=1.0, stuff_fraction=0.0, view_mix=(0.0, 1.0, 0.0, 0.0),
                      targets_per_image=8, rounds=2, mask_only_rounds=1)
    views = ViewPool(cfg, np.random.default_rng(5), progress=False).items
    model = sam.load_sam("tiny-synth", device="cpu")

    def run(amp):
        with torch.no_grad():
            loss, parts = _step_loss(model, views, np.random.default_rng(0), sam.PromptSampler(0),
                                     torch.Generator().manual_seed(0), replace(cfg, amp=amp),
                                     ResizeLongestSide(256), "cpu")
        return loss.item(), parts["iou_r0"], parts

    (l32, iou32, parts), (l16, iou16, _) = run(0), run(1)
    assert abs(l16 - l32) < 0.02 * l32 and abs(iou16 - iou32) < 0.02
    assert iou32 > 0.2                                   # the shipped model does segment these objects
    assert {"iou_r0", "iou_r1", "iou_r2"} <= set(parts)   # every round (2 with clicks, 1 mask-only) is scored


def test_error_clicks_land_in_the_error_region_with_the_right_label():
    target = torch.zeros(3, 20, 20, dtype=torch.bool)
    target[:, 5:15, 5:15] = True
    pred = target.clone()
    pred[0, 5:15, 5:10] = False              # row 0 missed part of the object: a positive click there
    pred[1, 0:4, :] = True                   # row 1 spilled above it: a negative click there
    valid = torch.ones(20, 20, dtype=torch.bool)  # row 2 is perfect: no click (label -1)
    g = torch.Generator().manual_seed(0)
    for _ in range(20):
        pts, lab = error_clicks(pred, target, valid, g)
        assert pts.shape == (3, 1, 2) and lab.shape == (3, 1)
        x, y = pts[0, 0].long()
        assert lab[0, 0] == 1 and 5 <= x < 10 and 5 <= y < 15
        x, y = pts[1, 0].long()
        assert lab[1, 0] == 0 and y < 4
        assert lab[2, 0] == -1
    valid[:, 10:] = False                     # errors in padding never become clicks
    pred[0] = target[0]
    pred[0, 5:15, 12:15] = False
    _, lab = error_clicks(pred, target, valid, g)
    assert lab[0, 0] == -1


def test_targets_favour_small_objects_and_skip_a_view_filling_region():
    inst = np.zeros((64, 64), np.int64)
    sem = np.full((64, 64), 6, np.int64)
    inst[:40, :40] = 1                       # a large object
    inst[50:58, 50:56] = 2                   # a small one (48 px)
    sem[inst > 0] = 2
    cfg = TrainConfig(size_power=0.5, stuff_fraction=0.0)
    picks = sample_targets(np.random.default_rng(0), {"instance": inst, "semantic": sem}, 400, cfg)
    small = np.mean([m.sum() == 48 for m in picks])
    assert 0.78 < small < 0.92               # area**-0.5: 1/sqrt(48) against 1/sqrt(1600) gives 0.85
    even = sample_targets(np.random.default_rng(0), {"instance": inst, "semantic": sem}, 400,
                          TrainConfig(size_power=0.0, stuff_fraction=0.0))
    assert 0.4 < np.mean([m.sum() == 48 for m in even]) < 0.6
    full = {"instance": np.zeros((8, 8), np.int64), "semantic": np.zeros((8, 8), np.int64)}
    assert sample_targets(np.random.default_rng(0), full, 5, TrainConfig(min_area=1)) == []


def test_zoom_views_are_input_sized_windows_around_an_object():
    cfg = TrainConfig(view_mix=(0.0, 0.0, 0.0, 1.0))
    rng = np.random.default_rng(3)
    for i in range(3):
        v = render_training_view(rng, i, cfg)
        assert v["image"].shape == (256, 256, 3) and v["image"].dtype == np.uint8
        assert v["instance"].shape == (256, 256) and (v["instance"] > 0).any()
