"""gsam_lab.sam.stability_sweep (tidy table, batched, stability of identical prompts = 1) and evaluate_prompts."""
import numpy as np
import pandas as pd
import pytest
import torch

from gsam_lab import sam
from gsam_lab.bootstrap import paired_bootstrap_ci

H, W = 40, 64


@pytest.fixture(scope="module")
def model(tiny_sam):
    return tiny_sam


@pytest.fixture(scope="module")
def samples():
    rng = np.random.default_rng(0)
    inst = np.zeros((H, W), np.int64)
    inst[5:20, 5:25] = 1
    inst[22:38, 30:60] = 2
    inst[0:3, 60:62] = 3  # 6 px: below min_area
    img = rng.integers(0, 255, (H, W, 3)).astype(np.uint8)
    chw = torch.from_numpy(img).permute(2, 0, 1).float() / 255  # dataset layout
    return [dict(image=img, instance=inst), dict(image=chw, instance=torch.from_numpy(inst))]


class CountingPredictor(sam.PromptPredictor):
    calls = 0

    def decode(self, *a, **k):
        CountingPredictor.calls += 1
        return super().decode(*a, **k)


def test_table_shape_and_summary(model, samples):
    CountingPredictor.calls = 0
    res = sam.stability_sweep(model, samples, noise=(0.1, 0.4), points=(1, 3), draws=3, min_area=20,
                              progress=False, predictor_factory=CountingPredictor)
    n_settings = 1 + 2 + 2
    assert len(res.table) == 2 * 2 * n_settings * 3
    assert {"image", "object", "kind", "noise", "k", "draw", "iou", "boundary_iou"} <= set(res.table.columns)
    assert res.table["iou"].between(0, 1).all() and res.table["boundary_iou"].between(0, 1).all()
    assert CountingPredictor.calls == 2 * n_settings  # one decoder call per image and setting
    s = res.summary()
    assert list(s["setting"]) == ["gt_box", "noisy_box s=0.1", "noisy_box s=0.4", "points k=1", "points k=3"]
    assert {"miou", "mbiou", "stability", "n_objects"} <= set(s.columns) and (s["n_objects"] == 4).all()
    assert s.loc[s.kind == "gt_box", "stability"].item() == 1.0  # identical prompts -> identical masks
    assert s["stability"].between(0, 1).all()
    # both sample layouts (uint8 HWC, float CHW tensor) give the same numbers
    t = res.table
    a, b = t[t.image == 0].reset_index(drop=True), t[t.image == 1].reset_index(drop=True)
    assert np.allclose(a.loc[a.kind == "gt_box", "iou"], b.loc[b.kind == "gt_box", "iou"])


def test_reproducible_and_accepts_a_predictor(model, samples):
    kw = dict(prompt_kinds=("noisy_box",), noise=(0.3,), draws=2, min_area=20, progress=False, seed=5)
    r1 = sam.stability_sweep(model, samples[:1], **kw)
    r2 = sam.stability_sweep(sam.PromptPredictor(model), samples[:1], **kw)
    assert r1.table["iou"].tolist() == r2.table["iou"].tolist()
    r3 = sam.stability_sweep(model, samples[:1], max_objects=1, **kw)
    assert r3.table["object"].unique().tolist() == [2]  # the largest object


@pytest.mark.parametrize("kw, err, match", [
    (dict(draws=1), ValueError, "draws"),
    (dict(prompt_kinds=("scribble",)), ValueError, "unknown prompt kind"),
    (dict(points=(0,)), ValueError, "points"),
])
def test_bad_arguments(model, samples, kw, err, match):
    with pytest.raises(err, match=match):
        sam.stability_sweep(model, samples, progress=False, **kw)


def test_bad_samples(model, samples):
    with pytest.raises(KeyError, match="instance"):
        sam.stability_sweep(model, [dict(image=samples[0]["image"])], progress=False)
    with pytest.raises(ValueError, match="instance map has shape"):
        sam.stability_sweep(model, [dict(image=samples[0]["image"], instance=np.zeros((5, 5), np.int64))],
                            progress=False)


def test_evaluate_on_test_split_renders(model, tmp_path, monkeypatch):
    monkeypatch.setenv("GSAM_LAB_CACHE", str(tmp_path))
    from gsam_lab.sam.evaluate import check_targets, evaluate_prompts
    ev = evaluate_prompts(model, n_pinhole=1, n_erp=1, pinhole_hw=(64, 64), erp_hw=(64, 128), noise=(0.4,),
                          draws=2, min_area=30, max_objects=2, progress=False)
    s = ev.summary()
    assert set(s["domain"]) <= {"pinhole", "erp"} and len(s) >= 3
    sam_rows = s[s["method"] == "SAM"]
    fill = s[s["method"] == "fill box"]
    assert {"gt_box", "points k=3", "noisy_box s=0.4", "points k=1 multimask"} <= set(sam_rows["setting"])
    assert set(fill["setting"]) == {"gt_box", "noisy_box s=0.4"}          # the baseline needs boxes
    assert ((s["miou_lo"] <= s["miou"]) & (s["miou"] <= s["miou_hi"])).all()
    # SAM and the baseline are scored on the same objects
    for dom in s["domain"].unique():
        n = s[(s["domain"] == dom) & (s["setting"] == "gt_box")]["n"]
        assert n.nunique() == 1
        d, lo, hi = ev.paired(dom, ("SAM", "gt_box"), ("fill box", "gt_box"))
        assert lo <= d <= hi
    assert not ev.by_size().empty and not ev.by_class().empty
    assert all(isinstance(v, bool) for v in check_targets(ev).values())


def test_paired_differences_per_domain_and_over_both():
    rng = np.random.default_rng(0)
    rows = [dict(domain=d, method=m, setting="gt_box", image=i, object=o, iou=rng.random())
            for d in ("pinhole", "erp") for m in ("SAM", "fill box") for i in range(3) for o in (1, 2)]
    ev = sam.PromptEvaluation(pd.DataFrame(rows))
    a, b = ev.per_object("SAM", "gt_box"), ev.per_object("fill box", "gt_box", "erp")
    assert len(a) == 12 and len(b) == 6 and a.index.names == ["domain", "image", "object"]
    both = ev.paired(None, ("SAM", "gt_box"), ("fill box", "gt_box"))            # every domain's objects
    assert both == paired_bootstrap_ci(a.to_numpy(), ev.per_object("fill box", "gt_box").to_numpy())
    assert ev.paired("erp", ("SAM", "gt_box"), ("fill box", "gt_box"))[0] == pytest.approx(
        (ev.per_object("SAM", "gt_box", "erp") - b).mean())
    with pytest.raises(ValueError, match="no rows for"):
        ev.paired(None, ("SAM", "points k=1"), ("fill box", "gt_box"))


def test_large_outputs_are_decoded_in_batches_with_the_same_numbers(model, samples, monkeypatch):
    from gsam_lab.sam import decoding
    kw = dict(prompt_kinds=("noisy_box", "points"), noise=(0.3,), points=(2,), draws=4, min_area=20,
              progress=False, predictor_factory=CountingPredictor)
    CountingPredictor.calls = 0
    whole = sam.stability_sweep(model, samples[:1], **kw)
    assert CountingPredictor.calls == 2                               # one call per setting
    per_prompt = 16 * 64 * 64 * 4 + H * W                             # logits + one mask, as prompts_per_call counts
    monkeypatch.setattr(decoding, "LARGE_OUTPUT_BYTES", 2 * 3 * per_prompt)   # 3 prompts per call
    CountingPredictor.calls = 0
    batched = sam.stability_sweep(model, samples[:1], **kw)
    assert CountingPredictor.calls == 2 * 3                           # 2 objects x 4 draws = 8 prompts: 3 calls each
    pd.testing.assert_frame_equal(whole.table, batched.table)
