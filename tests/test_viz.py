"""Tests of gsam_lab.viz on the Agg backend."""
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from gsam_lab import viz  # noqa: E402

PAL = np.array([[10, 20, 30], [200, 0, 0], [0, 255, 0]], dtype=np.uint8)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


# ---------------------------------------------------------------- to_numpy_image

def test_to_numpy_image_layouts():
    rgb = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    assert np.array_equal(viz.to_numpy_image(rgb), rgb)
    t = torch.from_numpy(rgb).permute(2, 0, 1)  # C x H x W
    assert np.array_equal(viz.to_numpy_image(t), rgb)
    assert np.array_equal(viz.to_numpy_image(t[None]), rgb)  # 1 x C x H x W
    assert np.array_equal(viz.to_numpy_image(torch.from_numpy(rgb)), rgb)  # H x W x C tensor
    assert np.array_equal(viz.to_numpy_image(np.moveaxis(rgb, -1, 0)), rgb)  # C x H x W array
    rgba = np.concatenate([rgb, np.full((5, 7, 1), 9, np.uint8)], -1)
    assert np.array_equal(viz.to_numpy_image(rgba), rgb)
    grey = viz.to_numpy_image(torch.zeros(5, 7))
    assert grey.shape == (5, 7, 3) and grey.dtype == np.uint8


def test_to_numpy_image_dtypes():
    f = torch.tensor([[0.0, 0.5, 1.0, 2.0, -1.0]])
    out = viz.to_numpy_image(f)
    assert out.shape == (1, 5, 3) and out.dtype == np.uint8
    assert out[0, :, 0].tolist() == [0, 128, 255, 255, 0]  # [0, 1] scaled, clipped
    assert viz.to_numpy_image(np.array([[True, False]]))[0, :, 0].tolist() == [255, 0]
    assert viz.to_numpy_image(np.array([[3, 250]], dtype=np.int64))[0, :, 0].tolist() == [3, 250]


def test_to_numpy_image_errors():
    with pytest.raises(ValueError, match="C in \\(1, 3, 4\\).*\\(5, 8, 9\\)"):
        viz.to_numpy_image(torch.zeros(5, 8, 9))  # 5 channels first
    with pytest.raises(ValueError, match="shape"):
        viz.to_numpy_image(np.zeros((2, 3, 8, 8)))  # a batch of 2
    with pytest.raises(ValueError, match="0..255"):
        viz.to_numpy_image(np.array([[300]]))
    with pytest.raises(TypeError):
        viz.to_numpy_image("image.png")


# ---------------------------------------------------------------- colorize / overlay

def test_colorize_palette_and_ignore():
    lab = torch.tensor([[0, 1, 2], [2, 255, 0]])
    out = viz.colorize(lab, PAL)
    assert out.shape == (2, 3, 3) and out.dtype == np.uint8
    assert np.array_equal(out[0], PAL[[0, 1, 2]])
    assert np.array_equal(out[1, 0], PAL[2]) and np.array_equal(out[1, 2], PAL[0])
    assert out[1, 1].tolist() == [0, 0, 0]
    assert np.array_equal(viz.colorize(lab.numpy(), PAL / 255.0), out)  # float [0, 1] palette


def test_colorize_errors():
    with pytest.raises(ValueError, match="id 3"):
        viz.colorize(np.array([[0, 3]]), PAL)
    with pytest.raises(ValueError, match="id 255"):
        viz.colorize(np.array([[0, 255]]), PAL, ignore_index=None)
    with pytest.raises(ValueError, match="integer"):
        viz.colorize(np.zeros((2, 2), np.float32), PAL)
    with pytest.raises(ValueError, match="K x 3"):
        viz.colorize(np.zeros((2, 2), int), np.zeros((3, 4)))
    with pytest.raises(ValueError, match="H x W"):
        viz.colorize(np.zeros((2, 2, 2), int), PAL)


def test_colorize_default_palette():
    data = pytest.importorskip("gsam_lab.data")
    if not hasattr(data, "PALETTE"):
        pytest.skip("gsam_lab.data has no PALETTE yet")
    lab = np.arange(len(data.PALETTE))[None]
    assert np.array_equal(viz.colorize(lab), np.asarray(data.PALETTE)[None])


def test_overlay_mask():
    img = np.full((4, 5, 3), 100, np.uint8)
    mask = np.zeros((4, 5), bool)
    mask[1:3, 1:4] = True
    out = viz.overlay(img, mask, alpha=0.5, color=(200, 0, 0))
    assert out.shape == (4, 5, 3) and out.dtype == np.uint8
    assert out[2, 2].tolist() == [150, 50, 50]
    assert out[0, 0].tolist() == [100, 100, 100]
    # a float probability map is a mask too (thresholded at 0.5), a CHW tensor image works
    out2 = viz.overlay(torch.full((3, 4, 5), 100 / 255), torch.from_numpy(mask.astype(np.float32)),
                       color=(200, 0, 0))
    assert np.array_equal(out2, out)
    # a 0/1 uint8 mask needs kind="mask"
    assert np.array_equal(viz.overlay(img, mask.astype(np.uint8), color=(200, 0, 0), kind="mask"), out)


def test_overlay_outline():
    img = np.zeros((5, 5, 3), np.uint8)
    mask = np.zeros((5, 5), bool)
    mask[1:4, 1:4] = True
    out = viz.overlay(img, mask, alpha=0.0, color=(0, 255, 0), outline=True)
    ring = np.zeros((5, 5), bool)
    ring[1:4, 1:4] = True
    ring[2, 2] = False
    assert np.array_equal((out == [0, 255, 0]).all(-1), ring)
    lab = np.zeros((5, 5), int)
    lab[:, 3:] = 1
    out = viz.overlay(img, lab, alpha=0.0, palette=PAL, outline=True)
    white = (out == 255).all(-1)
    assert white[:, 2:4].all() and not white[:, [0, 1, 4]].any()


def test_overlay_label_map():
    img = np.full((2, 3, 3), 50, np.uint8)
    lab = np.array([[0, 1, 2], [255, 1, 0]])
    out = viz.overlay(img, lab, alpha=1.0, palette=PAL)
    assert np.array_equal(out[0], PAL[[0, 1, 2]])
    assert out[1, 0].tolist() == [50, 50, 50]  # ignored pixels keep the image
    half = viz.overlay(img, lab, alpha=0.5, palette=PAL)
    assert half[0, 1].tolist() == [125, 25, 25]


def test_overlay_errors():
    img = np.zeros((4, 5, 3), np.uint8)
    with pytest.raises(ValueError, match=r"\(4, 5\).*\(4, 6\)"):
        viz.overlay(img, np.zeros((4, 6), bool))
    with pytest.raises(ValueError, match="kind"):
        viz.overlay(img, np.zeros((4, 5), bool), kind="blob")
    with pytest.raises(ValueError, match="alpha"):
        viz.overlay(img, np.zeros((4, 5), bool), alpha=1.5)


# ---------------------------------------------------------------- figures

def test_show_grid_axes_and_inputs():
    ims = [np.zeros((8, 16, 3), np.uint8), torch.rand(3, 8, 16), torch.rand(8, 16), np.zeros((8, 16), bool),
           np.zeros((8, 16, 1), np.float32)]
    fig = viz.show_grid(ims, titles=list("abcde"), ncols=3, suptitle="grid")
    assert len(fig.axes) == 5
    assert [ax.get_title() for ax in fig.axes] == list("abcde")
    assert fig.axes[0].images[0].get_array().shape == (8, 16, 3)
    assert fig.axes[2].images[0].get_array().shape == (8, 16)  # grey map keeps its values
    assert len(viz.show_grid(torch.rand(2, 3, 8, 8)).axes) == 2  # a batch
    assert len(viz.show_grid(np.zeros((8, 8, 3))).axes) == 1  # a single image


def test_show_grid_errors():
    with pytest.raises(ValueError, match="titles"):
        viz.show_grid([np.zeros((4, 4))] * 2, titles=["one"])
    with pytest.raises(ValueError, match="at least one"):
        viz.show_grid([])
    with pytest.raises(ValueError, match="shape"):
        viz.show_grid([torch.zeros(5, 8, 9)])


def test_legend():
    patches = viz.legend_patches(["a", "b", "c"], PAL)
    assert [p.get_label() for p in patches] == ["a", "b", "c"]
    assert np.allclose(patches[1].get_facecolor()[:3], PAL[1] / 255.0)
    assert [p.get_label() for p in viz.legend_patches(["a", "b", "c"], PAL, present=np.array([[2, 0], [2, 255]]))] \
        == ["a", "c", "ignored"]
    two_maps = [np.array([[1]]), np.array([[2]])]
    assert [p.get_label() for p in viz.legend_patches(["a", "b", "c"], PAL, present=two_maps)] == ["b", "c"]
    with pytest.raises(ValueError, match="3 colours for 4 classes"):
        viz.legend_patches(["a", "b", "c", "d"], PAL)
    fig, ax = plt.subplots()
    leg = viz.add_class_legend(ax, ["a", "b", "c"], PAL)
    assert [t.get_text() for t in leg.get_texts()] == ["a", "b", "c"]


def test_plot_erp_ticks_and_polylines():
    fig, ax = plt.subplots()
    erp = np.zeros((90, 180, 3), np.uint8)
    viz.plot_erp(ax, erp)
    assert ax.get_xticks().tolist() == pytest.approx([0, 30, 60, 90, 120, 150, 180])
    assert [t.get_text() for t in ax.get_xticklabels()][3] == "0°"
    assert [t.get_text() for t in ax.get_yticklabels()] == ["90°", "60°", "30°", "0°", "-30°", "-60°", "-90°"]
    assert ax.get_yticks().tolist() == pytest.approx([0, 15, 30, 45, 60, 75, 90])
    # a line that crosses the seam is split in two; a plain one is drawn as is
    seam = np.array([[170.0, 40.0], [178.0, 42.0], [3.0, 44.0], [10.0, 46.0]])
    lines = viz.draw_polylines(ax, [seam, torch.tensor([[10.0, 10.0], [20.0, 20.0]])], color="yellow")
    assert len(lines) == 3
    assert lines[0].get_xdata().tolist() == [170.0, 178.0]
    assert len(viz.draw_polylines(ax, seam, split_seam=False)) == 1
    with pytest.raises(ValueError, match="N x 2"):
        viz.draw_polylines(ax, [np.zeros((4, 3))])
    viz.plot_erp(ax, torch.rand(10, 20), grid=False)  # a grey map


def test_savefig(tmp_path):
    fig = viz.show_grid([np.zeros((4, 4, 3), np.uint8)])
    out = viz.savefig(fig, tmp_path / "a" / "b" / "grid.png")
    assert out.exists() and out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="folder"):
        viz.savefig(fig, tmp_path)
