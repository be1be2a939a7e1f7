"""The results report's tables (gsam_lab.report.tables) and the verdict counts, on small made-up scores."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gsam_lab import report
from gsam_lab.sam.evaluate import PromptEvaluation

NOISY = report.NOISY


def evaluation(plugin_gain=0.01):
    """Two domains of objects (areas 500 px and 5000 px); SAM's IoU is known per object, Stable-SAM adds
    ``plugin_gain`` everywhere, filling the box scores 0.8 with the GT box and 0.5 with a noisy one."""
    rng = np.random.default_rng(0)
    rows = []
    for dom, n in (("pinhole", 6), ("erp", 10)):
        for o in range(n):
            area = 500 if o % 2 else 5000
            base = {"gt_box": 0.6 + 0.02 * (o % 3), NOISY: 0.55, "points k=1": 0.4, "points k=3": 0.5}
            for method, settings in (("SAM", base), ("Stable-SAM", {s: v + plugin_gain for s, v in base.items()}),
                                     ("fill box", {"gt_box": 0.8, NOISY: 0.5})):
                for setting, iou in settings.items():
                    rows.append(dict(domain=dom, method=method, setting=setting, image=0, object=o, area=area,
                                     iou=iou, boundary_iou=iou, stability=rng.uniform(0.5, 1)))
    return PromptEvaluation(pd.DataFrame(rows), dict(draws=2, min_area=64))


def test_stable_sam_tables_read_the_same_objects():
    ev = evaluation()
    t = report.stable_sam_table(ev)
    assert list(t.columns) == ["domain", "n objects", "setting", "SAM", "Stable-SAM", "fill box"]
    assert dict(zip(t["domain"], t["n objects"])) == {"pinhole": 6, "erp": 10}
    assert (t.loc[t["setting"] == "points k=1", "fill box"] == "-").all()
    d = report.stable_sam_differences(ev).set_index("comparison")
    assert list(d.index) == list(report.COMPARISONS)
    assert list(d.columns) == [f"{dom}{end}" for dom in ("pinhole", "erp", "both") for end in ("", " low", " high")]
    row = d.loc["Stable-SAM - SAM, noisy box s=0.4"]
    assert row["both"] == pytest.approx(0.01) and row["both low"] == pytest.approx(0.01)
    assert d.loc["robustness gap, fill box", "erp"] == pytest.approx(0.3)
    assert d.loc["gap of Stable-SAM - gap of SAM", "both"] == pytest.approx(0.0, abs=1e-12)
    sizes = report.size_differences(ev).set_index("size")
    assert list(sizes["n"]) == [8, 8] and (sizes["difference"] < 0).all()        # no object of 8k px or more
    assert sizes["low"].le(sizes["difference"]).all() and sizes["difference"].le(sizes["high"]).all()


def test_stable_sam_claims_are_in_points_over_every_object():
    m = report.stable_sam_claims(evaluation(), plugin_params=78_132)
    noisy = m["stable_sam.noisy_box"]
    assert noisy.n == 16 and noisy.diff == pytest.approx((1.0, 1.0, 1.0))
    assert noisy.baseline == pytest.approx(55.0) and noisy.method == pytest.approx(56.0)
    assert "6 objects on 1 pinhole image + 10 objects on 1 erp image" in noisy.data
    assert m["stable_sam.params"].method == pytest.approx(0.078132)


def confusions(n, right, K=3):
    """``n`` per-image confusion matrices, ``right`` of each image's 10 pixels per class on the diagonal."""
    cm = np.zeros((n, K, K), np.int64)
    for k in range(K):
        cm[:, k, k] = right
        cm[:, k, (k + 1) % K] = 10 - right
    return cm


def test_goodsam_table_and_claims_pair_every_method_with_the_baseline():
    scores = {"TA": {"confusions": confusions(5, 6)}, "DAR ctcf": {"confusions": confusions(5, 8)},
              "student": {"confusions": confusions(5, 7)}}
    t = report.goodsam_table(scores, baseline="TA", params={"TA": 2_000_000, "student": 500_000},
                             labels={"TA": "the TA"}, size="8 x 16")
    assert list(t["name"]) == ["TA", "DAR ctcf", "student"] and t.loc[0, "model"] == "the TA"
    assert t.loc[0, "params (M)"] == 2.0 and np.isnan(t.loc[1, "params (M)"]) and (t["ERP size"] == "8 x 16").all()
    assert np.isnan(t.loc[0, "minus TA"]) and t.loc[1, "minus TA"] > t.loc[2, "minus TA"] > 0
    ta_miou = 100 * 6 / (10 + 4)                  # IoU = tp / (tp + fn + fp) with 4 misses each way
    assert t.loc[0, "mIoU"] == pytest.approx(ta_miou)
    m = report.goodsam_claims(t, dar="DAR ctcf", student="student", b0_params=3_700_000)
    assert m["goodsam.dar"].diff[0] == pytest.approx(t.loc[1, "minus TA"]) and m["goodsam.dar"].n == 5
    assert m["goodsam.student"].model == "student (0.50M) vs the TA"
    assert m["goodsam.student_params"].method == pytest.approx(3.7)
    with pytest.raises(KeyError, match="no row 'shipped student'"):
        report.goodsam_claims(t, student="shipped student", b0_params=1)


def test_verdicts_are_counted_by_their_rules():
    M = report.Measured
    claims = report.claims_table({
        "stable_sam.noisy_box": M(50.0, 50.8, diff=(0.8, 0.2, 1.4), n=40),       # holds, at a sliver of the paper's
        "stable_sam.points1": M(30.0, 30.2, diff=(0.2, -0.8, 1.1), n=40),
        "stable_sam.gt_box": M(54.0, 54.5, diff=(0.5, 0.1, 1.0), n=40),          # non-inferior: not "holds"
        "goodsam.dar": M(34.0, 36.0, diff=(2.0, 0.4, 4.0), n=8),
        "stable_sam.params": 0.078, "goodsam.student_params": 3.7})
    counts = report.verdict_counts(claims)
    assert counts["count"].sum() == len(claims) == len(report.PAPER_CLAIMS)
    assert list(counts["verdict"]) == ["holds", "non-inferior", "holds (by construction)", "not resolved",
                                       "not measured"]
    c = counts.set_index(["test", "verdict"])["count"]
    assert c["measured: better", "holds"] == 2 and c["measured: kept", "non-inferior"] == 1
    assert c["by construction: count", "holds (by construction)"] == 2
    text = report.verdict_summary(claims)
    assert text.startswith("Of 7 claims that a measurement answers, 2 hold") and "1 is non-inferior" in text
    assert "1 is not resolved" in text and "3 are not measured" in text     # points3, student, headline
    card = report.scorecard(claims).set_index("claim")
    assert card.loc["noisy-box mIoU: SAM -> SAM + plugins", "ours / paper"] == "0.02"
    lines = report.findings(claims)
    assert any(line.startswith("- **noisy-box mIoU") and "verdict: holds" in line for line in lines)
    assert not any("TA -> DAR ensemble" in line for line in lines)          # holds, and no paper size to fall short of
    assert list(report.sources(claims).columns) == ["claim", "source", "paper_data", "paper_model", "our_data",
                                                    "our_model"]
