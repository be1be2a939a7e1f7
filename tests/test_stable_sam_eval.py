"""stable_sam.check_targets reads issue 4's targets off a comparison table; compare runs every model."""
import numpy as np
import pandas as pd
import pytest
import torch

from gsam_lab import sam, stable_sam

SETTINGS = ["gt_box", "noisy_box s=0.2", "noisy_box s=0.4", "points k=1"]


def _table(sam_miou, st_miou, sam_stab, st_stab):
    rows = []
    for model, miou, stab in (("SAM", sam_miou, sam_stab), ("Stable-SAM", st_miou, st_stab)):
        for s, m, st in zip(SETTINGS, miou, stab):
            rows.append(dict(domain="pinhole", model=model, setting=s, miou=m, stability=st))
    return pd.DataFrame(rows)


def test_targets_met_and_missed():
    ok = stable_sam.check_targets(_table([0.8, 0.5, 0.4, 0.4], [0.795, 0.6, 0.5, 0.46], [1, .6, .5, .3], [1, .7, .6, .3]),
                                  "Stable-SAM").set_index("check")
    assert ok["ok"].all()
    assert ok.loc["noisy_box", "value"] == pytest.approx(0.1) and ok.loc["gt_box", "value"] == pytest.approx(-0.005)
    bad = stable_sam.check_targets(_table([0.8, 0.5, 0.4, 0.4], [0.78, 0.55, 0.45, 0.44], [1, .6, .5, .3], [1, .6, .5, .3]),
                                   "Stable-SAM").set_index("check")["ok"]
    assert not bad["noisy_box"] and not bad["points k=1"] and not bad["gt_box"]
    assert not bad["stability (noisy boxes)"]                  # equal stability is not "higher"


def test_compare_runs_sam_and_stable_sam_on_the_same_prompts():
    torch.set_num_threads(1)
    model = sam.build_tiny_sam(0)
    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)
    inst = np.zeros((48, 64), np.int64)
    inst[5:30, 10:40] = 1
    table = stable_sam.compare({"SAM": model, "Stable-SAM": stable_sam.StableSam(model)},
                               {"toy": [{"image": img, "instance": inst}]}, noise=(0.3,), points=(1,), draws=2,
                               progress=False)
    assert set(table["model"]) == {"SAM", "Stable-SAM"} and len(table) == 2 * 3
    a, b = (table[table.model == m].set_index("setting")["miou"] for m in ("SAM", "Stable-SAM"))
    assert np.array_equal(a.to_numpy(), b.to_numpy())          # untrained plugins: the same masks
