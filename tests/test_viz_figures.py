"""The figure helpers added for readable notebook figures: tick spacing that fits, fixed colour ranges,
distinguishable windows, heat maps with a scale, figure-wide class legends, SAM's own IoU in titles."""
from types import SimpleNamespace

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from gsam_lab import sam, viz  # noqa: E402


def test_longitude_ticks_thin_out_on_small_panels():
    erp = np.zeros((64, 128, 3), np.uint8)
    fig, ax = plt.subplots(figsize=(10, 5))
    viz.plot_erp(ax, erp)
    assert len(ax.get_xticks()) == 7                                  # every 60°
    fig, axes = plt.subplots(1, 5, figsize=(10, 2))
    viz.plot_erp(axes[0], erp)
    labels = [t.get_text() for t in axes[0].get_xticklabels()]
    assert labels == ["-180°", "0°", "180°"], "a 2-inch panel has room for three longitude labels"
    viz.plot_erp(axes[1], erp, lon_step=90)
    assert len(axes[1].get_xticks()) == 5, "a given step wins"
    plt.close("all")


def test_a_constant_map_keeps_the_colour_range_it_is_given():
    fig, ax = plt.subplots()
    im = viz.plot_erp(ax, np.ones((32, 64), np.float32), cmap="viridis", vmin=0, vmax=1)
    assert im.get_clim() == (0, 1)
    plt.close(fig)


def test_draw_windows_colours_each_window_and_wraps_across_the_seam():
    fig, ax = plt.subplots()
    viz.plot_erp(ax, np.zeros((32, 64, 3), np.uint8))
    wins = [SimpleNamespace(left=0, top=0, w=32, h=32), SimpleNamespace(left=48, top=0, w=32, h=32)]
    patches = viz.draw_windows(ax, wins, width=64)
    assert len(patches) == 2 * 1 + 2 * 2, "fill + outline per piece; the second window is drawn in two pieces"
    edges = {tuple(p.get_edgecolor()) for p in patches if not p.get_fill()}
    assert len(edges) == 2, "one colour per window"
    xs = sorted(p.get_x() for p in patches if not p.get_fill())
    assert xs[0] < 0 <= xs[1], "the wrapped part starts left of column 0"
    assert [t.get_text() for t in ax.texts] == ["0", "1"]
    with pytest.raises(ValueError, match="no 'left'"):
        viz.draw_windows(ax, [SimpleNamespace(top=0, w=1, h=1)], width=64)
    plt.close(fig)


def test_heatmap_has_a_scale_and_rejects_bad_heat():
    img = np.full((8, 8, 3), 200, np.uint8)
    heat = np.zeros((8, 8))
    heat[2, 3] = 4.0
    fig, ax = plt.subplots()
    m = viz.plot_heatmap(ax, img, heat, vmax=8.0, colorbar="share")
    assert m.get_clim() == (0.0, 8.0) and len(fig.axes) == 2, "a colour bar was added"
    shown = ax.get_images()[0].get_array()
    assert shown[0, 0].max() < 0.5, "the picture underneath is dimmed"
    assert not np.allclose(shown[2, 3], shown[0, 0]), "the hot pixel stands out"
    with pytest.raises(ValueError, match="like the image"):
        viz.plot_heatmap(ax, img, np.zeros((4, 4)))
    with pytest.raises(ValueError, match=">= 0"):
        viz.plot_heatmap(ax, img, -heat - 1)
    with pytest.raises(ValueError, match="nothing to show"):
        viz.plot_heatmap(ax, img, np.zeros((8, 8)))
    plt.close(fig)


def test_a_figure_gets_one_class_legend_for_all_its_label_maps():
    fig, axes = plt.subplots(1, 2)
    maps = [np.array([[0, 1], [1, 1]]), np.array([[3, 255], [3, 3]])]
    leg = viz.add_class_legend(fig, ["a", "b", "c", "d"], np.eye(4, 3) * 255, present=maps)
    assert leg in fig.legends
    assert [t.get_text() for t in leg.get_texts()] == ["a", "b", "d", "ignored"]
    plt.close(fig)


def test_show_outcomes_can_print_sams_estimate():
    gt = np.zeros((10, 10), bool)
    gt[2:6, 2:6] = True
    o = sam.PromptOutcome("click", gt, gt, 1.0, 1.0, 0.87, None, np.array([[4.0, 4.0]]), np.array([1]))
    fig = viz.show_outcomes(np.zeros((10, 10, 3), np.uint8), [o], predicted_iou=True)
    assert "SAM's estimate 0.87" in fig.axes[0].get_title()
    fig = viz.show_outcomes(np.zeros((10, 10, 3), np.uint8), [o])
    assert "estimate" not in fig.axes[0].get_title()
    plt.close("all")
