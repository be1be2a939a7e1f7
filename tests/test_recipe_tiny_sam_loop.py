"""The tiny-SAM training loop: checkpoints, resume, time budget, weights that load_sam reads."""
import pytest
import torch

from gsam_lab import sam
from gsam_lab.recipes.tiny_sam import TrainConfig, train_tiny_sam
from gsam_lab.training import ResumeMismatch


@pytest.mark.slow
def test_loop_checkpoints_resumes_and_stops_on_budget(tmp_path):
    cfg = TrainConfig(steps=2, images_per_step=1, targets_per_image=2, pool_size=1, warmup=1, ckpt_every=1,
                      log_every=1, view_mix=(0.0, 1.0, 0.0, 0.0))          # whole 128x256 ERPs: the cheapest renders
    logs = []
    out = tmp_path / "tiny.pt"
    train_tiny_sam(cfg, out, tmp_path / "work", device="cpu", progress=False, log=logs.append)
    ck = torch.load(tmp_path / "work" / "last.pt", weights_only=True)
    assert (tmp_path / "work" / "weights.pt").exists()                 # the current weights beside the checkpoint
    assert ck["step"] == 2 and any(line.startswith("train tiny SAM step 2/2") for line in logs)
    model = sam.load_sam(str(out), device="cpu")                       # the written weights load as a bare path
    assert sum(p.numel() for p in model.parameters()) > 1e6

    logs.clear()
    more = TrainConfig(**{**cfg.__dict__, "max_minutes": 1e-9})     # the same job: nothing left to do
    with pytest.raises(FileExistsError, match="overwrite"):            # the first run's weights are never replaced
        train_tiny_sam(more, out, tmp_path / "work", device="cpu", progress=False, log=logs.append)
    train_tiny_sam(more, out, tmp_path / "work", device="cpu", progress=False, log=logs.append, overwrite=True)
    assert any("resumed" in line and "step 2" in line for line in logs)
    assert torch.load(tmp_path / "work" / "last.pt", weights_only=True)["step"] == 2


@pytest.mark.slow
def test_resume_refuses_another_job_and_budget_stops_cleanly(tmp_path):
    cfg = TrainConfig(steps=3, images_per_step=1, targets_per_image=2, pool_size=1, warmup=1, log_every=1,
                      view_mix=(0.0, 1.0, 0.0, 0.0), max_minutes=1e-9)       # stops after its first step
    logs = []
    train_tiny_sam(cfg, tmp_path / "a.pt", tmp_path / "work", device="cpu", progress=False, log=logs.append)
    assert any("max_minutes" in line for line in logs)
    assert torch.load(tmp_path / "work" / "last.pt", weights_only=True)["step"] == 1
    other = TrainConfig(**{**cfg.__dict__, "lr": 1e-5})                 # another job in the same folder
    with pytest.raises(ResumeMismatch, match=r"different config: config\.lr: checkpoint 0\.0005 vs now 1e-05\)"):
        train_tiny_sam(other, tmp_path / "b.pt", tmp_path / "work", device="cpu", progress=False, log=logs.append)
    assert not (tmp_path / "b.pt").exists()
    train_tiny_sam(other, tmp_path / "b.pt", tmp_path / "work", device="cpu", progress=False, log=logs.append,
                   resume=False)                                        # starting over is explicit
    assert (tmp_path / "b.pt").exists()


@pytest.mark.slow
def test_loop_can_start_from_shipped_style_weights(tmp_path):
    src = tmp_path / "start.pt"
    from gsam_lab.sam.loading import save_tiny_checkpoint
    start = sam.build_tiny_sam(seed=5)
    save_tiny_checkpoint(start, src)
    cfg = TrainConfig(steps=1, images_per_step=1, targets_per_image=1, pool_size=1, warmup=1, log_every=1,
                      view_mix=(0.0, 1.0, 0.0, 0.0), lr=1e-12)
    logs = []
    train_tiny_sam(cfg, tmp_path / "out.pt", tmp_path / "work", device="cpu", progress=False, log=logs.append, init=src)
    assert any("initialised from" in line for line in logs)
    trained = sam.load_sam(str(tmp_path / "out.pt"), device="cpu")
    w0 = start.mask_decoder.iou_prediction_head.layers[0].weight
    w1 = trained.mask_decoder.iou_prediction_head.layers[0].weight
    assert torch.allclose(w0.half().float(), w1, atol=1e-3)     # a near-zero step keeps the initial weights


@pytest.mark.slow
def test_frozen_encoder_stays_put_while_the_decoder_learns(tmp_path):
    from gsam_lab.sam.loading import save_tiny_checkpoint
    src = tmp_path / "start.pt"
    save_tiny_checkpoint(sam.build_tiny_sam(seed=5), src)
    cfg = TrainConfig(steps=1, images_per_step=1, targets_per_image=2, pool_size=1, warmup=1, log_every=1,
                      view_mix=(0.0, 1.0, 0.0, 0.0), lr=1e-3, encoder_lr_scale=0.0, aux_weight=0.0)
    train_tiny_sam(cfg, tmp_path / "out.pt", tmp_path / "work", device="cpu", progress=False, log=lambda s: None,
                   init=src)
    before, after = sam.load_sam(str(src), device="cpu"), sam.load_sam(str(tmp_path / "out.pt"), device="cpu")
    enc = [torch.equal(a, b) for a, b in zip(before.image_encoder.parameters(), after.image_encoder.parameters())]
    dec = [torch.equal(a, b) for a, b in zip(before.mask_decoder.parameters(), after.mask_decoder.parameters())]
    assert all(enc) and not all(dec)
    stats = [torch.equal(a, b) for a, b in zip(before.image_encoder.buffers(), after.image_encoder.buffers())]
    assert stats and all(stats)                    # a frozen encoder's BatchNorm statistics do not drift either
