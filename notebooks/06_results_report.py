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
# # 06 · Results report: both papers, end to end, against their claims, with intervals
#
# This notebook scores the **shipped, fully trained** artefacts of the lab and sets each paper's claim
# beside our number, its `n` and its 95 % interval:
#
# - **Stable-SAM**: the bundled SAM `tiny-synth` against SAM + the shipped DSP/DRP plugins
#   (`stable_sam_tiny_synth.pt`) under casual prompts (noisy boxes, one and three clicks), on **every
#   object of at least 64 px** of held-out pinhole images and a panorama, beside the simplest baseline:
#   filling the prompt box.
# - **GoodSAM**: on held-out panoramas, the pinhole-trained teacher assistant (TA) alone, the DAR
#   ensemble (TA windows + SAM masks), and the shipped student distilled by MKA
#   (`goodsam.load_student("tiny-synth")`), all at 256 x 512, the size the student was trained at. A
#   short live MKA run is kept as a labelled *demo* row: it shows the mechanics, not the result.
# - A **scorecard** that separates what holds **by construction** (parameter counts) from what is
#   **measured**, states the rule behind each verdict and counts the verdicts by rule; a section on
#   **what did not reproduce**; and `report.md` / `report.html` in `out_dir` (the HTML embeds its
#   figures: one file to send).
#
# **Read this first.** Everything here is synthetic renders, tiny models and a CPU. `n` counts objects
# (Stable-SAM rows: mean IoU over objects) or panoramas (GoodSAM rows: dataset mIoU); every interval is
# a 95 % bootstrap over those units, every difference is paired (both models on the same units). The
# tables come from `gsam_lab.report` (one function per table); the text below reads them, and the
# cells after it check with `assert` each thing the text says. With the quick profile's few images
# most intervals are wide: `data_scripts/README.md` holds the larger held-out runs.
#
# **Run time:** quick profile about 85 s on 2 idle CPU cores (`gsam-lab run 06`; two to three times
# longer when other work shares the cores); the SAM masks for DAR and the live demo are most of it.
# Full profile: a GPU and the real checkpoints, not measured.

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

import gsam_lab
from gsam_lab import data, goodsam, report, sam, stable_sam, utils, viz

# %% [markdown]
# ## Parameters
# Papermill and `gsam-lab run -p key=value` override this cell. Sizes left at `None` come from the profile.

# %% tags=["parameters"]
from typing import Optional, Tuple  # isort: skip (the types named in the annotations below)
profile: str = "quick"          # quick | full
device: str = "auto"            # auto | cpu | cuda | mps
seed: int = 0                   # seed of the prompt draws, the test and training panoramas and the student
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
draws: "Optional[int]" = None                # prompt draws per object; None: 2 quick, 20 full
max_objects: "Optional[int]" = None          # keep only the largest objects per image; None: all of 64 px or more
points_per_side: "Optional[int]" = None      # DAR's SAM point grid (rows; columns twice that); None: 6 quick, 32 full

# %%
# CPU threads come from the profile: quick one (small models and many small ops: one thread per process is
# fastest on 2 shared cores), full every core (SAM's ViT and the SegFormers are large); threads=N overrides it
lab = gsam_lab.setup("06", profile, device=device, seed=seed, out_dir=out_dir, teacher=teacher,
                     student=student, steps=steps, erp_hw=erp_hw, n_train=n_train, n_test=n_test,
                     n_pinhole=n_pinhole, draws=draws, max_objects=max_objects, points_per_side=points_per_side)
cfg, dev, out = lab.cfg, lab.device, lab.out
(out / "figures").mkdir(exist_ok=True)
K = data.NUM_CLASSES
pd.set_option("display.float_format", "{:.3g}".format)     # tables show 3 significant digits
print(f"SAM={sam_checkpoint} TA={cfg.teacher} student={cfg.student} ERP {cfg.erp_hw} steps={cfg.steps}")

# %% [markdown]
# ## 1 · Stable-SAM: SAM against SAM + the shipped plugins under casual prompts
# The same prompts go to both models (`stable_sam.compare`); only the ~0.08M plugin parameters differ.
# "fill box" is the simplest baseline: the prompt box itself, painted solid. Every object of at least
# 64 px of the held-out images is scored, small and large alike. Each cell is the mean IoU over the
# domain's `n objects` with its 95 % bootstrap interval over objects.

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
domains = data.heldout_domains(n_pinhole=cfg.n_pinhole, n_erp=max(1, cfg.n_pinhole // 2), seed=0)
ev = stable_sam.compare({"SAM": sam_model, "Stable-SAM": stable}, domains, noise=(0.4,), points=(1, 3),
                        draws=cfg.draws, seed=seed, max_objects=cfg.max_objects)
ev.summary().to_csv(out / "stable_sam.csv", index=False)
print(f"{cfg.draws} prompt draws per object and setting; section time {time.time() - t_section:.0f} s")
report.stable_sam_table(ev)

# %% [markdown]
# **Paired differences**, in IoU (0.01 = 1 point). Two models scored on the same objects are compared
# through the bootstrap of their per-object differences, much tighter than two separate intervals.
# The **robustness gap** is a model's GT-box IoU minus its noisy-box (s = 0.4) IoU on the same
# objects: how much it loses when the box is casual. Stable-SAM's promise is a smaller gap than SAM's.

# %%
diffs = report.stable_sam_differences(ev)
diffs.to_csv(out / "stable_sam_paired.csv", index=False)
diffs

# %% [markdown]
# Every object counts the same in these means, and most objects here are small (`n` below counts them
# per size). SAM minus fill box with the GT box, per object size:

# %%
by_size = report.size_differences(ev, ("SAM", "gt_box"), ("fill box", "gt_box"))
by_size

# %% [markdown]
# Each dot is one object. Left: Stable-SAM against SAM with the same noisy boxes (on the diagonal: the
# plugins change nothing). Right: SAM against filling the box with the ground-truth box (below the
# diagonal: the filled box is better). The colour is the object's area.

# %%
area = np.log10(ev.per_object("SAM", "gt_box", value="area"))
fig, axes = plt.subplots(1, 2, figsize=(9.5, 4.2))
for ax, (x, y) in zip(axes, [(("SAM", report.NOISY), ("Stable-SAM", report.NOISY)),
                             (("fill box", "gt_box"), ("SAM", "gt_box"))]):
    dots = ax.scatter(ev.per_object(*x), ev.per_object(*y), c=area, s=16, cmap="viridis")
    ax.plot([0, 1], [0, 1], "k--", lw=0.8)
    ax.set(xlim=(0, 1), ylim=(0, 1), aspect="equal", xlabel=f"{x[0]} IoU ({x[1]})", ylabel=f"{y[0]} IoU ({y[1]})")
    ax.set_title(f"{y[0]} vs {x[0]}, {x[1]} (n = {len(area)} objects)", fontsize=9)
fig.colorbar(dots, ax=axes, label="object area (log10 pixels)", shrink=0.8)
viz.savefig(fig, out / "figures" / "stable_sam.png")
plt.show()

# %%
n_plugin = stable.num_trainable()
print(f"Stable-SAM trainable parameters: {n_plugin:,}")
if check_claims:
    assert n_plugin <= 100_000, "the plugins stay under 0.1M parameters (by construction)"
s = ev.summary()
assert set(s["method"]) == {"SAM", "Stable-SAM", "fill box"} and s["miou"].between(0, 1).all()
assert (s["miou_lo"] <= s["miou"]).all() and (s["miou"] <= s["miou_hi"]).all() and (s["n"] > 0).all()

# %% [markdown]
# ## 2 · GoodSAM: the TA, DAR and the shipped student on held-out panoramas
# The TA was trained on labelled pinhole renders only. DAR runs it in full-height sliding windows over
# each panorama, down-weights window borders and fuses SAM's "everything" masks, with the paper's
# **ctcf** fusion and with **vote** (each mask takes the TA's majority class; the shipped student learned
# from a guarded vote). The shipped student (`data_scripts/train_student.py`: 96 unlabelled panoramas,
# DAR pseudo-labels, full MKA, 2000 steps) was trained at 256 x 512, so every model is scored there, by
# the one scorer of the lab (`goodsam.evaluate_miou` for a model, `goodsam.evaluate_labels` for DAR's
# label maps). Each mIoU is the dataset mIoU (confusion matrices
# summed over panoramas) in points, with a 95 % bootstrap interval over panoramas; "minus TA" is
# paired (both on the same panoramas, resampled together). Ground truth is read only here, for scoring.

# %%
t_section = time.time()
ta = goodsam.load_teacher(cfg.teacher, device=dev)
n_ta = sum(p.numel() for p in ta.parameters())
# the shipped student belongs to the bundled TA; with another TA only the live demo student is scored
shipped = goodsam.load_student("tiny-synth", device=dev) if cfg.teacher == "tiny-synth" else None
eval_hw = goodsam.STUDENTS["tiny-synth"].train_hw if shipped is not None else tuple(cfg.erp_hw)   # its size
test = data.SyntheticPanoramas("test", cfg.n_test, eval_hw, seed=seed)
dar = goodsam.dar_labels(ta, sam_model, fusions=("vote", "ctcf"),     # SAM masks once per panorama, both fusions
                         points_per_side=cfg.points_per_side)
scores = {"TA": goodsam.evaluate_miou(ta, test, K, batch_size=1, device=dev, keep=2),
          **goodsam.evaluate_labels(dar, test, K, keep=2)}
if shipped is not None:
    scores["shipped student"] = goodsam.evaluate_miou(shipped, test, K, batch_size=1, device=dev, keep=2)
names = {"TA": f"TA {cfg.teacher} (whole ERP)", "DAR vote": "DAR ensemble, vote (TA windows + SAM)",
         "DAR ctcf": "DAR ensemble, ctcf (the paper's fusion)",
         "shipped student": "shipped student tiny (full recipe, 2000 steps)"}
gs = report.goodsam_table(scores, baseline="TA", labels=names, size=f"{eval_hw[0]} x {eval_hw[1]}",
                          params={"TA": n_ta, "shipped student": shipped.num_parameters() if shipped else None})
print(f"{len(test)} test panoramas: section time {time.time() - t_section:.0f} s")
gs

# %%
rows = min(2, len(test))                # the first two test panoramas, each method's labels
fig, axes = plt.subplots(rows, 2 + len(scores), figsize=(2.9 * (2 + len(scores)), 1.7 * rows), squeeze=False)
for r in range(rows):
    panels = [(test[r]["image"], "panorama"), (viz.colorize(test[r]["semantic"]), "ground truth")]
    panels += [(viz.colorize(e["predictions"][r]), name) for name, e in scores.items()]
    for ax, (im, title) in zip(axes[r], panels):
        viz.plot_erp(ax, im, grid=False)
        ax.set_title(title, fontsize=8)
fig.tight_layout()
viz.add_class_legend(fig)
viz.savefig(fig, out / "figures" / "goodsam.png")
plt.show()

# %% [markdown]
# ## 3 · Live demo: a short MKA run (not the headline)
# The same recipe as the shipped student, shrunk to run here: DAR (vote) pseudo-labels on `n_train`
# unlabelled training panoramas at the profile's small ERP size (`goodsam.pseudo_label_items`), then
# `steps` MKA steps (CE + KD + feature alignment). It is scored at the size it was trained at, beside
# the TA at that size, on the same test worlds. It shows the mechanics; a few hundred steps on a few
# panoramas are not GoodSAM's training, so this row answers no claim.

# %%
t_section = time.time()
train = data.SyntheticPanoramas("train", cfg.n_train, cfg.erp_hw, seed=seed)
test_demo = data.SyntheticPanoramas("test", cfg.n_test, cfg.erp_hw, seed=seed)
train_set = (goodsam.PseudoLabelDataset(data_root) if data_root else
             goodsam.pseudo_label_items(ta, sam_model, train, windows="h", boundary=True, fusion="vote"))
utils.seed_everything(seed)
stu = goodsam.Student(cfg.student, K, classes=data.CLASSES, seed=seed)
run = goodsam.train_mka(stu, ta, train_set, goodsam.MKAConfig(steps=cfg.steps, batch_size=4, lr=1e-3,
                        warmup=max(1, cfg.steps // 20), temperature=2.0, seed=seed, ckpt_every=max(1, cfg.steps // 4)),
                        device=dev, work_dir=out / "student_ckpt", log=lambda line: None)
demo_scores = {"TA": goodsam.evaluate_miou(ta, test_demo, K, batch_size=1, device=dev),
               "live demo student": goodsam.evaluate_miou(run.student, test_demo, K, batch_size=1, device=dev)}
demo = report.goodsam_table(demo_scores, baseline="TA", size=f"{cfg.erp_hw[0]} x {cfg.erp_hw[1]}",
                            params={"TA": n_ta, "live demo student": run.student.num_parameters()},
                            labels={"TA": names["TA"], "live demo student": f"student {cfg.student}: live demo"})
pd.concat([gs, demo]).to_csv(out / "goodsam.csv", index=False)
print(f"DAR on {len(train_set)} training panoramas + {cfg.steps} MKA steps: section time "
      f"{time.time() - t_section:.0f} s")
demo

# %%
if check_claims:
    assert run.student.num_parameters() < n_ta, "the student is smaller than its TA (by construction)"
    if shipped is not None:
        assert shipped.num_parameters() < n_ta, "the shipped student is smaller than its TA (by construction)"
both = pd.concat([gs, demo])
assert both["mIoU"].between(0, 100).all(), "mIoU in points"
assert ((both["low"] <= both["mIoU"]) & (both["mIoU"] <= both["high"])).all(), "each mIoU inside its interval"

# %% [markdown]
# ## 4 · The scorecard: the papers' claims beside our numbers
# `kind` separates what holds **by construction** (a parameter count: true because of how the model is
# built) from what is **measured**. A measured verdict reads the 95 % interval of our paired
# difference, never the point value, by one of two rules:
#
# - a claim that a method is **better**: *holds* when the interval lies above 0, *does not hold* when
#   it lies below 0, *not resolved* when it includes 0. A verdict is about the direction; `ours /
#   paper` gives the size, our difference as a share of the paper's;
# - a claim that a method **keeps** a quality (Stable-SAM's GT-box mIoU): a non-inferiority test with a
#   1-point margin, *non-inferior* when the interval's lower end is above -1 point. Plugins that did
#   nothing at all would pass it, so it is counted apart from the claims that hold.
#
# The sizes are not comparable (synthetic data, tiny models): the paper's difference stands beside
# ours so that the gap in size is visible too.

# %%
student_rows = (gs, "shipped student") if shipped is not None else (demo, "live demo student")
measured = {**report.stable_sam_claims(ev, plugin_params=n_plugin, model=f"SAM {sam_checkpoint} + plugins {plugins}"),
            **report.goodsam_claims(gs, dar="DAR ctcf", student=student_rows[1], student_table=student_rows[0],
                                    data=f"synthetic test panoramas {eval_hw[0]} x {eval_hw[1]}")}
claims = report.claims_table(measured)
claims.to_csv(out / "claims.csv", index=False)
report.scorecard(claims)

# %% [markdown]
# Each rule, the verdicts it gave and the claims behind each count (every claim in exactly one row):

# %%
counts = report.verdict_counts(claims)
print(report.verdict_summary(claims))
counts

# %% [markdown]
# ## 5 · What did not reproduce, and what the tables show instead
#
# - **The Stable-SAM plugins have no effect of the paper's size here.** In the paired table every
#   `Stable-SAM - SAM` row stays within a few hundredths of IoU of 0 in each domain, where the paper
#   reports +33.5 points on noisy boxes and +33.6 with one click. With every object scored, an interval
#   of under a point can exclude 0: the scorecard then says "holds" for the direction, and `ours /
#   paper` shows how small the effect is. The robustness gap is the same with and without the plugins
#   (`gap of Stable-SAM - gap of SAM` sits at 0).
# - **What the tables show instead: this SAM loses little to a casual box.** Its robustness gap is
#   a fraction of what filling the box loses (`gap of fill box - gap of SAM` lies above 0) and far below
#   the 30.7 points that SAM ViT-L loses in the paper (79.5 with the GT box, 48.8 with a noisy one), so
#   the plugins have little to win back. *Why* they add nothing is not something this report measures:
#   the paper's mechanism is attention drift in SAM's decoder under a poor prompt, and where the tiny
#   SAM's decoder attends is notebook 02's question, not this one's.
# - **The tiny SAM loses to a filled box on small objects.** With the ground-truth box,
#   `SAM - fill box, GT box` lies below 0 over all objects: the size table puts the loss on the
#   objects under 2k px, most of the objects here, while on larger objects SAM is above the filled box
#   (positive differences, no interval below 0; the right-hand scatter: the small objects sit below the
#   diagonal, the large ones above it).
# - **GoodSAM's two claims do not reproduce with the bundled models, for a reason the lab measures.**
#   The TA was trained at the panoramas' resolution and already gets the large regions right; the tiny
#   SAM's few, large masks add little it lacks: DAR moves the TA by a point or two, with intervals that
#   held 0 at every seed we tried (here over 8 panoramas; over 16 per held-out split in
#   `data_scripts/README.md`, section "GoodSAM DAR"). The shipped student,
#   distilled from those labels with a fifth of the TA's parameters, stays below its TA (its point value;
#   whether the 8-panorama interval excludes 0 moves with `seed`, Your turn 1; on 16 panoramas see "The
#   GoodSAM student"). GoodSAM's student beats its teacher because DAR's labels are better than the
#   teacher's own predictions, which needs SAM masks finer than the teacher's errors (SAM ViT-H's many
#   small masks, not a 4M-parameter SAM on a CPU).
# - **The live demo student scores below its TA** (its point value): 150 steps on 6 panoramas show the
#   mechanics and are no evidence about the method.
# - **GoodSAM's headline (+3.75 mIoU over the best domain-adaptation method on DensePASS) is not
#   measured**: this lab has no DensePASS and no domain-adaptation baseline; the full profile with a
#   DensePASS pseudo-label folder (`data_root`) and the real checkpoints is where it can be asked.

# %%
# what the text above says, checked (each with a margin that held at seeds 0, 1 and 2)
d = diffs.set_index("comparison")
paper = report.PAPER_CLAIMS.set_index("key")["paper_baseline"]
paper_gap = paper["stable_sam.gt_box"] - paper["stable_sam.noisy_box"]       # points
print(f"SAM ViT-L's robustness gap in the paper: {paper_gap:.1f} points; SAM's here: "
      f"{100 * d.loc['robustness gap, SAM (GT box - noisy s=0.4)', 'both']:.1f} points")
if check_claims and sam_checkpoint == "tiny-synth" and plugins == "tiny-synth":
    plugin_rows = d.loc[[c for c in d.index if c.startswith("Stable-SAM - SAM")]]
    assert plugin_rows[["both low", "both high"]].abs().max().max() < 0.04, "plugins: within a few hundredths of 0"
    assert plugin_rows.filter(like=" ").abs().max().max() < 0.08, "... in each domain too"
    assert d.loc["gap of Stable-SAM - gap of SAM", ["both low", "both high"]].abs().max() < 0.04, "the same gap"
    assert d.loc["gap of fill box - gap of SAM", "both low"] > 0.05, "filling the box loses more to a noisy box"
    assert 100 * d.loc["robustness gap, SAM (GT box - noisy s=0.4)", "both high"] < paper_gap / 2, \
        "SAM here loses far less to a noisy box than SAM ViT-L in the paper"
    assert d.loc["SAM - fill box, GT box", "both high"] < -0.03, "a filled GT box beats the tiny SAM over all objects"
    sizes = by_size.set_index("size")
    assert sizes["high"].iloc[0] < -0.05 and sizes["n"].iloc[0] > sizes["n"].iloc[1:].sum(), \
        "the loss is on the small objects, which are most of them"
    assert (sizes["difference"].iloc[1:] > 0.03).all() and (sizes["high"].iloc[1:] > 0).all(), \
        "on larger objects SAM is above the filled box"
if check_claims and shipped is not None:
    g = gs.set_index("name")
    for name in ("DAR vote", "DAR ctcf"):
        assert abs(g.loc[name, "minus TA"]) < 3, f"{name}: within a couple of points of the TA alone"
    assert g.loc["shipped student", "minus TA"] < 0, "the shipped student is below its TA (point value)"
    assert g.loc["shipped student", "params (M)"] < g.loc["TA", "params (M)"] / 3, "with far fewer parameters"
if check_claims:
    assert demo.set_index("name").loc["live demo student", "minus TA"] < -1, "the live demo is below its TA"
    by = claims.set_index("key")["verdict"]
    assert by["stable_sam.params"] == by["goodsam.student_params"] == "holds (by construction)"
    assert by["goodsam.headline"] == "not measured"

# %% [markdown]
# ## 6 · The report
# `report.md` and `report.html` carry the scorecard with its rules, the findings above as computed
# lines (`report.findings`: each measured claim that did not reproduce, with its numbers) and every
# table and figure, under a caveat on the scale of the evidence.

# %%
caveat = (
    f"Synthetic street-world renders, not real images; bundled tiny models (SAM `{sam_checkpoint}`, TA "
    f"`{cfg.teacher}` {n_ta / 1e6:.2f}M parameters); run on {dev} with the `{cfg.profile}` profile. n counts "
    f"objects for the Stable-SAM rows (every object of at least 64 px: mean IoU over objects) and panoramas "
    "for the GoodSAM rows (dataset mIoU); intervals are 95 % bootstrap intervals over those units, "
    "differences are paired. These numbers test the direction of the papers' claims at small scale, not "
    "their size, and are not comparable with the papers' numbers (real data, SAM ViT-L/H, SegFormer-B5).")
blocks = [
    report.verdict_summary(claims),
    ("Claims: the scorecard", report.scorecard(claims)),
    ("Claims: the rules and the verdict counts", counts),
    ("Claims: sources, data and models", report.sources(claims)),
    ("What did not reproduce", report.findings(claims) + [
        "Why, and what the tables show instead: notebook 06, section 5; the longer held-out runs are in "
        "`data_scripts/README.md`."]),
    ("Stable-SAM: SAM, SAM + plugins, fill box (mIoU, 95 % interval over objects)", report.stable_sam_table(ev)),
    ("Stable-SAM: paired differences and robustness gaps (IoU)", diffs),
    ("Stable-SAM: SAM - fill box with the GT box, per object size (IoU)", by_size),
    ("Stable-SAM figure", "figures/stable_sam.png"),
    ("GoodSAM: TA, DAR, shipped student, live demo (mIoU in points, 95 % interval over panoramas)",
     pd.concat([gs, demo]).drop(columns="name")),
    ("GoodSAM figure", "figures/goodsam.png"),
]
paths = report.write_report(out, "gsam_lab results report", blocks, caveat=caveat)
print({k: str(p) for k, p in paths.items()})
page, md = paths["html"].read_text(), paths["md"].read_text()
assert paths["html"].stat().st_size > 10_000 and "data:image/png;base64" in page
assert "Caveat." in md.splitlines()[2] and "What did not reproduce" in md and "What did not reproduce" in page
assert len(claims) == len(report.PAPER_CLAIMS) and counts["count"].sum() == len(claims)
assert claims.loc[claims["key"].isin(measured), "ours_method"].notna().all(), "every measured claim has our number"
assert claims.loc[claims["kind"] == "measured", "n"].dropna().gt(0).all()
print(f"notebook run time: {lab.elapsed():.0f} s")

# %% [markdown]
# ## What to take away
#
# - A verdict is read from an interval by a stated rule, and the rules are counted apart: a claim that
#   a method is better *holds* only when its interval excludes 0 on the paper's side; a claim that a
#   quality is *kept* is a non-inferiority test that doing nothing also passes. "Holds" is a direction;
#   the size stands beside it (`ours / paper`).
# - **Score every object.** The small objects are most of a street scene, and they are where this SAM
#   fails: keeping only the largest objects per image would have hidden that a filled box beats it.
# - **Stable-SAM does not reproduce here, and the report says what it sees instead**: the plugins change
#   no setting by more than a few hundredths of IoU, and this SAM loses little to a casual box in the
#   first place. Why, in terms of the decoder's attention, this report does not measure.
# - **GoodSAM's gains need a SAM finer than the teacher's errors.** With a TA that already sees poles and
#   people, the tiny SAM's large masks give DAR little to add (a point or two), and the student,
#   taught by those labels, stays below its TA. The mechanics run end to end; the effect needs GoodSAM's
#   SAM ViT-H, which the full profile takes. The live demo shows the mechanics only.
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
#    run). Which verdicts of the scorecard flip, and which numbers barely move? What does that say about
#    a verdict from 8 panoramas, and why does the report point to the 16-panorama runs?
# 2. **More panoramas.** Set `n_test=16` (about 4 s more per panorama for the SAM masks). Do the
#    intervals of the GoodSAM rows shrink by about 1/sqrt(2)? Compare with the held-out runs of
#    `data_scripts/README.md`.
# 3. **More images.** Set `n_pinhole=8` (4 panoramas, about 4x the objects; the Stable-SAM section
#    takes about 4x longer). Which `Stable-SAM - SAM` intervals now exclude 0, and does `ours / paper`
#    change? Does the size table keep its shape?
# 4. **Your own plugins.** Point `plugins` at the file notebook 03 trained
#    (`outputs/03_stable_sam_plugins/plugins_notebook_run.pt`, relative to the notebooks folder). Predict
#    the Stable-SAM rows and the robustness gap first.
# 5. **Your own report.** Add a figure of your choice to `report.html`: save it into `out / "figures"`
#    and add a `("title", "figures/name.png")` block to `blocks` before `report.write_report`.
