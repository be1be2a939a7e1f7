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
# # 03 · Stable-SAM: plugins that make a frozen SAM robust to casual prompts
#
# Notebook 02 (`02_sam_prompt_stability.ipynb`) showed that SAM's masks get worse, and above all
# *wobble*, when the prompt is casual: a box drawn in a hurry, a single click. Stable-SAM
# (arXiv 2311.15776) keeps SAM's weights **frozen** and adds two tiny plugins to its mask decoder:
#
# - a **Deformable Sampling Plugin (DSP)** that learns *where* the decoder should read image
#   features (a learned offset for every image token), and
# - a **Dynamic Routing Plugin (DRP)** that decides, from the prompt, how much to trust those
#   deformed features versus the regular grid;
#
# trained with a **Robust Training Strategy (RTS)**: ground-truth boxes, noisy boxes and a few clicks,
# mixed. About 0.08M trainable parameters; SAM's own (94M for Meta's ViT-B; the bundled `tiny-synth`'s
# count is printed below) stay untouched.
# No official code exists; `gsam_lab.stable_sam` is this lab's reading of the paper's architecture
# figure, with every choice a constructor argument.
#
# **You will:**
# 1. see again what casual prompts do to SAM's mask, and what the plugins are meant to repair;
# 2. build the DSP and the DRP step by step and check that both start as exact no-ops;
# 3. host them in SAM's decoder (`StableSam`) without editing `segment_anything`;
# 4. run a short RTS training on a frozen SAM;
# 5. load the **shipped** plugins (trained longer by `data_scripts/train_stable_sam.py`) and compare
#    SAM and Stable-SAM on every object of held-out pinhole images and panoramas: mIoU, stability;
# 6. look at what the plugins learned: the offset field over an image and the routing weights against
#    prompt quality.
#
# **Run time:** quick profile (bundled `tiny-synth` SAM and plugins, CPU) about 40 s on 2 idle CPU cores
# (`gsam-lab run 03`; two to three times longer when other work shares the cores); full profile (Meta's
# ViT-B/L/H, a real data root, 500 RTS steps, GPU): not measured.

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
import time
from typing import Optional, Tuple  # the types named in the parameters cell's annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

import gsam_lab
from gsam_lab import bootstrap, data, metrics, sam, stable_sam, viz

# %% [markdown]
# ## Parameters
# Papermill and `gsam-lab run -p key=value` override this cell. Sizes left at `None` come from the profile.

# %% tags=["parameters"]
profile: str = "quick"          # quick | full
device: str = "auto"            # auto | cpu | cuda | mps
seed: int = 0                   # seed of the training run and of the prompt draws
check_claims: bool = True        # False skips the teaching asserts; mechanical checks always run
sam_checkpoint: str = "tiny-synth"   # "tiny-synth" (bundled), "vit_b" | "vit_l" (the paper's) | "vit_h", a .pth
plugins: str = ""               # plugins to evaluate; empty: the shipped ones (tiny-synth), else this notebook's run
data_root: str = ""             # optional folder of real labelled images for the evaluation (FolderDataset)
data_layout: str = "generic"    # FolderDataset layout of data_root: generic | densepass | stanford2d3d
out_dir: str = "outputs/03_stable_sam_plugins"   # figures, tables and the plugins trained here
steps: "Optional[int]" = None                     # RTS steps; None: 8 quick, 500 full (x 4 images: one epoch)
n_train: "Optional[int]" = None                   # train renders for RTS; None: 4 quick, 2000 full (paper: ~1 epoch)
images_per_step: "Optional[int]" = None           # images per RTS step; None: 2 quick, 4 full
n_pinhole: "Optional[int]" = None                 # held-out pinhole images; None: 3 quick, 50 full
n_erp: "Optional[int]" = None                     # held-out panoramas; None: 1 quick, 20 full
pinhole_hw: "Optional[Tuple[int, int]]" = None    # None: (256, 256) quick, (768, 1024) full
erp_hw: "Optional[Tuple[int, int]]" = None        # None: (256, 512) quick, (1024, 2048) full
draws: "Optional[int]" = None                     # prompt draws per object and setting; None: 2 quick, 20 full
max_objects: "Optional[int]" = None               # keep only the largest objects per image; None: all of 64 px or more

# %%
lab = gsam_lab.setup("03", profile, device=device, seed=seed, out_dir=out_dir, steps=steps, n_train=n_train,
                     images_per_step=images_per_step, n_pinhole=n_pinhole, n_erp=n_erp, pinhole_hw=pinhole_hw,
                     erp_hw=erp_hw, draws=draws, max_objects=max_objects)
cfg, dev, out = lab.cfg, lab.device, lab.out
model = sam.load_sam(sam_checkpoint, device=dev)
print(f"SAM={sam_checkpoint} "
      f"({sum(p.numel() for p in model.parameters()) / 1e6:.1f}M parameters, embedding "
      f"{model.prompt_encoder.image_embedding_size})")

# %% [markdown]
# ## 1 · SAM under casual prompts
# One held-out object, prompted the way notebook 02 does it: the tight ground-truth box, two noisy
# boxes (HQ-SAM's noise: the box centre and size jitter by up to `s` of the box) and one or three
# random clicks. White outline: the true object; red: SAM's mask. Beside SAM's IoU with the object, the
# table gives, for each box, the IoU of the **filled box** with the object and the IoU of SAM's mask
# with the filled box: a mask that follows the box scores high on the second.

# %%
if data_root:
    real = data.FolderDataset(data_root, layout=data_layout)
    pick = [real[i] for i in range(min(cfg.n_pinhole, len(real)))]
    domains = {"real": [dict(image=s["image"], instance=data.things_as_instances(s["semantic"])) for s in pick]}
else:
    domains = data.heldout_domains(cfg.n_pinhole, cfg.n_erp, cfg.pinhole_hw, cfg.erp_hw)
name0 = next(iter(domains))
s0 = domains[name0][0]
img0, inst0 = sam.as_rgb_uint8(s0["image"]), np.asarray(s0["instance"])
ids, areas = np.unique(inst0[inst0 > 0], return_counts=True)
obj = ids[np.argsort(-areas)[min(1, len(ids) - 1)]]          # the second-largest object
gt0 = inst0 == obj
sam_pred = sam.PromptPredictor(model).set_image(img0)
prompts0 = sam.casual_prompts(gt0, seed=seed, noise=(0.2, 0.4), points=(1, 3))
before = sam.prompt_outcomes(sam_pred, gt0, prompts0)
fig = viz.show_outcomes(img0, before)
viz.savefig(fig, out / "sam_casual_prompts.png")
plt.show()
box_fill = sam.BoxFillPredictor().set_image(img0)            # the "fill the box" baseline of notebook 02
rows = []
for o in before:
    row = dict(prompt=o.name, iou_object=o.iou, iou_filled_box_object=np.nan, iou_mask_filled_box=np.nan)
    if "boxes" in prompts0[o.name]:
        filled = box_fill.predict(boxes=prompts0[o.name]["boxes"]).masks[0].numpy()
        row.update(iou_filled_box_object=metrics.mask_iou(filled, gt0),
                   iou_mask_filled_box=metrics.mask_iou(o.mask, filled))
    rows.append(row)
one = pd.DataFrame(rows).set_index("prompt")
noisiest = [k for k in prompts0 if "0.4" in k][0]
r = one.loc[noisiest]
print(f"{noisiest}: SAM's IoU with the object {r.iou_object:.2f} (GT box {one['iou_object'].iloc[0]:.2f}), with "
      f"the filled box {r.iou_mask_filled_box:.2f}; the filled box's own IoU with the object "
      f"{r.iou_filled_box_object:.2f}: "
      + ("here the mask stays closer to the object than to the box" if r.iou_object > r.iou_mask_filled_box
         else "here the mask follows the box"))
one.round(3)

# %% [markdown]
# The tight box is the prompt SAM was benchmarked with; the others are what a person gives. Stable-SAM's
# paper reports, for Meta's SAM, that a sloppy box makes the decoder read image features from the wrong
# place (its attention drifts onto the background) and the mask follows the box. Its idea: let the
# decoder *move* its sampling points. Whether that failure is there to repair depends on the SAM: if
# the mask followed the box, its IoU with the filled box would stay high while its IoU with the object
# fell. The line above reads it for this one object; section 6 asks it over every object, and notebook
# 02 (section 5) measures the attention drift.
#
# ## 2 · The Deformable Sampling Plugin, step by step
# SAM's mask decoder is a two-way transformer with two blocks. Between block 1 and block 2 the DSP
# takes the image tokens `x` (`B x C x H x W`, `C = 256`) and computes
#
# $$x^* = \mathrm{Conv}_{1\times1}(x), \qquad
# \Delta p = \mathrm{Conv}_{1\times1}^{C\to2}\big(
# \mathrm{GELU}(\mathrm{LN}(\mathrm{DWConv}_{5\times5}(x^*)))\big),
# \qquad \tilde x = \mathrm{grid\_sample}(x^*, p + \Delta p).$$
#
# `p` is the grid of token centres and `Δp` is in token units. Block 2's token-to-image attention then
# reads `x̃` as keys and values. At the start the projection is the identity and the last convolution
# is zero, so `Δp = 0` and `x̃ = x` exactly.

# %%
dsp = stable_sam.DeformableSamplingPlugin(256)
for name, m in [("projection Conv1x1", dsp.proj), ("depth-wise 5x5", dsp.dwconv), ("LayerNorm", dsp.norm),
                ("offset head Conv1x1 C->2", dsp.offset)]:
    print(f"{name:26s} {sum(p.numel() for p in m.parameters()):>7,d}")
print(f"{'DSP total':26s} {stable_sam.count_trainable(dsp):>7,d}")

x = sam_pred.get_image_embedding().detach().cpu()             # 1 x 256 x h x w: a real image embedding
deformed, offsets = dsp(x)
print("untrained DSP: offsets all zero:", bool((offsets == 0).all()),
      "| deformed == x bit for bit:", torch.equal(deformed, x))
assert torch.equal(deformed, x) and (offsets == 0).all()

# %% [markdown]
# What does `grid_sample` do with an offset? Below we hand the sampler a made-up offset field: every
# token reads the feature 3 tokens to its right in the left half of the map, and 3 tokens above it
# in the right half. We show the first principal component of the features before and after.

# %%
h, w = x.shape[-2:]
demo_off = torch.zeros(1, 2, h, w)
demo_off[:, 0, :, : w // 2] = 3.0                              # dx = +3 tokens (read from the right)
demo_off[:, 1, :, w // 2:] = -3.0                              # dy = -3 tokens (read from above)
moved = stable_sam.sample_at_offsets(x, demo_off)
flat = x[0].flatten(1)
pc = torch.linalg.svd(flat - flat.mean(1, keepdim=True), full_matrices=False)[0][:, 0]
fig, axes = plt.subplots(1, 3, figsize=(12, 3.6))
axes[0].imshow(img0)
axes[0].set_title("image")
axes[1].imshow((pc @ x[0].flatten(1)).reshape(h, w), cmap="viridis")
axes[1].set_title("embedding, 1st PC")
axes[2].imshow((pc @ moved[0].flatten(1)).reshape(h, w), cmap="viridis")
axes[2].set_title("re-sampled with the demo offsets")
for a in axes:
    a.axis("off")
viz.savefig(fig, out / "dsp_demo_offsets.png")
assert torch.equal(moved[0, :, :, :w // 2 - 3], x[0, :, :, 3:w // 2]), "dx = +3 reads the token 3 to the right"

# %% [markdown]
# ## 3 · The Dynamic Routing Plugin
# Deformed features help when the prompt is bad and may hurt when it is good. The DRP reads a
# prompt-conditioned token (SAM's IoU token after block 1) through `LayerNorm → Linear → GELU → Linear`
# and outputs two weights `α = (α_deformed, α_regular)`; block 2 then reads
# `α_deformed · x̃ + α_regular · x`. *Soft* routing (softmax, the default) mixes; *hard* routing picks
# one (trained with a straight-through gradient). Zero-initialised last layer: `α = (0.5, 0.5)`, and
# with `x̃ = x` the mix is `x` exactly.

# %%
drp = stable_sam.DynamicRoutingPlugin(256, hidden=16, routing="soft")
tok = torch.randn(4, 256)
print("DRP parameters:", stable_sam.count_trainable(drp), "| untrained alpha:", drp(tok)[0].tolist())
assert torch.equal(drp(tok), torch.full((4, 2), 0.5))

# %% [markdown]
# ## 4 · `StableSam`: the plugins inside SAM's decoder, SAM frozen
# `StableSam(model, dsp=True, drp=True, routing="soft", deform_attn=("layer2",))` runs SAM's decoder
# layer by layer with SAM's own modules (nothing in `segment_anything` is edited) and swaps the keys
# and values of block 2's token-to-image attention (`deform_attn=("layer2", "final")` also deforms
# the final attention). SAM's parameters get `requires_grad=False`. An untrained `StableSam` must
# give SAM's logits bit for bit: compared with `PromptPredictor(model)`, which runs SAM's own decoder
# modules (the optional fast path, `PromptPredictor(model, fast=True)`, computes the same products in
# another order, so it agrees only up to float rounding, ~1e-5).
#
# Which untrained variants are exact? With DRP, the routed tokens are a mix of two equal maps (an
# untrained DSP samples exactly the token centres), computed into a fresh tensor in SAM's own layout
# (0.5 x + 0.5 x == x exactly): every block reads SAM's own inputs, so the logits are SAM's **bit for
# bit**, by construction. With DSP alone (`drp=False`) the attention reads the sampled tokens as
# `grid_sample` returns them, a transposed view: equal values in another memory layout, so the matrix
# products take another kernel path and the logits agree only **up to float rounding** (about 2e-7 on
# some CPUs, 0 on others); the tests check that bound.

# %%
stable0 = stable_sam.StableSam(model, dsp=True, drp=True)
n_train_params = stable0.num_trainable()
print(f"trainable parameters: {n_train_params:,} (DSP {stable_sam.count_trainable(stable0.dsp):,} + "
      f"DRP {stable_sam.count_trainable(stable0.drp):,}); frozen SAM parameters: "
      f"{sum(p.numel() for p in model.parameters()):,}")
boxes0 = np.stack([p["boxes"] for p in prompts0.values() if "boxes" in p])
a = sam.PromptPredictor(model).set_image(img0).predict(boxes=boxes0, return_logits=True)
b = stable_sam.StableSamPredictor(stable0).set_image(img0).predict(boxes=boxes0, return_logits=True)
print("untrained StableSam == SAM (logits, bit for bit):", torch.equal(a.low_res_logits, b.low_res_logits))
assert torch.equal(a.low_res_logits, b.low_res_logits), "the plugins start as an exact no-op"
assert n_train_params <= 100_000, "Stable-SAM trains at most 0.1M parameters"
assert not any(p.requires_grad for p in model.parameters()), "SAM is frozen"

# %% [markdown]
# ## 5 · Robust Training Strategy (a short run)
# `stable_sam.train_rts` embeds every training image once with SAM's frozen encoder (so a step costs
# only the decoder), then for each object draws one prompt from the mix *ground-truth box : noisy box
# (s ~ U(0.1, 0.5)) : 1–10 clicks* and minimises BCE + dice on the mask. Training images are
# train-split renders, never the held-out test split. The quick profile runs only a few steps to
# show the loop; the plugins we evaluate below were trained longer by
# `data_scripts/train_stable_sam.py` and ship with the package.

# %%
train_set = torch.utils.data.ConcatDataset([
    data.SyntheticPinholes("train", max(1, cfg.n_train * 3 // 4), cfg.pinhole_hw, seed=seed, fov_deg=(50.0, 110.0)),
    data.SyntheticPanoramas("train", max(1, cfg.n_train // 4), cfg.erp_hw, seed=seed)])
sam_before = {k: v.clone() for k, v in model.state_dict().items()}
stable_nb = stable_sam.StableSam(model)
rts_cfg = stable_sam.RTSConfig(steps=cfg.steps, images_per_step=cfg.images_per_step, seed=seed,
                               log_every=max(1, cfg.steps // 4))
run = stable_sam.train_rts(stable_nb, train_set, rts_cfg,
                           out=out / "plugins_notebook_run.pt", overwrite=True, resume=False, device=dev,
                           sam_name=sam_checkpoint if sam_checkpoint in sam.SAM_MODELS else None)
hist = pd.DataFrame(run["history"])
fig, ax = plt.subplots(figsize=(6, 3))
ax.plot(hist["step"], hist["loss"], marker=".", label="BCE + dice")
ax.plot(hist["step"], hist["loss"].rolling(5, min_periods=1).mean(), label="running mean")
ax.set_xlabel("RTS step")
ax.set_ylabel("loss")
ax.grid(alpha=.3)
ax.legend()
viz.savefig(fig, out / "rts_loss.png")
print(f"{run['steps']} steps in {run['seconds']:.0f} s, {run['trainable']:,} trainable parameters")

# %%
assert all(torch.equal(sam_before[k], v) for k, v in model.state_dict().items()), "RTS never changes SAM"
assert np.isfinite(hist["loss"]).all()
assert stable_nb.dsp.offset.weight.abs().sum() > 0, "the offset head left its zero start"

# %% [markdown]
# ## 6 · Before and after: SAM vs Stable-SAM on held-out images
# We load the shipped plugins (`stable_sam.load`) and sweep both models with **the same prompts**
# (same seeds) over **every object** (of at least 64 px) of held-out pinhole images and panoramas:
# ground-truth box, noisy boxes at two noise levels, 1/3/5 clicks, and "fill the box" on the same boxes.
# With another SAM (full profile) and no `plugins` file, the plugins trained in section 5 are used.

# %%
if plugins:
    stable = stable_sam.load(plugins, model=model)
elif sam_checkpoint == "tiny-synth":
    stable = stable_sam.load("tiny-synth", model=model)             # the shipped plugins, by name
else:
    stable = stable_nb
print("evaluating plugins:", getattr(stable, "meta", {}).get("recipe", "this notebook's run"),
      {k: v for k, v in getattr(stable, "meta", {}).items() if k in ("steps", "images", "seconds")})
# SAM through the fast decoder path (gsam_lab.sam.fast: the same arithmetic reordered; IoUs move by ~1e-3 at most)
ev = stable_sam.compare({"SAM": sam.PromptPredictor(model, fast=True), "Stable-SAM": stable}, domains,
                        noise=(0.2, 0.4), points=(1, 3, 5), draws=cfg.draws, seed=seed, max_objects=cfg.max_objects)
table = ev.summary()                     # one row per domain, method and setting; n and 95 % intervals
table.to_csv(out / "sam_vs_stable_sam.csv", index=False)
wide = table.pivot_table(index=["domain", "setting"], columns="method", values=["miou", "stability"], sort=False)
print("objects scored per domain:", table.groupby("domain", sort=False)["n"].max().to_dict(),
      f"({cfg.draws} draws per object and setting)")
wide.round(3)

# %%
settings_order = list(dict.fromkeys(table["setting"]))
domains_order = list(dict.fromkeys(table["domain"]))
fig, axes = plt.subplots(1, len(domains_order), figsize=(7 * len(domains_order), 3.8), squeeze=False)
styles = {"SAM": ("o", -0.2), "Stable-SAM": ("s", 0.0), "fill box": ("_", 0.2)}
for ax, dom in zip(axes[0], domains_order):
    for name, (marker, dx) in styles.items():
        g = table[(table["method"] == name) & (table["domain"] == dom)].set_index("setting")
        kept = [s for s in settings_order if s in g.index]
        g = g.loc[kept]
        xs = [settings_order.index(s) + dx for s in kept]
        ax.errorbar(xs, g["miou"], yerr=[g["miou"] - g["miou_lo"], g["miou_hi"] - g["miou"]], fmt=marker,
                    capsize=3, ms=7, label=name)        # prompt kinds are categories: no lines between them
    ax.set_xticks(range(len(settings_order)), settings_order, rotation=30, ha="right")
    ax.set_title(f"{dom}: mIoU, 95 % interval over n={int(table[table.domain == dom]['n'].max())} objects")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=.3, axis="y")
axes[0][0].legend(fontsize=8)
viz.savefig(fig, out / "sam_vs_stable_sam.png")
checks = stable_sam.check_targets(ev, "Stable-SAM")
checks.round(3)

# %% [markdown]
# `check_targets` reads the plugins' targets off the per-object table: the robustness gap (GT box
# minus noisy box s=0.4) at least halved, noisy box s=0.4 +4 points, one click +5, GT box at most 1
# point lower, each difference on the same objects with a paired 95 % interval (`low`, `high`). These
# are the paper's kind of claim for Meta's SAM. A difference whose interval holds 0 is not a finding.
#
# ### Did the plugins repair anything here, and was there anything to repair?
# If the plugins repaired a failure of this SAM, Stable-SAM minus SAM would sit clearly above 0 under
# noisy boxes and single clicks, with the GT box unchanged. And there is only something to repair if a
# sloppy box hurts SAM much more than it has to: the filled box, which follows the box exactly, is the
# yardstick. The cell below prints both, from this run's objects.

# %%
delta = table.pivot_table(index=["domain", "setting"], columns="method", values="miou", sort=False)
delta = delta["Stable-SAM"] - delta["SAM"]                    # per domain and prompt kind
for dom in domains_order:
    d_noisy, d_click = (checks[(checks.domain == dom) & (checks.check == f"{k} vs SAM")].iloc[0]
                        for k in ("noisy_box s=0.4", "points k=1"))
    drops = {m: ev.paired(dom, (m, "gt_box"), (m, "noisy_box s=0.4")) for m in ("SAM", "Stable-SAM", "fill box")}
    print(f"{dom}: Stable-SAM - SAM, noisy box s=0.4 {d_noisy.value:+.3f} [{d_noisy.low:+.3f}, {d_noisy.high:+.3f}], "
          f"1 click {d_click.value:+.3f} [{d_click.low:+.3f}, {d_click.high:+.3f}]; largest |difference| over the "
          f"prompt kinds {delta[dom].abs().max():.3f}.\n    From the GT box to noisy s=0.4: "
          + ", ".join(f"{m} loses {bootstrap.format_ci(*v)}" for m, v in drops.items()))
if check_claims:
    assert (delta.abs() < 0.03).all(), "the shipped plugins change mIoU by less than 3 points for every prompt kind"
    for dom in domains_order:
        assert ev.paired(dom, ("SAM", "gt_box"), ("SAM", "noisy_box s=0.4"))[0] < \
            ev.paired(dom, ("fill box", "gt_box"), ("fill box", "noisy_box s=0.4"))[0] - 0.05, \
            f"{dom}: a sloppy box costs this SAM much less than it costs the filled box"

# %% [markdown]
# **What this run shows.** The lines above give Stable-SAM's change on this run's objects: within 3
# points of SAM for every prompt kind (checked; the largest difference is printed), where the paper
# reports large gains under casual prompts for Meta's SAM. The paper's effect does not show here. Two readings
# of the same lines say why it need not: this SAM already loses much less than the filled box when the
# box gets sloppy (checked), so there is less instability for the plugins to fix; and notebook 02
# (section 5) prints whether a noisy box moves this SAM's decoder attention off the object, the drift
# the deformable sampling plugin is built to repair. The shipped plugins also had a small budget: one
# epoch, the `steps` and `images` printed above.
#
# The decisive ablation, DSP alone, DSP + DRP and SAM's whole mask decoder tuned with the same prompts
# and budget, on more held-out test and validation renders, is `data_scripts/eval_stable_sam.py`;
# `data_scripts/README.md` keeps its tables and verdict.
#
# The same object as in section 1, now with Stable-SAM (top row: SAM; bottom row: Stable-SAM; the line
# under the figure says how much the plugins change each mask):

# %%
st_pred = stable_sam.StableSamPredictor(stable, keep_aux=True).set_image(img0)
after = sam.prompt_outcomes(st_pred, gt0, prompts0)
fig = viz.show_outcomes([img0] * (2 * len(before)), [o._replace(name="SAM: " + o.name) for o in before]
                        + [o._replace(name="Stable-SAM: " + o.name) for o in after], ncols=len(before))
viz.savefig(fig, out / "before_after_one_object.png")
plt.show()
changed = [int((a.mask != b.mask).sum()) for a, b in zip(before, after)]
iou_change = max(abs(a.iou - b.iou) for a, b in zip(before, after))
print(("The two rows look the same: " if iou_change < 0.01 else "The two rows differ: ")
      + f"per prompt, {changed} pixels differ between SAM's and Stable-SAM's mask (of {gt0.size:,}); "
      f"the largest IoU change is {iou_change:.3f}")

# %%
gt_rows = table[table["setting"] == "gt_box"].pivot(index="domain", columns="method", values="miou")
print("GT-box mIoU, Stable-SAM - SAM:", (gt_rows["Stable-SAM"] - gt_rows["SAM"]).round(3).to_dict())
assert (table[table["setting"] == "gt_box"]["stability"] == 1.0).all(), "a fixed box gives a fixed mask"
if check_claims:
    assert (gt_rows["Stable-SAM"] >= gt_rows["SAM"] - 0.03).all(), \
        "the plugins do not cost SAM's quality with good prompts"

# %% [markdown]
# ## 7 · The learned offset field
# Where does the trained DSP move the sampling points? `StableSamPredictor(..., keep_aux=True)`
# keeps the offsets (`N x 2 x h x w`, in tokens) and routing weights of the last prediction. We draw
# the offsets for a noisy box over the image (one arrow per embedding token, scaled to pixels; longer
# arrows shown brighter).

# %%
st_pred.predict(**{k: np.asarray(v)[None] for k, v in prompts0[noisiest].items()})
off = st_pred.last_aux["offsets"][0].cpu().numpy()            # 2 x h x w, token units
H0, W0 = img0.shape[:2]
scale = max(H0, W0) / off.shape[-1]                            # image pixels per token (SAM pads to a square)
gy, gx = np.mgrid[0:off.shape[1], 0:off.shape[2]]
cx, cy = (gx + 0.5) * scale, (gy + 0.5) * scale
inside = (cx < W0) & (cy < H0)
mag = np.hypot(off[0], off[1])
fig, ax = plt.subplots(figsize=(8, 8 * H0 / W0))
ax.imshow(img0)
ax.contour(gt0, levels=[0.5], colors="white", linewidths=1)
viz.draw_boxes(ax, prompts0[noisiest]["boxes"])
q = ax.quiver(cx[inside], cy[inside], off[0][inside] * scale, off[1][inside] * scale, mag[inside], cmap="autumn",
              angles="xy", scale_units="xy", scale=1, width=0.003)
fig.colorbar(q, ax=ax, fraction=0.03, label="offset length (tokens)")
ax.set_title(f"learned DSP offsets for '{noisiest}' (mean {mag[inside].mean():.2f} tokens)")
ax.axis("off")
viz.savefig(fig, out / "offset_field.png")
plt.show()
mean_offset = float(mag[inside].mean())
print(f"offsets over the image: mean {mean_offset:.2f} tokens, longest {mag[inside].max():.2f}, "
      f"{(mag[inside] > 1).mean():.0%} of the tokens moved by more than one token")
assert mag.max() > 0, "the trained DSP moves its samples"
if check_claims:
    assert mean_offset < 0.5, "the shipped DSP moves its samples by a fraction of a token on average"

# %% [markdown]
# How to read it: if the DSP had learned to chase the object under a sloppy box, the arrows would be
# several tokens long around the box and point towards the object. An arrow of a fraction of a token
# moves a sample less than the distance between two neighbouring tokens: the deformed features are
# then close to the regular ones. The line above gives the lengths for the shipped plugins (checked: a
# fraction of a token on average); section 8 shows how much weight the router gives those features.

# %% [markdown]
# ## 8 · Routing weights against prompt quality
# For every object (of at least 64 px) of the first held-out image(s), draw boxes with growing noise and
# clicks, and record the DRP's weight on the deformed features, `α_deformed`. If routing does what the
# paper intends, the weight should depend on how good the prompt is.

# %%
rows, n_routed = [], 0
n_route = 1 if cfg.profile == "quick" else 8                   # images for this section
for i in range(min(n_route, len(domains[name0]))):
    s = domains[name0][i]
    img, inst = sam.as_rgb_uint8(s["image"]), np.asarray(s["instance"])
    st_pred.set_image(img)
    ids, areas = np.unique(inst[inst > 0], return_counts=True)
    keep = areas >= 64                                          # as the sweep: at least 64 px, max_objects largest
    for o in ids[keep][np.argsort(-areas[keep])][:cfg.max_objects]:
        gt, n_routed = inst == o, n_routed + 1
        ps = sam.PromptSampler([seed, i, int(o)])
        levels = (0.0, 0.1, 0.2, 0.4, 0.6)
        bx = np.concatenate([ps.noisy_box(gt, s_noise, n=cfg.draws) for s_noise in levels])   # one batched call
        pr = st_pred.predict(boxes=bx)
        alpha = st_pred.last_aux["alpha"][:, 0].cpu().numpy()
        iou = metrics.mask_iou(pr.masks.cpu(), torch.as_tensor(gt)[None]).numpy()
        rows += [dict(prompt="box", quality=q_, alpha_deformed=a_, iou=u)
                 for q_, a_, u in zip(np.repeat(levels, cfg.draws), alpha, iou)]
        for k in (1, 3, 5):
            pts, labs = ps.points(gt, k, n=cfg.draws)
            st_pred.predict(points=pts, labels=labs)
            rows += [dict(prompt="points", quality=k, alpha_deformed=a_, iou=np.nan)
                     for a_ in st_pred.last_aux["alpha"][:, 0].cpu().numpy()]
routing = pd.DataFrame(rows)
rb = routing[routing.prompt == "box"].groupby("quality")["alpha_deformed"].agg(["mean", "std"])
rp = routing[routing.prompt == "points"].groupby("quality")["alpha_deformed"].agg(["mean", "std"])
kinds = [("GT box (s=0)" if q == 0 else f"box s={q:g}", rb.loc[q]) for q in rb.index] + \
        [(f"{int(k)} click{'s' if k > 1 else ''}", rp.loc[k]) for k in rp.index]
fig, ax = plt.subplots(figsize=(9, 3.5))
for x, (name, r) in enumerate(kinds):             # prompt kinds are categories: markers, no lines between them
    ax.errorbar(x, r["mean"], r["std"], fmt="o" if "box" in name else "s", capsize=3,
                color="tab:blue" if "box" in name else "tab:orange")
ax.axhline(0.5, color="grey", ls="--", lw=1, label="untrained plugins (0.5)")
ax.set_xticks(range(len(kinds)), [name for name, _ in kinds], rotation=20)
ax.set_ylim(0, 1)                                 # the whole range of the weight: a convex mix
ax.set_ylabel("α_deformed (mean ± std)")
ax.set_title("routing weight on the deformed features, per prompt kind")
ax.grid(alpha=.3, axis="y")
ax.legend(fontsize=8)
viz.savefig(fig, out / "routing_vs_prompt_quality.png")
pd.concat({"box noise": rb, "clicks": rp}).round(3)

# %%
a_all = routing["alpha_deformed"]
boxes_only = routing[routing.prompt == "box"]
r_noise = np.corrcoef(boxes_only["quality"], boxes_only["alpha_deformed"])[0, 1]
kind_means = routing.groupby(["prompt", "quality"])["alpha_deformed"].mean()
kind_spread = kind_means.max() - kind_means.min()
print(f"alpha_deformed over {len(routing)} prompts on {n_routed} objects: mean {a_all.mean():.3f} (untrained: 0.5), "
      f"std {a_all.std():.3f}; per prompt kind from {kind_means.min():.3f} to {kind_means.max():.3f} "
      f"(spread {kind_spread:.3f}); correlation with box noise {r_noise:+.2f}")
print(f"the router moved {'down' if a_all.mean() < 0.5 else 'up'} from 0.5 by {abs(a_all.mean() - 0.5):.2f} "
      f"and {'hardly separates' if kind_spread < 0.05 else 'separates'} the prompt kinds; with section 7's offsets "
      f"(mean {mean_offset:.2f} tokens), the mix moves block 2's reading points by about "
      f"{a_all.mean() * mean_offset:.2f} of a token")
assert a_all.between(0, 1).all(), "routing weights are a convex mix"
if check_claims:
    assert a_all.mean() < 0.4, "the shipped router gives the deformed features less weight than its 0.5 start"
    assert kind_spread < 0.05, "the shipped router hardly separates the prompt kinds"

# %% [markdown]
# How to read it: the paper's intent is a router that leans on the deformed features when the prompt
# is poor, so `α_deformed` would rise with the box noise and differ between boxes and clicks. An
# untrained router sits at 0.5 (the dashed line). The two lines above say where the shipped router went
# and how much it separates the prompt kinds; together with section 7 they say **what the plugins
# learned**. For the shipped plugins (checked above): the router moved below 0.5 for every prompt kind
# alike, and the offsets it mixes in are a fraction of a token. The plugins have turned themselves down
# towards SAM's own features, which is what a loss asks for when this SAM's masks are already close to
# what RTS trains towards (section 6: Stable-SAM within 3 points of SAM for every prompt kind). That is a
# finding about this SAM and this short training (the `steps` and `images` printed in section 6), not a
# property of the method; with Meta's SAM, or a longer run (`steps`, full profile), re-run this section
# to see whether the router starts to separate good prompts from bad ones.

# %% [markdown]
# ## What to take away
#
# - Stable-SAM leaves SAM untouched and adds ≈ 0.08M parameters: a learned offset field (DSP) and a
#   prompt-conditioned switch (DRP) between deformed and regular features, both starting as exact
#   no-ops, so training can only move away from SAM where the loss asks for it.
# - RTS trains them with the prompts people actually give: sloppy boxes and a few clicks.
# - What it buys depends on the SAM underneath. On the bundled tiny SAM the shipped plugins stay within
#   3 points of SAM's held-out mIoU under every prompt kind, averaged over every object of this run's images
#   (section 6, checked; the differences and their intervals are printed there): the paper's large
#   gains under casual prompts are **not reproduced** here. This SAM loses far less than the filled box
#   when the box gets sloppy (checked), so there is little of the failure the plugins repair, and the
#   plugins learned to step aside: a router below its 0.5 start for every prompt, offsets of a fraction
#   of a token (sections 7 and 8, checked). `data_scripts/README.md` gives the longer evaluation, with
#   DSP alone and a tuned decoder beside them. With Meta's ViT-B/L/H (full profile) the same code runs
#   unchanged, and that is where to test the paper's claim.
# Next: notebook 04 turns to GoodSAM, where SAM's masks help a semantic model on panoramas.

# %%
print(f"notebook run time: {lab.elapsed():.0f} s wall, {time.process_time():.0f} s CPU in this kernel")

# %% [markdown]
# ## Your turn
#
# Change a value, predict the outcome, then run the cells and compare.
#
# 1. **The DSP alone.** Build `stable_sam.StableSam(model, dsp=True, drp=False)` and compare its logits with
#    SAM's as in section 4. Expect them *not* to be bit-equal, but equal up to float rounding (a largest
#    difference of about 1e-7 on the low-resolution logits, or exactly 0 on some CPUs): section 4 explains why.
# 2. **Hard routing.** What does an untrained `stable_sam.DynamicRoutingPlugin(256, hidden=16,
#    routing="hard")` return for a batch of tokens? Expect `α = (1, 0)` for every prompt: both logits are 0,
#    and the tie goes to the first (deformed) branch; with an untrained DSP that is still SAM's output.
# 3. **Train longer.** Set `steps=40` (five times the quick run) and compare `rts_loss.png` and the offset
#    head's weights (`stable_nb.dsp.offset.weight.abs().sum()`) with the 8-step run. Does the loss keep
#    falling?
# 4. **Evaluate your own plugins.** Set `plugins` to the file section 5 wrote
#    (`outputs/03_stable_sam_plugins/plugins_notebook_run.pt`). Predict whether Stable-SAM's rows in the
#    comparison table move away from SAM's, then look at `wide` and `checks`.
