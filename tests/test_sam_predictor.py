"""gsam_lab.sam.PromptPredictor gives SamPredictor's masks, batched; bad inputs are clear errors."""
import numpy as np
import pytest
import torch
from segment_anything import SamPredictor

from gsam_lab import sam

H, W = 48, 80


@pytest.fixture(scope="module")
def model(tiny_sam):
    return tiny_sam


@pytest.fixture(scope="module")
def image():
    rng = np.random.default_rng(0)
    img = np.zeros((H, W, 3), np.uint8)
    img[:] = rng.integers(0, 256, 3)
    img[10:30, 20:50] = rng.integers(0, 256, 3)
    return np.clip(img + rng.integers(0, 30, img.shape), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def pred(model, image):
    return sam.PromptPredictor(model).set_image(image)


@pytest.fixture(scope="module")
def ref(model, image):
    p = SamPredictor(model)
    p.set_image(image)
    return p


def random_boxes(n, seed=0):
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, [W - 10, H - 10], (n, 2))
    return np.concatenate([xy, np.minimum(xy + rng.uniform(3, 40, (n, 2)), [W, H])], 1)


def test_same_embedding(pred, ref):
    assert torch.equal(pred.get_image_embedding(), ref.get_image_embedding())


def test_boxes_match_sampredictor(pred, ref):
    boxes = random_boxes(5)
    out = pred.predict(boxes=boxes)
    assert out.masks.shape == (5, H, W) and out.masks.dtype == torch.bool
    assert out.iou_predictions.shape == (5,) and out.low_res_logits.shape == (5, 1, 128, 128)
    refs = [ref.predict(box=b, multimask_output=False) for b in boxes]
    want = np.stack([r[0][0] for r in refs])
    assert (out.masks.numpy() != want).sum() <= 5
    ious = np.array([r[1][0] for r in refs])
    assert np.allclose(out.iou_predictions.numpy(), ious, atol=1e-5)


def test_points_and_multimask_match_sampredictor(pred, ref):
    rng = np.random.default_rng(1)
    pts = rng.uniform(0, [W - 1, H - 1], (3, 3, 2))
    labs = np.array([[1, 1, 0]] * 3)
    out = pred.predict(points=pts, labels=labs, multimask=True)
    assert out.masks.shape == (3, 3, H, W) and out.iou_predictions.shape == (3, 3)
    want = np.stack([ref.predict(point_coords=p, point_labels=l, multimask_output=True)[0] for p, l in zip(pts, labs)])
    assert (out.masks.numpy() != want).sum() <= 5
    boxes = random_boxes(3, 2)  # boxes and points together
    both = pred.predict(boxes=boxes, points=pts, labels=labs)
    want = np.stack([ref.predict(point_coords=p, point_labels=l, box=b, multimask_output=False)[0][0]
                     for p, l, b in zip(pts, labs, boxes)])
    assert (both.masks.numpy() != want).sum() <= 5


def test_chunking_does_not_change_results(model, image, pred):
    boxes = random_boxes(4, 3)
    small = sam.PromptPredictor(model, max_batch=2).set_image(image)
    assert (small.predict(boxes=boxes).masks != pred.predict(boxes=boxes).masks).sum() <= 5


def test_single_prompt_shapes_and_logits(pred):
    out = pred.predict(boxes=[5, 5, 30, 30])
    assert out.masks.shape == (1, H, W)
    lg = pred.predict(boxes=[5, 5, 30, 30], return_logits=True).masks
    assert lg.dtype == torch.float32 and torch.equal(lg > 0, out.masks)
    p1 = pred.predict(points=[[10, 10]], labels=[1])
    assert p1.masks.shape == (1, H, W)
    again = pred.predict(boxes=[5, 5, 30, 30], mask_input=out.low_res_logits)
    assert again.masks.shape == (1, H, W)


def test_image_formats(model, image, pred):
    p = sam.PromptPredictor(model, cache_size=0)
    boxes = random_boxes(2)
    want = pred.predict(boxes=boxes).masks
    assert torch.equal(p.set_image(image.astype(np.float32) / 255).predict(boxes=boxes).masks, want)
    chw = torch.from_numpy(image).permute(2, 0, 1).float() / 255
    assert torch.equal(p.set_image(chw).predict(boxes=boxes).masks, want)


def test_embedding_cache(model, image):
    p = sam.PromptPredictor(model, cache_size=2)
    f1 = p.set_image(image).features
    p.set_image(image[::-1].copy())
    assert p.set_image(image).features is f1


@pytest.mark.parametrize("bad, err, match", [
    (np.zeros((H, W), np.uint8), ValueError, "H x W x 3"),
    (np.zeros((H, W, 4), np.uint8), ValueError, "H x W x 3"),
    (np.full((H, W, 3), 200.0), ValueError, r"\[0, 1\]"),
    (np.zeros((H, W, 3), np.int32), TypeError, "uint8"),
    (np.full((H, W, 3), np.nan, np.float32), ValueError, "NaN"),
    ([[1, 2, 3]], TypeError, "numpy"),
])
def test_bad_images(model, bad, err, match):
    with pytest.raises(err, match=match):
        sam.PromptPredictor(model).set_image(bad)


def test_predict_before_set_image(model):
    with pytest.raises(RuntimeError, match="set_image"):
        sam.PromptPredictor(model).predict(boxes=[0, 0, 5, 5])


@pytest.mark.parametrize("kw, match", [
    (dict(), "no prompt"),
    (dict(boxes=[[0, 0, W + 5, 10]]), "outside"),
    (dict(points=[[[-3, 4]]], labels=[[1]]), "outside"),
    (dict(boxes=[[10, 10, 5, 20]]), "x1 < x0"),
    (dict(boxes=np.zeros((2, 3))), "N x 4"),
    (dict(boxes=np.zeros((0, 4))), "empty"),
    (dict(points=np.zeros((2, 0, 2)), labels=np.zeros((2, 0))), "empty point list"),
    (dict(points=np.zeros((2, 3, 2)), labels=np.ones((2, 2))), "labels must be N x K"),
    (dict(points=np.zeros((2, 1, 2))), "together"),
    (dict(points=np.zeros((2, 1, 2)), labels=np.full((2, 1), 3)), "labels must be 1"),
    (dict(boxes=random_boxes(3), points=np.zeros((2, 1, 2)), labels=np.ones((2, 1))), "same N"),
    (dict(boxes=[[0, 0, np.nan, 4]]), "NaN"),
])
def test_bad_prompts(pred, kw, match):
    with pytest.raises(ValueError, match=match):
        pred.predict(**kw)


def test_nan_mask_input_and_bad_max_batch_are_refused(model, pred):
    low = pred.predict(boxes=[5, 5, 30, 30]).low_res_logits.clone()
    low[0, 0, 3, 3] = float("nan")
    with pytest.raises(ValueError, match="mask_input has NaN"):
        pred.predict(boxes=[5, 5, 30, 30], mask_input=low)
    for bad in (0, -2, 1.5, True):
        with pytest.raises(ValueError, match="max_batch must be None or a positive int"):
            sam.PromptPredictor(model, max_batch=bad)


def test_clip_warns_and_clips(pred):
    with pytest.warns(UserWarning, match="clipped"):
        out = pred.predict(boxes=[[-10, 5, W + 20, 30]], clip=True)
    assert torch.equal(out.masks, pred.predict(boxes=[[0, 5, W, 30]]).masks)


@pytest.mark.parametrize("hw", [(256, 256), (120, 200)])
def test_postprocessing_equals_sams_bit_for_bit(model, hw):
    """At the model's own input size the last resize is skipped (bilinear at scale 1): same logits as Sam's."""
    img = np.random.default_rng(1).integers(0, 256, (*hw, 3), dtype=np.uint8)
    p = sam.PromptPredictor(model).set_image(img)
    low = torch.randn(3, 1, 128, 128, generator=torch.Generator().manual_seed(0))
    want = model.postprocess_masks(low, p.input_size, p.original_size)
    got = p._postprocess(low)
    assert got.shape == want.shape == (3, 1, *hw)
    assert torch.equal(got, want)


def test_the_default_runs_sams_own_modules(model, image):
    """By default every chunk goes through SAM's decoder modules (hooks fire); the fast path is opt-in."""
    p = sam.PromptPredictor(model, max_batch=2).set_image(image)
    assert not p.fast and not p.uses_fast_decoder()
    seen = []
    handle = model.mask_decoder.transformer.register_forward_hook(lambda mod, args, out: seen.append(out[0].shape[0]))
    try:
        p.predict(boxes=random_boxes(5, 4))
    finally:
        handle.remove()
    assert seen == [2, 2, 1]


def test_an_image_too_elongated_to_resize_is_named(tiny_sam):
    with pytest.raises(ValueError, match="1 x 100000 px is too elongated"):
        sam.PromptPredictor(tiny_sam).set_image(np.zeros((1, 100000, 3), np.uint8))


def test_many_prompts_at_once_warn_once_with_the_count_and_a_batch_size(model, image, monkeypatch):
    import warnings

    from gsam_lab.sam import decoding

    owner = type("Owner", (), {})()
    with pytest.warns(RuntimeWarning, match=r"2000 prompts in one predict call: .* 141 MB .*e\.g\. 910 at"):
        decoding.warn_many_prompts(owner, 2000, 1, (32, 32), (64, 128), False)      # tiny-synth on a 64 x 128 image
    p = sam.PromptPredictor(model).set_image(image)
    per = 16 * np.prod(p.features.shape[-2:]) * 4 + H * W                           # one low-res logit map, one mask
    monkeypatch.setattr(decoding, "LARGE_OUTPUT_BYTES", int(10 * per))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        p.predict(boxes=random_boxes(9))                                            # under the limit: silent
    with pytest.warns(RuntimeWarning, match=r"12 prompts in one predict call.*e\.g\. 5 at a time") as caught:
        p.predict(boxes=random_boxes(12))
    assert caught[0].filename == __file__                                          # points at the caller
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        p.predict(boxes=random_boxes(12), multimask=True)                           # once per predictor
