"""shared_predict_masks (image tensors kept at batch 1) computes SAM's predict_masks."""
import pytest
import torch

from gsam_lab.sam.decoding import shared_predict_masks


@pytest.fixture(scope="module")
def parts(tiny_sam):
    torch.manual_seed(0)
    with torch.no_grad():                       # a non-trivial embedding and prompts
        emb = torch.randn(1, 256, 32, 32)
        pe = tiny_sam.prompt_encoder.get_dense_pe()
    return tiny_sam, emb, pe


def _reference(model, emb, pe, sparse, dense):
    return model.mask_decoder.predict_masks(image_embeddings=emb, image_pe=pe, sparse_prompt_embeddings=sparse,
                                            dense_prompt_embeddings=dense)


@pytest.mark.parametrize("kind", ["boxes", "points", "mask_input"])
@torch.no_grad()
def test_matches_predict_masks(parts, kind):
    model, emb, pe = parts
    g = torch.Generator().manual_seed(1)
    n = 6
    kw = dict(points=None, boxes=None, masks=None)
    if kind == "boxes":
        xy = torch.rand(n, 2, generator=g) * 150
        kw["boxes"] = torch.cat([xy, xy + 20 + torch.rand(n, 2, generator=g) * 80], 1)
    elif kind == "points":
        kw["points"] = (torch.rand(n, 3, 2, generator=g) * 255, torch.tensor([[1, 1, 0]] * n, dtype=torch.int))
    else:
        kw["boxes"] = torch.tensor([[10.0, 20.0, 90.0, 120.0]] * n)
        kw["masks"] = torch.randn(n, 1, 128, 128, generator=g)
    sparse, dense = model.prompt_encoder(**kw)
    assert (dense.stride(0) == 0) == (kind != "mask_input")     # the case kept at batch 1
    want_m, want_i = _reference(model, emb, pe, sparse, dense)
    got_m, got_i = shared_predict_masks(model.mask_decoder, emb, pe, sparse, dense)
    assert got_m.shape == want_m.shape == (n, 4, 128, 128) and got_i.shape == want_i.shape == (n, 4)
    assert torch.allclose(got_m, want_m, atol=1e-4, rtol=1e-5)
    assert torch.allclose(got_i, want_i, atol=1e-5)
    assert torch.equal(got_m > 0, want_m > 0) or (got_m > 0).ne(want_m > 0).float().mean() < 1e-4
    # every prompt is decoded on its own: prompt 0 alone gives prompt 0's row
    one_m, _ = shared_predict_masks(model.mask_decoder, emb, pe, sparse[:1], dense[:1])
    assert torch.allclose(one_m[0], got_m[0], atol=1e-4, rtol=1e-5)


def test_rejects_embeddings_of_several_images(parts):
    model, emb, pe = parts
    sparse, dense = model.prompt_encoder(points=None, boxes=torch.tensor([[1.0, 2.0, 30.0, 40.0]] * 2), masks=None)
    with pytest.raises(ValueError, match="one image"):
        shared_predict_masks(model.mask_decoder, emb.expand(2, -1, -1, -1), pe, sparse, dense)
    with pytest.raises(ValueError, match="dense_prompt_embeddings"):
        shared_predict_masks(model.mask_decoder, emb, pe, sparse, torch.zeros(3, 256, 32, 32))
