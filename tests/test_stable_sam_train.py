"""RTS training: SAM stays frozen, checkpoints/resume/overwrite, NaN stop, save/load, bad input."""
import copy

import numpy as np
import pytest
import torch

from gsam_lab import sam, stable_sam
from gsam_lab.stable_sam import PluginCheckpointError, RTSConfig, StableSam
from gsam_lab.training import ResumeMismatch

FAST = dict(steps=2, images_per_step=2, prompts_per_image=2, warmup=1, log_every=1, ckpt_every=1, min_area=16)


@pytest.fixture(scope="module")
def model():
    torch.set_num_threads(1)
    return sam.build_tiny_sam(0)


def _dataset(n=2, seed=0):
    """Small images with two rectangle objects each (no rendering)."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        img = np.full((48, 64, 3), 80, np.uint8)
        inst = np.zeros((48, 64), np.int64)
        for o in (1, 2):
            y, x = rng.integers(0, 24), rng.integers(0, 36)
            inst[y:y + 20, x:x + 24] = o
            img[inst == o] = rng.integers(0, 256, 3)
        out.append({"image": np.clip(img + rng.integers(0, 20, img.shape), 0, 255).astype(np.uint8), "instance": inst})
    return out


@pytest.fixture(scope="module")
def trained(model, tmp_path_factory):
    """Plugins trained 2 steps; returns (stable, sam state before, result, out path, logs)."""
    before = {k: v.clone() for k, v in model.state_dict().items()}
    stable = StableSam(model)
    out = tmp_path_factory.mktemp("rts") / "plugins.pt"
    logs = []
    res = stable_sam.train_rts(stable, _dataset(), RTSConfig(**FAST, lr=5e-2), out=out, device="cpu",
                               progress=False, log=logs.append)
    return stable, before, res, out, logs


def test_training_moves_the_plugins_and_never_sams_weights(model, trained):
    stable, before, res, out, logs = trained
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert res["steps"] == 2 and res["trainable"] == 78_132 and np.isfinite(res["history"][-1]["loss"])
    assert stable.dsp.offset.weight.abs().sum() > 0 and stable.drp.mlp[-1].weight.abs().sum() > 0
    assert any(line.startswith("RTS step 2/2") for line in logs)
    assert out.exists() and out.with_name(out.name + ".ckpt").exists()


def test_save_load_round_trip(model, trained, tmp_path):
    stable, _, _, out, _ = trained
    loaded = stable_sam.load(out, model=model)
    assert loaded.config == stable.config and loaded.meta["steps"] == 2
    emb = torch.randn(1, 256, 32, 32)
    sparse, dense = model.prompt_encoder(points=None, boxes=torch.tensor([[10., 10., 200., 150.]]), masks=None)
    with torch.no_grad():
        a, b = stable.decode(emb, sparse, dense), loaded.decode(emb, sparse, dense)
        c = model.mask_decoder(emb, model.prompt_encoder.get_dense_pe(), sparse, dense, False)
    assert torch.equal(a[0], b[0]) and not torch.equal(a[0], c[0])
    hard = StableSam(model, routing="hard", deform_attn=("layer2", "final"))
    stable_sam.save(hard, tmp_path / "hard.pt")
    assert stable_sam.load(tmp_path / "hard.pt", model=model).config == hard.config


def test_loading_for_another_model_or_width_is_a_clear_error(trained, tmp_path):
    _, _, _, out, _ = trained
    with pytest.raises(PluginCheckpointError, match="trained on another SAM"):
        stable_sam.load(out, model=sam.build_tiny_sam(1))
    assert stable_sam.load(out, model=sam.build_tiny_sam(1), strict=False).dsp is not None
    obj = torch.load(out, weights_only=True)
    obj["config"]["transformer_dim"] = 128
    torch.save(obj, tmp_path / "w128.pt")
    with pytest.raises(PluginCheckpointError, match="transformer_dim 128.*transformer_dim 256"):
        stable_sam.load(tmp_path / "w128.pt", model=sam.build_tiny_sam(0))
    (tmp_path / "junk.pt").write_bytes(b"not a torch file")
    with pytest.raises(PluginCheckpointError, match="not a readable torch file"):
        stable_sam.load(tmp_path / "junk.pt", model=sam.build_tiny_sam(0))
    with pytest.raises(PluginCheckpointError, match="no Stable-SAM plugin file"):
        stable_sam.load(tmp_path / "missing.pt", model=sam.build_tiny_sam(0))


def test_existing_output_is_not_overwritten_and_checkpoints_resume(model, trained, tmp_path):
    _, _, _, out, _ = trained
    stamp = out.read_bytes()
    with pytest.raises(FileExistsError, match="overwrite=True"):
        stable_sam.train_rts(StableSam(model), _dataset(), RTSConfig(**FAST), out=out, device="cpu", progress=False)
    assert out.read_bytes() == stamp
    ck = tmp_path / "run.ckpt"
    logs = []
    stable_sam.train_rts(StableSam(model), _dataset(), RTSConfig(**FAST), checkpoint=ck, device="cpu",
                         progress=False, log=logs.append)
    with pytest.raises(FileExistsError, match="resume=True"):
        stable_sam.train_rts(StableSam(model), _dataset(), RTSConfig(**FAST), checkpoint=ck, resume=False,
                             device="cpu", progress=False)
    logs.clear()
    res = stable_sam.train_rts(StableSam(model), _dataset(), RTSConfig(**{**FAST, "steps": 3}), checkpoint=ck,
                               device="cpu", progress=False, log=logs.append)
    assert any("resumed" in line and "step 2" in line for line in logs) and res["steps"] == 3
    assert torch.load(ck, weights_only=True)["step"] == 3


def test_nan_stops_training_with_a_clear_error(model):
    stable = StableSam(model)
    with torch.no_grad():
        stable.dsp.proj.weight.fill_(float("nan"))
    with pytest.raises(FloatingPointError, match="loss is nan at step 0"):
        stable_sam.train_rts(stable, _dataset(), RTSConfig(**FAST), device="cpu", progress=False)


def test_bad_input_is_a_clear_error(model):
    empty = [{"image": np.zeros((32, 32, 3), np.uint8), "instance": np.zeros((32, 32), np.int64)}]
    with pytest.raises(ValueError, match="none of the 1 dataset images has an object"):
        stable_sam.train_rts(StableSam(model), empty, RTSConfig(**FAST), device="cpu", progress=False)
    with pytest.raises(ValueError, match="sums to zero"):
        stable_sam.train_rts(StableSam(model), _dataset(), RTSConfig(**FAST, prompt_mix=(0, 0, 0)), device="cpu")
    with pytest.raises(ValueError, match="prompt_mix must be 3 weights"):
        RTSConfig(prompt_mix=(1, -1, 0)).validate()
    with pytest.raises(ValueError, match="nothing to train"):
        stable_sam.train_rts(StableSam(model, dsp=False, drp=False), _dataset(), RTSConfig(**FAST), device="cpu",
                             progress=False)


def test_points_only_mix_and_the_decoder_tuning_baseline(model, tmp_path):
    ref = {k: v.clone() for k, v in model.state_dict().items()}
    base = StableSam(copy.deepcopy(model), dsp=False, drp=False)
    out = tmp_path / "decoder.pt"
    res = stable_sam.train_rts(base, _dataset(), RTSConfig(**{**FAST, "steps": 1}, trainable="decoder",
                               prompt_mix=(0, 0, 1), lr=1e-3), out=out, device="cpu", progress=False)
    assert res["trainable"] == sum(p.numel() for p in model.mask_decoder.parameters())
    assert all(torch.equal(ref[k], v) for k, v in model.state_dict().items())          # the original is untouched
    tuned = base.sam.mask_decoder.state_dict()
    assert any(not torch.equal(tuned[k], model.mask_decoder.state_dict()[k]) for k in tuned)
    loaded = stable_sam.load(out, model=model)                                          # fingerprint of the original
    assert loaded.sam is not model
    assert all(torch.equal(loaded.sam.mask_decoder.state_dict()[k], v) for k, v in tuned.items())


def test_resume_refuses_another_job_and_names_what_differs(model, tmp_path):
    ck = tmp_path / "run.ckpt"
    stable_sam.train_rts(StableSam(model), _dataset(), RTSConfig(**FAST), checkpoint=ck, device="cpu",
                         progress=False, log=lambda s: None)
    saved = ck.read_bytes()
    with pytest.raises(ResumeMismatch, match=r"different config.*config\.lr: checkpoint 0\.001 vs now 0\.01"):
        stable_sam.train_rts(StableSam(model), _dataset(), RTSConfig(**FAST, lr=1e-2), checkpoint=ck, device="cpu",
                             progress=False)
    with pytest.raises(ResumeMismatch, match=r"different data"):
        stable_sam.train_rts(StableSam(model), _dataset(seed=1), RTSConfig(**FAST), checkpoint=ck, device="cpu",
                             progress=False)
    with pytest.raises(ResumeMismatch, match=r"different model.*model\.sam_decoder"):
        stable_sam.train_rts(StableSam(sam.build_tiny_sam(1)), _dataset(), RTSConfig(**FAST), checkpoint=ck,
                             device="cpu", progress=False)
    with pytest.raises(ResumeMismatch, match=r"model\.plugins"):          # other initial plugins
        stable_sam.train_rts(StableSam(model, seed=3), _dataset(), RTSConfig(**FAST), checkpoint=ck, device="cpu",
                             progress=False)
    assert ck.read_bytes() == saved                                       # nothing was touched


def test_overwrite_starts_over_instead_of_resuming_the_finished_run(model, tmp_path):
    out = tmp_path / "plugins.pt"
    first = StableSam(model)
    stable_sam.train_rts(first, _dataset(), RTSConfig(**FAST), out=out, device="cpu", progress=False,
                         log=lambda s: None)
    logs = []
    second = StableSam(model)
    res = stable_sam.train_rts(second, _dataset(), RTSConfig(**FAST, lr=5e-2), out=out, overwrite=True, device="cpu",
                               progress=False, log=logs.append)
    assert not any("resumed" in line for line in logs) and any("starting over" in line for line in logs)
    assert [h["step"] for h in res["history"]] == [1, 2] and res["history"][-1]["lr"] == pytest.approx(5e-2)
    assert stable_sam.load(out, model=model).meta["config"]["lr"] == 5e-2
    assert not torch.equal(first.dsp.offset.weight, second.dsp.offset.weight)     # new plugins, not the old ones
    ck = torch.load(out.with_name(out.name + ".ckpt"), weights_only=True)
    assert ck["step"] == 2 and ck["config"]["lr"] == 5e-2


def test_budget_stops_with_a_checkpoint_and_a_rerun_finishes(model, tmp_path):
    out = tmp_path / "plugins.pt"
    logs = []
    res = stable_sam.train_rts(StableSam(model), _dataset(), RTSConfig(**{**FAST, "ckpt_every": 50}, max_minutes=1e-9),
                               out=out, device="cpu", progress=False, log=logs.append)
    assert res["steps"] == 1 and res["out"] is None and not out.exists()
    assert any("max_minutes" in line for line in logs)
    assert torch.load(out.with_name(out.name + ".ckpt"), weights_only=True)["step"] == 1
    logs.clear()
    res = stable_sam.train_rts(StableSam(model), _dataset(), RTSConfig(**FAST), out=out, device="cpu",
                               progress=False, log=logs.append)            # max_minutes / ckpt_every may change
    assert any("resumed" in line and "step 1" in line for line in logs)
    assert res["steps"] == 2 and res["out"] == out and [h["step"] for h in res["history"]] == [1, 2]


def test_nan_leaves_the_last_checkpoint_as_it_was(model, tmp_path):
    ck = tmp_path / "run.ckpt"
    stable = StableSam(model)
    stable_sam.train_rts(stable, _dataset(), RTSConfig(**{**FAST, "steps": 1}), checkpoint=ck, device="cpu",
                         progress=False, log=lambda s: None)
    saved = ck.read_bytes()
    broken = StableSam(model)
    with torch.no_grad():
        broken.dsp.proj.weight.fill_(float("nan"))
    with pytest.raises(FloatingPointError, match=r"loss is nan at step 0.*lower lr"):
        stable_sam.train_rts(broken, _dataset(), RTSConfig(**FAST), checkpoint=tmp_path / "nan.ckpt", device="cpu",
                             progress=False)
    assert not (tmp_path / "nan.ckpt").exists() and ck.read_bytes() == saved


def test_the_training_script_writes_outside_the_package_by_default(monkeypatch, tmp_path):
    """data_scripts/train_stable_sam.py: a run without --out never replaces the shipped plugins."""
    from pathlib import Path

    from datascripts import load_script

    from gsam_lab.bundled import ASSETS_DIR

    script = load_script("train_stable_sam")
    outs = []
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(script.sam, "load_sam", lambda *a, **k: None)
    monkeypatch.setattr(script, "training_set", lambda *a: [])
    monkeypatch.setattr(script, "build", lambda *a: None)
    monkeypatch.setattr(script.stable_sam, "StableSam", lambda *a, **k: None)
    monkeypatch.setattr(script.stable_sam, "embed_dataset", lambda *a, **k: [])
    monkeypatch.setattr(script.stable_sam, "train_rts", lambda *a, out, **k: outs.append(Path(out)) or
                        {"steps": 0, "trainable": 0, "seconds": 0.0, "out": out})
    assert script.main(["--no-progress"]) == 0
    assert len(outs) == 1 and ASSETS_DIR.resolve() not in outs[0].resolve().parents


def test_a_plugin_file_missing_a_part_names_it(tmp_path):
    from gsam_lab.bundled import ASSETS_DIR

    shipped = torch.load(ASSETS_DIR / "stable_sam_tiny_synth.pt", map_location="cpu", weights_only=True)
    for drop, said in (("config", "it has no 'config'"), ("plugins", "it has no 'plugins'")):
        path = tmp_path / f"no_{drop}.pt"
        torch.save({k: v for k, v in shipped.items() if k != drop}, path)
        with pytest.raises(PluginCheckpointError, match=f"no_{drop}.pt is not a complete Stable-SAM .*: {said}"):
            stable_sam.load(path, model=sam.build_tiny_sam(0))
    path = tmp_path / "no_dsp.pt"
    torch.save({**shipped, "config": {k: v for k, v in shipped["config"].items() if k != "dsp"}}, path)
    with pytest.raises(PluginCheckpointError, match="no_dsp.pt: its 'config' lacks dsp"):
        stable_sam.load(path, model=sam.build_tiny_sam(0))
