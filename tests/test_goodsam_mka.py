"""goodsam.MKALoss (the three terms) and goodsam.train_mka (seeded loop, checkpoints, resume, errors).

``FakeTeacher`` and ``make_dataset`` follow the TA / pseudo-label interface; test_goodsam_ddp imports them.
"""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from gsam_lab import goodsam
from gsam_lab.goodsam.distill import MKAConfig
from gsam_lab.goodsam.evaluate import evaluate_miou
from gsam_lab.goodsam.mka import kd_loss, standardize_channels
from gsam_lab.training import ResumeMismatch

K = 9


class FakeTeacher(nn.Module):
    """A TA stand-in: 4 strided conv stages (strides 4, 8, 16, 32) and a 1x1 classifier at H/4."""

    feature_channels = (8, 12, 16, 20)
    num_classes = K
    classes = tuple(f"c{k}" for k in range(K))

    def __init__(self):
        super().__init__()
        torch.manual_seed(7)
        chans = (3,) + self.feature_channels
        self.stages = nn.ModuleList(nn.Conv2d(chans[i], chans[i + 1], 4 if i == 0 else 2, stride=4 if i == 0 else 2)
                                    for i in range(4))
        self.head = nn.Conv2d(self.feature_channels[0], K, 1)

    def forward(self, images):
        feats, x = [], images
        for st in self.stages:
            x = torch.tanh(st(x))
            feats.append(x)
        return goodsam.StudentOutput(self.head(feats[0]), tuple(feats))

    def predict(self, images):
        return F.interpolate(self(images).logits, size=images.shape[-2:], mode="bilinear", align_corners=False)


class PseudoSet(torch.utils.data.Dataset):
    """In-memory items with image / pseudo_label / ensemble_logits / semantic (a learnable toy task)."""

    def __init__(self, n=6, hw=(32, 64), seed=0, k=K, logit_hw=None):
        g = torch.Generator().manual_seed(seed)
        H, W = hw
        self.items = []
        for i in range(n):
            sem = torch.randint(0, k, (H // 8, W // 8), generator=g).repeat_interleave(8, 0).repeat_interleave(8, 1)
            colours = torch.rand(k, 3, generator=g) if i == 0 else self.colours
            self.colours = colours
            img = colours[sem].permute(2, 0, 1) + 0.05 * torch.rand(3, H, W, generator=g)
            lab = sem.clone()
            lab[:2] = 255                                           # some ignored pixels
            ens = F.one_hot(sem, k).permute(2, 0, 1).float() * 4
            if logit_hw is not None:
                ens = F.interpolate(ens[None], size=logit_hw, mode="bilinear", align_corners=False)[0]
            self.items.append({"image": img.clamp(0, 1), "pseudo_label": lab, "ensemble_logits": ens,
                               "semantic": sem, "index": i})

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        return dict(self.items[i])


def make_dataset(**kw):
    return PseudoSet(**kw)


def tiny_student(seed=0):
    return goodsam.Student("tiny", K, dropout=False, seed=seed)


def _flat(m):
    return torch.cat([p.detach().flatten() for p in m.state_dict().values() if p.is_floating_point()])


# ----------------------------------------------------------------------------------------------
# the loss
# ----------------------------------------------------------------------------------------------

def test_loss_terms_are_reported_and_weighted():
    torch.manual_seed(0)
    logits = torch.randn(2, K, 8, 16, requires_grad=True)
    lab = torch.randint(0, K, (2, 32, 64))
    ens = torch.randn(2, K, 32, 64)
    sf = [torch.randn(2, c, 8 // 2 ** s, 16 // 2 ** s, requires_grad=True) for s, c in enumerate((4, 6, 8, 10))]
    tf = [torch.randn(2, c, 8 // 2 ** s, 16 // 2 ** s) for s, c in enumerate((5, 7, 9, 11))]
    loss = goodsam.MKALoss(1.0, 0.5, 2.0, 3.0, (4, 6, 8, 10), (5, 7, 9, 11))
    out = loss(logits, lab, ens, sf, tf)
    assert set(out) == {"total", "ce", "kd", "feat"}
    assert all(out[k] > 0 for k in ("ce", "kd", "feat"))
    assert torch.allclose(out["total"], out["ce"] + 0.5 * out["kd"] + 2.0 * out["feat"])
    # CE is cross-entropy of the upsampled logits on the labels
    up = F.interpolate(logits, size=(32, 64), mode="bilinear", align_corners=False)
    assert torch.allclose(out["ce"], F.cross_entropy(up, lab))
    out["total"].backward()
    assert all(a.weight.grad is not None and a.weight.grad.abs().sum() > 0 for a in loss.adapters)
    # switched-off terms are zero and need no inputs
    only_ce = goodsam.MKALoss(1.0, 0.0, 0.0, 1.0, (4, 6, 8, 10), (5, 7, 9, 11))(logits, lab)
    assert only_ce["kd"] == 0 and only_ce["feat"] == 0 and torch.allclose(only_ce["total"], out["ce"])


def test_ce_skips_the_ignore_index():
    logits = torch.zeros(1, K, 4, 4)
    logits[:, 3] = 5.0
    lab = torch.full((1, 16, 16), 3)
    lab[0, :8] = 255
    ce_a = goodsam.MKALoss(1, 0, 0, 1, (4,) * 4, (4,) * 4)(logits, lab)["ce"]
    lab_all = torch.full((1, 16, 16), 3)
    ce_b = goodsam.MKALoss(1, 0, 0, 1, (4,) * 4, (4,) * 4)(logits, lab_all)["ce"]
    assert torch.allclose(ce_a, ce_b)          # ignored rows (any value) change nothing
    bad = lab.clone()
    bad[0, 10, 10] = K
    with pytest.raises(ValueError, match=r"outside 0..8"):
        goodsam.MKALoss(1, 0, 0, 1, (4,) * 4, (4,) * 4)(logits, bad)


def test_kd_is_zero_for_equal_distributions_and_scales_with_t_squared():
    torch.manual_seed(1)
    s = torch.randn(2, K, 6, 6)
    assert kd_loss(s, s.clone(), temperature=4.0).abs() < 1e-6
    t = torch.randn(2, K, 6, 6)
    T = 3.0
    manual = F.kl_div(F.log_softmax(s / T, 1), F.log_softmax(t / T, 1), log_target=True, reduction="none").sum(1).mean()
    assert torch.allclose(kd_loss(s, t, T), manual * T * T, atol=1e-5)
    # the ensemble logits are resized to the student's logit size
    big = F.interpolate(t, size=(24, 24), mode="bilinear", align_corners=False)
    assert torch.isfinite(kd_loss(s, big, T))


def test_feature_alignment_is_scale_free_and_resizes():
    torch.manual_seed(2)
    x = torch.randn(2, 5, 8, 8)
    z = standardize_channels(x * 7 + 3)
    assert torch.allclose(z.mean(1), torch.zeros(2, 8, 8), atol=1e-5)
    assert torch.allclose(z.var(1, unbiased=False), torch.ones(2, 8, 8), atol=1e-3)
    loss = goodsam.MKALoss(0, 0, 1, 1, (5,) * 4, (5,) * 4)
    for a in loss.adapters:                         # identity adapters: aligned features cost nothing
        nn.init.zeros_(a.bias)
        a.weight.data = torch.eye(5)[:, :, None, None]
    feats = [x, x, x, x]
    scaled = [f * 10 for f in feats]
    assert loss(torch.zeros(2, K, 8, 8), student_features=feats, teacher_features=scaled)["feat"] < 1e-6
    small = [F.avg_pool2d(x, 2)] * 4                # student stages at half the TA's size are resized, not refused
    assert torch.isfinite(loss(torch.zeros(2, K, 8, 8), student_features=small, teacher_features=feats)["feat"])


def test_feature_pca_rgb_shares_one_colour_space():
    from gsam_lab.goodsam.mka import feature_pca_rgb
    torch.manual_seed(3)
    t = torch.randn(6, 8, 16)
    same, other = feature_pca_rgb(t, t * 3 + 1)          # standardised first: scale and shift do not matter
    assert same.shape == (8, 16, 3) and 0 <= same.min() and same.max() <= 1
    assert abs(same - other).max() < 1e-4
    a, b = feature_pca_rgb(t, torch.randn(6, 4, 8))       # another map (resized) gets other colours
    assert b.shape == (8, 16, 3) and abs(a - b).mean() > 0.05
    with pytest.raises(ValueError, match="one channel count"):
        feature_pca_rgb(t, torch.randn(5, 8, 16))


def test_loss_errors_name_what_was_expected():
    with pytest.raises(ValueError, match="temperature"):
        goodsam.MKALoss(temperature=0)
    with pytest.raises(ValueError, match="one to one"):
        goodsam.MKALoss(student_channels=(1, 2, 3, 4), teacher_channels=(1, 2, 3))
    loss = goodsam.MKALoss(1, 1, 0, 2, (4,) * 4, (4,) * 4)
    with pytest.raises(ValueError, match="student's batch and class count"):
        loss(torch.zeros(1, K, 4, 4), torch.zeros(1, 16, 16, dtype=torch.long), torch.zeros(1, K + 1, 16, 16))
    with pytest.raises(ValueError, match="needs pseudo_label"):
        loss(torch.zeros(1, K, 4, 4))


# ----------------------------------------------------------------------------------------------
# the loop
# ----------------------------------------------------------------------------------------------

FAST = dict(steps=4, batch_size=2, warmup=1, ckpt_every=2, log_every=2, lr=3e-3)


def test_evaluate_miou_keeps_one_confusion_per_image_for_intervals():
    from gsam_lab import bootstrap, metrics
    torch.set_num_threads(1)
    ds = make_dataset(n=5)
    model = FakeTeacher()
    e = evaluate_miou(model, ds, K, batch_size=2, device="cpu")
    cms = e["confusions"]
    assert cms.shape == (5, K, K)
    summed = metrics.iou_from_confusion(torch.as_tensor(cms.sum(0))).numpy()
    assert float(np.nanmean(summed)) == pytest.approx(e["miou"])
    value, lo, hi = bootstrap.miou_bootstrap_ci(cms)
    assert value == pytest.approx(e["miou"]) and lo <= value <= hi


def test_training_lowers_the_loss_and_learns_the_toy_task(tmp_path):
    torch.set_num_threads(1)
    ds = make_dataset(n=4)
    logs = []
    res = goodsam.train_mka(tiny_student(), FakeTeacher(), ds, MKAConfig(**{**FAST, "steps": 30, "ckpt_every": 30}),
                            device="cpu", progress=False, log=logs.append,
                            eval_fn=lambda m, step: {"miou": evaluate_miou(m, ds, K, device="cpu")["miou"]})
    first = sum(h["total"] for h in res.history[:3]) / 3
    last = sum(h["total"] for h in res.history[-3:]) / 3
    assert last < 0.7 * first, (first, last)
    assert len(res.history) == 30 and {"ce", "kd", "feat", "lr"} <= set(res.history[0])
    assert res.evals and res.evals[-1]["step"] == 30 and res.evals[-1]["miou"] > 0.2
    assert any(line.startswith("MKA tiny step 30/30") for line in logs)
    assert not res.student.training


def test_same_seed_same_model_and_resume_matches_uninterrupted_run(tmp_path):
    torch.set_num_threads(1)
    ds = make_dataset(n=5)
    full = goodsam.train_mka(tiny_student(), FakeTeacher(), ds, MKAConfig(**FAST), device="cpu", progress=False,
                             log=lambda s: None, work_dir=tmp_path / "a")
    again = goodsam.train_mka(tiny_student(), FakeTeacher(), ds, MKAConfig(**FAST), device="cpu", progress=False,
                              log=lambda s: None)
    assert torch.equal(_flat(full.student), _flat(again.student))
    # stop after 2 steps (the checkpoint), then resume to 4
    logs = []
    goodsam.train_mka(tiny_student(), FakeTeacher(), ds, MKAConfig(**{**FAST, "steps": 2}), device="cpu",
                      progress=False, log=logs.append, work_dir=tmp_path / "b")
    res = goodsam.train_mka(tiny_student(), FakeTeacher(), ds, MKAConfig(**FAST), device="cpu", progress=False,
                            log=logs.append, work_dir=tmp_path / "b")
    assert res.resumed_from == 2 and any("resumed" in line and "step 2" in line for line in logs)
    assert len(res.history) == 4
    assert torch.equal(_flat(full.student), _flat(res.student))
    assert torch.equal(_flat(full.loss), _flat(res.loss))
    ck = torch.load(tmp_path / "b" / "last.pt", weights_only=True)
    assert ck["step"] == 4


def test_resume_refuses_a_checkpoint_of_another_config(tmp_path):
    ds = make_dataset(n=2)
    goodsam.train_mka(tiny_student(), FakeTeacher(), ds, MKAConfig(**{**FAST, "steps": 2}), device="cpu",
                      progress=False, log=lambda s: None, work_dir=tmp_path)
    with pytest.raises(ResumeMismatch, match=r"different config.*config\.kd_weight: checkpoint 1\.0 vs now 0\.0"):
        goodsam.train_mka(tiny_student(), FakeTeacher(), ds, MKAConfig(**{**FAST, "kd_weight": 0.0}), device="cpu",
                          progress=False, log=lambda s: None, work_dir=tmp_path)
    with pytest.raises(ResumeMismatch, match=r"different model.*model\.student\.config: checkpoint 'tiny' vs now 'b0'"):
        goodsam.train_mka(goodsam.Student("b0", K, dropout=False), FakeTeacher(), ds, MKAConfig(**FAST), device="cpu",
                          progress=False, log=lambda s: None, work_dir=tmp_path)
    with pytest.raises(ResumeMismatch, match=r"data\.size: checkpoint 2 vs now 3"):
        goodsam.train_mka(tiny_student(), FakeTeacher(), make_dataset(n=3), MKAConfig(**FAST), device="cpu",
                          progress=False, log=lambda s: None, work_dir=tmp_path)
    with pytest.raises(FileExistsError, match="resume=False"):
        goodsam.train_mka(tiny_student(), FakeTeacher(), ds, MKAConfig(**FAST), device="cpu", resume=False,
                          progress=False, log=lambda s: None, work_dir=tmp_path)


def test_bad_cached_logits_are_refused_clearly():
    with pytest.raises(ValueError, match=r"have 5 classes but the student predicts 9"):
        goodsam.train_mka(tiny_student(), FakeTeacher(), make_dataset(n=2, k=5), MKAConfig(**FAST), device="cpu",
                          progress=False)
    with pytest.raises(ValueError, match=r"not the image size 32 x 64 divided by one integer"):
        goodsam.train_mka(tiny_student(), FakeTeacher(), make_dataset(n=2, logit_hw=(10, 64)), MKAConfig(**FAST),
                          device="cpu", progress=False)
    with pytest.raises(KeyError, match="pseudo_label"):
        goodsam.train_mka(tiny_student(), FakeTeacher(), [{"image": torch.rand(3, 32, 64)}], MKAConfig(**FAST),
                          device="cpu", progress=False)


def test_logits_cached_at_quarter_size_are_accepted():
    res = goodsam.train_mka(tiny_student(), FakeTeacher(), make_dataset(n=2, logit_hw=(8, 16)),
                            MKAConfig(**{**FAST, "steps": 2}), device="cpu", progress=False, log=lambda s: None)
    assert len(res.history) == 2


def test_nan_stops_with_a_clear_error(tmp_path):
    ds = make_dataset(n=2)
    ds.items[0]["ensemble_logits"][:] = float("nan")
    ds.items[1]["ensemble_logits"][:] = float("nan")
    with pytest.raises(FloatingPointError, match=r"loss is nan at step 0.*last checkpoint is kept.*Lower lr"):
        goodsam.train_mka(tiny_student(), FakeTeacher(), ds, MKAConfig(**FAST), device="cpu", progress=False,
                          work_dir=tmp_path, log=lambda s: None)


def test_ablation_without_features_needs_no_teacher():
    res = goodsam.train_mka(tiny_student(), None, make_dataset(n=2), MKAConfig(**{**FAST, "steps": 2}),
                            feat_weight=0.0, device="cpu", progress=False, log=lambda s: None)
    assert all(h["feat"] == 0 for h in res.history)
    assert all(a.weight.grad is None for a in res.loss.adapters)
    with pytest.raises(ValueError, match="needs a teacher"):
        goodsam.train_mka(tiny_student(), None, make_dataset(n=2), MKAConfig(**FAST), device="cpu", progress=False)


def _quiet(s):
    pass


def test_resume_refuses_another_teacher_other_data_and_an_unseeded_student(tmp_path):
    ds = make_dataset(n=2)
    goodsam.train_mka(tiny_student(), FakeTeacher(), ds, MKAConfig(**{**FAST, "steps": 2}), device="cpu",
                      progress=False, log=_quiet, work_dir=tmp_path)
    saved = (tmp_path / "last.pt").read_bytes()
    other_ta = FakeTeacher()
    with torch.no_grad():
        other_ta.head.weight.add_(1.0)
    with pytest.raises(ResumeMismatch, match=r"different model.*model\.teacher\.weights"):
        goodsam.train_mka(tiny_student(), other_ta, ds, MKAConfig(**FAST), device="cpu", progress=False, log=_quiet,
                          work_dir=tmp_path)
    with pytest.raises(ResumeMismatch, match=r"different data.*data\.first_item"):       # same size, other items
        goodsam.train_mka(tiny_student(), FakeTeacher(), make_dataset(n=2, seed=5), MKAConfig(**FAST), device="cpu",
                          progress=False, log=_quiet, work_dir=tmp_path)
    torch.manual_seed(1)                                   # an unseeded Student: another random draw
    unseeded = goodsam.Student("tiny", K, dropout=False)
    with pytest.raises(ResumeMismatch, match=r"model\.student\.weights.*build it with seed="):
        goodsam.train_mka(unseeded, FakeTeacher(), ds, MKAConfig(**FAST),
                          device="cpu", progress=False, log=_quiet, work_dir=tmp_path)
    assert (tmp_path / "last.pt").read_bytes() == saved


def test_overwrite_starts_over(tmp_path):
    ds = make_dataset(n=2)
    goodsam.train_mka(tiny_student(), FakeTeacher(), ds, MKAConfig(**FAST), device="cpu", progress=False, log=_quiet,
                      work_dir=tmp_path)
    logs = []
    res = goodsam.train_mka(tiny_student(), FakeTeacher(), ds, MKAConfig(**{**FAST, "lr": 1e-4}), device="cpu",
                            progress=False, log=logs.append, work_dir=tmp_path, overwrite=True)
    assert res.resumed_from is None and len(res.history) == 4 and any("starting over" in line for line in logs)
    ck = torch.load(tmp_path / "last.pt", weights_only=True)
    assert ck["step"] == 4 and ck["config"]["lr"] == 1e-4


def test_budget_stops_with_a_checkpoint_and_the_same_call_resumes(tmp_path):
    ds = make_dataset(n=3)
    logs = []
    res = goodsam.train_mka(tiny_student(), FakeTeacher(), ds, MKAConfig(**{**FAST, "ckpt_every": 50},
                            max_minutes=1e-9), device="cpu", progress=False, log=logs.append, work_dir=tmp_path)
    assert res.step == 1 and any("max_minutes" in line for line in logs)
    assert torch.load(tmp_path / "last.pt", weights_only=True)["step"] == 1
    res = goodsam.train_mka(tiny_student(), FakeTeacher(), ds, MKAConfig(**FAST), device="cpu", progress=False,
                            log=_quiet, work_dir=tmp_path)
    assert res.resumed_from == 1 and res.step == 4 and [h["step"] for h in res.history] == [1, 2, 3, 4]
    full = goodsam.train_mka(tiny_student(), FakeTeacher(), ds, MKAConfig(**FAST), device="cpu", progress=False,
                             log=_quiet)
    assert torch.equal(_flat(full.student), _flat(res.student))       # as if never interrupted


def test_nan_keeps_the_last_checkpoint(tmp_path):
    ds = make_dataset(n=2)
    ds.identity = lambda: {"toy": "PseudoSet n=2"}        # the job's data fingerprint, without reading the items
    goodsam.train_mka(tiny_student(), FakeTeacher(), ds, MKAConfig(**FAST), device="cpu", progress=False, log=_quiet,
                      work_dir=tmp_path, stop_at=2)
    saved = (tmp_path / "last.pt").read_bytes()
    ds.items[1]["ensemble_logits"][:] = float("nan")      # item 1: not in the fingerprint, so it resumes
    with pytest.raises(FloatingPointError, match=r"loss is nan at step 2 \(ce=.*kd=nan"):
        goodsam.train_mka(tiny_student(), FakeTeacher(), ds, MKAConfig(**FAST), device="cpu", progress=False,
                          log=_quiet, work_dir=tmp_path)
    assert (tmp_path / "last.pt").read_bytes() == saved
