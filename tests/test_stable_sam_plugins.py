"""Stable-SAM plugins: exact no-op start, parameter budget, what each plugin computes, bad settings."""
import numpy as np
import pytest
import torch
from segment_anything.modeling import MaskDecoder, PromptEncoder, TwoWayTransformer

from gsam_lab import sam, stable_sam
from gsam_lab.stable_sam import DeformableSamplingPlugin, DynamicRoutingPlugin, StableSam, StableSamPredictor

OPTIONS = [dict(), dict(routing="hard"), dict(deform_attn=("layer2", "final")), dict(drp=False),
           dict(drp=False, deform_attn=("final",))]


@pytest.fixture(scope="module")
def tiny():
    torch.set_num_threads(1)
    return sam.load_sam("tiny-synth", device="cpu")


@pytest.fixture(scope="module")
def image():
    rng = np.random.default_rng(0)
    img = np.full((96, 128, 3), 90, np.uint8)
    img[20:60, 30:90] = (200, 60, 40)
    img[50:90, 70:120] = (40, 160, 220)
    return np.clip(img + rng.integers(0, 25, img.shape), 0, 255).astype(np.uint8)


def _prompts():
    boxes = np.array([[30, 20, 89, 59], [70, 50, 119, 89], [25, 15, 100, 70]], np.float32)
    pts = np.array([[[50, 40], [60, 30], [80, 45]], [[90, 70], [100, 80], [75, 60]]], np.float32)
    return boxes, pts, np.ones(pts.shape[:2], np.int64)


def test_untrained_stable_sam_predictor_gives_sams_masks_bit_for_bit_on_tiny_synth(tiny, image):
    base = sam.PromptPredictor(tiny).set_image(image)    # SAM's own modules (the default path)
    pred = StableSamPredictor(StableSam(tiny)).set_image(image)
    boxes, pts, labs = _prompts()
    for multimask in (False, True):
        a = base.predict(boxes=boxes, multimask=multimask, return_logits=True)
        b = pred.predict(boxes=boxes, multimask=multimask, return_logits=True)
        assert torch.equal(a.low_res_logits, b.low_res_logits) and torch.equal(a.iou_predictions, b.iou_predictions)
    a = base.predict(points=pts, labels=labs, return_logits=True)
    b = pred.predict(points=pts, labels=labs, return_logits=True)
    assert torch.equal(a.masks, b.masks) and torch.equal(a.low_res_logits, b.low_res_logits)


# With DRP, the routed tokens are a mix of two equal maps (untrained DSP: deformed == regular in value),
# computed into a fresh tensor in SAM's own layout (0.5 x + 0.5 x == x exactly; hard routing picks one):
# the attention reads exactly SAM's inputs, so the logits equal SAM's bit for bit, by construction.
# Without DRP the attention reads the deformed tokens as they come from grid_sample, a transposed view:
# equal values in another memory layout, so the matrix products take another kernel path and agree
# only up to float rounding (seen: 2e-7 on some CPUs, 0 on others).
EXACT = [kw for kw in OPTIONS[1:] if kw.get("drp", True)]
ROUNDING = [kw for kw in OPTIONS[1:] if not kw.get("drp", True)]


def _decoder_pair(tiny, stable):
    """(SAM's decoder output, the plugged decoder's output) for the same random embedding and points."""
    emb = torch.randn(1, 256, 32, 32, generator=torch.Generator().manual_seed(0))
    _, pts, labs = _prompts()
    sparse, dense = tiny.prompt_encoder(points=(torch.as_tensor(pts), torch.as_tensor(labs)), boxes=None, masks=None)
    with torch.no_grad():
        a = tiny.mask_decoder(emb, tiny.prompt_encoder.get_dense_pe(), sparse, dense, True)
        b = stable.decode(emb, sparse, dense, multimask_output=True)
    return a, b


@pytest.mark.parametrize("kw", EXACT)
def test_every_untrained_variant_with_routing_is_an_exact_noop_in_the_decoder(tiny, kw):
    a, b = _decoder_pair(tiny, StableSam(tiny, **kw))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


@pytest.mark.parametrize("kw", ROUNDING)
def test_untrained_dsp_without_routing_is_a_noop_up_to_rounding(tiny, kw):
    a, b = _decoder_pair(tiny, StableSam(tiny, **kw))
    scale = a[0].abs().max().item()
    assert (a[0] - b[0]).abs().max().item() <= 1e-5 * scale, "logits differ by more than float rounding"
    assert (a[1] - b[1]).abs().max().item() <= 1e-5
    sure = a[0].abs() > 1e-4 * scale                 # the same masks wherever a logit is not ~0
    assert torch.equal((a[0] > 0)[sure], (b[0] > 0)[sure])


def test_rounding_bound_would_catch_a_real_change(tiny):
    """The bound above is tight enough to see an untrained plugin that is not a no-op."""
    stable = StableSam(tiny, drp=False)
    with torch.no_grad():
        stable.dsp.offset.bias.fill_(0.25)          # a quarter-token shift everywhere
    a, b = _decoder_pair(tiny, stable)
    assert (a[0] - b[0]).abs().max().item() > 1e-5 * a[0].abs().max().item()


def _vit_b_decoder(seed=0):
    """Meta's ViT-B/L/H mask decoder and prompt encoder shapes (64 x 64 embedding), random weights."""
    torch.manual_seed(seed)
    pe = PromptEncoder(embed_dim=256, image_embedding_size=(64, 64), input_image_size=(1024, 1024), mask_in_chans=16)
    dec = MaskDecoder(num_multimask_outputs=3, transformer=TwoWayTransformer(depth=2, embedding_dim=256, mlp_dim=2048,
                      num_heads=8), transformer_dim=256, iou_head_depth=3, iou_head_hidden_dim=256)
    return torch.nn.ModuleDict({"prompt_encoder": pe, "mask_decoder": dec}).eval()


class _Host(torch.nn.Module):
    def __init__(self, parts):
        super().__init__()
        self.prompt_encoder, self.mask_decoder = parts["prompt_encoder"], parts["mask_decoder"]


@pytest.mark.parametrize("kw", [dict(), dict(routing="hard", deform_attn=("layer2", "final"))])
def test_untrained_plugins_are_a_noop_on_a_vit_b_shaped_decoder(kw):
    host = _Host(_vit_b_decoder())
    stable = StableSam(host, **kw)
    emb = torch.randn(1, 256, 64, 64, generator=torch.Generator().manual_seed(1))
    boxes = torch.tensor([[100., 120., 600., 700.], [400., 30., 460., 90.]])
    sparse, dense = host.prompt_encoder(points=None, boxes=boxes, masks=None)
    with torch.no_grad():
        a = host.mask_decoder(emb, host.prompt_encoder.get_dense_pe(), sparse, dense, True)
        b = stable.decode(emb, sparse, dense, multimask_output=True)
    assert a[0].shape == (2, 3, 256, 256)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert stable.num_trainable() <= 100_000


def test_trainable_parameter_budget_and_frozen_sam(tiny):
    stable = StableSam(tiny)
    assert stable.num_trainable() == 78_132 <= 100_000           # DSP 73,474 + DRP 4,658 (paper: 0.08M)
    assert StableSam(tiny, drp=False).num_trainable() == 73_474
    assert stable_sam.count_trainable(DynamicRoutingPlugin(256)) == 4_658
    assert not any(p.requires_grad for p in tiny.parameters())
    assert {n.split(".")[0] for n, p in stable.named_parameters() if p.requires_grad} == {"dsp", "drp"}


def test_dsp_forward_tokens_matches_the_reference_map_form():
    torch.manual_seed(0)
    dsp = DeformableSamplingPlugin(32)
    with torch.no_grad():
        dsp.offset.weight.normal_(0, 0.5)
        dsp.proj.weight.add_(0.1 * torch.randn_like(dsp.proj.weight))
    x = torch.randn(3, 32, 6, 7)
    ref, off_ref = dsp(x)
    tok, off, _ = dsp.forward_tokens(x.flatten(2).transpose(1, 2), 6, 7)
    assert off_ref.abs().max() > 0.1
    torch.testing.assert_close(off, off_ref, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(tok.transpose(1, 2).reshape(3, 32, 6, 7), ref, atol=1e-5, rtol=1e-4)


def test_offsets_are_in_token_units():
    x = torch.arange(2 * 5 * 6, dtype=torch.float32).reshape(1, 2, 5, 6)
    off = torch.zeros(1, 2, 5, 6)
    off[:, 0] = 1.0                                    # one token to the right
    y = stable_sam.sample_at_offsets(x, off)
    assert torch.equal(y[..., :-1], x[..., 1:])        # column j reads column j + 1
    assert torch.equal(y[..., -1], torch.zeros_like(y[..., -1]))   # off the grid: zeros
    off = torch.zeros(1, 2, 5, 6)
    off[:, 1] = -0.5                                   # half a token up: bilinear mix of two rows
    y = stable_sam.sample_at_offsets(x, off)
    torch.testing.assert_close(y[:, :, 1:], (x[:, :, 1:] + x[:, :, :-1]) / 2)
    with pytest.raises(ValueError, match="offsets must be"):
        stable_sam.sample_at_offsets(x, torch.zeros(1, 2, 4, 6))


def test_drp_soft_and_hard_routing():
    drp = DynamicRoutingPlugin(8, hidden=4)
    tok = torch.randn(5, 8)
    assert torch.equal(drp(tok), torch.full((5, 2), 0.5))                 # no-op start: equal weights
    with torch.no_grad():
        drp.mlp[-1].weight.normal_()
    a = drp(tok)
    torch.testing.assert_close(a.sum(1), torch.ones(5))
    hard = DynamicRoutingPlugin(8, hidden=4, routing="hard")
    hard.load_state_dict(drp.state_dict())
    h = hard(tok)
    assert set(h.flatten().tolist()) <= {0.0, 1.0} and torch.equal(h.argmax(1), a.argmax(1))
    # straight-through: the hard weights still pass a gradient to the MLP
    hard(tok.requires_grad_()).mul(torch.tensor([1.0, -1.0])).sum().backward()
    assert hard.mlp[-1].weight.grad is not None and hard.mlp[-1].weight.grad.abs().sum() > 0
    d, r = torch.ones(5, 3, 8), torch.zeros(5, 3, 8)
    torch.testing.assert_close(DynamicRoutingPlugin.mix(a, d, r)[:, 0, 0], a[:, 0])


@pytest.mark.parametrize("attn", [("layer2",), ("final",)])
def test_trained_looking_plugins_change_the_masks(tiny, image, attn):
    """Each attention named in deform_attn really reads the deformed features."""
    stable = StableSam(tiny, drp=False, deform_attn=attn)
    with torch.no_grad():
        stable.dsp.offset.bias.fill_(2.0)               # every sample two tokens to the right and down
    boxes, _, _ = _prompts()
    a = sam.PromptPredictor(tiny).set_image(image).predict(boxes=boxes, return_logits=True)
    pred = StableSamPredictor(stable, keep_aux=True).set_image(image)
    b = pred.predict(boxes=boxes, return_logits=True)
    assert not torch.equal(a.low_res_logits, b.low_res_logits)
    assert pred.last_aux["offsets"].shape == (3, 2, 32, 32)
    torch.testing.assert_close(pred.last_aux["offsets"], torch.full((3, 2, 32, 32), 2.0))


def test_bad_settings_are_clear_errors(tiny):
    with pytest.raises(ValueError, match="drp=True needs dsp=True"):
        StableSam(tiny, dsp=False, drp=True)
    with pytest.raises(ValueError, match="routing must be one of"):
        StableSam(tiny, routing="gumbel")
    with pytest.raises(ValueError, match="deform_attn"):
        StableSam(tiny, deform_attn=("layer1",))
    with pytest.raises(TypeError, match="segment_anything Sam"):
        StableSam(torch.nn.Linear(2, 2))
    with pytest.raises(ValueError, match="B x 256 x H x W"):
        DeformableSamplingPlugin(256)(torch.zeros(1, 128, 4, 4))
    with pytest.raises(TypeError, match="needs a StableSam"):
        StableSamPredictor(tiny)


def test_predictor_factory_plugs_into_stability_sweep(tiny, image):
    inst = np.zeros(image.shape[:2], np.int64)
    inst[20:60, 30:90] = 1
    inst[50:90, 70:120] = 2
    samples = [{"image": image, "instance": inst}]
    stable = StableSam(tiny)
    kw = dict(prompt_kinds=("gt_box", "points"), points=(2,), draws=2, progress=False)
    a = sam.stability_sweep(tiny, samples, **kw).summary()
    b = sam.stability_sweep(tiny, samples, predictor_factory=stable_sam.predictor_factory(stable), **kw).summary()
    assert len(a) == 2 and np.array_equal(a["miou"].to_numpy(), b["miou"].to_numpy())
    with pytest.raises(ValueError, match="another model"):
        sam.stability_sweep(sam.build_tiny_sam(1), samples, predictor_factory=stable_sam.predictor_factory(stable),
                            **kw)


def test_plugin_initialisation_is_seeded_and_leaves_the_global_rng_alone(tiny):
    state = torch.random.get_rng_state()
    a, b, c = StableSam(tiny, seed=3), StableSam(tiny, seed=3), StableSam(tiny, seed=4)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert torch.equal(a.dsp.dwconv.weight, b.dsp.dwconv.weight)
    assert torch.equal(a.drp.mlp[1].weight, b.drp.mlp[1].weight)
    assert not torch.equal(a.dsp.dwconv.weight, c.dsp.dwconv.weight)
