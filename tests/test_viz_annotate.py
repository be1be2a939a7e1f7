"""Names written inside masks: the point is inside the mask, away from its outline and the image's edge."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from gsam_lab import viz  # noqa: E402


def test_the_point_of_a_square_is_its_centre():
    m = np.zeros((20, 30), bool)
    m[4:13, 10:19] = True                              # rows 4..12, columns 10..18: centre pixel (14, 8)
    assert viz.label_point(m) == (14.5, 8.5)


def test_a_band_along_the_image_edge_is_labelled_in_its_middle():
    """The image's edge is an outline: a sky-like band gets its name halfway down and halfway across."""
    m = torch.zeros(16, 64, dtype=torch.bool)
    m[:5] = True
    x, y = viz.label_point(m)
    assert y == 2.5 and abs(x - 32) <= 1


def test_the_point_lies_inside_a_concave_mask():
    m = np.zeros((40, 40), bool)
    m[5:35, 5:12] = True                               # an L: its bounding-box centre is outside it
    m[28:35, 5:35] = True
    x, y = viz.label_point(m)
    assert m[int(y), int(x)]


def test_an_empty_mask_has_no_point_and_gets_no_text():
    assert viz.label_point(np.zeros((8, 8), bool)) is None
    fig, ax = plt.subplots()
    masks = np.zeros((2, 8, 16), bool)
    masks[1, 2:6, 4:12] = True
    done = viz.annotate_masks(ax, masks, ["empty", "one"], color="red")
    assert [a.get_text() for a in done] == ["one"] and done[0].xy == viz.label_point(masks[1])
    assert done[0].get_color() == "red"
    plt.close(fig)


def test_masks_and_texts_must_pair_up():
    with pytest.raises(ValueError, match="2 masks but 1 texts"):
        viz.annotate_masks(None, np.zeros((2, 4, 4), bool), ["a"])
