"""Decoder attention captured by hooks: the recomputed weights are the ones the module used."""
import numpy as np
import pytest
import torch

from gsam_lab import sam
from gsam_lab.sam.attention import _weights, attention_layers, attention_mass, capture_attention, decoder_attention


@pytest.fixture(scope="module")
def predictor(tiny_sam):
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (96, 128, 3), dtype=np.uint8)
    return sam.PromptPredictor(tiny_sam).set_image(img)


def test_recomputed_weights_reproduce_module_output(predictor):
    module = predictor.model.mask_decoder.transformer.final_attn_token_to_image
    seen = {}

    def hook(mod, args, kwargs, output):
        q, k, v = kwargs["q"], kwargs["k"], kwargs["v"]
        w = _weights(mod, q, k)                           # B x heads x Nq x Nk
        vv = mod.v_proj(v)
        b, n, c = vv.shape
        vv = vv.reshape(b, n, mod.num_heads, c // mod.num_heads).transpose(1, 2)
        out = (w @ vv).transpose(1, 2).reshape(b, -1, c)
        seen["diff"] = (mod.out_proj(out) - output).abs().max().item()

    h = module.register_forward_hook(hook, with_kwargs=True)
    try:
        predictor.predict(boxes=np.array([[10, 10, 60, 50]]))
    finally:
        h.remove()
    assert seen["diff"] < 1e-5


def test_decoder_attention_shapes_and_normalisation(predictor):
    boxes = np.array([[10, 10, 60, 50], [0, 0, 127, 95], [70, 40, 120, 90]])
    att = decoder_attention(predictor, boxes=boxes)
    assert att.grid.shape == (3, 32, 32)
    assert att.maps.shape == (3, 96, 128)
    assert att.masks.shape == (3, 96, 128)
    np.testing.assert_allclose(att.grid.sum(axis=(1, 2)), 1.0, atol=1e-4)
    np.testing.assert_allclose(att.maps.sum(axis=(1, 2)), 1.0, atol=1e-4)
    # the masks are the predictor's own masks for these prompts
    np.testing.assert_array_equal(att.masks, predictor.predict(boxes=boxes).masks.numpy())
    # different prompts look at different places
    assert not np.allclose(att.grid[0], att.grid[2])


def test_every_layer_can_be_read_and_hooks_are_removed(predictor):
    module = predictor.model.mask_decoder.transformer.final_attn_token_to_image
    names = attention_layers(predictor.model)
    assert names[-1] == "final" and len(names) == len(predictor.model.mask_decoder.transformer.layers) + 1
    for name in names:
        att = decoder_attention(predictor, points=np.array([[[30.0, 40.0]]]), labels=np.array([[1]]), layer=name)
        assert att.layer == name and np.isfinite(att.grid).all()
    assert len(module._forward_hooks) == 0
    with pytest.raises(ValueError, match="unknown attention layer"):
        decoder_attention(predictor, boxes=np.array([[0, 0, 10, 10]]), layer="layer99")


def test_capture_attention_collects_one_entry_per_decoder_call(predictor):
    predictor.max_batch = 2
    try:
        with capture_attention(predictor.model) as got:
            predictor.predict(boxes=np.array([[0, 0, 20, 20]] * 5))
    finally:
        predictor.max_batch = None
    assert [g.shape[0] for g in got] == [2, 2, 1]


def test_attention_mass():
    maps = np.zeros((2, 4, 4))
    maps[0, :2] = 1.0
    maps[1, :, :1] = 1.0
    mask = np.zeros((4, 4), bool)
    mask[:2] = True
    np.testing.assert_allclose(attention_mass(maps, mask), [1.0, 0.5])
    with pytest.raises(ValueError, match="shape"):
        attention_mass(maps, np.zeros((3, 4, 4), bool))
