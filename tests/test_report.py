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
    by = dict(zip(t["claim"].str.split(":").str[0], t["direction_holds"]))
    assert by["noisy-box mIoU"] is True
    assert by["1-point mIoU"] is False
    assert by["GT-box mIoU kept (SAM ≈ 79.5)"] is True
    assert by["learnable parameters (M)"] is True
    assert by["smallest student parameters (M), SegFormer-B0"] is False   # 9M is not a 3.7M-class student
    assert t.loc[t["claim"].str.startswith("ERP mIoU: TA -> DAR"), "direction_holds"].isna().all()
    with pytest.raises(ValueError, match="unknown claim key"):
        report.claims_table({"stable_sam.noisy": (1, 2)})
    with pytest.raises(ValueError, match="baseline, method"):
        report.claims_table({"stable_sam.noisy_box": (1, 2, 3)})


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
