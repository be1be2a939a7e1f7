"""Bootstrap intervals: coverage, pairing, bad input."""
import numpy as np
import pandas as pd
import pytest

from gsam_lab.bootstrap import bootstrap_ci, format_ci, paired_bootstrap_ci, summarize_ci


def test_interval_holds_the_mean_and_shrinks_with_n():
    rng = np.random.default_rng(0)
    small = rng.uniform(size=20)
    big = rng.uniform(size=2000)
    m, lo, hi = bootstrap_ci(small)
    assert lo < m < hi and m == pytest.approx(small.mean())
    _, lo2, hi2 = bootstrap_ci(big)
    assert (hi2 - lo2) < (hi - lo) / 5               # width ~ 1/sqrt(n): 10x more samples -> ~1/10


def test_interval_covers_the_true_mean_about_95_percent_of_the_time():
    rng = np.random.default_rng(1)
    hits = 0
    for i in range(200):
        _, lo, hi = bootstrap_ci(rng.normal(0.5, 0.2, size=40), n_boot=500, seed=i)
        hits += lo <= 0.5 <= hi
    assert 0.88 <= hits / 200 <= 0.99


def test_paired_interval_is_tighter_than_separate_ones():
    rng = np.random.default_rng(2)
    base = rng.uniform(0.2, 0.9, size=60)            # objects differ a lot ...
    a, b = base + 0.03, base                          # ... one method is 0.03 better on each
    d, lo, hi = paired_bootstrap_ci(a, b)
    assert d == pytest.approx(0.03) and lo > 0        # the paired difference is clearly positive
    _, alo, _ = bootstrap_ci(a)
    _, _, bhi = bootstrap_ci(b)
    assert alo < bhi                                  # while the two separate intervals overlap


def test_two_series_are_paired_by_their_index():
    a = pd.Series([0.9, 0.8, 0.7], index=["x", "y", "z"])
    b = pd.Series([0.5, 0.6, 0.2, 0.0], index=["z", "y", "x", "w"])      # another order, one unit more
    assert paired_bootstrap_ci(a, b) == paired_bootstrap_ci([0.9, 0.8, 0.7], [0.2, 0.6, 0.5])


def test_degenerate_and_bad_input():
    assert all(np.isnan(bootstrap_ci([])))
    assert bootstrap_ci([0.4]) == (0.4, 0.4, 0.4)
    with pytest.raises(ValueError, match="finite"):
        bootstrap_ci([0.1, float("nan")])
    with pytest.raises(ValueError, match="level"):
        bootstrap_ci([0.1, 0.2], level=95)
    with pytest.raises(ValueError, match="same length"):
        paired_bootstrap_ci([0.1, 0.2], [0.1])


def test_summarize_and_format():
    df = pd.DataFrame({"m": ["a"] * 10 + ["b"] * 5, "v": np.r_[np.full(10, 0.5), np.full(5, 0.2)]})
    s = summarize_ci(df, ["m"], "v")
    assert list(s["n"]) == [10, 5] and list(s["v"]) == [0.5, 0.2] and (s["v_lo"] == s["v"]).all()
    assert format_ci(0.81234, 0.78, 0.84, n=60) == "0.812 [0.780, 0.840] (n=60)"


def test_miou_bootstrap_ci_is_the_dataset_miou_and_pairs_images():
    from gsam_lab.bootstrap import miou_bootstrap_ci
    rng = np.random.default_rng(0)
    cms = rng.integers(0, 50, size=(12, 3, 3)) + np.eye(3, dtype=int) * 200
    total = cms.sum(0)
    tp = np.diag(total)
    want = np.mean(tp / (total.sum(0) + total.sum(1) - tp))
    v, lo, hi = miou_bootstrap_ci(cms)
    assert v == pytest.approx(want) and lo < v < hi
    # the same matrices as base: a paired difference of exactly zero
    assert miou_bootstrap_ci(cms, base=cms) == (0.0, 0.0, 0.0)
    # a method better on every image: the paired interval excludes 0
    better = cms + np.eye(3, dtype=int) * 100
    d, dlo, dhi = miou_bootstrap_ci(better, base=cms)
    assert d > 0 and dlo > 0
    with pytest.raises(ValueError, match="N x K x K"):
        miou_bootstrap_ci(np.zeros((3, 2, 3)))
