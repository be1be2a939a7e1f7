"""train_mka under torchrun (2 CPU processes, gloo), the world-size check, and kill-and-resume.

The worker scripts import ``FakeTeacher`` / ``make_dataset`` from test_goodsam_mka (same folder).
"""
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

from gsam_lab import goodsam
from gsam_lab.goodsam.distill import MKAConfig

TESTS = Path(__file__).resolve().parent
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join([str(TESTS.parent), str(TESTS)])}

DDP_WORKER = """
import os, sys, torch
from test_goodsam_mka import FakeTeacher, make_dataset, tiny_student
from gsam_lab import goodsam
torch.set_num_threads(1)
out = sys.argv[1]
base = make_dataset(n=8)
seen = []
class Recording(torch.utils.data.Dataset):
    def __len__(self): return len(base)
    def __getitem__(self, i):
        seen.append(int(i)); return base[i]
res = goodsam.train_mka(tiny_student(), FakeTeacher(), Recording(), steps=3, batch_size=4, warmup=1, ckpt_every=3,
                        log_every=1, lr=3e-3, device="cpu", progress=False, work_dir=os.path.join(out, "work"))
rank = int(os.environ["RANK"])
# before training: item 0 is checked, then every item is read once for the job's data fingerprint
torch.save({"state": res.student.state_dict(), "adapters": res.loss.state_dict(), "seen": seen[1 + len(base):],
            "history": res.history, "world": int(os.environ["WORLD_SIZE"])}, os.path.join(out, f"rank{rank}.pt"))
"""


@pytest.mark.slow
def test_two_gloo_processes_train_the_same_model(tmp_path):
    script = tmp_path / "worker.py"
    script.write_text(textwrap.dedent(DDP_WORKER))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           str(script), str(tmp_path)]
    p = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=240)
    assert p.returncode == 0, p.stderr[-3000:]
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    assert r0["world"] == r1["world"] == 2
    for k, v in r0["state"].items():                              # DDP kept both replicas identical ...
        assert torch.equal(v, r1["state"][k]), k
    for k, v in r0["adapters"].items():
        assert torch.equal(v, r1["adapters"][k]), k
    init = goodsam.Student("tiny", 9, dropout=False, seed=0).state_dict()
    changed = [k for k, v in init.items() if v.is_floating_point() and not torch.equal(v, r0["state"][k])]
    assert len(changed) > len(init) // 2                           # ... and they did train
    assert len(r0["seen"]) == len(r1["seen"]) == 6                  # 3 steps x 2 items per rank
    assert r0["seen"] != r1["seen"]                                 # each rank read its own half of the batch
    assert sorted(r0["seen"][:2] + r1["seen"][:2]) == sorted(set(r0["seen"][:2] + r1["seen"][:2]))
    assert r0["history"] == r1["history"]                           # logged losses are the all-reduced means
    ck = torch.load(tmp_path / "work" / "last.pt", weights_only=True)
    assert ck["step"] == 3 and ck["world_size"] == 2


def test_world_size_that_does_not_divide_the_batch_is_refused(monkeypatch):
    from test_goodsam_mka import FakeTeacher, make_dataset, tiny_student
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(ValueError, match=r"batch_size 3 .* not divisible by the torchrun world size 2"):
        goodsam.train_mka(tiny_student(), FakeTeacher(), make_dataset(n=2), MKAConfig(steps=2, batch_size=3),
                          device="cpu", progress=False)


KILL_WORKER = """
import sys, time, torch
from test_goodsam_mka import FakeTeacher, make_dataset, tiny_student
from gsam_lab import goodsam
torch.set_num_threads(1)
work, progress_file = sys.argv[1], sys.argv[2]
def slow_eval(student, step):
    with open(progress_file, "a") as f:
        f.write(f"{step}\\n")
    time.sleep(0.25)
    return {}
goodsam.train_mka(tiny_student(), FakeTeacher(), make_dataset(n=5), steps=40, batch_size=2, warmup=1, ckpt_every=3,
                  log_every=1, eval_every=1, lr=3e-3, device="cpu", progress=False, work_dir=work, eval_fn=slow_eval)
"""


@pytest.mark.slow
def test_killed_run_resumes_from_its_last_checkpoint(tmp_path):
    torch.set_num_threads(1)
    script, work, prog = tmp_path / "kill.py", tmp_path / "work", tmp_path / "progress.txt"
    script.write_text(textwrap.dedent(KILL_WORKER))
    proc = subprocess.Popen([sys.executable, str(script), str(work), str(prog)], env=ENV,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    ckpt = work / "last.pt"
    deadline = time.time() + 120
    try:
        while time.time() < deadline:
            if proc.poll() is not None:
                pytest.fail(f"worker ended early: {proc.stderr.read().decode()[-2000:]}")
            if ckpt.exists() and torch.load(ckpt, weights_only=True)["step"] >= 6:
                break
            time.sleep(0.2)
        else:
            pytest.fail("no checkpoint at step >= 6 within 120 s")
        time.sleep(0.4)                                               # let it get past the checkpoint
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    done = [int(s) for s in prog.read_text().split()]
    saved = torch.load(ckpt, weights_only=True)["step"]
    assert saved % 3 == 0 and saved >= 6 and saved < 40
    assert max(done) - saved < 3 + 1                                  # lost at most the steps since that checkpoint
    from test_goodsam_mka import FakeTeacher, _flat, make_dataset, tiny_student
    ds = make_dataset(n=5)
    cfg = MKAConfig(steps=40, batch_size=2, warmup=1, ckpt_every=3, log_every=1, lr=3e-3, eval_every=1)
    logs = []
    resumed = goodsam.train_mka(tiny_student(), FakeTeacher(), ds, cfg, device="cpu", progress=False, work_dir=work,
                                log=logs.append, stop_at=saved + 2)
    assert resumed.resumed_from == saved and resumed.step == saved + 2
    assert any("resumed from" in line and f"step {saved}" in line for line in logs)
    assert [h["step"] for h in resumed.history] == list(range(1, saved + 3))
    clean = goodsam.train_mka(tiny_student(), FakeTeacher(), ds, cfg, device="cpu", progress=False,
                              log=lambda s: None, stop_at=saved + 2)
    assert torch.equal(_flat(clean.student), _flat(resumed.student))   # nothing but the lost steps was redone
    assert torch.equal(_flat(clean.loss), _flat(resumed.loss))


BUDGET_WORKER = """
import os, sys, torch
from test_goodsam_mka import FakeTeacher, make_dataset, tiny_student
from gsam_lab import goodsam
torch.set_num_threads(1)
out, minutes = sys.argv[1], float(sys.argv[2])
res = goodsam.train_mka(tiny_student(), FakeTeacher(), make_dataset(n=8), steps=3, batch_size=4, warmup=1,
                        ckpt_every=50, log_every=1, lr=3e-3, device="cpu", progress=False, max_minutes=minutes,
                        work_dir=os.path.join(out, "work"), log=lambda s: print(s, flush=True))
rank = int(os.environ["RANK"])
torch.save({"step": res.step, "resumed_from": res.resumed_from, "state": res.student.state_dict()},
           os.path.join(out, f"rank{rank}_{minutes}.pt"))
"""


@pytest.mark.slow
def test_two_gloo_processes_stop_together_on_the_budget_and_resume(tmp_path):
    script = tmp_path / "budget.py"
    script.write_text(textwrap.dedent(BUDGET_WORKER))
    for minutes in ("1e-09", "0.0"):
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", str(script),
               str(tmp_path), minutes]
        p = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=240)
        assert p.returncode == 0, p.stderr[-3000:]
        r0, r1 = (torch.load(tmp_path / f"rank{r}_{float(minutes)}.pt", weights_only=True) for r in (0, 1))
        if minutes == "1e-09":                          # rank 0's budget decision: both stop after step 1
            assert r0["step"] == r1["step"] == 1 and p.stdout.count("max_minutes") == 1
            assert torch.load(tmp_path / "work" / "last.pt", weights_only=True)["step"] == 1
        else:                                           # both ranks accept rank 0's checkpoint and finish
            assert r0["resumed_from"] == r1["resumed_from"] == 1 and r0["step"] == r1["step"] == 3
        for k, v in r0["state"].items():
            assert torch.equal(v, r1["state"][k]), k
