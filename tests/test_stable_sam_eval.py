"""stable_sam.check_targets reads the plugins' targets off a per-object table; compare runs every model."""
import numpy as np
import pandas as pd
import pytest
import torch

from gsam_lab import sam, stable_sam
from gsam_lab.sam.evaluate import PromptEvaluation

SETTINGS = ["gt_box", "noisy_box s=0.4", "points k=1"]


def _evaluation(sam_miou, st_miou, sam_stab, st_stab, n=30):
    """Per-object rows whose per-setting means are the given values (small spread around them)."""
    rng = np.random.default_rng(0)
    rows = []
    spread = rng.normal(0, 0.01, size=n)
    for model, miou, stab in (("SAM", sam_miou, sam_stab), ("Stable-SAM", st_miou, st_stab)):
        for s, m, st in zip(SETTINGS, miou, stab):
            for o in range(n):
                rows.append(dict(domain="pinhole", method=model, setting=s, image=0, object=o, area=500, cls=2,
                                 iou=m + spread[o], boundary_iou=m + spread[o], stability=st))
    return PromptEvaluation(pd.DataFrame(rows))


def test_targets_met_and_missed():
    ok = stable_sam.check_targets(_evaluation([0.8, 0.5, 0.4], [0.795, 0.7, 0.46], [1, .5, .3], [1, .7, .3]),
                                  "Stable-SAM").set_index("check")
    assert ok["ok"].all(), ok
    assert ok.loc["noisy_box s=0.4 vs SAM", "value"] == pytest.approx(0.2)
    assert ok.loc["gt_box vs SAM", "value"] == pytest.approx(-0.005)
    row = ok.loc["noisy_box s=0.4 vs SAM"]
    assert row["low"] <= row["value"] <= row["high"]
    bad = stable_sam.check_targets(_evaluation([0.8, 0.5, 0.4], [0.78, 0.53, 0.44], [1, .5, .3], [1, .5, .3]),
                                   "Stable-SAM").set_index("check")["ok"]
    assert not bad["noisy_box s=0.4 vs SAM"] and not bad["points k=1 vs SAM"] and not bad["gt_box vs SAM"]
    assert not bad["robustness gap (GT box - noisy s=0.4)"]      # 0.25 vs SAM's 0.30: not halved
    assert not bad["stability, noisy_box s=0.4"]                  # equal stability is not "higher"


def test_compare_runs_sam_and_stable_sam_on_the_same_prompts():
    torch.set_num_threads(1)
    model = sam.build_tiny_sam(0)
    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)
    inst = np.zeros((48, 64), np.int64)
    inst[5:30, 10:40] = 1
    ev = stable_sam.compare({"SAM": model, "Stable-SAM": stable_sam.StableSam(model)},
                            {"toy": [{"image": img, "instance": inst}]}, noise=(0.3,), points=(1,), draws=2,
                            progress=False)
    table = ev.summary()
    assert set(table["method"]) == {"SAM", "Stable-SAM", "fill box"}
    a, b = (table[table.method == m].set_index("setting")["miou"] for m in ("SAM", "Stable-SAM"))
    assert len(a) == 3 and np.array_equal(a.to_numpy(), b.to_numpy())   # untrained plugins: the same masks
