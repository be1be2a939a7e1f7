# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.7
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 04 · GoodSAM DAR: a pinhole teacher, SAM's masks, and pseudo-labels for panoramas
#
# GoodSAM trains a panoramic segmentation model **without a single labelled panorama**. It starts from
# a *teacher assistant* (TA), an ordinary semantic segmentation model trained on pinhole photos, and
# from SAM, which cuts an image into class-agnostic masks. **Distortion-Aware Rectification (DAR)**
# combines the two into *ensemble logits* and *pseudo-labels* on panoramas; notebook 05 distils them
# into a compact student.
#
# **You will:**
# 1. measure how much the TA loses on panoramas, and where (per latitude band, as in notebook 01);
# 2. run the TA on overlapping windows that wrap across the ±180° seam and merge them;
# 3. down-weight window borders and let SAM masks decide pixels near seams (boundary enhancement);
# 4. fuse SAM's masks with the TA: a plain vote, then cross-task complementary fusion (ctcf);
# 5. measure each step on held-out panoramas (an ablation table) and write a pseudo-labelled dataset.
#
# The paper leaves many details open; every reading here is a function argument
# (`goodsam.dar(teacher, sam_model, erp, windows=..., boundary=..., fusion=...)`), so you can compare them.
#
# **Run time:** quick profile (bundled tiny TA and tiny SAM, 256×512 synthetic panoramas) about 55 s on 2
# idle CPU cores (`gsam-lab run 04`; two to three times longer when other work shares the cores); full
# profile (SegFormer-B5 Cityscapes TA, SAM ViT-H, 1024×2048 panoramas or DensePASS): not measured.

# %%
# Colab or a fresh kernel: install gsam_lab only when it is missing
# (set GSAM_LAB_PIP to install another source)
import importlib.util
import os
import subprocess
import sys

if importlib.util.find_spec("gsam_lab") is None:
    spec = os.environ.get("GSAM_LAB_PIP", "gsam_lab[notebooks] @ git+https://github.com/gsam-lab/gsam_lab")
    subprocess.check_call([sys.executable, "-m", "pip", "install", "-q", spec])

# %%
from typing import Optional, Tuple  # the types named in the parameters cell's annotations

import matplotlib.pyplot as plt
import numpy as np
import torch

import gsam_lab
from gsam_lab import bootstrap, data, goodsam, metrics, sam, viz

# %% [markdown]
# ## Parameters
# Papermill and `gsam-lab run -p key=value` override this cell. Values left at `None` come from the profile.

# %% tags=["parameters"]
profile: str = "quick"          # quick | full
device: str = "auto"            # auto | cpu | cuda | mps
seed: int = 0                   # seed of the studied panorama's world (test split)
check_claims: bool = True        # False skips the teaching asserts; mechanical checks always run
data_root: str = ""             # full profile: a DensePASS folder (data_scripts/prepare_densepass.py); empty: synthetic
sam_checkpoint: "Optional[str]" = None     # None: "tiny-synth" quick, "vit_h" full (GoodSAM's); or a name / .pth
teacher: "Optional[str]" = None            # None: tiny-synth quick, segformer-b5-cityscapes full (GoodSAM's TA)
out_dir: str = "outputs/04_goodsam_dar_fusion"   # figures and pseudo-labels go here
erp_hw: "Optional[Tuple[int, int]]" = None # (H, W) of the panoramas; None: (256, 512) quick, (1024, 2048) full
n_test: "Optional[int]" = None             # held-out panoramas for the measurements; None: 4 quick, 100 full
n_pinhole: "Optional[int]" = None          # held-out pinholes (the TA's source-domain score); None: 16 quick, 200 full
points_per_side: "Optional[int]" = None    # SAM point grid (rows; columns are twice that); None: 6 quick, 32 full
sam_method: str = "grid"        # grid: SAM on the whole ERP | windows: SAM per "h" window (finer masks, 4x SAM time)
windows: str = "h"              # DAR windows for the single-panorama walk-through: none | h | hv | tangent
conf_thresh: float = 0.5        # pseudo-label pixels below this fused confidence are ignored (255)

# %%
lab = gsam_lab.setup("04", profile, device=device, seed=seed, out_dir=out_dir, threads=2, erp_hw=erp_hw,
                     n_test=n_test, n_pinhole=n_pinhole, points_per_side=points_per_side, sam=sam_checkpoint,
                     teacher=teacher)
cfg, dev, out = lab.cfg, lab.device, lab.out
H, W = cfg.erp_hw
ta = goodsam.load_teacher(cfg.teacher, device=dev)
sam_model = sam.load_sam(cfg.sam, device=dev)
sam_kw = dict(points_per_side=cfg.points_per_side, method=sam_method)
n_ta = sum(p.numel() for p in ta.parameters())
print(f"ERP {H}x{W}  TA={cfg.teacher} ({n_ta / 1e6:.1f}M)  SAM={cfg.sam}")

# %% [markdown]
# ### The panoramas
#
# Quick profile: held-out (test-split) renders of the synthetic street world; the TA never saw a
# panorama, and none of these worlds. Full profile with `data_root`: DensePASS, whose 400×2048 images
# are a ±35° latitude band; we centre them in a full 2:1 ERP (`pad_band_to_erp`, labels ignored
# outside the band) so the window geometry is the same.

# %%
if data_root and cfg.dataset == "densepass":
    class _Padded(torch.utils.data.Dataset):
        def __init__(self, ds):
            self.ds = ds
        def __len__(self):
            return min(len(self.ds), cfg.n_test)
        def __getitem__(self, i):
            it = self.ds[i]
            erp, sem, _ = goodsam.pad_band_to_erp(it["image"], it["semantic"])
            if tuple(erp.shape[-2:]) != tuple(cfg.erp_hw):        # 400 x 2048 pads to 1024 x 2048; else resize
                erp = torch.nn.functional.interpolate(erp[None], size=cfg.erp_hw, mode="bilinear", antialias=True)[0]
                sem = torch.nn.functional.interpolate(sem[None, None].float(), size=cfg.erp_hw, mode="nearest")[0, 0]
                sem = sem.to(it["semantic"].dtype)
            return {"image": erp, "semantic": sem}
    test_set = _Padded(data.FolderDataset(data_root, layout="densepass", split="val"))
else:
    test_set = data.SyntheticPanoramas("test", n=cfg.n_test, hw=cfg.erp_hw)
pinholes = data.SyntheticPinholes("test", n=cfg.n_pinhole, hw=cfg.pinhole_hw)
item = data.SyntheticPanoramas("test", n=1, hw=cfg.erp_hw, seed=seed)[0]
erp, gt = item["image"], item["semantic"]
print(f"{len(test_set)} test panoramas, {len(pinholes)} test pinholes; studied panorama {tuple(erp.shape)}")

# %% [markdown]
# ## 1. The teacher assistant fails on panoramas
#
# The TA is a SegFormer trained on labelled **pinhole** images only (here: `data_scripts/train_teacher.py`,
# Cityscapes-like views of the synthetic world; in the paper: SegFormer-B5 on Cityscapes). We score it
# on held-out pinhole views (its own domain) and on whole held-out panoramas, in one pass each. The
# difference is the domain gap that GoodSAM sets out to close.

# %%
src = goodsam.evaluate_miou(ta, pinholes, batch_size=8, device=dev)
tgt = goodsam.evaluate_miou(ta, test_set, batch_size=2, device=dev)
gap = src["miou"] - tgt["miou"]
fig, ax = plt.subplots(figsize=(10, 3.5))
xs = np.arange(ta.num_classes)
ax.bar(xs - 0.2, src["per_class"], 0.4, label=f"pinhole (source) mIoU {src['miou']:.3f}")
ax.bar(xs + 0.2, tgt["per_class"], 0.4, label=f"panorama (target) mIoU {tgt['miou']:.3f}")
ax.set_xticks(xs, ta.classes, rotation=30)
ax.set_ylabel("IoU")
ax.legend()
ax.set_title("TA: per-class IoU")
fig.tight_layout()
viz.savefig(fig, out / "ta_domain_gap.png")
print(f"TA mIoU: pinhole {src['miou']:.3f}, panorama {tgt['miou']:.3f}, gap {100 * gap:.1f} points")

# %% [markdown]
# Where on the sphere does it fail? Notebook 01 showed that ERP stretches things by `1/cos(lat)`
# sideways; the TA never saw such shapes. Per latitude band of the whole-ERP prediction we read two
# numbers: the band's **mIoU** and its **pixel accuracy**. Read them together: a band that holds mostly
# one class (road at the bottom) can score a poor mIoU from a few stray pixels of a rare class while most
# of its pixels are right, and the pixel accuracy says so. The pixels it gets wrong sit in the two bands
# around the **horizon**, where the objects are: a 512-px panorama spends its width on 360° where the
# pinholes the TA learned from spend theirs on 60-90°, so a pole, a person or a car is four to six times
# narrower than the TA ever saw it. The sky and the road below the camera, stretched as they are, stay
# right (the line under the table gives each class's loss from pinhole to panorama).
#
# The dataset mIoU also gets its 95 % bootstrap interval over the panoramas: with a handful of
# panoramas, a few points of difference are within sampling noise.

# %%
with torch.no_grad():
    ta_preds = torch.stack([ta.predict(test_set[i]["image"][None].to(dev))[0].argmax(0).cpu()
                            for i in range(len(test_set))])
gts = torch.stack([test_set[i]["semantic"] for i in range(len(test_set))])
ta_cms = tgt["confusions"]                      # one confusion matrix per panorama, from the scoring above
print(f"TA on {len(test_set)} panoramas: mIoU {bootstrap.format_ci(*bootstrap.miou_bootstrap_ci(ta_cms))} "
      "(95 % interval over panoramas)")
lat_ta = metrics.latitude_miou(ta_preds, gts, ta.num_classes, bands=6)
fig, ax = plt.subplots(figsize=(6, 3))
centres = (lat_ta.lat_min + lat_ta.lat_max) / 2
ax.plot(centres, lat_ta.miou, "o-", label="band mIoU")
ax.plot(centres, lat_ta.pixel_acc, "s--", label="band pixel accuracy")
ax.axhline(src["miou"], ls=":", c="gray", label="pinhole mIoU")
ax.set_xlabel("latitude band centre (°)")
ax.set_ylim(0, 1.02)
ax.legend(fontsize=8)
ax.grid(alpha=.3)
ax.set_title(f"TA on whole panoramas, per latitude band (n = {len(test_set)} panoramas)")
fig.tight_layout()
viz.savefig(fig, out / "ta_latitude.png")
lat_ta[["lat_max", "lat_min", "miou", "pixel_acc", "pixel_share"]].round(3)

# %%
# what this section teaches, checked
sky_id = ta.classes.index("sky")
loss = dict(zip(ta.classes, (np.asarray(src["per_class"]) - np.asarray(tgt["per_class"])).round(3)))
print("IoU lost from pinhole to panorama, per class: " + ", ".join(f"{c} {v:+.2f}" for c, v in loss.items()))
top, bottom = lat_ta.iloc[0], lat_ta.iloc[-1]
horizon_acc = lat_ta.pixel_acc.iloc[2:4].min()               # the two bands either side of the equator
if check_claims:
    if cfg.dataset == "synthetic" or not data_root:
        assert gap >= 0.05, f"the pinhole-trained TA must lose clearly on panoramas (gap {gap:.3f})"
        assert bottom.pixel_acc > bottom.miou + 0.3, "the bottom band: a low mIoU, yet most pixels right"
        assert horizon_acc < min(top.pixel_acc, bottom.pixel_acc) - 0.03, "the wrong pixels are at the horizon"
        assert max(loss["road"], loss["sky"]) < 0.1, "the road and the sky are nearly as good as on pinholes"
        assert max(loss["pole"], loss["person"], loss["car"]) > 0.2, "small and thin objects lose most"

# %% [markdown]
# ## 2. Prediction-level consistency: overlapping windows that wrap across the seam
#
# Instead of one pass over the whole ERP, DAR runs the TA on **overlapping windows** and merges their
# logits. Columns are taken modulo `W`, so a window can straddle the ±180° seam and an object cut in
# two by the ERP's edges is seen whole. `"h"` (GoodSAM): full-height windows sliding sideways;
# `"hv"` (GoodSAM++): windows sliding both ways; `"tangent"` (our extension): distortion-free
# gnomonic views re-projected onto the sphere.

# %%
fig, axes = plt.subplots(1, 2, figsize=(13, 3.6))
for ax, mode in zip(axes, ("h", "hv")):
    layout = goodsam.window_layout((H, W), mode)
    viz.plot_erp(ax, erp, grid=False)
    viz.draw_windows(ax, layout, W)        # one colour and number per window; a wrapped one is drawn in two parts
    ax.set_title(f'windows="{mode}": {len(layout)} windows')
fig.tight_layout()
viz.savefig(fig, out / "windows.png")
plt.show()

# %%
# SAM "everything" masks of every test panorama, computed once and shared by all DAR settings below
test_masks = [goodsam.sam_masks(sam_model, test_set[i]["image"].to(dev), **sam_kw) for i in range(len(test_set))]
same = cfg.dataset == "synthetic" or not data_root
masks_one = test_masks[0] if (same and seed == 0) else goodsam.sam_masks(sam_model, erp.to(dev), **sam_kw)
res = {m: goodsam.dar(ta, None, erp, windows=m, boundary=False, fusion="none") for m in ("none", "h", "hv", "tangent")}
fig, axes = plt.subplots(3, 2, figsize=(13, 10))
viz.plot_erp(axes[0, 0], erp)
axes[0, 0].set_title("panorama")
viz.plot_erp(axes[0, 1], viz.colorize(gt))
axes[0, 1].set_title("ground truth")
for ax, (m, r) in zip(axes.flat[2:], res.items()):
    pred = r.ensemble_logits.argmax(0)
    viz.plot_erp(ax, viz.colorize(pred))
    ax.set_title(f'windows="{m}": mIoU {metrics.miou(pred, gt, ta.num_classes):.3f}')
fig.tight_layout()
viz.add_class_legend(fig, present=[gt] + [r.ensemble_logits.argmax(0) for r in res.values()])
viz.savefig(fig, out / "window_predictions.png")
plt.show()

# %%
# what this section teaches, checked
assert any(w.left + w.w > W for w in goodsam.window_layout((H, W), "h")), "some window wraps across the ±180° seam"
cover = torch.zeros(W)
for w_ in goodsam.window_layout((H, W), "h"):
    cover[(torch.arange(w_.w) + w_.left) % W] += 1
assert torch.all(cover >= 2), "every column (the seam too) is seen by at least two windows"

# %% [markdown]
# ## 3. Boundary enhancement
#
# A pixel near a window's border saw little context. Two fixes: (a) in the merge, each window's logits
# are weighted by a ramp that falls toward its borders (the ERP's own top and bottom edges excepted);
# (b) where a SAM mask crosses a seam, its border pixels take the class distribution of the mask's
# **interior**. SAM sees the ERP as a flat picture, so an object on the ±180° seam comes back as two
# masks; masks touching the left and the right edge on the same rows are joined first.
#
# The *context map* below is, per pixel, how deep inside its best window it lies (1 = well inside).
# For `windows="none"` the only border is the seam itself; with overlapping windows that wrap across the
# seam, every pixel may lie well inside one of them (a map that is 1 everywhere).
#
# Masks that run all the way round, like the sky and the ground, touch both edges and are left alone;
# what the seam cuts in two is an object that sits on it. To watch a join, the third panel **rolls** the
# panorama (a yaw by whole pixels, an exact column shift: notebook 01) so that the largest object SAM found
# away from the edges sits on the seam, and runs SAM again on the rolled picture. Each mask that touches
# the left or right edge gets its own colour; the ones joined across the seam are outlined in white, and
# the title counts both. The tiny SAM does not always return both halves of a cut object (a thin half can
# merge into a neighbouring region); a half without its partner stays as it is. The line printed under
# the figure says which happened here.

# %%
rb = {m: goodsam.dar(ta, None, erp, windows=m, boundary=True, fusion="none", masks=masks_one)
      for m in ("none", windows)}
fig, axes = plt.subplots(1, 3, figsize=(17, 3.4), layout="constrained")
for ax, m in zip(axes, ("none", windows)):
    context = rb[m].parts["context"]
    im = viz.plot_erp(ax, context, cmap="viridis", vmin=0, vmax=1)         # a fixed scale: 1 = well inside
    ax.set_title(f'context, windows="{m}" (min {float(context.min()):.2f})')
fig.colorbar(im, ax=axes[:2], fraction=0.02, pad=0.01, label="context")
# roll the largest mask that touches neither edge onto the seam, and let SAM cut the rolled picture again
inside = [k for k, m in enumerate(masks_one.masks) if not bool(m[:, 0].any() or m[:, -1].any())]
obj = max(inside, key=lambda k: int(masks_one.masks[k].sum())) if inside else None
shift = 0 if obj is None else -int(round(float(torch.nonzero(masks_one.masks[obj].any(0)).float().mean())))
shift = (shift + W // 2) % W - W // 2                             # the shorter way round
rolled = torch.roll(erp, shift, dims=-1)                        # column shift: the object's centre on column 0
masks_rolled = goodsam.sam_masks(sam_model, rolled.to(dev), **sam_kw)
paired = goodsam.pair_seam_masks(masks_rolled)
at_edge = [k for k, m in enumerate(masks_rolled.masks) if bool(m[:, 0].any() or m[:, -1].any())]
edge_ids = torch.zeros(H, W, dtype=torch.long)
for k in at_edge:
    edge_ids[masks_rolled.masks[k].cpu()] = k + 1
shown = viz.to_numpy_image(rolled).copy()
on = edge_ids.numpy() > 0
shown[on] = (0.45 * shown[on] + 0.55 * viz.colorize_instances(edge_ids)[on]).astype(np.uint8)
viz.plot_erp(axes[2], shown)
joined = paired.masks[paired.seam].cpu()
for m in joined:
    axes[2].contour(np.arange(W) + 0.5, np.arange(H) + 0.5, m.numpy(), levels=[0.5], colors="white", linewidths=1.5)
axes[2].set_title(f"rolled {shift:+d} columns: {len(at_edge)} SAM masks touch the seam, "
                  f"{len(joined)} joined across it", fontsize=10)
viz.savefig(fig, out / "boundary.png")
for m, r in rb.items():
    print(f'windows="{m}" + boundary: mIoU {metrics.miou(r.ensemble_logits.argmax(0), gt, ta.num_classes):.3f}')
if obj is not None:
    before = torch.roll(masks_one.masks[obj].cpu(), shift, dims=-1)     # SAM's mask of the object before the roll
    best = max((float((m & before).sum() / (m | before).sum()) for m in joined), default=0.0)
    print(f"rolled object ({int(before.sum())} px): " + (f"joined across the seam; IoU with SAM's mask of it before "
          f"the roll {best:.2f}" if len(joined) else "SAM did not return both halves, so nothing was joined"))

# %%
# what this section teaches, checked
ctx = rb["none"].parts["context"]
assert float(ctx[:, W // 2].min()) == 1.0, "the ERP centre is far from every border"
assert float(ctx[:, 0].max()) < 0.2, "the seam columns are border pixels of the whole-ERP pass"
assert len(paired.masks) == len(masks_rolled.masks) - len(joined), "each join turns two masks into one"
assert all(bool(m[:, 0].any() and m[:, -1].any()) for m in joined), "a joined mask reaches both edges"

# %% [markdown]
# ## 4. Cross-task complementary fusion
#
# SAM's masks know *where* objects are but not *what* they are; the TA knows *what* but blurs *where*.
# For each SAM mask `m` DAR takes the TA's mean class distribution `q_m` inside it: class
# `c_m = argmax q_m`, purity `π_m = max q_m`. Masks with purity above a threshold pull their pixels
# toward `c_m`, with weight `α_m = π_m · IoU_m` (SAM's predicted IoU):
#
# $$p(x) = \frac{p_\text{TA}(x) + s \sum_{m \ni x} \alpha_m\, \text{onehot}(c_m)}{1 + s \sum_{m \ni x} \alpha_m}$$
#
# Pixels no mask covers keep the TA. The simple baseline `"vote"` paints every mask with the TA's
# majority class. The bundled tiny SAM finds few masks on a whole 256×512 ERP, mostly large regions
# (the sky, the ground, big facades): the figure's first title counts them, and each mask is labelled
# with the class it pulls its pixels toward. `sam_method="windows"` runs SAM on each window instead, at
# twice the resolution. Pseudo-labels are the argmax, **ignored (255) where the fused confidence is below
# `conf_thresh`**.

# %%
full = goodsam.dar(ta, None, erp, windows=windows, boundary=True, fusion="ctcf", masks=masks_one,
                   conf_thresh=conf_thresh)
vote = goodsam.dar(ta, None, erp, windows=windows, boundary=True, fusion="vote", masks=masks_one,
                   conf_thresh=conf_thresh)
info = full.parts["fusion_info"]
ms = full.parts["masks"]
fig, axes = plt.subplots(2, 2, figsize=(13, 7))
ids = torch.zeros(H, W, dtype=torch.long)
for k in torch.argsort(ms.masks.flatten(1).sum(1), descending=True).tolist():
    ids[ms.masks[k]] = k + 1
viz.plot_erp(axes[0, 0], viz.colorize_instances(ids))                  # one colour per mask, black: no mask
mask_names = [f"{k}: {ta.classes[c]}" for k, c in enumerate(info["mask_class"].tolist())]
viz.annotate_masks(axes[0, 0], [ids == k + 1 for k in range(len(mask_names))], mask_names)   # where each is seen
axes[0, 0].set_title(f"{len(ms.masks)} SAM masks ({cfg.points_per_side}x{2 * cfg.points_per_side} point grid; "
                     f"black: no mask, {100 * float((ids == 0).float().mean()):.0f}% of pixels)")
axes[0, 1].bar(np.arange(len(ms.masks)), info["mask_purity"].numpy(),
               color=[data.PALETTE[c] / 255 for c in info["mask_class"].tolist()])
axes[0, 1].bar(np.arange(len(ms.masks)), info["mask_alpha"].numpy(), fill=False, ec="k",
               label="alpha (0 = does not vote)")
axes[0, 1].set_xticks(range(len(ms.masks)), [n.replace(": ", "\n") for n in mask_names], fontsize=8)
axes[0, 1].set_xlabel("mask: the class it pulls its pixels toward")
axes[0, 1].set_ylabel("purity")
axes[0, 1].legend()
axes[0, 1].set_title("per-mask TA purity (bar colour = class)")
viz.plot_erp(axes[1, 0], viz.colorize(vote.ensemble_logits.argmax(0)))
axes[1, 0].set_title(f'fusion="vote": mIoU {metrics.miou(vote.ensemble_logits.argmax(0), gt, ta.num_classes):.3f}')
viz.plot_erp(axes[1, 1], viz.colorize(full.ensemble_logits.argmax(0)))
axes[1, 1].set_title(f'fusion="ctcf": mIoU {metrics.miou(full.ensemble_logits.argmax(0), gt, ta.num_classes):.3f}')
fig.tight_layout()
viz.add_class_legend(fig, present=[vote.ensemble_logits.argmax(0), full.ensemble_logits.argmax(0),
                                   info["mask_class"]])
viz.savefig(fig, out / "fusion.png")
plt.show()

# %%
pl, conf = full.pseudo_label, full.parts["confidence"]
wrong = (pl != 255) & (pl != gt) & (gt != 255)
sky = gt == sky_id                                              # the ground-truth sky of this panorama
sky_label = int(torch.mode(pl[sky]).values) if sky.any() else sky_id   # the label most of it gets (255: ignored)
sky_share = float((pl[sky] == sky_label).float().mean()) if sky.any() else 1.0
sky_name = "ignored" if sky_label == 255 else ta.classes[sky_label]
fig, axes = plt.subplots(1, 3, figsize=(16, 3.4))
viz.plot_erp(axes[0], viz.colorize(pl))
axes[0].set_title(f"pseudo-label (black = ignored): {sky_share:.0%} of the sky is {sky_name}", fontsize=10)
viz.plot_erp(axes[1], viz.colorize(gt))
axes[1].set_title("ground truth")
viz.plot_erp(axes[2], viz.overlay(erp, wrong, alpha=0.7))
axes[2].set_title(f"pseudo-label errors (red): {float((wrong & sky).sum()) / max(1, int(wrong.sum())):.0%} of them "
                  "in the sky", fontsize=10)
fig.tight_layout()
viz.add_class_legend(fig, present=[full.pseudo_label, gt])
viz.savefig(fig, out / "pseudo_label.png")
kept = (pl != 255) & (gt != 255)
acc_kept = float((pl[kept] == gt[kept]).float().mean())
acc_all = float((full.ensemble_logits.argmax(0)[gt != 255] == gt[gt != 255]).float().mean())
coverage = float(kept.sum()) / float((gt != 255).sum())
print(f"pseudo-label coverage {coverage:.2%}, accuracy on kept pixels {acc_kept:.3f} (all pixels {acc_all:.3f})")
print(f"ground-truth sky ({float(sky.float().mean()):.0%} of the panorama): {sky_share:.0%} of it labelled {sky_name}, "
      f"mean fused confidence {float(conf[sky].mean()) if sky.any() else float('nan'):.2f} (threshold {conf_thresh})")

# %% [markdown]
# **Read the sky.** SAM returns the sky as one mask, so fusion gives nearly all of it one class: the TA's
# majority class inside that mask. That is right everywhere at once when the majority is *sky*, as it is
# for this TA (section 1: it keeps the sky), and it would be wrong everywhere at once if the TA called most
# of the sky *building*. A mask that is wrong as a whole is wrong *confidently*: the fused distribution
# agrees with itself across the mask, so the confidence threshold keeps it. The same rule hurts the thin
# objects: a tiny-SAM mask that covers a pole and the facade behind it gives the pole the facade's class
# (the pole row of section 5). At `conf_thresh=0.5` the pseudo-label keeps almost every pixel, and on this
# panorama its accuracy is the ensemble's (the coverage line): these labels carry the errors SAM's masks
# spread as well as the ones they fix, and notebook 05 distils from them as they are.

# %%
# what this section teaches, checked
assert torch.all(full.pseudo_label[full.parts["confidence"] < conf_thresh] == 255), "low confidence -> ignore"
uncovered = ~ms.masks.any(0)
assert torch.allclose(full.ensemble_logits.exp()[:, uncovered], full.parts["boundary_probs"][:, uncovered],
                      atol=1e-4), "pixels no mask covers keep the TA"
if check_claims:
    assert len(ms.masks) < 10, "the tiny SAM finds few masks on a whole ERP"
    assert coverage > 0.9 and abs(acc_kept - acc_all) < 0.05, \
        "at this threshold the pseudo-label keeps almost every pixel, and its accuracy is the ensemble's"
    assert sky_share > 0.9, "the sky is one SAM mask: fusion gives nearly all of it one class"
    if sky_label != sky_id:
        assert float((pl[sky] != 255).float().mean()) > 0.9, "a sky labelled wrongly as a whole is kept: confidence " \
            "does not flag it"

# %% [markdown]
# ### What the threshold buys, over the test panoramas
# One panorama is one anecdote. The cell below runs the same DAR on every test panorama (the SAM masks
# computed above) and asks, for a range of thresholds, what share of the labelled pixels the pseudo-label
# keeps (coverage) and how many of the kept pixels are right (accuracy): `goodsam.confidence_curve`. A
# threshold is worth its cost when accuracy climbs faster than coverage falls; where a wrong mask is
# confident, no threshold removes it.

# %%
runs = [goodsam.dar(ta, None, test_set[i]["image"].to(dev), windows=windows, boundary=True, fusion="ctcf",
                    masks=test_masks[i]) for i in range(len(test_set))]
curve = goodsam.confidence_curve([r.ensemble_logits.argmax(0).cpu() for r in runs],
                                 [r.parts["confidence"].cpu() for r in runs],
                                 [test_set[i]["semantic"] for i in range(len(test_set))], ta.num_classes)
fig, ax = plt.subplots(figsize=(5.5, 3.6))
ax.plot(curve.coverage, curve.accuracy, "o-")
for r in curve.itertuples():
    ax.annotate(f"{r.threshold:g}", (r.coverage, r.accuracy), textcoords="offset points", xytext=(4, 4), fontsize=7)
at = curve.set_index("threshold").loc[conf_thresh] if conf_thresh in set(curve.threshold) else None
if at is not None:
    ax.plot([at.coverage], [at.accuracy], "r*", ms=12, label=f"conf_thresh = {conf_thresh:g}")
    ax.legend(fontsize=8)
ax.set_xlabel("coverage: share of labelled pixels kept")
ax.set_ylabel("accuracy of the kept pixels")
ax.set_title(f"full DAR pseudo-labels, {len(test_set)} test panoramas (labels: thresholds)", fontsize=9)
ax.grid(alpha=0.3)
fig.tight_layout()
viz.savefig(fig, out / "confidence_curve.png")
plt.show()
curve.round(4)

# %%
assert curve.coverage.iloc[0] == 1.0 and (curve.coverage.diff().dropna() <= 0).all(), \
    "a higher threshold keeps fewer pixels, and threshold 0 keeps them all"
print(f"threshold 0: accuracy {curve.accuracy.iloc[0]:.3f} on every pixel; highest threshold "
      f"{curve.threshold.iloc[-1]:g}: {curve.accuracy.iloc[-1]:.3f} on {curve.coverage.iloc[-1]:.1%} of them")

# %% [markdown]
# ## 5. Ablation on held-out panoramas
#
# Each DAR step measured on the test panoramas (SAM masks computed once per panorama and shared):
# mIoU of the ensemble's argmax on every labelled pixel, the change against the TA alone in mIoU
# points, and the pseudo-labels' coverage and mIoU on the pixels they keep.
# `data_scripts/eval_dar.py` runs the same on more panoramas (its numbers are in `data_scripts/README.md`).

# %%
full_name = "+ windows h + boundary + ctcf (full DAR)"
# quick profile: no x2 runs
variants = {k: v for k, v in goodsam.ABLATION_VARIANTS.items() if cfg.profile == "full" or "x2" not in k}
abl = goodsam.run_ablation(ta, sam_model, test_set, variants=variants, masks=test_masks,
                           common=dict(conf_thresh=conf_thresh))
t = abl.table
shown = t[["variant", "n"]].copy()
shown["mIoU [95 % CI]"] = [bootstrap.format_ci(r.miou, r.miou_lo, r.miou_hi, digits=3) for r in t.itertuples()]
shown["vs TA, points [paired CI]"] = [bootstrap.format_ci(r.delta_vs_ta, r.delta_lo, r.delta_hi, digits=1)
                                      for r in t.itertuples()]
shown = shown.join(t[["pixel_acc", "pseudo_coverage", "pseudo_miou", "seconds"]])
print(f"SAM masks per test panorama: {np.mean([len(m.masks) for m in test_masks]):.1f} on average")
shown

# %%
fig, axes = plt.subplots(1, 3, figsize=(17, 4), gridspec_kw=dict(width_ratios=[1.3, 1, 1]))
err = np.vstack([t.miou - t.miou_lo, t.miou_hi - t.miou])[:, ::-1]
axes[0].barh(t.variant[::-1], t.miou[::-1], xerr=err, capsize=3)
axes[0].axvline(t.miou.iloc[0], c="k", ls="--")
axes[0].set_xlabel("mIoU (argmax, all labelled pixels)")
axes[0].set_title(f"DAR ablation (bars: 95 % CI over n = {len(test_set)} panoramas)", fontsize=9)
lat, acc = abl.latitude.set_index("variant"), abl.latitude_acc.set_index("variant")
picked = [t.variant.iloc[0], "+ windows h", "+ windows h + boundary + vote", full_name, "tangent + boundary + ctcf"]
for ax, table, what in ((axes[1], lat, "mIoU"), (axes[2], acc, "pixel accuracy")):
    for name in picked:
        ax.plot(range(table.shape[1]), table.loc[name].values, "o-", label=name)
    ax.set_xticks(range(table.shape[1]), table.columns, rotation=20)
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=.3)
    ax.set_title(f"per latitude band: {what}", fontsize=9)
axes[1].legend(fontsize=7)
fig.tight_layout()
viz.savefig(fig, out / "ablation.png")
abl.per_class.round(3)

# %%
# what this section teaches, checked
row = abl.table.set_index("variant")
cls = abl.per_class.set_index("variant")
gain = cls.loc[full_name] - cls.loc[t.variant.iloc[0]]              # per-class IoU, full DAR minus the TA alone
print(f"full DAR vs TA alone: {row.loc[full_name, 'delta_vs_ta']:+.2f} mIoU points on {len(test_set)} panoramas; "
      f"per-class IoU change: " + ", ".join(f"{c} {v:+.3f}" for c, v in gain.dropna().items()))
if check_claims:
    assert row.loc[full_name, "pseudo_miou"] > row.loc[full_name, "miou"] + 0.01, \
        "on the pixels it keeps, the pseudo-label's mIoU is above the argmax's on all pixels"
    if same:
        for name in (full_name, "+ windows h + boundary + vote"):
            assert row.loc[name, "delta_lo"] < 0, f"{name}: no gain the interval can tell from 0 (or a loss)"
        assert gain.idxmin() in ("pole", "sidewalk", "person", "car") and gain.min() < -0.03, \
            "a thin or narrow class loses most to fusion"
        assert gain["pole"] < -0.02, "the pole loses to fusion"
        assert gain[["road", "building", "sky"]].min() > -0.02, "the large regions hold"
        for name in ("+ windows hv", "tangent", "tangent + boundary + ctcf"):
            assert row.loc[name, "delta_hi"] < 0, f"{name}: worse than the whole panorama"

# %% [markdown]
# ### Reading the table
#
# - **Neither fusion gains over the TA alone here** (the `vs TA` column: the paired intervals hold 0 or lie
#   below it). This TA was trained at the panoramas' resolution and already gets the large regions right
#   (road, sky, facades: the per-class table); the tiny SAM's few, large masks (the count above) have
#   nothing to add there. Where the TA is weak, on small and thin objects, those masks are too coarse to
#   help.
# - **Thin and narrow classes lose most** (the per-class change printed above: the pole, and in this run the
#   sidewalk strip too), while road, buildings and sky hold: a SAM mask that spans a pole and what stands
#   behind it takes the majority class, and the pole is never the majority. That is fusion's price, **error
#   propagation**: a mask gets one label for all its pixels, right or wrong. ctcf (a mask votes only where
#   the TA's mean probability of its class is high enough) is designed for SAM ViT-H's many small masks,
#   which this lab does not run on a CPU; GoodSAM's gain rests on masks finer than the TA's errors, and the
#   bundled tiny SAM does not give them (`data_scripts/README.md`: the same finding on 16 panoramas per
#   split; a 128 × 256 TA that did gain from the same masks, on the road below the camera where it was
#   unsure; and SAM run per window, more and smaller masks, about one point back on one split: Your turn 1).
# - **Windows that see less than the full height** (`"hv"`, tangent views) are *worse* than the whole
#   panorama, intervals below 0: this TA learned wide pinhole views with the horizon in the middle, and a
#   window of sky and roofs, or a view straight down, is further from them than the whole ERP. The
#   domain gap is field of view, pitch and content as much as stretching.
#
# A few quick-profile panoramas give a noisy ablation: one variant's gain moves by points from one set of
# panoramas to another. `data_scripts/eval_dar.py` runs the same ablation on 16 panoramas of each held-out
# split; its tables, and what they say about vote against ctcf, are in `data_scripts/README.md`.

# %% [markdown]
# ## 6. Pseudo-labelling a dataset
#
# `goodsam.pseudo_label_dataset` runs DAR over a dataset (or a folder of ERP images) and writes compact
# ensemble logits (top-3 log-probabilities in float16) and pseudo-labels, one file per panorama, with a
# manifest of the settings and of the TA's and SAM's weight fingerprints. It resumes a matching run,
# refuses a folder holding other pseudo-labels (other settings, another SAM or TA), and under `torchrun`
# each rank labels its share. Notebook 05 reads the folder back with
# `goodsam.PseudoLabelDataset`.

# %%
# one folder per setting and per model: the same settings and weights resume, anything else never touches it
# (the manifest records the TA's and SAM's weight fingerprints; a mismatch is refused)
models_tag = f"ta{goodsam.model_fingerprint(ta)[:8]}_sam{goodsam.model_fingerprint(sam_model)[:8]}"
pl_dir = out / (f"pseudo_{cfg.teacher}_{windows}_ctcf_{sam_method}{cfg.points_per_side}_c{conf_thresh}_{cfg.erp_hw[0]}"
                f"_{models_tag}".replace("/", "_"))
few = torch.utils.data.Subset(test_set, range(min(2, len(test_set))))
goodsam.pseudo_label_dataset(ta, sam_model, few, pl_dir, windows=windows, boundary=True, fusion="ctcf",
                             conf_thresh=conf_thresh, sam_kwargs=sam_kw)
pl_ds = goodsam.PseudoLabelDataset(pl_dir)
it0 = pl_ds[0]
print(len(pl_ds), "items;", {k: tuple(v.shape) for k, v in it0.items() if torch.is_tensor(v)})
fig, axes = plt.subplots(1, 2, figsize=(13, 3.4))
viz.plot_erp(axes[0], it0["image"])
axes[0].set_title("stored panorama")
viz.plot_erp(axes[1], viz.colorize(it0["pseudo_label"]))
axes[1].set_title("stored pseudo-label (black = ignored)")
fig.tight_layout()
viz.add_class_legend(fig, present=it0["pseudo_label"])
viz.savefig(fig, out / "pseudo_dataset.png")
plt.show()

# %%
# what this section teaches, checked
ok = it0["pseudo_label"] != 255
assert torch.equal(it0["ensemble_logits"].argmax(0)[ok], it0["pseudo_label"][ok]), \
    "compact logits keep the pseudo-label's class"
assert torch.allclose(it0["ensemble_logits"].exp().sum(0), torch.ones(it0["ensemble_logits"].shape[-2:]),
                      atol=2e-2), \
    "dense logits are a distribution"
print(f"notebook ran in {lab.elapsed():.0f} s")

# %% [markdown]
# ## What we saw, and what comes next
#
# - A TA trained on pinhole views loses mIoU on panoramas (section 1 prints both scores and the gap). The
#   loss is on the small and thin objects near the horizon, which the panorama draws several times
#   narrower than the pinholes did; the sky and the road keep their scores. Per latitude band, read mIoU
#   beside pixel accuracy: at the bottom most pixels are right though the band mIoU is low.
# - The gap is not only stretching: distortion-free tangent views and half-height windows make this TA
#   *worse*, because it learned wide views with the horizon in the middle. Field of view, pitch and
#   content are part of the domain gap.
# - Fusing the tiny SAM's masks does not help this TA: they are larger than its errors, and they cost the
#   poles. GoodSAM's DAR needs a SAM whose masks are finer than the TA's mistakes; the lesson to carry is
#   *when* fusion can help, which the ablation table measures instead of assuming.
# - Fusion spreads the TA's errors as well as fixing them: a SAM mask gets one class for all its pixels,
#   and a mask that is wrong as a whole is wrong with confidence, so the threshold keeps it. The
#   pseudo-labels notebook 05 learns from are the ensemble's labels, errors included.
# - Notebook 05 trains a compact panoramic student from these ensemble logits and pseudo-labels
#   (plus the TA's multi-level features) with MKA.

# %% [markdown]
# ## Your turn
#
# Change a parameter, write down what you expect, then re-run and compare with what the cells print.
#
# 1. **SAM per window.** Set `sam_method="windows"`: SAM now runs on each `"h"` window at twice the
#    resolution. Does it find more masks, and smaller ones (the mask count under the ablation table)? Does
#    the full DAR's gain over the TA alone (`vs TA`) grow, and what does it cost (the `seconds` column)?
# 2. **A stricter pseudo-label.** Set `conf_thresh=0.8`. How much of the studied panorama does the
#    pseudo-label still cover, and how accurate is it where it is kept (the coverage line)? Does the sky's
#    label survive the stricter threshold? Is that trade worth it for distillation?
# 3. **A denser point grid.** Set `points_per_side=12`. How many masks does the studied panorama get now
#    (the first title of `fusion.png`), and does ctcf's mIoU move? Look at the mask panel: are more masks
#    from a small SAM better masks?
# 4. **Two-way windows.** Compare the `+ windows hv` rows of the ablation table with `+ windows h`. Which
#    is better here? Look at `windows.png`: what do the `"hv"` windows near the poles contain, and what did
#    the TA learn from?
# 5. **Another panorama.** Set `seed=1` (another test world). Which class does SAM's sky mask get now
#    (the line under `pseudo_label.png`), and how does the pseudo-label's accuracy change with it?
