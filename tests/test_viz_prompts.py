import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from gsam_lab import viz  # noqa: E402
from gsam_lab.sam.stability import SweepResult  # noqa: E402


def _summary(drop):
    rows = [dict(kind="gt_box", noise=0.0, k=0, setting="gt_box", miou=0.8, mbiou=0.6, stability=1.0)]
    rows += [dict(kind="noisy_box", noise=s, k=0, setting=f"noisy_box s={s:g}", miou=0.8 - drop * s,
                  mbiou=0.6 - drop * s, stability=1 - s) for s in (0.1, 0.4)]
    rows += [dict(kind="points", noise=0.0, k=k, setting=f"points k={k}", miou=0.3 + 0.05 * k, mbiou=0.2,
                  stability=0.5) for k in (1, 3)]
    return pd.DataFrame(rows)


def test_plot_sweep_draws_one_line_per_summary_with_gt_box_at_zero():
    fig = viz.plot_sweep({"pinhole": _summary(0.5), "ERP": _summary(1.0)})
    ax = fig.axes[0]
    assert len(ax.lines) == 2
    x, y = ax.lines[1].get_data()
    np.testing.assert_allclose(x, [0.0, 0.1, 0.4])
    np.testing.assert_allclose(y, [0.8, 0.7, 0.4])
    fig2 = viz.plot_sweep(_summary(0.5), x="k", metrics_=("miou",))
    np.testing.assert_allclose(fig2.axes[0].lines[0].get_data()[0], [1, 3])
    with pytest.raises(ValueError, match="'noise'"):
        viz.plot_sweep(_summary(0.5), x="draws")
    with pytest.raises(ValueError, match="no point settings"):
        viz.plot_sweep(_summary(0.5)[lambda d: d.kind != "points"], x="k")
    plt.close("all")


def _with_methods():
    sam_rows = _summary(0.5).assign(method="SAM")
    fill = _summary(1.0).assign(method="fill box")
    fill = fill[fill["kind"] != "points"]
    t = pd.concat([sam_rows, fill], ignore_index=True)
    t["miou_lo"], t["miou_hi"] = t["miou"] - 0.05, t["miou"] + 0.1
    return t


def test_plot_sweep_draws_methods_with_error_bars_and_the_baseline_dashed():
    fig = viz.plot_sweep({"ERP": _with_methods()}, metrics_=("miou", "stability"))
    ax = fig.axes[0]
    assert len(ax.containers) == 2                        # SAM and the fill-box baseline, each with error bars
    sam_bars, fill_bars = ax.containers
    assert sam_bars.has_yerr and fill_bars.has_yerr
    assert fill_bars.lines[0].get_linestyle() == "--" and sam_bars.lines[0].get_linestyle() == "-"
    seg = sam_bars.lines[2][0].get_segments()[1]           # the interval drawn at noise 0.1
    np.testing.assert_allclose(seg[:, 1], [0.75 - 0.05, 0.75 + 0.1])
    assert not fig.axes[1].containers[0].has_yerr          # no stability interval given: no bars
    fig2 = viz.plot_sweep({"ERP": _with_methods()}, x="k", metrics_=("miou",))
    ref = [line for line in fig2.axes[0].lines if line.get_linestyle() == "--"]
    assert len(ref) == 1 and ref[0].get_ydata()[0] == 0.8   # fill box at the GT box: a horizontal line
    plt.close("all")


def test_draw_boxes_and_points():
    fig, ax = plt.subplots()
    ax.imshow(np.zeros((50, 80, 3)))
    patches = viz.draw_boxes(ax, np.array([[5, 5, 20, 30], [40, 10, 70, 45]]), edgecolor="red")
    assert len(patches) == 2 and patches[1].get_width() == 30 and patches[1].get_height() == 35
    arts = viz.draw_points(ax, np.array([[10, 10], [20, 20], [30, 30]]), np.array([1, 0, -1]))
    assert len(arts) == 2 and arts[0].get_offsets().shape == (1, 2)
    with pytest.raises(ValueError, match="N x 4"):
        viz.draw_boxes(ax, np.zeros((2, 3)))
    with pytest.raises(ValueError, match="one entry per point"):
        viz.draw_points(ax, np.zeros((2, 2)), np.array([1]))
    plt.close(fig)


def test_sweep_compare_ranks_failure_cases():
    objs = pd.DataFrame([
        dict(image=0, object=1, area=100, kind="gt_box", noise=0, k=0, setting="gt_box", iou=0.9,
             boundary_iou=0.5, stability=1.0),
        dict(image=0, object=2, area=50, kind="gt_box", noise=0, k=0, setting="gt_box", iou=0.8,
             boundary_iou=0.5, stability=1.0),
        dict(image=0, object=1, area=100, kind="noisy_box", noise=0.4, k=0, setting="noisy_box s=0.4", iou=0.85,
             boundary_iou=0.5, stability=0.7),
        dict(image=0, object=2, area=50, kind="noisy_box", noise=0.4, k=0, setting="noisy_box s=0.4", iou=0.3,
             boundary_iou=0.2, stability=0.4),
    ])
    res = SweepResult(pd.DataFrame(), objs, {})
    cmp = res.compare("gt_box", "noisy_box s=0.4")
    assert list(cmp["object"]) == [2, 1]
    np.testing.assert_allclose(cmp["drop"], [0.5, 0.05])
    with pytest.raises(ValueError, match="not in this sweep"):
        res.compare("gt_box", "points k=3")


def test_colorize_instances():
    inst = np.array([[0, 3, 3], [7, 7, 0]])
    rgb = viz.colorize_instances(inst)
    assert rgb.shape == (2, 3, 3) and rgb.dtype == np.uint8
    assert (rgb[0, 0] == 0).all() and (rgb[1, 2] == 0).all()
    assert (rgb[0, 1] == rgb[0, 2]).all() and not (rgb[0, 1] == rgb[1, 0]).all()
    assert rgb[0, 1].max() >= 40
    with pytest.raises(ValueError, match="integer ids"):
        viz.colorize_instances(inst.astype(float))


def test_plot_sweep_draws_grabcut_dotted_beside_the_dashed_fill_box():
    t = _with_methods()
    grab = t[(t["method"] == "fill box") & (t["kind"] == "gt_box")].assign(method="GrabCut", miou=0.85)
    t = pd.concat([t, grab], ignore_index=True)
    fig = viz.plot_sweep({"ERP": t}, metrics_=("miou",))
    styles = {c.get_label(): c.lines[0].get_linestyle() for c in fig.axes[0].containers}
    assert styles == {"ERP · SAM": "-", "ERP · fill box": "--", "ERP · GrabCut": ":"}
    fig2 = viz.plot_sweep({"ERP": t}, x="k", metrics_=("miou",))
    dotted = [line for line in fig2.axes[0].lines if line.get_linestyle() == ":"]
    assert len(dotted) == 1 and dotted[0].get_ydata()[0] == 0.85  # GrabCut from the GT box: a horizontal line
    fig3 = viz.plot_sweep({"ERP": t}, metrics_=("miou",), baseline="fill box")   # one reference: GrabCut a model
    assert {c.get_label(): c.lines[0].get_linestyle() for c in fig3.axes[0].containers}["ERP · GrabCut"] == "-"
    plt.close("all")
