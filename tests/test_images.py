"""gsam_lab.images: the one home of image conversions (model input, display, PNG, B x C x H x W batches)."""
import ast
import io
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from gsam_lab import images, sam, viz
from gsam_lab.widgets import images as widget_images

RGB = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)


def test_the_module_sits_at_the_bottom_of_the_import_graph():
    tree = ast.parse(Path(images.__file__).read_text())
    mods = [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    mods += [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    assert not [m for m in mods if m.startswith("gsam_lab")]
    assert not [n for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.level > 0]


def test_the_public_names_elsewhere_are_these_functions():
    assert sam.as_rgb_uint8 is images.as_rgb_uint8
    assert viz.to_numpy_image is images.to_numpy_image
    assert widget_images.to_png is images.to_png


def test_as_rgb_uint8_layouts_and_rounding():
    chw = torch.from_numpy(RGB).permute(2, 0, 1)
    assert np.array_equal(images.as_rgb_uint8(chw), RGB)
    assert np.array_equal(images.as_rgb_uint8(chw.float() / 255), RGB)
    assert np.array_equal(images.as_rgb_uint8(RGB.astype(np.float32) / 255), RGB)
    assert images.as_rgb_uint8(np.array([[[0.0, 0.4, 1.0]]])).tolist() == [[[0, 102, 255]]]


@pytest.mark.parametrize("bad, err, match", [
    (np.zeros((5, 7), np.uint8), ValueError, "H x W x 3"),
    (torch.zeros(4, 5, 7), ValueError, "H x W x 3"),
    (np.zeros((0, 7, 3), np.uint8), ValueError, "empty"),
    (np.full((5, 7, 3), 200.0), ValueError, r"\[0, 1\].*astype\(np.uint8\)"),
    (np.full((5, 7, 3), np.nan), ValueError, "NaN"),
    (np.zeros((5, 7, 3), bool), TypeError, "uint8"),
    ([[[1, 2, 3]]], TypeError, "numpy array or torch tensor"),
])
def test_as_rgb_uint8_refuses_what_it_would_misread(bad, err, match):
    with pytest.raises(err, match=match):
        images.as_rgb_uint8(bad, "img")


def test_to_uint8_strict_and_lenient():
    f = np.array([[-1.0, 0.5, 2.0, np.nan]])
    assert images.to_uint8(f, strict=False).tolist() == [[0, 128, 255, 0]]
    with pytest.raises(ValueError, match="NaN"):
        images.to_uint8(f)
    assert images.to_uint8(np.array([True, False]), strict=False).tolist() == [255, 0]
    with pytest.raises(TypeError, match="dtype bool"):
        images.to_uint8(np.array([True, False]))
    with pytest.raises(ValueError, match="0..255"):
        images.to_uint8(np.array([256]), strict=False)


def test_to_png_round_trip():
    for arr in (RGB, RGB[..., 0]):
        assert np.array_equal(np.asarray(Image.open(io.BytesIO(images.to_png(arr)))), arr)
    with pytest.raises(ValueError, match="uint8"):
        images.to_png(RGB.astype(np.float32))


@pytest.mark.parametrize("img", [RGB, RGB[..., 0], torch.from_numpy(RGB).permute(2, 0, 1),
                                 torch.from_numpy(RGB).permute(2, 0, 1)[None], torch.from_numpy(RGB[..., 0])])
def test_to_batch_and_back_restore_the_layout_and_dtype(img):
    ib = images.to_batch(img, "img")
    assert ib.x.dim() == 4 and ib.hw == (5, 7)
    out = images.from_batch(ib.x.float()[:, None] + 0.4, ib, multi=False)     # B x V x C x H x W, rounded back
    assert type(out) is type(img) and out.shape == img.shape and out.dtype == img.dtype
    assert (np.asarray(out) == np.asarray(img)).all()
    with pytest.raises(TypeError, match="img must be a torch.Tensor or a numpy.ndarray"):
        images.to_batch([1, 2], "img")
