# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 06 · Results report: both papers, end to end, against their claims, with intervals
#
# This notebook scores the **shipped, fully trained** artefacts of the lab and sets each paper's claim
# beside our number, its `n` and its 95 % interval:
#
# - **Stable-SAM**: the bundled SAM `tiny-synth` against SAM + the shipped DSP/DRP plugins
#   (`stable_sam_tiny_synth.pt`) under casual prompts (noisy boxes, one and three clicks), on held-out
#   pinhole images and panoramas, beside the simplest baseline: filling the prompt box.
# - **GoodSAM**: on held-out panoramas, the pinhole-trained teacher assistant (TA) alone, the DAR
#   ensemble (TA windows + SAM masks), and the shipped student distilled by MKA
#   (`goodsam.load_student("tiny-synth")`), all at 128 x 256, the size the student was trained at. A
#   short live MKA run is kept as a labelled *demo* row: it shows the mechanics, not the result.
# - A claims table that separates what holds **by construction** (parameter counts) from what is
#   **measured**, a section on **what did not reproduce and why**, and `report.md` / `report.html` in
#   `out_dir` (the HTML embeds its figures: one file to send).
#
# **Read this first.** Everything here is synthetic renders, tiny models and a CPU. `n` counts objects
# (Stable-SAM rows: mean IoU over objects) or panoramas (GoodSAM rows: dataset mIoU); every interval is
# a 95 % bootstrap over those units, every difference is paired (both models on the same units). A
# claim *holds* only when the interval of our difference excludes 0 on the paper's side; when it
# includes 0 the verdict is "not resolved". With the quick profile's few images, most intervals are
# wide: the larger held-out runs of `data_scripts/README.md` are quoted where they decide a question.
#
# **Run time:** quick profile 66-72 s on 2 CPU cores at a load of about 2 (`gsam-lab run 06`: 72 s), about
# 100-110 s when other work shares the cores (load about 4); the SAM masks for DAR and the live demo
# are most of it. Full profile: a GPU and the real checkpoints, not measured.

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

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from IPython.display import Markdown, display

import gsam_lab
from gsam_lab import bootstrap, data, goodsam, metrics, report, sam, stable_sam, utils, viz

# %% [markdown]
# ## Parameters
# Papermill and `gsam-lab run -p key=value` override this cell. Sizes left at `None` come from the profile.

# %% tags=["parameters"]
from typing import Optional, Tuple  # isort: skip (the types named in the annotations below)
profile: str = "quick"          # quick | full
device: str = "auto"            # auto | cpu | cuda | mps
seed: int = 0                   # seed of the prompt draws, the training panoramas and the student
check_claims: bool = True        # False skips the teaching asserts; mechanical checks always run
data_root: str = ""             # optional goodsam.PseudoLabelDataset folder (cached DAR output) for the student
sam_checkpoint: str = "tiny-synth"   # tiny-synth | vit_b | vit_l | vit_h | a .pth path
plugins: str = "tiny-synth"     # Stable-SAM plugins: a name (tiny-synth: the shipped ones, for that SAM) or a file
teacher: "Optional[str]" = None              # the TA; None: "tiny-synth" quick, "segformer-b5-cityscapes" full
out_dir: str = "outputs/06_results_report"   # report.md, report.html, figures, tables
student: "Optional[str]" = None              # None: "tiny" quick, "b0" full
steps: "Optional[int]" = None                # MKA training steps; None: 150 quick, 8000 full
erp_hw: "Optional[Tuple[int, int]]" = None   # GoodSAM pipeline panoramas; None: (64, 128) quick, (512, 1024) full
n_train: "Optional[int]" = None              # unlabelled training panoramas; None: 6 quick, 500 full
n_test: "Optional[int]" = None               # labelled test panoramas; None: 8 quick, 200 full
n_pinhole: "Optional[int]" = None            # Stable-SAM test images per domain; None: 2 quick, 50 full
draws: "Optional[int]" = None                # prompt draws per object; None: 4 quick, 20 full

# %%
# one CPU thread: small models and many small ops; one thread per process is fastest on 2 shared cores
lab = gsam_lab.setup("06", profile, device=device, seed=seed, out_dir=out_dir, threads=1, teacher=teacher,
                     student=student, steps=steps, erp_hw=erp_hw, n_train=n_train, n_test=n_test,
                     n_pinhole=n_pinhole, draws=draws)
cfg, dev, out = lab.cfg, lab.device, lab.out
(out / "figures").mkdir(exist_ok=True)
K = data.NUM_CLASSES
print(f"SAM={sam_checkpoint} TA={cfg.teacher} student={cfg.student} "
      f"ERP {cfg.erp_hw} steps={cfg.steps}")

# %% [markdown]
# ## 1 · Stable-SAM: SAM against SAM + the shipped plugins under casual prompts
# The same prompts go to both models (`stable_sam.compare`); only the ~0.08M plugin parameters differ.
# "fill box" is the simplest baseline: the prompt box itself, painted solid. Each row is the mean IoU
# over `n` objects with its 95 % bootstrap interval over objects.

# %%
t_section = time.time()
sam_model = sam.load_sam(sam_checkpoint, device=dev)
try:
    stable = stable_sam.load(plugins, model=sam_model)
except stable_sam.PluginCheckpointError:
    if plugins not in stable_sam.PLUGINS:
        raise
    # named plugins belong to one SAM (tiny-synth's to the tiny-synth SAM): never put them on another
    print(f"plugins {plugins!r} were trained on SAM {stable_sam.PLUGINS[plugins].sam!r}, not {sam_checkpoint!r}: "
          "Stable-SAM below has UNTRAINED plugins (an exact no-op); pass plugins=<file from notebook 03>")
    stable = stable_sam.StableSam(sam_model, dsp=True, drp=True)
n_erp_images = max(1, cfg.n_pinhole // 2)
domains = data.heldout_domains(n_pinhole=cfg.n_pinhole, n_erp=n_erp_images, seed=0)
ev = stable_sam.compare({"SAM": sam_model, "Stable-SAM": stable}, domains, noise=(0.4,), points=(1, 3),
                        draws=cfg.draws, seed=seed, max_objects=6)
ss = ev.summary().rename(columns={"method": "model"})
ss.to_csv(out / "stable_sam.csv", index=False)
NOISY = "noisy_box s=0.4"


def fmt(v, digits=3):
    """(value, low, high) as 'value [low, high]'."""
    return bootstrap.format_ci(*v, digits=digits)


n_objects = ss.groupby("domain", sort=False)["n"].first().to_dict()
ss_table = ss.assign(ci=[fmt((r.miou, r.miou_lo, r.miou_hi)) for r in ss.itertuples()]).pivot(
    index=["domain", "setting"], columns="model", values="ci").reindex(columns=["SAM", "Stable-SAM", "fill box"])
ss_table = ss_table.fillna("-").reset_index().rename_axis(columns=None)
ss_table.insert(1, "n objects", ss_table["domain"].map(n_objects))
print(f"mIoU with 95 % interval over objects; {cfg.n_pinhole} pinholes, {n_erp_images} panorama(s), "
      f"{cfg.draws} prompt draws per object and setting")
ss_table

# %% [markdown]
# **Paired differences.** Two models scored on the same objects are compared through the bootstrap of
# their per-object differences, much tighter than two separate intervals. The **robustness gap** is a
# model's GT-box IoU minus its noisy-box (s = 0.4) IoU on the same objects: how much it loses when the
# box is casual. Stable-SAM's promise is a smaller gap than SAM's.

# %%
comparisons = {                 # name -> (model, setting) minus (model, setting), on the same objects
    "Stable-SAM - SAM, noisy box s=0.4": (("Stable-SAM", NOISY), ("SAM", NOISY)),
    "Stable-SAM - SAM, 1 click": (("Stable-SAM", "points k=1"), ("SAM", "points k=1")),
    "Stable-SAM - SAM, 3 clicks": (("Stable-SAM", "points k=3"), ("SAM", "points k=3")),
    "Stable-SAM - SAM, GT box": (("Stable-SAM", "gt_box"), ("SAM", "gt_box")),
    "SAM - fill box, GT box": (("SAM", "gt_box"), ("fill box", "gt_box")),
    "SAM - fill box, noisy box s=0.4": (("SAM", NOISY), ("fill box", NOISY)),
    "robustness gap, SAM (GT box - noisy s=0.4)": (("SAM", "gt_box"), ("SAM", NOISY)),
    "robustness gap, Stable-SAM": (("Stable-SAM", "gt_box"), ("Stable-SAM", NOISY)),
    "robustness gap, fill box": (("fill box", "gt_box"), ("fill box", NOISY)),
}


def gap(model, domain=None):
    """Per object of ``domain`` (None: both): the model's GT-box IoU minus its noisy-box IoU."""
    return ev.per_object(model, "gt_box", domain) - ev.per_object(model, NOISY, domain)


ss_paired = {}                  # (comparison, domain) -> ((value, low, high), n), IoU units
for dom in (*n_objects, None):
    n = n_objects[dom] if dom else sum(n_objects.values())     # every model is scored on the same objects
    for name, (a, b) in comparisons.items():
        ss_paired[name, dom or "both"] = ev.paired(dom, a, b), n
    ss_paired["gap of Stable-SAM - gap of SAM", dom or "both"] = (
        bootstrap.paired_bootstrap_ci(gap("Stable-SAM", dom), gap("SAM", dom)), n)
diff_table = pd.DataFrame([{"comparison": name, "domain": dom, "n objects": n, "difference [95% CI]": fmt(v)}
                           for (name, dom), (v, n) in ss_paired.items()])
diff_table.to_csv(out / "stable_sam_paired.csv", index=False)
diff_table.pivot(index="comparison", columns="domain", values="difference [95% CI]").reindex(
    index=list(dict.fromkeys(diff_table["comparison"])), columns=[*n_objects, "both"])

# %%
pooled = bootstrap.summarize_ci(ev.objects, ["setting", "method"], "iou")
settings = list(dict.fromkeys(pooled["setting"]))
models = ["SAM", "Stable-SAM", "fill box"]
fig, ax = plt.subplots(figsize=(8, 3.2))
for j, m in enumerate(models):
    p = pooled[pooled["method"] == m].set_index("setting").reindex(settings)
    x = np.arange(len(settings)) + (j - 1) * 0.27
    ax.bar(x, p["iou"], width=0.27, label=m)
    ax.errorbar(x, p["iou"], yerr=[p["iou"] - p["iou_lo"], p["iou_hi"] - p["iou"]], fmt="none", ecolor="k",
                capsize=3, lw=1)
ax.set_xticks(np.arange(len(settings)), settings)
ax.set_ylim(0, 1.05)
ax.set_ylabel("mIoU (95 % interval)")
ax.set_title(f"held-out renders, pinhole + ERP pooled (n = {sum(n_objects.values())} objects)")
ax.legend(fontsize=8, ncol=3)
fig.tight_layout()
viz.savefig(fig, out / "figures" / "stable_sam.png")
n_plugin = stable.num_trainable()
print(f"Stable-SAM trainable parameters: {n_plugin:,}; section time {time.time() - t_section:.0f} s")
if check_claims:
    assert n_plugin <= 100_000, "the plugins stay under 0.1M parameters (by construction)"
assert set(ss["model"]) == {"SAM", "Stable-SAM", "fill box"} and ss["miou"].between(0, 1).all()
assert (ss["miou_lo"] <= ss["miou"]).all() and (ss["miou"] <= ss["miou_hi"]).all() and (ss["n"] > 0).all()

# %% [markdown]
# ## 2 · GoodSAM: the TA, DAR and the shipped student on held-out panoramas
# The TA was trained on labelled pinhole renders only. DAR runs it in full-height sliding windows over
# each panorama, down-weights window borders and fuses SAM's "everything" masks, with the paper's
# **ctcf** fusion and with **vote** (each mask takes the TA's majority class: the fusion the shipped
# student learned from). The shipped student (`data_scripts/train_student.py`: 96 unlabelled
# panoramas, DAR vote pseudo-labels, full MKA, 4000 steps) was trained at 128 x 256, so every model is
# scored there. Each mIoU is the dataset mIoU (confusion matrices summed over panoramas) with a 95 %
# bootstrap interval over panoramas; "minus TA" is paired (both models on the same panoramas, resampled
# together). Ground truth is read only here, for scoring.

# %%
t_section = time.time()
ta = goodsam.load_teacher(cfg.teacher, device=dev)
n_ta = sum(p.numel() for p in ta.parameters())
# the shipped student belongs to the bundled TA; with another TA only the live demo student is scored
shipped = goodsam.load_student("tiny-synth", device=dev) if cfg.teacher == "tiny-synth" else None
eval_hw = (128, 256) if shipped is not None else tuple(cfg.erp_hw)
test = data.SyntheticPanoramas("test", cfg.n_test, eval_hw, seed=seed)


def predict(model, item):
    """The model's label map of one item (for the figure)."""
    with torch.no_grad():
        return model.to(dev).eval().predict(item["image"][None].float().to(dev)).argmax(1)[0].cpu()


def confusions(model, dataset):
    """One confusion matrix per panorama of ``dataset``: the model scored whole, one panorama at a time."""
    return goodsam.evaluate_miou(model, dataset, K, batch_size=1, device=dev)["confusions"]


cms = {"TA": confusions(ta, test), "DAR vote": [], "DAR ctcf": []}
if shipped is not None:
    cms["shipped student"] = confusions(shipped, test)
examples = []                   # predictions on the first two panoramas, for the figure
for i in range(len(test)):      # DAR: one ensemble per panorama, no model to hand to evaluate_miou
    item = test[i]
    masks = goodsam.sam_masks(sam_model, item["image"].to(dev), points_per_side=6)   # SAM once, both fusions
    dar_preds = {}
    for fusion in ("vote", "ctcf"):
        r = goodsam.dar(ta, None, item["image"], windows="h", boundary=True, fusion=fusion, masks=masks)
        dar_preds[f"DAR {fusion}"] = pred = r.ensemble_logits.argmax(0).cpu()
        cms[f"DAR {fusion}"].append(metrics.confusion_matrix(pred, item["semantic"], K).numpy())
    if i < 2:
        examples.append({"TA": predict(ta, item), **dar_preds}
                        | ({"shipped student": predict(shipped, item)} if shipped is not None else {}))


def miou_ci(cm_list, base=None):
    """Dataset mIoU (or its paired difference to ``base``) with its 95 % interval, in points."""
    return tuple(100 * v for v in bootstrap.miou_bootstrap_ci(cm_list, base))


goodsam_rows = {}               # name -> numbers, for the table, the claims and the text
for name, params in [("TA", n_ta), ("DAR vote", np.nan), ("DAR ctcf", np.nan), ("shipped student",
                     shipped.num_parameters() if shipped is not None else None)]:
    if name in cms:
        goodsam_rows[name] = dict(params=params, hw=eval_hw, n=len(test), miou=miou_ci(cms[name]),
                                  diff=None if name == "TA" else miou_ci(cms[name], cms["TA"]))
print(f"{len(test)} test panoramas at {eval_hw[0]} x {eval_hw[1]}: section time {time.time() - t_section:.0f} s")

# %% [markdown]
# ## 3 · Live demo: a short MKA run (not the headline)
# The same recipe as the shipped student, shrunk to run here: DAR (vote) pseudo-labels on `n_train`
# unlabelled training panoramas at the profile's small ERP size, then `steps` MKA steps (CE + KD +
# feature alignment). It is scored at the size it was trained at, beside the TA at that size, on the
# same test worlds. It shows the mechanics; a few hundred steps on a few panoramas are not GoodSAM's
# training, so this row answers no claim.

# %%
t_section = time.time()
train = data.SyntheticPanoramas("train", cfg.n_train, cfg.erp_hw, seed=seed)
test_demo = data.SyntheticPanoramas("test", cfg.n_test, cfg.erp_hw, seed=seed)
if data_root:
    train_set = goodsam.PseudoLabelDataset(data_root)
else:
    train_set = []
    for i in range(len(train)):
        img = train[i]["image"]
        r = goodsam.dar(ta, sam_model, img, windows="h", boundary=True, fusion="vote")
        train_set.append({"image": img, "pseudo_label": r.pseudo_label.cpu(),
                          "ensemble_logits": F.avg_pool2d(r.ensemble_logits[None].float(), 4)[0].half().cpu(),
                          "index": i})
utils.seed_everything(seed)
stu = goodsam.Student(cfg.student, K, classes=data.CLASSES, seed=seed)
run = goodsam.train_mka(stu, ta, train_set, goodsam.MKAConfig(steps=cfg.steps, batch_size=4, lr=1e-3,
                        warmup=max(1, cfg.steps // 20), temperature=2.0, seed=seed, ckpt_every=max(1, cfg.steps // 4)),
                        device=dev, work_dir=out / "student_ckpt", log=lambda line: None)
cm_demo_ta = confusions(ta, test_demo)
cm_demo = confusions(run.student, test_demo)
goodsam_rows["TA (demo size)"] = dict(params=n_ta, hw=tuple(cfg.erp_hw), n=len(test_demo), miou=miou_ci(cm_demo_ta),
                                      diff=None)
goodsam_rows[f"live demo student, {cfg.steps} steps"] = dict(
    params=run.student.num_parameters(), hw=tuple(cfg.erp_hw), n=len(test_demo), miou=miou_ci(cm_demo),
    diff=miou_ci(cm_demo, cm_demo_ta))
print(f"DAR on {len(train_set)} training panoramas + {cfg.steps} MKA steps: section time "
      f"{time.time() - t_section:.0f} s")

labels = {"TA": f"TA {cfg.teacher} (whole ERP)", "DAR vote": "DAR ensemble, vote (TA windows + SAM)",
          "DAR ctcf": "DAR ensemble, ctcf (the paper's fusion)",
          "shipped student": "shipped student tiny (full recipe, 4000 steps)",
          "TA (demo size)": f"TA {cfg.teacher} (whole ERP)"}
goodsam_table = pd.DataFrame([{
    "model": labels.get(name, f"student {cfg.student}: live demo, {cfg.steps} steps"),
    "params (M)": round(r["params"] / 1e6, 2) if pd.notna(r["params"]) else np.nan,
    "ERP size": f"{r['hw'][0]} x {r['hw'][1]}", "n panoramas": r["n"], "test mIoU [95% CI]": fmt(r["miou"], 1),
    "minus TA, same size [95% CI]": "" if r["diff"] is None else fmt(r["diff"], 1),
} for name, r in goodsam_rows.items()])
goodsam_table.to_csv(out / "goodsam.csv", index=False)
goodsam_table

# %%
show = examples[:2]
panels_per_row = 2 + len(show[0]) if show else 0
fig, axes = plt.subplots(len(show), panels_per_row, figsize=(2.9 * panels_per_row, 1.7 * len(show)), squeeze=False)
for r, preds in enumerate(show):
    item = test[r]
    panels = [(item["image"], "panorama"), (viz.colorize(item["semantic"]), "ground truth")]
    panels += [(viz.colorize(p), name) for name, p in preds.items()]
    for ax, (im, title) in zip(axes[r], panels):
        viz.plot_erp(ax, im, grid=False)
        ax.set_title(title, fontsize=8)
fig.tight_layout()
viz.add_class_legend(fig)
viz.savefig(fig, out / "figures" / "goodsam.png")
if check_claims:
    assert run.student.num_parameters() < n_ta, "the student is smaller than its TA (by construction)"
    if shipped is not None:
        assert shipped.num_parameters() < n_ta, "the shipped student is smaller than its TA (by construction)"
assert all(0 <= r["miou"][0] <= 100 and r["miou"][1] <= r["miou"][0] <= r["miou"][2] for r in goodsam_rows.values())

# %% [markdown]
# ## 4 · The papers' claims beside our numbers
# `kind` separates what holds **by construction** (a parameter count: true because of how the model is
# built) from what is **measured**. For a measured claim, `verdict` reads the 95 % interval of our
# paired difference, not the point value: "holds" when it excludes 0 on the paper's side, "not resolved"
# when it includes 0. The sizes are not comparable (synthetic data, tiny models); the paper's difference
# stands beside ours so that the gap in size is visible too.

# %%
pts = 100                       # IoU -> points
ss_data = (f"synthetic test renders: {cfg.n_pinhole} pinholes + {n_erp_images} panorama(s), objects >= 64 px "
           f"(at most 6 per image), {cfg.draws} prompt draws")
measured = {}
for key, setting in [("stable_sam.noisy_box", NOISY), ("stable_sam.points1", "points k=1"),
                     ("stable_sam.points3", "points k=3"), ("stable_sam.gt_box", "gt_box")]:
    d = tuple(pts * v for v in ev.paired(None, ("Stable-SAM", setting), ("SAM", setting)))
    measured[key] = report.Measured(baseline=pts * ev.per_object("SAM", setting).mean(),
                                    method=pts * ev.per_object("Stable-SAM", setting).mean(), diff=d,
                                    n=sum(n_objects.values()), data=ss_data,
                                    model=f"SAM {sam_checkpoint} + shipped plugins")
measured["stable_sam.params"] = report.Measured(method=n_plugin / 1e6, data="-",
                                                model=f"shipped DSP + DRP on SAM {sam_checkpoint}")
gs_data = f"{len(test)} synthetic test panoramas {eval_hw[0]} x {eval_hw[1]}"
ta_row = goodsam_rows["TA"]
measured["goodsam.dar"] = report.Measured(
    baseline=ta_row["miou"][0], method=goodsam_rows["DAR ctcf"]["miou"][0], diff=goodsam_rows["DAR ctcf"]["diff"],
    n=len(test), data=gs_data, model=f"TA {cfg.teacher} + SAM {sam_checkpoint}, DAR h windows + boundary + ctcf")
student_key = "shipped student" if shipped is not None else f"live demo student, {cfg.steps} steps"
st_row = goodsam_rows[student_key]
measured["goodsam.student"] = report.Measured(
    baseline=(ta_row if shipped is not None else goodsam_rows["TA (demo size)"])["miou"][0], method=st_row["miou"][0],
    diff=st_row["diff"], n=st_row["n"], data=f"{st_row['n']} synthetic test panoramas {st_row['hw'][0]} x "
    f"{st_row['hw'][1]}",
    model=f"{student_key} ({st_row['params'] / 1e6:.2f}M) vs TA {cfg.teacher} ({n_ta / 1e6:.2f}M)")
measured["goodsam.student_params"] = report.Measured(method=goodsam.count_parameters("b0", 19) / 1e6, data="-",
                                                     model="our SegFormer-B0 student, 19 classes")
claims = report.claims_table(measured)
claims.to_csv(out / "claims.csv", index=False)


def pair_text(base, method, spec=".1f"):
    return "-" if method is None or pd.isna(method) else (
        f"{method:{spec}}" if base is None or pd.isna(base) else f"{base:{spec}} -> {method:{spec}}")


verdicts = pd.DataFrame({
    "claim": claims["claim"], "kind": claims["kind"],
    "paper": [pair_text(r.paper_baseline, r.paper_method, "g") for r in claims.itertuples()],
    "ours": [pair_text(r.ours_baseline, r.ours_method, ".3f" if r.kind == "by construction" else ".1f")
             for r in claims.itertuples()],
    "n": claims["n"].astype("Int64"),
    "ours: difference [95% CI]": ["" if pd.isna(r.ours_diff) else fmt((r.ours_diff, r.diff_lo, r.diff_hi), 1)
                                  for r in claims.itertuples()],
    "paper: difference": ["" if pd.isna(r.paper_diff) or r.kind != "measured" else f"{r.paper_diff:+.1f}"
                          for r in claims.itertuples()],
    "verdict": claims["verdict"]})
sources = claims[["claim", "source", "paper_data", "paper_model", "our_data", "our_model"]]
display(verdicts)
display(sources)
if check_claims:
    # only claims that hold with margin at the quick sizes are asserted: the two by-construction ones.
    # DAR > TA and student > TA were measured at seeds 0, 1, 2 (8 panoramas): their intervals include 0
    # on some seeds, so they are reported in `verdict`, not asserted.
    by = claims.set_index("key")["verdict"]
    assert by["stable_sam.params"] == "holds (by construction)", by["stable_sam.params"]
    assert by["goodsam.student_params"] == "holds (by construction)", by["goodsam.student_params"]

# %% [markdown]
# ## 5 · What did not reproduce, and why
# Written from this run's numbers (first sentence of each point) and from the larger held-out runs of
# `data_scripts/README.md` (quoted with their commands), which decide where this run's few images
# cannot. In short: the two *mechanisms* that need a strong SAM (plugins against attention drift, and
# a tight box turned into a better mask) do not show with a 7.9M-parameter SAM on 32 x 32 tokens; the
# GoodSAM pipeline reproduces in direction where an interval can decide it (DAR over the TA), and the
# student *reaches* its TA, but "beats" is not resolved.

# %%
def ss_text(name, dom, digits=3):
    v, n = ss_paired[name, dom]
    return f"{fmt(v, digits)} (n={n} objects{'' if v[1] > 0 or v[2] < 0 else '; interval includes 0'})"


verdict_of = claims.set_index("key")["verdict"]
dar_vote, dar_ctcf = goodsam_rows["DAR vote"]["diff"], goodsam_rows["DAR ctcf"]["diff"]
demo = goodsam_rows[f"live demo student, {cfg.steps} steps"]
doms = list(n_objects)
not_reproduced = [
    f"**What holds.** By construction: the plugins have {n_plugin / 1e6:.3f}M learnable parameters (paper: "
    f"0.08M), our SegFormer-B0 student configuration {goodsam.count_parameters('b0', 19) / 1e6:.2f}M (paper: "
    f"3.7M). Measured: DAR over the TA, this run ({len(test)} panoramas at {eval_hw[0]} x {eval_hw[1]}): ctcf "
    f"{fmt(dar_ctcf, 1)}, vote {fmt(dar_vote, 1)} points (verdict: {verdict_of['goodsam.dar']}). On 16 held-out "
    "test panoramas at 256 x 512 (`python data_scripts/eval_dar.py --split test --n 16 --threads 2`): vote "
    "+3.96 [+0.73, +6.82], ctcf +2.70 [+0.88, +4.50] points; on 16 validation panoramas +3.80 [+1.95, +5.92] "
    "and +3.36 [+1.11, +5.78]: every interval above 0, so DAR beating its TA reproduces in direction. The "
    "gain is mostly road below the camera, where the stretched TA is unsure and one large SAM mask settles it.",
    "**The tiny SAM does not beat filling the box with a ground-truth box.** This run, SAM minus fill box "
    "(GT box, IoU; 0.01 = 1 point): " + ", ".join(f"{d} {ss_text('SAM - fill box, GT box', d)}" for d in doms) + ". "
    "Held-out (`python data_scripts/eval_tiny_sam.py --n-pinhole 16 --n-erp 8 --draws 5`, 183 pinhole and 241 "
    "ERP objects): -0.052 [-0.080, -0.023] on pinholes, -0.200 [-0.227, -0.172] on panoramas. Why: most "
    "objects are small (73 % of the pinhole objects and 86 % of the ERP ones are under 2k px) and the "
    "encoder's 32 x 32 token grid gives such an object about one token; on pinhole objects of 8k px and "
    "more it does beat the box (0.893 vs 0.825). With a noisy box it segments the object rather than the "
    "box: " + ", ".join(f"{d} {ss_text('SAM - fill box, noisy box s=0.4', d)}" for d in doms) + ".",
    "**The Stable-SAM plugins have no measurable effect here; the paper reports +33.5 points on noisy "
    "boxes.** This run, Stable-SAM minus SAM, noisy box s=0.4 (IoU; 0.01 = 1 point): "
    + ", ".join(f"{d} {ss_text('Stable-SAM - SAM, noisy box s=0.4', d)}" for d in doms)
    + "; robustness gap (GT box - noisy s=0.4) SAM " + ss_text("robustness gap, SAM (GT box - noisy s=0.4)", "both")
    + ", Stable-SAM " + ss_text("robustness gap, Stable-SAM", "both") + ". Held-out "
    "(`python data_scripts/eval_stable_sam.py --ablations runs/stable_sam --n-pinhole 8 --n-erp 4 --draws 3 "
    "--threads 2`, 84 pinhole and 122 ERP objects): +0.001 [-0.002, +0.004] pinhole, +0.003 [-0.000, +0.008] "
    "ERP; the gap 0.076 vs SAM's 0.078 (pinhole) and 0.031 vs 0.029 (ERP); the same on the validation split. "
    "Why: the plugins correct attention drift, SAM ViT-L's decoder attending to background or object parts "
    "under a bad prompt, which costs it 30.7 points from the GT box (79.5) to a noisy box (48.8) in the "
    "paper. The tiny SAM loses far less to box noise (about 8 points on pinholes, 3 on ERP, held-out); its "
    "failure is resolution on small objects, which re-sampling the same 32 x 32 tokens does not add. One "
    "RTS epoch (200 steps of 2 images) is also a small budget; tuning the whole decoder with it does no "
    "better.",
    f"**\"The student beats its teacher\" is not resolved.** This run, {student_key} minus TA: "
    f"{fmt(st_row['diff'], 1)} points over {st_row['n']} panoramas (verdict: {verdict_of['goodsam.student']}); "
    f"the live demo ({cfg.steps} steps at {demo['hw'][0]} x {demo['hw'][1]}) {fmt(demo['diff'], 1)}. Held-out "
    "(`python data_scripts/eval_student.py --split test --n 16`): the shipped student 37.8 [32.7, 42.9] "
    "vs the TA 34.6 [30.5, 38.6], paired +3.3 [-0.8, +7.5]; validation +1.7 [-1.9, +5.1]. The student "
    "*reaches* its TA with a fifth of its parameters (0.46M vs 2.28M); with 16 panoramas neither interval "
    "excludes 0. Pole and person stay at 0 IoU for every model: the TA never finds them at 128 x 256, so "
    "neither the pseudo-labels nor the student can.",
    "**GoodSAM's headline (+3.75 mIoU over the best domain-adaptation method on DensePASS) is not measured.** "
    "This lab has no DensePASS and no domain-adaptation baseline; the full profile with a DensePASS "
    "pseudo-label folder (`data_root`) and the real checkpoints is where it can be asked.",
]
display(Markdown("\n\n".join(f"- {p}" for p in not_reproduced)))

# %%
n_obj_total = sum(n_objects.values())
caveat = (
    f"Synthetic street-world renders, not real images; bundled tiny models (SAM `{sam_checkpoint}`, TA "
    f"`{cfg.teacher}` {n_ta / 1e6:.2f}M parameters, student {st_row['params'] / 1e6:.2f}M); run on {dev} with "
    f"the `{cfg.profile}` profile. n counts objects for the Stable-SAM rows ({n_obj_total} here: mean IoU over "
    f"objects) and panoramas for the GoodSAM rows ({len(test)} here: dataset mIoU); intervals are 95 % "
    "bootstrap intervals over those units, differences are paired. These numbers test the direction of the "
    "papers' claims at small scale, not their size, and are not comparable with the papers' numbers "
    "(real data, SAM ViT-L/H, SegFormer-B5).")
n_hold = int((claims["verdict"] == "holds").sum())
n_meas = int(((claims["kind"] == "measured") & (claims["verdict"] != "not measured")).sum())
summary_text = (
    f"Stable-SAM: shipped plugins ({n_plugin:,} parameters) on SAM `{sam_checkpoint}`, noisy box s=0.4 "
    f"{fmt(measured['stable_sam.noisy_box'].diff, 1)} points over {measured['stable_sam.noisy_box'].n} objects. "
    f"GoodSAM on {len(test)} held-out panoramas {eval_hw[0]}x{eval_hw[1]}: TA {fmt(ta_row['miou'], 1)}, "
    f"DAR vote {fmt(goodsam_rows['DAR vote']['miou'], 1)}, {student_key} {fmt(st_row['miou'], 1)} mIoU. "
    f"{n_hold} of {n_meas} measured claims hold with an interval that excludes 0; the rest are not resolved "
    "or do not hold (table below).")
blocks = [
    summary_text,
    ("Claims: verdicts", verdicts),
    ("Claims: sources, data and models", sources),
    ("What did not reproduce, and why", ["\n".join(f"- {p}" for p in not_reproduced)]),
    ("Stable-SAM: SAM, SAM + plugins, fill box (mIoU, 95 % interval over objects)", ss_table),
    ("Stable-SAM: paired differences and robustness gap (IoU)", diff_table),
    ("Stable-SAM figure", "figures/stable_sam.png"),
    ("GoodSAM: TA, DAR, shipped student, live demo (mIoU, 95 % interval over panoramas)", goodsam_table),
    ("GoodSAM figure", "figures/goodsam.png"),
]
paths = report.write_report(out, "gsam_lab results report", blocks, caveat=caveat)
print(summary_text)
print({k: str(p) for k, p in paths.items()})
page, md = paths["html"].read_text(), paths["md"].read_text()
assert paths["html"].stat().st_size > 10_000 and "data:image/png;base64" in page
assert "Caveat." in md.splitlines()[2] and "What did not reproduce" in md and "What did not reproduce" in page
assert len(claims) == len(report.PAPER_CLAIMS)
measured_keys = set(measured)
assert claims.loc[claims["key"].isin(measured_keys), "ours_method"].notna().all(), "every measured claim has our number"
assert claims.loc[claims["kind"] == "measured", "n"].dropna().gt(0).all()
assert claims.loc[claims["key"] == "goodsam.headline", "verdict"].eq("not measured").all()
print(f"notebook run time: {lab.elapsed():.0f} s")

# %% [markdown]
# ## What to take away
#
# Numbers from the quick profile, seed 0 (18 objects, 8 panoramas); the held-out runs of
# `data_scripts/README.md` in brackets where they decide.
#
# - **Stable-SAM does not reproduce here, and the report says why.** The shipped plugins move the
#   noisy-box mIoU by +0.4 [-0.2, +1.1] points (held-out: +0.1 and +0.3, intervals at 0) where the paper
#   reports +33.5, and the robustness gap is the same with and without them (0.068 vs 0.069). The tiny
#   SAM barely drifts under noisy boxes to begin with (a gap of about 7 points, against 23 for filling
#   the box and 30.7 for SAM ViT-L in the paper); what it lacks is resolution on small objects, which is
#   why it does not beat filling the box with a tight box (-0.026 [-0.097, +0.041] here; -0.05 and -0.20
#   held-out).
# - **DAR over its TA is the measured GoodSAM claim that holds**: +2.1 [+0.5, +4.3] points with ctcf,
#   +2.0 [+0.3, +4.2] with vote on 8 panoramas (held-out, 16 panoramas: +2.7 and +4.0, both intervals
#   above 0). At 8 panoramas it is fragile: with `seed=2` the interval includes 0.
# - **The shipped student reaches its TA; "beats" is not resolved**: 37.0 vs 33.9 mIoU, +3.1 [-2.1, +8.2]
#   (held-out +3.3 [-0.8, +7.5]) with a fifth of the parameters. The live demo (150 steps, 6 panoramas)
#   is 8.9 points *below* the TA: it shows the mechanics, and is no evidence about the method.
# - Of 6 measured claims, 2 hold with an interval (GT-box quality kept, DAR over the TA), 4 are not
#   resolved, GoodSAM's headline (+3.75 on DensePASS) is not measured; the two parameter counts hold
#   by construction, which is not evidence about either method.
# - `report.html` in `out_dir` carries all of this, the caveat on top, in one file; `claims.csv`,
#   `stable_sam.csv`, `stable_sam_paired.csv` and `goodsam.csv` hold the numbers. For the real thing:
#   `gsam-lab run 06 --profile full -p device=cuda -p sam_checkpoint=<sam_vit_h.pth>` with a DensePASS
#   pseudo-label folder in `data_root` (notebooks 04-05).

# %% [markdown]
# ## Your turn
#
# Each of these is a question to answer by changing a parameter and re-running; write your prediction
# down first.
#
# 1. **Another seed.** Run with `seed=1`, then `seed=2` (other test panoramas, prompt draws and demo
#    run). Which verdicts flip? Measured with 8 panoramas: shipped student minus TA +3.1, +6.5, +5.3
#    points for seeds 0, 1, 2 and DAR (vote) minus TA +2.0, +3.7, +1.4: the student's interval excludes
#    0 on seeds 1 and 2, DAR's includes 0 on seed 2. What does that say about a verdict from 8 panoramas,
#    and why does the report quote the 16-panorama runs?
# 2. **More panoramas.** Set `n_test=16` (about 4 s more per panorama for the SAM masks). Do the
#    intervals of the GoodSAM rows shrink by about 1/sqrt(2)? Compare with the held-out numbers quoted
#    in section 5.
# 3. **More objects.** Set `n_pinhole=8` (4 panoramas, 4x the objects; the Stable-SAM section takes
#    about 4x longer). Does the plugins' noisy-box interval close in on 0, as in the held-out run?
# 4. **Your own plugins.** Point `plugins` at the file notebook 03 trained
#    (`outputs/03_stable_sam_plugins/plugins_notebook_run.pt`, relative to the notebooks folder). Predict
#    the Stable-SAM rows and the robustness gap first.
# 5. **Your own report.** Add a figure of your choice to `report.html`: save it into `out / "figures"`
#    and add a `("title", "figures/name.png")` block to `blocks` before `report.write_report`.
