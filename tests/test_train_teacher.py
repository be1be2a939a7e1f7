"""data_scripts/train_teacher.py on the training scaffold: resume of the same job only, --no-resume,
the per-run budget, NaN stop (tiny in-memory data, no rendering)."""
import math
from pathlib import Path

import pytest
import torch
from datascripts import load_script

from gsam_lab.training import ResumeMismatch
from gsam_lab.utils import seed_everything


@pytest.fixture(scope="module")
def script():
    return load_script("train_teacher")


def _data(nan=False):
    g = torch.Generator().manual_seed(0)
    images = torch.rand(4, 3, 32, 64, generator=g)
    if nan:
        images[:] = math.nan
    return images, torch.randint(0, 9, (4, 32, 64), generator=g)


def _run(script, tmp_path, *extra, nan=False, logs=None):
    """train() as main() calls it: seeded, a fresh tiny-synth SegFormer."""
    args = script.parse(["--steps", "3", "--batch", "2", "--warmup", "1", "--n-train", "4", "--hw", "32", "64",
                         "--ckpt", str(tmp_path / "ckpt.pt"), "--ckpt-every", "50", "--log-every", "1",
                         "--max-minutes", "0", "--no-progress", *extra])
    gen = seed_everything(args.seed)
    teacher = script.build_teacher()
    log = logs.append if logs is not None else (lambda s: None)
    run = script.train(args, teacher, lambda: _data(nan), gen, log=log)
    return run, teacher


def _weights(teacher):
    return torch.cat([v.flatten().float() for v in teacher.segformer.state_dict().values()])


def test_budget_stops_with_a_checkpoint_and_a_rerun_continues_as_if_uninterrupted(script, tmp_path):
    logs = []
    run, _ = _run(script, tmp_path, "--max-minutes", "1e-9", logs=logs)
    assert run["steps"] == 1 and not run["finished"] and any("max_minutes" in line for line in logs)
    assert torch.load(tmp_path / "ckpt.pt", weights_only=True)["step"] == 1
    logs.clear()
    run, resumed = _run(script, tmp_path, logs=logs)                    # the budget may change on resume
    assert any("resumed" in line and "step 1" in line for line in logs)
    assert run["steps"] == 3 and run["finished"] and len(run["history"]) == 3
    _, clean = _run(script, tmp_path / "clean")
    assert torch.equal(_weights(clean), _weights(resumed))


def test_another_job_is_refused_and_no_resume_starts_over(script, tmp_path):
    _run(script, tmp_path, "--max-minutes", "1e-9")
    saved = (tmp_path / "ckpt.pt").read_bytes()
    with pytest.raises(ResumeMismatch, match=r"config\.lr: checkpoint 0\.0006 vs now 0\.001"):
        _run(script, tmp_path, "--lr", "1e-3")
    with pytest.raises(ResumeMismatch, match=r"data\.n: checkpoint 4 vs now 8"):
        _run(script, tmp_path, "--n-train", "8")
    assert (tmp_path / "ckpt.pt").read_bytes() == saved
    logs = []
    run, _ = _run(script, tmp_path, "--lr", "1e-3", "--no-resume", logs=logs)
    assert not any("resumed" in line for line in logs) and any("starting over" in line for line in logs)
    assert run["steps"] == 3 and len(run["history"]) == 3


def test_nan_stops_and_keeps_the_last_checkpoint(script, tmp_path):
    _run(script, tmp_path, "--max-minutes", "1e-9")
    saved = (tmp_path / "ckpt.pt").read_bytes()
    with pytest.raises(FloatingPointError, match=r"loss is nan at step 1.*lower --lr"):
        _run(script, tmp_path, nan=True)
    assert (tmp_path / "ckpt.pt").read_bytes() == saved


def test_the_command_line_keeps_its_options(script):
    args = script.parse([])
    assert (args.n_train, tuple(args.hw), args.steps, args.batch, args.lr, args.warmup) == (480, (128, 256), 1500, 8,
                                                                                             6e-4, 60)
    assert args.max_minutes == 22.0 and args.ckpt_every == 100 and not args.no_resume


def test_the_default_output_is_outside_the_package_and_is_never_replaced_silently(script, tmp_path, monkeypatch):
    from gsam_lab.bundled import ASSETS_DIR

    assert ASSETS_DIR.resolve() not in Path(script.parse([]).out).resolve().parents
    out = tmp_path / "ta.pt"
    out.write_bytes(b"an earlier TA")
    monkeypatch.setattr(script, "train", lambda *a, **k: pytest.fail("trained before refusing --out"))
    with pytest.raises(SystemExit, match="ta.pt exists; pass --overwrite"):
        script.main(["--out", str(out)])
    assert out.read_bytes() == b"an earlier TA"


def test_a_run_stopped_by_its_budget_writes_no_weights(script, tmp_path, monkeypatch, capsys):
    out = tmp_path / "ta.pt"
    out.write_bytes(b"an earlier TA")
    monkeypatch.setattr(script, "build_teacher", lambda: None)
    monkeypatch.setattr(script, "train", lambda *a, **k: {"steps": 1, "finished": False, "history": [1.0]})
    monkeypatch.setattr(script, "evaluate", lambda *a, **k: pytest.fail("a half-trained TA was evaluated"))
    script.main(["--out", str(out), "--overwrite", "--report", str(tmp_path / "report.json")])
    assert out.read_bytes() == b"an earlier TA" and not (tmp_path / "report.json").exists()
    assert "run the same command again to continue" in capsys.readouterr().out


def test_init_starts_from_saved_weights(script, tmp_path):
    """--init: the saved TA's weights (fp16 in the file), in the fresh architecture."""
    from gsam_lab.goodsam.teacher import save_teacher

    seed_everything(1)
    saved = script.build_teacher()
    save_teacher(saved, tmp_path / "ta.pt")
    seed_everything(2)
    fresh = script.initial_teacher(script.parse([]))
    started = script.initial_teacher(script.parse(["--init", str(tmp_path / "ta.pt")]))
    assert not torch.equal(_weights(fresh), _weights(saved))
    assert torch.equal(_weights(started), _weights(saved).half().float())


def test_sqrt_class_weights_favour_rare_classes(script):
    labels = torch.zeros(1, 10, 10, dtype=torch.long)
    labels[0, :, :1] = 1                      # class 1: 10 % of the pixels; class 2: 1 pixel; class 3 absent
    labels[0, 0, 1] = 2
    labels[0, 9, 9] = 255
    w = script.class_weights(labels, 4, "sqrt")
    assert w[3] == 0 and w[0] < w[1] < w[2] and w.min() >= 0 and w.max() <= 5
    assert script.class_weights(labels, 4, "none") is None


def test_eval_every_logs_the_val_curve_and_keeps_the_best_weights(script, tmp_path, monkeypatch, capsys):
    scores = iter([0.3, 0.5, 0.4])
    monkeypatch.setattr("gsam_lab.goodsam.evaluate.evaluate_miou",
                        lambda *a, **k: {"miou": next(scores), "per_class": [0.0] * 9})
    monkeypatch.setattr("gsam_lab.data.SyntheticPinholes", lambda *a, **k: [])
    best = tmp_path / "best.pt"
    run, _ = _run(script, tmp_path, "--eval-every", "1", "--best-out", str(best))
    out = capsys.readouterr().out
    assert [line.split(":")[0] for line in out.splitlines() if line.startswith("val")] == \
        ["val step 1", "val step 2", "val step 3"]
    assert torch.load(best, weights_only=True)["meta"]["step"] == 2          # the best, not the last
