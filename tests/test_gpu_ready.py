"""Ready for a GPU: "auto" picks CUDA when there is one, nothing in the package pins CUDA, AMP only on CUDA."""
from __future__ import annotations

import re
from pathlib import Path

import torch

from gsam_lab import goodsam, utils

PACKAGE = Path(__file__).resolve().parents[1] / "gsam_lab"
NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
#: code that would tie a run to CUDA whatever the user asked for
PINNED = re.compile(r"""\.cuda\(\)|device\s*=\s*["']cuda|torch\.device\(\s*["']cuda["']\s*\)""")


def test_auto_picks_cuda_when_available(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert utils.resolve_device("auto").type == "cuda" and utils.resolve_device(None).type == "cuda"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert utils.resolve_device("auto").type in ("cpu", "mps")


def test_nothing_pins_cuda():
    files = [p for p in PACKAGE.rglob("*.py") if p != PACKAGE / "utils.py"]      # utils.resolve_device: "auto"
    hits = [f"{p.relative_to(PACKAGE.parent)}:{i}: {line.strip()}"
            for p in files + list(NOTEBOOKS.glob("0*.py"))
            for i, line in enumerate(p.read_text().splitlines(), 1) if PINNED.search(line.split("#")[0])]
    assert not hits, "CUDA hard-coded:\n" + "\n".join(hits)


def test_notebooks_default_to_auto_device():
    for nb in sorted(NOTEBOOKS.glob("0*.py")):
        assert re.search(r'^device: str = "auto"', nb.read_text(), re.M), nb.name


def test_amp_only_on_cuda(tmp_path):
    """MKAConfig(amp=True) trains in fp32 on the CPU (no autocast, no grad scaler)."""
    data = [{"image": torch.rand(3, 32, 64), "pseudo_label": torch.randint(0, 9, (32, 64)),
             "ensemble_logits": torch.randn(9, 8, 16)} for _ in range(2)]
    cfg = goodsam.MKAConfig(steps=1, batch_size=2, amp=True, ckpt_every=1, log_every=1, kd_weight=1.0,
                            feat_weight=0.0)
    run = goodsam.train_mka(goodsam.Student("tiny", 9, seed=0), None, data, cfg, device="cpu",
                            work_dir=tmp_path / "w", log=lambda line: None)
    assert all(p.dtype == torch.float32 for p in run.student.parameters())
    ck = torch.load(next((tmp_path / "w").glob("*.pt")), map_location="cpu", weights_only=True)
    assert not ck.get("scaler"), "no grad scaler state off CUDA"
