"""Prompt playground: state callbacks, frame contents, and the ipywidgets adapter driven without a browser."""
import numpy as np
import pytest
import torch

from gsam_lab import data, metrics, sam
from gsam_lab.widgets import PlaygroundFrame, PlaygroundState, PromptPlayground, playground_frame
from gsam_lab.widgets import playground_state as pp

H = W = 128


@pytest.fixture(scope="module")
def image():
    return data.render_pinhole(data.make_world(0), H, W, 60)["image"]


@pytest.fixture(scope="module")
def model():
    return sam.load_sam("tiny-synth", pretrained=False)


@pytest.fixture(scope="module")
def predictor(model):
    return sam.PromptPredictor(model)


class CountingPredictor:
    """Wraps a predictor and records every predict call's batch size."""

    def __init__(self, inner):
        self.inner, self.calls = inner, []

    def set_image(self, img):
        self.inner.set_image(img)
        return self

    def predict(self, boxes=None, points=None, labels=None, **kw):
        n = len(boxes) if boxes is not None else len(points)
        self.calls.append(dict(n=n, boxes=None if boxes is None else np.array(boxes),
                               points=None if points is None else np.array(points)))
        return self.inner.predict(boxes=boxes, points=points, labels=labels, **kw)


class BoxPredictor:
    """A fake SAM whose mask is exactly the (inclusive) box: frequency maps become predictable."""

    def __init__(self):
        self.calls = 0

    def set_image(self, img):
        self.hw = img.shape[:2]
        return self

    def predict(self, boxes=None, points=None, labels=None, multimask=False):
        self.calls += 1
        boxes = np.asarray(boxes)
        m = torch.zeros(len(boxes), *self.hw, dtype=torch.bool)
        for i, (x0, y0, x1, y1) in enumerate(np.round(boxes).astype(int)):
            m[i, y0:y1 + 1, x0:x1 + 1] = True
        return sam.Prediction(m, torch.ones(len(boxes)), torch.zeros(len(boxes), 1, 4, 4))


# -- state ----------------------------------------------------------------------------------------
def test_add_point_undo_reset(image):
    s0 = PlaygroundState(image, noise=0.2, draws=5)
    s1 = pp.add_point(s0, 10.4, 20.6)
    s2 = pp.add_point(s1, 30, 40, positive=False)
    assert s0.points == () and s1.points == ((10, 21),)          # inputs untouched; pixels rounded
    assert s2.points == ((10, 21), (30, 40)) and s2.labels == (1, 0)
    assert pp.undo(s2).points == s1.points and pp.undo(pp.undo(s2)).points == ()
    assert pp.undo(s0) is s0                                      # nothing to undo
    r = pp.reset(s2)
    assert not r.has_prompt and r.history == () and (r.noise, r.draws) == (0.2, 5)


def test_box_corner_order_and_replacement(image):
    s = PlaygroundState(image)
    s1 = pp.set_box(s, 90, 100, 20, 30)
    assert s1.box == (20, 30, 90, 100) and s1.points == ()
    assert pp.set_box(s, 20, 100, 90, 30).box == (20, 30, 90, 100)
    s2 = pp.set_box(pp.add_point(s1, 50, 50), 5, 5, 60, 70)
    assert s2.box == (5, 5, 60, 70) and s2.points == ((50, 50),)  # a new box replaces the old, points stay
    assert pp.undo(s2).box == (20, 30, 90, 100)


def test_short_drag_is_a_click(image):
    s = PlaygroundState(image)
    t = pp.set_box(s, 10, 10, 11, 12)                             # < DRAG_THRESHOLD in x and y
    assert t.box is None and t.points == ((10, 10),) and t.labels == (1,)
    t = pp.set_box(s, 10, 10, 12, 11, positive=False)
    assert t.box is None and t.labels == (0,)
    t = pp.set_box(s, 10, 10, 10, 10 + pp.DRAG_THRESHOLD)          # long enough in one direction: a box
    assert t.box == (10, 10, 10, 13) and t.points == ()
    assert pp.set_box(s, 10, 10, 15, 10, min_drag=8).box is None


def test_settings_and_errors(image):
    s = PlaygroundState(image)
    s1 = pp.set_draws(pp.set_noise(pp.set_negative(s, True), 0.35), 12)
    assert (s1.noise, s1.draws, s1.negative) == (0.35, 12, True) and s1.history == ()  # not undoable
    for x, y in [(-1, 5), (W, 5), (5, H), (5, -0.6)]:
        with pytest.raises(ValueError, match="outside the 128 x 128 image"):
            pp.add_point(s, x, y)
    with pytest.raises(ValueError, match="outside"):
        pp.set_box(s, 0, 0, W + 5, 20)
    with pytest.raises(ValueError, match="not finite"):
        pp.add_point(s, float("nan"), 3)
    with pytest.raises(ValueError, match=r"noise must lie in \[0, 0.5\]"):
        pp.set_noise(s, 0.6)
    with pytest.raises(ValueError, match="draws must lie"):
        pp.set_draws(s, 0)
    with pytest.raises(ValueError, match="draws must lie"):
        pp.set_draws(s, 33)
    with pytest.raises(TypeError, match="draws must be an int"):
        pp.set_draws(s, 2.5)
    with pytest.raises(ValueError, match="H x W x 3"):
        PlaygroundState(np.zeros((8, 8), np.uint8))


# -- frame ----------------------------------------------------------------------------------------
def test_no_prompt_shows_the_plain_image(predictor, image):
    f = playground_frame(predictor, PlaygroundState(image))
    assert isinstance(f, PlaygroundFrame)
    assert f.mask is None and f.frequency is None and f.area == 0 and f.stability is None
    assert (f.overlay == image).all()


def test_click_gives_a_mask_and_coloured_dots(predictor, image):
    s = pp.add_point(PlaygroundState(image), 40, 50)
    f = playground_frame(predictor, s)
    assert f.mask.shape == (H, W) and f.mask.dtype == bool and f.area == int(f.mask.sum())
    assert f.overlay.shape == (H, W, 3) and f.overlay.dtype == np.uint8
    assert (f.overlay != image).any()
    assert tuple(f.overlay[50, 40]) == pp.POSITIVE_COLOR
    assert isinstance(f.predicted_iou, float) and f.frequency is None  # no box: no draws
    f2 = playground_frame(predictor, pp.add_point(s, 100, 20, positive=False))
    assert tuple(f2.overlay[20, 100]) == pp.NEGATIVE_COLOR and tuple(f2.overlay[50, 40]) == pp.POSITIVE_COLOR
    # the mask is the predictor's own for these prompts
    ref = predictor.predict(points=np.array([[[40, 50], [100, 20]]]), labels=np.array([[1, 0]])).masks[0].numpy()
    assert (f2.mask == ref).all()


def test_box_outline_is_drawn(predictor, image):
    f = playground_frame(predictor, pp.set_box(PlaygroundState(image), 20, 30, 90, 100))
    assert tuple(f.overlay[30, 60]) == pp.BOX_COLOR and tuple(f.overlay[60, 20]) == pp.BOX_COLOR


def test_noise_zero_frequency_is_the_mask(predictor, image):
    s = pp.set_box(PlaygroundState(image, noise=0.0, draws=8), 20, 30, 90, 100)
    f = playground_frame(predictor, s)
    assert f.frequency.dtype == np.float32 and (f.frequency == f.mask).all()
    assert f.stability == 1.0 and f.noisy_boxes.shape == (8, 4)
    assert np.allclose(f.noisy_boxes, [20, 30, 90, 100])          # every draw is the box itself


def test_one_draw_frequency_is_that_draws_mask(predictor, image):
    s = pp.set_box(PlaygroundState(image, noise=0.3, draws=1), 20, 30, 90, 100)
    f = playground_frame(predictor, s, seed=3)
    assert set(np.unique(f.frequency).tolist()) <= {0.0, 1.0} and f.stability is None
    alone = predictor.predict(boxes=f.noisy_boxes).masks[0].numpy()
    assert (f.frequency.astype(bool) != alone).mean() < 1e-3      # batch vs single decode: same mask


def test_noisy_draws_frequency_and_stability(predictor, image):
    s = pp.set_box(PlaygroundState(image, noise=0.3, draws=8), 20, 30, 90, 100)
    f = playground_frame(predictor, s, seed=1)
    assert f.frequency.shape == (H, W) and 0.0 <= f.frequency.min() and f.frequency.max() <= 1.0
    assert np.allclose(f.frequency * 8, np.round(f.frequency * 8), atol=1e-5)   # fractions of 8 draws
    assert f.noisy_boxes.shape == (8, 4) and not np.allclose(f.noisy_boxes, [20, 30, 90, 100])
    assert 0.0 <= f.stability <= 1.0
    again = playground_frame(predictor, s, seed=1)
    assert (again.frequency == f.frequency).all() and (again.overlay == f.overlay).all()
    other = playground_frame(predictor, s, seed=2)
    assert not np.allclose(other.noisy_boxes, f.noisy_boxes)
    # stability is the mean pairwise IoU of the draws' masks
    draws = predictor.predict(boxes=f.noisy_boxes).masks
    assert abs(metrics.mean_pairwise_iou(draws) - f.stability) < 0.02


def test_frequency_with_a_box_shaped_mask():
    img = np.full((64, 64, 3), 90, np.uint8)
    fake = BoxPredictor()
    s = pp.set_box(PlaygroundState(img, noise=0.4, draws=16), 16, 16, 47, 47)
    f = playground_frame(fake, s)
    assert fake.calls == 1
    assert f.frequency[32, 32] == 1.0 and f.frequency[0, 63] == 0.0    # centre always in, far corner never
    inside_some = (f.frequency > 0) & (f.frequency < 1)
    assert inside_some.any() and f.stability < 1.0
    assert (f.mask == (np.indices((64, 64)).min(0) >= 16) & (np.indices((64, 64)).max(0) <= 47)).all()
    # heat tint where the frequency is above 0 (outside the mask); the plain image where it is 0
    ys, xs = np.nonzero(inside_some & ~f.mask)
    assert (f.overlay[ys[0], xs[0]] != 90).any() and (f.overlay[63, 0] == 90).all()
    # the same seed with more draws keeps the earlier boxes (a smooth slider)
    more = playground_frame(fake, pp.set_draws(s, 20))
    assert np.allclose(more.noisy_boxes[:16], f.noisy_boxes)


def test_one_batched_predict_call_per_frame(predictor, image):
    counting = CountingPredictor(predictor)
    s = pp.set_box(pp.add_point(PlaygroundState(image, noise=0.25, draws=5), 50, 60), 20, 30, 90, 100)
    playground_frame(counting, s)
    assert len(counting.calls) == 1
    call = counting.calls[0]
    assert call["n"] == 6                                      # the box as given + 5 noisy draws
    assert np.allclose(call["boxes"][0], [20, 30, 90, 100])
    assert call["points"].shape == (6, 1, 2) and (call["points"] == [50, 60]).all()
    counting.calls.clear()
    playground_frame(counting, pp.add_point(PlaygroundState(image, noise=0.25), 5, 5))  # points only
    assert [c["n"] for c in counting.calls] == [1]
    counting.calls.clear()
    playground_frame(counting, PlaygroundState(image))                                    # nothing to predict
    assert counting.calls == []


# -- widget ---------------------------------------------------------------------------------------
def _mouse(kind, x, y, shift=False, button=0, rect=512):
    return dict(type=kind, dataX=x, dataY=y, relativeX=x * rect / W, relativeY=y * rect / H,
                boundingRectWidth=rect, boundingRectHeight=rect, shiftKey=shift, button=button)


@pytest.fixture()
def playground(predictor, image, fake_colab):
    pytest.importorskip("ipywidgets")
    pytest.importorskip("ipyevents")
    pg = PromptPlayground(predictor, image, noise=0.0, draws=4)   # shared predictor: cached embedding
    pg.colab_calls = fake_colab       # in Colab, building the widget switched on Colab's widget manager
    return pg


def test_widget_construction(playground, model, image):
    import ipywidgets as W

    pg = playground
    assert pg.colab_calls == ["enable_custom_widget_manager"]
    assert isinstance(PromptPlayground(model, image).predictor, sam.PromptPredictor)   # a model is wrapped
    assert isinstance(pg.image_widget, W.Image) and pg.image_widget.value[:4] == b"\x89PNG"
    assert isinstance(pg.widget, W.VBox) and pg.frame.mask is None
    assert (pg.noise.min, pg.noise.max, pg.draws.min, pg.draws.max) == (0.0, 0.5, 1, 32)
    assert pg.events.source is pg.image_widget and {"mousedown", "mouseup"} <= set(pg.events.watched_events)
    assert "click a point" in pg.info.value


def test_widget_click_and_drag_by_events(playground):
    pg = playground
    before = pg.image_widget.value
    assert pg.handle_event(_mouse("mousedown", 40, 50)) is None
    pg.handle_event(_mouse("mouseup", 40, 50))
    assert pg.state.points == ((40, 50),) and pg.state.labels == (1,)
    assert pg.image_widget.value != before and pg.frame.mask is not None
    assert tuple(pg.frame.overlay[50, 40]) == pp.POSITIVE_COLOR
    pg.handle_event(_mouse("mousedown", 10, 20))
    pg.handle_event(_mouse("mouseup", 100, 90))
    assert pg.state.box == (10, 20, 100, 90) and len(pg.state.points) == 1
    assert "stability" in pg.info.value


def test_widget_negative_points(playground):
    pg = playground
    pg.handle_event(_mouse("mousedown", 30, 30, shift=True))
    pg.handle_event(_mouse("mouseup", 30, 30, shift=True))
    assert pg.state.labels == (0,)
    assert tuple(pg.frame.overlay[30, 30]) == pp.NEGATIVE_COLOR
    pg.negative.value = True
    assert pg.state.negative and "negative" in pg.info.value
    pg.handle_event(_mouse("mousedown", 60, 60))
    pg.handle_event(_mouse("mouseup", 60, 60))
    pg.click(70, 70)                                  # positive=None follows the toggle
    pg.click(80, 80, positive=True)
    assert pg.state.labels == (0, 0, 0, 1)


def test_widget_coordinate_mapping(playground):
    pg = playground
    # relative coordinates scaled by the displayed size when dataX/dataY are missing
    pg.handle_event(dict(type="mousedown", relativeX=256, relativeY=130, boundingRectWidth=512, boundingRectHeight=512))
    pg.handle_event(dict(type="mouseup", relativeX=257, relativeY=131, boundingRectWidth=512, boundingRectHeight=512))
    assert pg.state.points == ((64, 32),)
    # a drag that ends outside the image ends at its border; leaving the image finishes a drag
    pg.handle_event(_mouse("mousedown", 100, 100))
    pg.handle_event(_mouse("mouseup", 140, -3))
    assert pg.state.box == (100, 0, 127, 100)
    pg.handle_event(_mouse("mousedown", 5, 5))
    pg.handle_event(_mouse("mouseleave", 60, 128))
    assert pg.state.box == (5, 5, 60, 127)
    n = len(pg.state.history)
    pg.handle_event(_mouse("mouseleave", 1, 1))        # no press pending: ignored
    pg.handle_event(_mouse("mouseup", 1, 1))
    pg.handle_event(_mouse("mousedown", 9, 9, button=2))   # right button: ignored
    pg.handle_event(_mouse("mouseup", 9, 9, button=2))
    assert len(pg.state.history) == n
    with pytest.raises(ValueError, match="without a position"):
        pg.event_to_pixel({"type": "mousedown"})


def test_widget_click_vs_drag_threshold_in_screen_pixels(predictor, image):
    pytest.importorskip("ipywidgets")
    # the image shown 4x smaller than its pixels: a 3-pixel wobble on screen is 12 image pixels
    big = np.repeat(np.repeat(image, 4, 0), 4, 1)
    pg = PromptPlayground(predictor, big, display_width=128)
    pg.handle_event(dict(_mouse("mousedown", 200, 200), boundingRectWidth=128, boundingRectHeight=128))
    pg.handle_event(dict(_mouse("mouseup", 212, 206), boundingRectWidth=128, boundingRectHeight=128))
    assert pg.state.box is None and pg.state.points == ((200, 200),)
    pg.drag(200, 200, 240, 240)
    assert pg.state.box == (200, 200, 240, 240)


def test_widget_sliders_and_buttons(playground):
    pg = playground
    pg.drag(20, 30, 90, 100)
    pg.click(50, 60)
    v0 = pg.image_widget.value
    pg.noise.value = 0.3
    assert pg.frame.noise == 0.3 and pg.frame.draws == 4 and pg.frame.frequency is not None
    assert pg.image_widget.value != v0
    v1 = pg.image_widget.value
    pg.draws.value = 6
    assert pg.frame.draws == 6 and pg.frame.noisy_boxes.shape == (6, 4) and pg.image_widget.value != v1
    pg.undo_button.click()
    assert pg.state.points == () and pg.state.box == (20, 30, 90, 100)
    pg.reset_button.click()
    assert not pg.state.has_prompt and pg.frame.mask is None
    assert (pg.frame.overlay == pg.state.image).all() and pg.state.noise == 0.3


def test_widget_makes_one_predict_call_per_update(predictor, image):
    pytest.importorskip("ipywidgets")
    counting = CountingPredictor(predictor)
    pg = PromptPlayground(counting, image, noise=0.2, draws=3)
    assert counting.calls == []                            # no prompt yet
    pg.drag(20, 30, 90, 100)
    assert [c["n"] for c in counting.calls] == [4]
    pg.draws.value = 5
    assert [c["n"] for c in counting.calls] == [4, 6]


def test_widget_rejects_other_models(image):
    pytest.importorskip("ipywidgets")
    with pytest.raises(TypeError, match="Sam model"):
        PromptPlayground(object(), image)
