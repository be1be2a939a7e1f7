import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from gsam_lab import report  # noqa: E402


def test_claims_table_directions():
    t = report.claims_table({"stable_sam.noisy_box": (47.0, 55.0), "stable_sam.points1": (20.0, 18.0),
                             "stable_sam.gt_box": (57.0, 56.5), "stable_sam.params": 0.078,
                             "goodsam.student_params": 9.0})
    by = dict(zip(t["key"], t["direction_holds"]))
    assert by["stable_sam.noisy_box"] is True
    assert by["stable_sam.points1"] is False
    assert by["stable_sam.gt_box"] is True
    assert by["stable_sam.params"] is True
    assert by["goodsam.student_params"] is False   # 9M is not a 3.7M-class student
    assert t.loc[t["key"] == "goodsam.dar", "direction_holds"].isna().all()
    with pytest.raises(ValueError, match="unknown claim key"):
        report.claims_table({"stable_sam.noisy": (1, 2)})
    with pytest.raises(ValueError, match="baseline, method"):
        report.claims_table({"stable_sam.noisy_box": (1, 2, 3)})


def test_claims_table_verdicts_follow_the_interval_not_the_point_value():
    M = report.Measured
    t = report.claims_table({
        "stable_sam.noisy_box": M(47.0, 47.3, diff=(0.3, -0.2, 0.8), n=120, data="renders", model="tiny"),
        "stable_sam.points1": M(40.0, 42.0, diff=(2.0, 0.5, 3.5), n=120),
        "stable_sam.points3": M(60.0, 57.0, diff=(-3.0, -5.0, -1.0), n=120),
        "stable_sam.gt_box": M(65.0, 64.8, diff=(-0.2, -0.6, 0.2), n=120),
        "goodsam.dar": M(34.0, 33.0, diff=(-1.0, -3.0, -0.5), n=8),
        "goodsam.student": M(34.6, 37.8, diff=(3.3, -0.8, 7.5), n=16),
        "stable_sam.params": 0.078, "goodsam.student_params": 3.72,
    })
    v = dict(zip(t["key"], t["verdict"]))
    assert v["stable_sam.noisy_box"].startswith("not resolved")      # point value up, interval holds 0
    assert v["stable_sam.points1"] == "holds"
    assert v["stable_sam.points3"] == "does not hold"
    assert v["stable_sam.gt_box"] == "non-inferior"                # within the 1-point margin: not "holds"
    assert v["goodsam.dar"] == "does not hold"
    assert v["goodsam.student"].startswith("not resolved")          # the shipped student vs its TA
    assert v["stable_sam.params"] == v["goodsam.student_params"] == "holds (by construction)"
    assert v["goodsam.headline"] == "not measured"                 # no DensePASS here
    row = t.set_index("key").loc["stable_sam.noisy_box"]
    assert (row["n"], row["our_data"], row["our_model"], row["kind"]) == (120, "renders", "tiny", "measured")
    assert row["paper_diff"] == pytest.approx(82.3 - 48.8) and row["diff_lo"] == -0.2
    # a kept claim whose interval reaches below the margin is not resolved; wholly below it, inferior
    t2 = report.claims_table({"stable_sam.gt_box": M(65.0, 64.0, diff=(-1.0, -2.0, 0.1))})
    assert t2.set_index("key").loc["stable_sam.gt_box", "verdict"].startswith("not resolved")
    t3 = report.claims_table({"stable_sam.gt_box": M(65.0, 60.0, diff=(-5.0, -7.0, -3.0))})
    assert t3.set_index("key").loc["stable_sam.gt_box", "verdict"] == "inferior"
    assert "non-inferiority with a 1-point margin" in t3.set_index("key").loc["stable_sam.gt_box", "rule"]
    # point values without an interval never "hold" for a measured claim
    t4 = report.claims_table({"stable_sam.noisy_box": (40.0, 80.0)})
    assert t4.set_index("key").loc["stable_sam.noisy_box", "verdict"] == "not resolved (no interval)"
    with pytest.raises(ValueError, match="low <= high"):
        report.claims_table({"goodsam.dar": M(1.0, 2.0, diff=(1.0, 2.0, 0.0))})


def test_paper_claims_are_sourced_and_split_by_kind():
    pc = report.PAPER_CLAIMS
    assert set(pc["kind"]) == {"by construction", "measured"}
    assert set(pc.loc[pc["kind"] == "by construction", "key"]) == {"stable_sam.params", "goodsam.student_params"}
    assert pc["source"].str.contains("arXiv 2311.15776|arXiv 2403.16370").all()
    assert not pc["source"].str.contains("shared").any()
    head = pc.set_index("key").loc["goodsam.headline"]
    assert head["paper_method"] == 3.75 and head["paper_data"] == "DensePASS"


def test_write_report_markdown_and_self_contained_html(tmp_path):
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    (tmp_path / "figs").mkdir()
    fig.savefig(tmp_path / "figs" / "line.png")
    plt.close(fig)
    df = pd.DataFrame({"setting": ["gt_box", "noisy"], "miou": [0.61234, 0.5]})
    paths = report.write_report(tmp_path, "Results <x>", ["Intro *text*.", ("Table", df), ("Figure", "figs/line.png")])
    md = paths["md"].read_text()
    assert md.startswith("# Results <x>") and "## Table" in md and "gt_box" in md and "](figs/line.png)" in md
    page = paths["html"].read_text()
    assert "Results &lt;x&gt;" in page and "<table" in page and "data:image/png;base64," in page
    with pytest.raises(FileExistsError):
        report.write_report(tmp_path, "again", ["x"], overwrite=False)
    assert paths["md"].read_text() == md           # nothing overwritten by the refused call
    with pytest.raises(FileNotFoundError, match="does not exist"):
        report.write_report(tmp_path, "t", [("missing", "nope.png")], name="other")
    with pytest.raises(TypeError, match="block 0"):
        report.write_report(tmp_path, "t", [42], name="other")


def test_write_report_caveat_on_top_and_text_sections(tmp_path):
    paths = report.write_report(tmp_path, "R", [
        ("Numbers", pd.DataFrame({"a": [1.0]})),
        ("What did not reproduce", ["The plugins do **nothing** here: `+0.1` points.", "- one\n- two <b>"]),
    ], caveat="Synthetic renders,\n tiny models; n = objects.")
    md, page = paths["md"].read_text(), paths["html"].read_text()
    assert md.splitlines()[2] == "> **Caveat.** Synthetic renders, tiny models; n = objects."
    assert md.index("Caveat") < md.index("## Numbers") < md.index("## What did not reproduce")
    assert "The plugins do **nothing** here" in md and "- one\n- two <b>" in md
    assert page.index("Caveat.") < page.index("<h2>Numbers</h2>")
    assert "<strong>nothing</strong>" in page and "<code>+0.1</code>" in page
    assert "<ul><li>one</li><li>two &lt;b&gt;</li></ul>" in page
    with pytest.raises(TypeError, match="list of strings"):
        report.write_report(tmp_path, "t", [("x", ["ok", 3])], name="other")
