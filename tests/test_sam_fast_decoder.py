"""The optional fast decoder (gsam_lab.sam.fast: image-side projections folded onto the prompt tokens)
computes SAM's predict_masks up to float rounding, and PromptPredictor loads and takes it only when asked
(fast=True)."""
import copy
import subprocess
import sys

import numpy as np
import pytest
import torch
from torch import nn

from gsam_lab import sam
from gsam_lab.sam.fast import folded_predict_masks, has_hooks, supports_folding


def _perturbed(model, seed=0):
    """A copy whose LayerNorm / bias parameters are not at their init values (1 and 0)."""
    m = copy.deepcopy(model)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in m.mask_decoder.named_parameters():
            if p.ndim == 1:
                p.add_(0.3 * torch.randn(p.shape, generator=g))
    return m


@pytest.fixture(scope="module")
def model(tiny_sam):
    return _perturbed(tiny_sam)


def _prompts(model, kind, n=5, seed=1, size=(256, 256)):
    g = torch.Generator().manual_seed(seed)
    kw = dict(points=None, boxes=None, masks=None)
    H, W = size
    if kind == "boxes":
        xy = torch.rand(n, 2, generator=g) * torch.tensor([W * 0.6, H * 0.6])
        kw["boxes"] = torch.cat([xy, xy + 10 + torch.rand(n, 2, generator=g) * 60], 1)
    elif kind == "points":
        kw["points"] = (torch.rand(n, 3, 2, generator=g) * torch.tensor([W - 1.0, H - 1.0]),
                        torch.tensor([[1, 1, 0]] * n, dtype=torch.int))
    else:
        kw["boxes"] = torch.tensor([[10.0, 20.0, 90.0, 120.0]] * n)
        kw["masks"] = torch.randn(n, 1, 128, 128, generator=g)
    return model.prompt_encoder(**kw)


def _reference(model, emb, pe, sparse, dense):
    return model.mask_decoder.predict_masks(image_embeddings=emb, image_pe=pe, sparse_prompt_embeddings=sparse,
                                            dense_prompt_embeddings=dense)


@pytest.mark.parametrize("kind", ["boxes", "points", "mask_input"])
@torch.no_grad()
def test_matches_predict_masks(model, kind):
    emb = torch.randn(1, 256, 32, 32, generator=torch.Generator().manual_seed(0))
    pe = model.prompt_encoder.get_dense_pe()
    sparse, dense = _prompts(model, kind)
    want_m, want_i = _reference(model, emb, pe, sparse, dense)
    got_m, got_i = folded_predict_masks(model.mask_decoder, emb, pe, sparse, dense)
    assert got_m.shape == want_m.shape == (5, 4, 128, 128) and got_i.shape == want_i.shape == (5, 4)
    torch.testing.assert_close(got_m, want_m, atol=1e-4, rtol=1e-5)
    torch.testing.assert_close(got_i, want_i, atol=1e-5, rtol=1e-5)
    assert (got_m > 0).ne(want_m > 0).float().mean() < 1e-4


@torch.no_grad()
def test_slots_and_a_non_square_embedding(model):
    """h != w catches a transposed sub-pixel order in the upscaling; slots pick SAM's output slots."""
    h, w = 16, 24
    emb = torch.randn(1, 256, h, w, generator=torch.Generator().manual_seed(2))
    pe = model.prompt_encoder.pe_layer((h, w)).unsqueeze(0)
    sparse, _ = _prompts(model, "boxes", n=3)
    dense = model.prompt_encoder.no_mask_embed.weight.reshape(1, -1, 1, 1).expand(3, -1, h, w)
    want_m, want_i = _reference(model, emb, pe, sparse, dense)
    for slots in ([0], [1, 2, 3], [2]):
        got_m, got_i = folded_predict_masks(model.mask_decoder, emb, pe, sparse, dense, slots=slots)
        assert got_m.shape == (3, len(slots), 4 * h, 4 * w)
        torch.testing.assert_close(got_m, want_m[:, slots], atol=1e-4, rtol=1e-5)
        torch.testing.assert_close(got_i, want_i[:, slots], atol=1e-5, rtol=1e-5)


@torch.no_grad()
def test_shipped_weights_give_sampredictors_masks():
    from segment_anything import SamPredictor
    tiny = sam.load_sam("tiny-synth", device="cpu")
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (96, 128, 3), dtype=np.uint8)
    xy = rng.uniform(0, [90, 60], (8, 2))
    boxes = np.concatenate([xy, xy + rng.uniform(6, 36, (8, 2))], 1)
    pred = sam.PromptPredictor(tiny, fast=True).set_image(img)
    assert pred.uses_fast_decoder()
    got = pred.predict(boxes=boxes)
    ref = SamPredictor(tiny)
    ref.set_image(img)
    want = np.stack([ref.predict(box=b, multimask_output=False)[0][0] for b in boxes])
    assert (got.masks.numpy() != want).sum() <= 5
    exact = sam.PromptPredictor(tiny).set_image(img).predict(boxes=boxes)       # SAM's modules
    torch.testing.assert_close(got.low_res_logits, exact.low_res_logits, atol=1e-4, rtol=1e-5)
    torch.testing.assert_close(got.iou_predictions, exact.iou_predictions, atol=1e-5, rtol=1e-5)


def test_hooks_switch_the_fast_predictor_to_sams_modules(model):
    img = np.random.default_rng(3).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    pred = sam.PromptPredictor(model, fast=True).set_image(img)
    assert pred.uses_fast_decoder() and not has_hooks(model.mask_decoder)
    seen = []
    handle = model.mask_decoder.transformer.final_attn_token_to_image.register_forward_hook(
        lambda mod, args, out: seen.append(out.shape))
    try:
        assert has_hooks(model.mask_decoder) and not pred.uses_fast_decoder()
        pred.predict(boxes=[[5, 5, 40, 40], [10, 12, 50, 60]])
        assert seen == [torch.Size([2, 7, 256])]          # the hook saw the call: SAM's modules ran
    finally:
        handle.remove()
    assert pred.uses_fast_decoder()
    assert not sam.PromptPredictor(model).uses_fast_decoder()         # the default: SAM's modules, always


def test_other_decoder_layouts_fall_back_or_are_refused(model):
    odd = copy.deepcopy(model)
    odd.mask_decoder.output_upscaling = nn.Sequential(*list(odd.mask_decoder.output_upscaling)[:4], nn.ReLU(),
                                                      nn.Identity())
    assert supports_folding(model.mask_decoder) and not supports_folding(odd.mask_decoder)
    sparse, dense = _prompts(odd, "boxes", n=2)
    emb, pe = torch.zeros(1, 256, 32, 32), odd.prompt_encoder.get_dense_pe()
    with pytest.raises(TypeError, match="MaskDecoder layout"):
        folded_predict_masks(odd.mask_decoder, emb, pe, sparse, dense)
    with pytest.raises(ValueError, match="one image"):
        folded_predict_masks(model.mask_decoder, emb.expand(2, -1, -1, -1), pe, sparse, dense)
    assert not sam.PromptPredictor(odd, fast=True).uses_fast_decoder()


def test_gradients_flow_like_sams(model):
    """Outside no_grad the fast decoder is differentiable and agrees with SAM's gradients."""
    emb = torch.randn(1, 256, 32, 32, generator=torch.Generator().manual_seed(4))
    pe = model.prompt_encoder.get_dense_pe().detach()
    with torch.no_grad():
        sparse, dense = _prompts(model, "boxes", n=2)
    grads = []
    for fn in (lambda: _reference(model, emb, pe, sparse, dense),
               lambda: folded_predict_masks(model.mask_decoder, emb, pe, sparse, dense)):
        model.zero_grad()
        m, iou = fn()
        (m.sigmoid().mean() + iou.sum()).backward()
        grads.append(model.mask_decoder.output_upscaling[0].weight.grad.clone())
    torch.testing.assert_close(grads[1], grads[0], atol=1e-6, rtol=1e-4)


@pytest.mark.parametrize("block", [1, 3, 64])
@torch.no_grad()
def test_upscaling_blocks_do_not_change_the_logits(model, monkeypatch, block):
    """Without gradients the upscaling runs in blocks of prompts through reused buffers; any block size
    (1, one that leaves a remainder, more than the batch) gives predict_masks' logits."""
    from gsam_lab.sam.fast import decoder

    emb = torch.randn(1, 256, 32, 32, generator=torch.Generator().manual_seed(5))
    pe = model.prompt_encoder.get_dense_pe()
    sparse, dense = _prompts(model, "boxes", n=7, seed=3)
    want_m, _ = _reference(model, emb, pe, sparse, dense)
    monkeypatch.setattr(decoder, "UPSCALE_BLOCK", block)
    got_m, _ = folded_predict_masks(model.mask_decoder, emb, pe, sparse, dense)
    torch.testing.assert_close(got_m, want_m, atol=1e-4, rtol=1e-5)


@pytest.mark.parametrize("kind", ["boxes", "mask_input"])
def test_a_memo_reused_across_chunks_changes_nothing(model, kind):
    torch.manual_seed(0)
    emb = torch.randn(1, 256, 32, 32)
    pe = model.prompt_encoder.get_dense_pe()
    with torch.no_grad():
        sparse, dense = _prompts(model, kind, n=6)
        memo = {}
        parts = [folded_predict_masks(model.mask_decoder, emb, pe, sparse[s:s + 3], dense[s:s + 3], memo=memo)
                 for s in (0, 3)]
        assert memo                                       # the image-only terms were stored ...
        again = folded_predict_masks(model.mask_decoder, emb, pe, sparse[3:], dense[3:], memo=memo)
        plain = [folded_predict_masks(model.mask_decoder, emb, pe, sparse[s:s + 3], dense[s:s + 3]) for s in (0, 3)]
        ref, _ = _reference(model, emb, pe, sparse, dense)
    for with_memo, without in zip(parts, plain):          # ... and give the same logits, bit for bit
        assert torch.equal(with_memo[0], without[0]) and torch.equal(with_memo[1], without[1])
    assert torch.equal(again[0], parts[1][0])
    assert (torch.cat([p[0] for p in parts]) - ref).abs().max() < 1e-4


def test_a_memo_needs_no_grad(model):
    sparse, dense = _prompts(model, "boxes", n=2)
    with pytest.raises(ValueError, match="without gradients"):
        folded_predict_masks(model.mask_decoder, torch.randn(1, 256, 32, 32), model.prompt_encoder.get_dense_pe(),
                             sparse, dense, memo={})


def test_the_default_path_never_loads_the_fast_decoder():
    """The fast decoder is fenced: not exported by gsam_lab.sam, not imported until fast=True asks for it."""
    assert not any("fold" in name or "fast" in name for name in sam.__all__)
    code = ("import sys\n"
            "import numpy as np\n"
            "from gsam_lab import sam\n"
            "img = np.zeros((64, 64, 3), np.uint8)\n"
            "pred = sam.PromptPredictor(sam.build_tiny_sam(0)).set_image(img)\n"
            "pred.predict(boxes=[[5, 5, 40, 40]])\n"
            "assert not pred.uses_fast_decoder()\n"
            "assert 'gsam_lab.sam.fast' not in sys.modules, 'the default path loaded the fast decoder'\n"
            "fast = sam.PromptPredictor(pred.model, fast=True).set_image(img)\n"
            "fast.predict(boxes=[[5, 5, 40, 40]])\n"
            "assert fast.uses_fast_decoder() and 'gsam_lab.sam.fast' in sys.modules\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
