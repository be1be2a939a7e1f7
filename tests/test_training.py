"""The training scaffold: schedule, checkpoints that verify the job, the loop's budget and NaN stop."""
import math
import os

import numpy as np
import pytest
import torch

from gsam_lab.training import (
    Checkpoint,
    ResumeMismatch,
    UnreadableCheckpoint,
    content_hash,
    describe,
    describe_dataset,
    fingerprint,
    run_steps,
    spaced_indices,
    train,
    warmup_cosine,
    warmup_poly,
)


def test_warmup_then_cosine_to_the_floor():
    lrs = [warmup_cosine(i, 100, 1.0, 10) for i in range(100)]
    assert lrs[0] == pytest.approx(0.1) and lrs[9] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(lrs[9:], lrs[10:]))            # decays monotonically after warm-up
    assert lrs[-1] == pytest.approx(0.05, abs=1e-3)
    assert warmup_cosine(500, 100, 1.0, 10) == pytest.approx(0.05)   # past the end: the floor


def test_fingerprint_changes_with_config_data_and_weights():
    m = torch.nn.Linear(2, 2)
    a = fingerprint(config={"lr": 1e-3}, data={"split": "train"}, model=m)
    assert a == fingerprint(config={"lr": 1e-3}, data={"split": "train"}, model=m)
    assert a["config"] != fingerprint(config={"lr": 2e-3})["config"]
    with torch.no_grad():
        m.weight.add_(1)
    assert a["model"] != fingerprint(model=m)["model"]


def test_checkpoint_round_trip_and_refusal_of_another_job(tmp_path):
    ck = Checkpoint(tmp_path / "last.pt", {"config": "aaa", "data": "bbb"})
    assert ck.load() is None
    ck.save({"step": 3, "w": torch.ones(2)})
    state = ck.load()
    assert state["step"] == 3 and torch.equal(state["w"], torch.ones(2))
    with pytest.raises(ResumeMismatch, match="data"):
        Checkpoint(tmp_path / "last.pt", {"config": "aaa", "data": "ccc"}).load()


class _Payload:
    def __reduce__(self):
        return (os.system, (f"touch {os.environ['GSAM_TEST_MARKER']}",))


def test_a_checkpoint_with_a_pickled_callable_is_refused_without_running_it(tmp_path, monkeypatch):
    marker = tmp_path / "ran"
    monkeypatch.setenv("GSAM_TEST_MARKER", str(marker))
    torch.save({"step": 1, "evil": _Payload()}, tmp_path / "last.pt")
    with pytest.raises(RuntimeError, match="cannot read the checkpoint"):
        Checkpoint(tmp_path / "last.pt", {}).load()
    assert not marker.exists()


def test_run_steps_logs_saves_and_stops_on_budget():
    saved, logs = [], []
    res = run_steps(lambda i: {"loss": 1.0 / (i + 1)}, 0, 10, save=saved.append, ckpt_every=4, log_every=5,
                    progress=False, log=logs.append)
    assert res.finished and res.step == 10 and saved == [4, 8, 10]
    assert len(res.history) == 2 and res.history[0]["loss"] == pytest.approx(sum(1 / (i + 1) for i in range(5)) / 5)
    saved.clear()
    res = run_steps(lambda i: {"loss": 1.0}, 0, 10, save=saved.append, max_minutes=1e-9, progress=False,
                    log=logs.append)
    assert not res.finished and res.step == 1 and saved == [1]
    assert "max_minutes" in logs[-1]


def test_run_steps_sets_the_learning_rate_and_stops_on_nan():
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=0.0)
    seen = []
    run_steps(lambda i: seen.append(opt.param_groups[0]["lr"]) or {"loss": 0.0}, 0, 3, optimizer=opt,
              lr=lambda i: 0.1 * (i + 1), progress=False, log=lambda s: None)
    assert seen == pytest.approx([0.1, 0.2, 0.3])
    saved = []
    with pytest.raises(FloatingPointError, match="step 2"):
        run_steps(lambda i: {"loss": math.nan if i == 2 else 1.0}, 0, 5, save=saved.append, ckpt_every=1,
                  progress=False, log=lambda s: None)
    assert saved == [1, 2]                                            # the NaN step wrote nothing


def test_warmup_then_polynomial_decay_to_zero():
    lrs = [warmup_poly(i, 50, 2.0, 5) for i in range(50)]
    assert lrs[0] == pytest.approx(0.4) and lrs[4] == pytest.approx(2.0) and lrs[5] == pytest.approx(2.0)
    assert all(a >= b for a, b in zip(lrs[4:], lrs[5:]))
    assert lrs[-1] == pytest.approx(2.0 * (1 / 45) ** 0.9)
    assert warmup_poly(80, 50, 2.0, 5) == 0.0                          # past the end


def test_a_refused_resume_names_the_fields_that_differ(tmp_path):
    m = torch.nn.Linear(2, 2)
    job = describe(config={"lr": 1e-3, "mix": (1, 2)}, data={"n": 4}, model={"net": m})
    assert job["config"]["mix"] == [1, 2] and len(job["model"]["net"]) == 16
    Checkpoint(tmp_path / "last.pt", fingerprint(**job), details=job).save({"step": 1})
    assert Checkpoint(tmp_path / "last.pt", fingerprint(**job), details=job).load()["step"] == 1
    other = describe(config={"lr": 1e-2, "mix": (1, 2)}, data={"n": 5}, model={"net": m})
    with pytest.raises(ResumeMismatch, match=r"different config, data: config\.lr: checkpoint 0\.001 vs now 0\.01; "
                                             r"data\.n: checkpoint 4 vs now 5\)"):
        Checkpoint(tmp_path / "last.pt", fingerprint(**other), details=other).load()
    Checkpoint(tmp_path / "bare.pt", dict(fingerprint(**job))).save({"step": 1})   # no details: only the parts
    with pytest.raises(ResumeMismatch, match=r"different config, data\);"):
        Checkpoint(tmp_path / "bare.pt", fingerprint(**other), details=other).load()


def test_a_fingerprint_alone_is_enough_to_name_the_differing_field(tmp_path):
    """A recipe that hashes its raw parts (a config dataclass, a module) and passes no details."""
    from dataclasses import dataclass

    @dataclass
    class Cfg:
        lr: float = 1e-3
        views: tuple = (0.5, 0.5)

    m = torch.nn.Linear(2, 2)
    fp = fingerprint(config=Cfg(), data={"split": "train"}, model=m)
    assert dict(fp) == {"config": fingerprint(config=Cfg())["config"], "data": fingerprint(data={"split": "train"})[
        "data"], "model": fingerprint(model=m)["model"]} and fp["model"] == fp.details["model"]
    Checkpoint(tmp_path / "last.pt", fp).save({"step": 1})
    assert Checkpoint(tmp_path / "last.pt", fingerprint(config=Cfg(), data={"split": "train"}, model=m)).load()
    with pytest.raises(ResumeMismatch, match=r"different config: config\.views: checkpoint \[0\.5, 0\.5\] vs now "
                                             r"\[0\.25, 0\.75\]\)"):
        Checkpoint(tmp_path / "last.pt", fingerprint(config=Cfg(views=(0.25, 0.75)), data={"split": "train"},
                                                     model=m)).load()


def test_content_hash_and_dataset_description():
    a = {"image": torch.zeros(2, 3), "label": np.arange(4), "meta": {"i": 1}}
    assert content_hash(a) == content_hash({"meta": {"i": 1}, "label": np.arange(4), "image": torch.zeros(2, 3)})
    assert content_hash(a) != content_hash({**a, "image": torch.zeros(3, 2)})          # the shape counts
    assert content_hash(a) != content_hash({**a, "label": np.arange(4).astype(np.int32)})  # and the dtype
    assert spaced_indices(3) == [0, 1, 2] and spaced_indices(100, 4) == [0, 33, 66, 99]

    class Renders(list):
        split, seed = "train", 3
    assert describe_dataset(Renders()) == "Renders split=train seed=3" and describe_dataset([]) == "list"


def test_nan_message_names_the_parts_and_the_hint_and_ranks_agree_on_the_budget():
    with pytest.raises(FloatingPointError, match=r"loss is nan at step 0 \(ce=1, kd=nan\).*Try a lower lr"):
        run_steps(lambda i: {"loss": math.nan, "ce": 1.0, "kd": math.nan}, 0, 2, progress=False, log=lambda s: None,
                  nan_hint="Try a lower lr")
    asked, saved = [], []
    res = run_steps(lambda i: {"loss": 1.0}, 0, 5, save=saved.append, max_minutes=1e3, progress=False,
                    log=lambda s: None, sync_stop=lambda flag: asked.append(flag) or len(asked) == 3)
    assert asked == [False, False, False] and not res.finished and res.step == 3 and saved == [3]


def test_an_unreadable_checkpoint_says_why_without_torchs_unsafe_advice(tmp_path, monkeypatch):
    monkeypatch.setenv("GSAM_TEST_MARKER", str(tmp_path / "ran"))
    torch.save({"step": 1, "evil": _Payload()}, tmp_path / "last.pt")
    with pytest.raises(ValueError, match=r"refusing to load it \(nothing in it was run\)") as info:
        Checkpoint(tmp_path / "last.pt", {}).load()
    assert isinstance(info.value, UnreadableCheckpoint) and "weights_only=False" not in str(info.value)
    (tmp_path / "torn.pt").write_bytes(b"PK\x03\x04 torn")
    with pytest.raises(UnreadableCheckpoint, match=r"torn\.pt is not a readable checkpoint"):
        Checkpoint(tmp_path / "torn.pt", {}).load()


class _Counter:
    """The smallest Run: one weight walking towards 1 with a random draw a step (a stream to resume)."""

    def __init__(self):
        self.w = torch.nn.Parameter(torch.zeros(1))
        self.optimizer = torch.optim.SGD([self.w], lr=0.0)
        self.gen = torch.Generator().manual_seed(0)
        self.began = []

    def load_state(self, state):
        self.w.data.copy_(state["w"])
        self.gen.set_state(state["gen"])

    def begin(self, start):
        self.began.append(start)

    def step(self, i):
        self.optimizer.zero_grad()
        loss = ((self.w - 1) ** 2).sum() + 0.1 * torch.rand(1, generator=self.gen).sum()
        loss.backward()
        self.optimizer.step()
        return {"loss": loss.item()}

    def state(self):
        return {"w": self.w.detach().clone(), "gen": self.gen.get_state()}


def test_train_resumes_a_run_as_if_it_was_never_stopped(tmp_path):
    quiet = dict(progress=False, log=lambda s: None)
    whole = _Counter()
    done = train(whole, None, 6, lambda i: 0.1, **quiet)
    assert done.finished and done.step == 6 and done.resumed_from is None and whole.began == [0]
    ck = Checkpoint(tmp_path / "last.pt", fingerprint(config={"lr": 0.1}))
    first = train(_Counter(), ck, 6, lambda i: 0.1, stop_at=4, ckpt_every=50, **quiet)
    assert first.step == 4 and ck.load()["step"] == 4 and 0 < ck.load()["elapsed"] <= first.elapsed
    logs, second = [], _Counter()
    res = train(second, ck, 6, lambda i: 0.1, log=logs.append, progress=False)
    assert res.resumed_from == 4 and res.step == 6 and second.began == [4] and res.elapsed >= first.elapsed
    assert logs[0].startswith(f"resumed from {ck.path} at step 4") and torch.equal(second.w, whole.w)


def test_a_checkpoint_of_a_diverged_run_is_refused(tmp_path):
    ck = Checkpoint(tmp_path / "last.pt", fingerprint(config={"lr": 0.1}))
    ck.save({"step": 2, "model": {"layer.weight": torch.tensor([1.0, math.nan])}, "rng": torch.get_rng_state()})
    with pytest.raises(UnreadableCheckpoint, match=r"last\.pt holds non-finite weights .* 'model\.layer\.weight'"):
        ck.load()
