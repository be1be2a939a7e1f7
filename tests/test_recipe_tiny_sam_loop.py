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


def test_the_mask_input_adapter_starts_as_no_mask_and_freezes_the_rest():
    """``mask_input_adapter``: a mask fed back changes nothing until the path is trained; only the path learns."""
    from gsam_lab.recipes.interactive import mask_input_adapter

    model = sam.build_tiny_sam(seed=3).eval()
    pe = model.prompt_encoder
    box, mask = torch.tensor([[10.0, 20.0, 90.0, 120.0]]), torch.randn(1, 1, *pe.mask_input_size) * 8
    _, plain = pe(points=None, boxes=box, masks=None)
    _, fed_before = pe(points=None, boxes=box, masks=mask)
    assert not torch.allclose(plain.expand_as(fed_before), fed_before)      # an untrained path: any mask moves it
    path = mask_input_adapter(model)
    _, fed = pe(points=None, boxes=box, masks=mask)
    assert torch.equal(plain.expand_as(fed), fed)                            # exactly "no mask"
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == {f"prompt_encoder.mask_downscaling.{n}" for n, _ in path.named_parameters()}
    with torch.no_grad():
        path[-1].weight.add_(0.5)                                            # a trained path ...
    mask_input_adapter(model, reset=False)                                   # ... is kept when continuing
    assert not torch.equal(pe(points=None, boxes=box, masks=mask)[1], fed)


@pytest.mark.slow
def test_training_only_the_mask_path_keeps_every_other_weight(tmp_path):
    from gsam_lab.sam.loading import save_tiny_checkpoint
    src = tmp_path / "start.pt"
    save_tiny_checkpoint(sam.build_tiny_sam(seed=5), src)
    cfg = TrainConfig(steps=1, images_per_step=1, targets_per_image=2, pool_size=1, warmup=1, log_every=1,
                      view_mix=(0.0, 1.0, 0.0, 0.0), lr=1e-2, aux_weight=0.0, train_only="mask_input")
    train_tiny_sam(cfg, tmp_path / "out.pt", tmp_path / "work", device="cpu", progress=False, log=lambda s: None,
                   init=src)
    before, after = sam.load_sam(str(src), device="cpu"), sam.load_sam(str(tmp_path / "out.pt"), device="cpu")
    a, b = before.state_dict(), after.state_dict()
    changed = {k for k in a if not torch.equal(a[k], b[k])}
    assert changed and all(k.startswith("prompt_encoder.mask_downscaling.") for k in changed), changed


@pytest.mark.parametrize("bad, match", [(dict(train_only="decoder"), "train_only must be one of"),
                                        (dict(train_only="mask_input", aux_weight=1.0), "aux_weight=0")])
def test_train_only_is_checked_before_anything_runs(tmp_path, bad, match):
    with pytest.raises(ValueError, match=match):
        train_tiny_sam(TrainConfig(steps=1, pool_size=1, **bad), tmp_path / "o.pt", tmp_path / "w", device="cpu",
                       progress=False, log=lambda s: None)


def test_the_script_passes_tuples_and_class_weights_to_the_recipe(monkeypatch, tmp_path, capsys):
    """data_scripts/train_tiny_sam.py: every TrainConfig field is an option, tuples and class weights included."""
    from datascripts import load_script

    script = load_script("train_tiny_sam")
    seen = {}
    monkeypatch.setattr(script, "train_tiny_sam", lambda cfg, out, work, **k: seen.update(cfg=cfg) or {"seconds": 0})
    argv = ["--out", str(tmp_path / "o.pt"), "--work-dir", str(tmp_path / "w"), "--view-mix", "0.6", "0.15", "0.25",
            "0", "--class-weight", "pole=3", "--train-only", "mask_input", "--reset-mask-path", "0",
            "--first-clicks", "1", "5"]
    assert script.main(argv) == 0
    cfg = seen["cfg"]
    assert cfg.view_mix == (0.6, 0.15, 0.25, 0.0) and cfg.class_weight == (("pole", 3.0),)
    assert cfg.first_clicks == (1, 5) and all(type(v) is int for v in cfg.first_clicks)   # click counts stay ints
    assert cfg.train_only == "mask_input" and cfg.reset_mask_path == 0
    assert cfg.zoom_context == TrainConfig().zoom_context
    assert script.main(argv[:4] + ["--class-weight"]) == 0 and seen["cfg"].class_weight == ()
    with pytest.raises(SystemExit):
        script.main(["--class-weight", "lamp=2"])
    assert "CLASS=WEIGHT with CLASS one of" in capsys.readouterr().err
