"""Image embeddings shared by the predictors of one SAM encoder (gsam_lab.sam.embeddings): reused only while
the encoder's weights are the ones that made them."""
import copy

import numpy as np
import pytest
import torch

from gsam_lab import sam, stable_sam
from gsam_lab.sam import embeddings


@pytest.fixture()
def model(tiny_sam):
    """A copy of the shared tiny SAM (these tests edit weights), with no shared embeddings yet."""
    m = copy.deepcopy(tiny_sam)
    yield m
    embeddings.clear_shared_embeddings(m.image_encoder)


def _image(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (48, 80, 3), dtype=np.uint8)


def test_a_second_predictor_reuses_the_first_ones_embedding(model):
    img = _image()
    first = sam.PromptPredictor(model).set_image(img).features
    assert sam.PromptPredictor(model).set_image(img).features is first
    assert sam.PromptPredictor(model).set_image(_image(1)).features is not first      # another image
    fresh = sam.PromptPredictor(model, cache_size=0).set_image(img).features           # opted out: embeds
    assert fresh is not first and torch.equal(fresh, first)
    embeddings.clear_shared_embeddings(model.image_encoder)
    assert sam.PromptPredictor(model).set_image(img).features is not first


def test_stable_sam_shares_the_embedding_of_the_sam_it_wraps(model):
    img, boxes = _image(), np.array([[5, 5, 40, 30], [20, 10, 70, 40]])
    plain = sam.PromptPredictor(model).set_image(img)
    stable = stable_sam.StableSamPredictor(stable_sam.StableSam(model, dsp=True, drp=True)).set_image(img)
    assert stable.features is plain.features                 # a frozen SAM: its weights did not change
    a, b = (p.predict(boxes=boxes, return_logits=True).low_res_logits for p in (plain, stable))
    assert torch.equal(a, b)                                 # untrained plugins: still SAM's logits


def test_changed_weights_embed_afresh(model):
    img = _image()
    first = sam.PromptPredictor(model).set_image(img).features
    saved = copy.deepcopy(model.image_encoder.state_dict())
    with torch.no_grad():                                    # an in-place edit, as an optimiser step makes
        next(model.image_encoder.parameters()).add_(0.5)
    edited = sam.PromptPredictor(model).set_image(img).features
    assert edited is not first and not torch.equal(edited, first)
    model.image_encoder.load_state_dict(saved)               # the old values, written into the same tensors
    back = sam.PromptPredictor(model).set_image(img).features
    assert back is not first and back is not edited and torch.equal(back, first)
    assert sam.PromptPredictor(model).set_image(img).features is back
    model.pixel_mean.add_(10.0)                              # the input's normalisation is part of the key too
    shifted = sam.PromptPredictor(model).set_image(img).features
    assert shifted is not back and not torch.equal(shifted, back)


def test_embeddings_made_under_autocast_are_not_shared(model):
    img = _image()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        a = sam.PromptPredictor(model).set_image(img).features
        b = sam.PromptPredictor(model).set_image(img).features
    assert a is not b
    assert sam.PromptPredictor(model).set_image(img).features is not a


def test_only_the_last_few_embeddings_are_kept(model, monkeypatch):
    monkeypatch.setattr(embeddings, "SHARED_SIZE", 2)
    feats = [sam.PromptPredictor(model).set_image(_image(s)).features for s in range(3)]
    assert sam.PromptPredictor(model).set_image(_image(2)).features is feats[2]
    assert sam.PromptPredictor(model).set_image(_image(0)).features is not feats[0]   # the oldest went
