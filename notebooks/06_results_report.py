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
# # 06 · Results report: both papers, end to end, against their claims
#
# This notebook runs the whole lab in one go on the chosen profile and writes a shareable summary:
#
# - **Stable-SAM**: SAM against SAM + the shipped DSP/DRP plugins under casual prompts (noisy boxes,
#   one and three clicks), on pinhole images and panoramas (notebooks 02–03).
# - **GoodSAM**: panoramas → the pinhole-trained teacher assistant (TA) → DAR ensemble logits and
#   pseudo-labels (TA sliding windows + SAM masks) → a compact student distilled by MKA, all measured on
#   held-out panoramas with labels the pipeline never saw (notebooks 04–05).
# - One table of the papers' claims beside our numbers, the key figures, and `report.md` /
#   `report.html` in `out_dir` (the HTML embeds its figures: one file to send).
#
# Our numbers come from the synthetic street world and the bundled tiny models (quick profile), so
# they test the *direction* of each claim, not its size; the full profile runs the real models on
# real data.
#
# **Run time:** quick profile about 65 s on 2 idle CPU cores (`gsam-lab run 06`; two to three times longer
# when other work shares the cores); full profile: a GPU and the real checkpoints, not measured.

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

import gsam_lab
from gsam_lab import data, goodsam, metrics, report, sam, stable_sam, utils, viz

# %% [markdown]
# ## Parameters
# Papermill and `gsam-lab run -p key=value` override this cell. Sizes left at `None` come from the profile.

# %% tags=["parameters"]
profile: str = "quick"          # quick | full
device: str = "auto"            # auto | cpu | cuda | mps
seed: int = 0                   # seed of the prompt draws, the training panoramas and the student
check_claims: bool = True        # False skips the teaching asserts; mechanical checks always run
data_root: str = ""             # optional goodsam.PseudoLabelDataset folder (cached DAR output) for the student
sam_checkpoint: str = "tiny-synth"   # tiny-synth | vit_b | vit_l | vit_h | a .pth path
plugins: str = "tiny-synth"     # Stable-SAM plugins: a name (tiny-synth: the shipped ones, for that SAM) or a file
teacher = None                  # the TA; None: "tiny-synth" quick, "segformer-b5-cityscapes" full
out_dir: str = "outputs/06_results_report"   # report.md, report.html, figures, tables
student = None                  # None: "tiny" quick, "b0" full
steps = None                    # MKA training steps; None: 150 quick, 8000 full
erp_hw = None                   # panoramas of the GoodSAM pipeline; None: (64, 128) quick, (512, 1024) full
n_train = None                  # unlabelled training panoramas; None: 6 quick, 500 full
n_test = None                   # labelled test panoramas; None: 4 quick, 200 full
n_pinhole = None                # Stable-SAM test images per domain; None: 2 quick, 50 full
draws = None                    # prompt draws per object; None: 4 quick, 20 full

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
# ## 1 · Stable-SAM: SAM against SAM + plugins under casual prompts
# The same prompts go to both models (`stable_sam.compare`); only the ~0.08M plugin parameters differ.
# "fill box" is the simplest baseline: the prompt box itself, painted solid.

# %%
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
ss = stable_sam.compare({"SAM": sam_model, "Stable-SAM": stable}, domains, noise=(0.4,), points=(1, 3),
                        draws=cfg.draws, seed=seed, max_objects=6).summary().rename(columns={"method": "model"})
ss.to_csv(out / "stable_sam.csv", index=False)
pivot = ss.pivot_table(index=["domain", "setting"], columns="model", values=["miou", "stability"], sort=False)
pivot.round(3)

# %%
fig, axes = plt.subplots(1, 2, figsize=(10, 3.2))
for ax, metric in zip(axes, ("miou", "stability")):
    p = ss.groupby(["setting", "model"], sort=False)[metric].mean().unstack()
    p.plot.bar(ax=ax, rot=0)
    ax.set_title(f"{metric} (mean over domains)")
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("")
fig.tight_layout()
viz.savefig(fig, out / "figures" / "stable_sam.png")
n_plugin = stable.num_trainable()
print(f"Stable-SAM trainable parameters: {n_plugin:,}")
assert n_plugin <= 100_000, "the plugins stay under 0.1M parameters"
assert set(ss["model"]) == {"SAM", "Stable-SAM", "fill box"} and ss["miou"].between(0, 1).all()

# %% [markdown]
# ## 2 · GoodSAM: TA → DAR → student on panoramas
# The TA was trained on pinhole renders only. DAR runs it in sliding windows over each *unlabelled*
# training panorama, fuses SAM's masks, and gives ensemble logits and pseudo-labels; the student
# learns from those alone (MKA: CE + KD + feature alignment). Ground truth is used only to score the
# test panoramas.

# %%
ta = goodsam.load_teacher(cfg.teacher, device=dev)
train = data.SyntheticPanoramas("train", cfg.n_train, cfg.erp_hw, seed=seed)
test = data.SyntheticPanoramas("test", cfg.n_test, cfg.erp_hw, seed=0)
t = time.time()
if data_root:
    train_set = goodsam.PseudoLabelDataset(data_root)
else:
    train_set = []
    for i in range(len(train)):
        img = train[i]["image"]
        r = goodsam.dar(ta, sam_model, img, windows="h", boundary=True, fusion="ctcf")
        train_set.append({"image": img, "pseudo_label": r.pseudo_label.cpu(),
                          "ensemble_logits": F.avg_pool2d(r.ensemble_logits[None].float(), 4)[0].half().cpu(),
                          "index": i})
print(f"DAR on {len(train_set)} training panoramas: {time.time() - t:.1f} s")
# DAR's own quality, measured on the labelled test panoramas
dar_meter = [goodsam.dar(ta, sam_model, test[i]["image"], windows="h", boundary=True, fusion="ctcf")
             for i in range(len(test))]
dar_pred = torch.stack([r.ensemble_logits.argmax(0).cpu() for r in dar_meter])
gt = torch.stack([test[i]["semantic"] for i in range(len(test))])
dar_miou = float(metrics.miou(dar_pred, gt, K))
ta_eval = goodsam.evaluate_miou(ta, test, K, device=dev)
print(f"test ERP mIoU: TA alone {100 * ta_eval['miou']:.1f}, DAR ensemble {100 * dar_miou:.1f}")

# %%
utils.seed_everything(seed)
stu = goodsam.Student(cfg.student, K, classes=data.CLASSES, seed=seed)
run = goodsam.train_mka(stu, ta, train_set, goodsam.MKAConfig(steps=cfg.steps, batch_size=4, lr=1e-3,
                        warmup=max(1, cfg.steps // 20), temperature=2.0, seed=seed, ckpt_every=max(1, cfg.steps // 4)),
                        device=dev, work_dir=out / "student_ckpt", log=lambda line: None)
stu_eval = goodsam.evaluate_miou(run.student, test, K, device=dev)
n_ta = sum(p.numel() for p in ta.parameters())
goodsam_table = pd.DataFrame([
    dict(model=f"TA {cfg.teacher} (whole ERP)", params_M=n_ta / 1e6, test_miou=100 * ta_eval["miou"]),
    dict(model="DAR ensemble (TA windows + SAM)", params_M=np.nan, test_miou=100 * dar_miou),
    dict(model=f"student {cfg.student} (MKA, {cfg.steps} steps)", params_M=run.student.num_parameters() / 1e6,
         test_miou=100 * stu_eval["miou"]),
]).set_index("model").round(2)
goodsam_table.to_csv(out / "goodsam.csv")
goodsam_table

# %%
show = list(range(min(2, len(test))))
fig, axes = plt.subplots(len(show), 5, figsize=(16, 1.9 * len(show)), squeeze=False)
for r, i in enumerate(show):
    item = test[i]
    with torch.no_grad():
        ta_p = ta.predict(item["image"][None].to(dev))[0].argmax(0).cpu()
        st_p = run.student.predict(item["image"][None].to(dev))[0].argmax(0).cpu()
    panels = [(item["image"], "panorama"), (viz.colorize(item["semantic"]), "ground truth"),
              (viz.colorize(ta_p), "TA alone"), (viz.colorize(dar_pred[i]), "DAR ensemble"),
              (viz.colorize(st_p), f"student {cfg.student}")]
    for ax, (im, title) in zip(axes[r], panels):
        viz.plot_erp(ax, im, grid=False)
        ax.set_title(title, fontsize=8)
fig.tight_layout()
viz.add_class_legend(fig)
viz.savefig(fig, out / "figures" / "goodsam.png")
assert run.student.num_parameters() < n_ta, "the student is smaller than its TA"
assert all(0 <= v <= 100 for v in goodsam_table["test_miou"]), "mIoU is a percentage"


# %% [markdown]
# ## 3 · The papers' claims beside our numbers
# `direction_holds` asks whether our numbers move the way the paper's do (better, kept, small);
# the absolute values are not comparable (synthetic data, tiny models). This notebook reports the claims
# in that column instead of asserting them: its asserts are all mechanical (files written, numbers in range),
# so `check_claims` changes nothing here.

# %%
def ss_pair(setting):
    g = ss[ss["setting"] == setting].groupby("model")["miou"].mean()
    return 100 * g["SAM"], 100 * g["Stable-SAM"]

claims = report.claims_table({
    "stable_sam.noisy_box": ss_pair("noisy_box s=0.4"),
    "stable_sam.points1": ss_pair("points k=1"),
    "stable_sam.points3": ss_pair("points k=3"),
    "stable_sam.gt_box": ss_pair("gt_box"),
    "stable_sam.params": n_plugin / 1e6,
    "goodsam.dar": (100 * ta_eval["miou"], 100 * dar_miou),
    "goodsam.student": (100 * ta_eval["miou"], 100 * stu_eval["miou"]),
    "goodsam.student_params": goodsam.count_parameters("b0", 19) / 1e6,
})
claims.to_csv(out / "claims.csv", index=False)
claims.round(2)

# %%
summary_text = (
    f"Profile `{cfg.profile}` on {dev}; SAM `{sam_checkpoint}`, TA `{cfg.teacher}`, student `{cfg.student}`. "
    f"Stable-SAM: {n_plugin:,} trainable parameters. GoodSAM on {len(test)} held-out panoramas "
    f"{cfg.erp_hw[0]}x{cfg.erp_hw[1]}: TA {100 * ta_eval['miou']:.1f}, DAR {100 * dar_miou:.1f}, "
    f"student {100 * stu_eval['miou']:.1f} mIoU. {int(claims['direction_holds'].fillna(False).sum())} of "
    f"{int(claims['direction_holds'].notna().sum())} measured claims hold in direction.")
paths = report.write_report(out, "gsam_lab results report", [
    summary_text,
    ("Claims against our numbers", claims.round(2)),
    ("Stable-SAM: SAM vs SAM + plugins", ss.round(3)),
    ("Stable-SAM figure", "figures/stable_sam.png"),
    ("GoodSAM: TA, DAR, student on held-out panoramas", goodsam_table.reset_index()),
    ("GoodSAM figure", "figures/goodsam.png"),
])
print(summary_text)
print({k: str(p) for k, p in paths.items()})
assert paths["html"].stat().st_size > 10_000 and "data:image/png;base64" in paths["html"].read_text()
assert len(claims) == len(report.PAPER_CLAIMS) and claims["ours_method"].notna().all(), "every claim has our number"
print(f"notebook run time: {lab.elapsed():.0f} s")

# %% [markdown]
# ## What to take away
#
# - The table above is the honest state of this implementation on the chosen profile: which of the
#   papers' claims hold in direction, and by how much, with the bundled tiny models.
# - `report.html` in `out_dir` holds the tables and figures in one file; `claims.csv`,
#   `stable_sam.csv` and `goodsam.csv` hold the numbers.
# - For the real thing: `gsam-lab run 06 --profile full -p device=cuda -p sam_checkpoint=<sam_vit_h.pth>`
#   with a DensePASS pseudo-label folder in `data_root` (see notebooks 04–05).

# %% [markdown]
# ## Your turn
#
# Each of these is a question to answer by changing a parameter and re-running; write your prediction
# down first.
#
# 1. **Another seed.** Run with `seed=1`. Which claims keep their direction in the `direction_holds`
#    column, and which flip? What does a flip tell you about a quick-profile measurement?
# 2. **More test panoramas.** Set `n_test=12`. Do the TA, DAR and student numbers move by more than a
#    point or two? How many panoramas would you want before trusting a one-point difference?
# 3. **Your own plugins.** Point `plugins` at the file notebook 03 trained
#    (`outputs/03_stable_sam_plugins/plugins_notebook_run.pt`, relative to the notebooks folder). Predict
#    the Stable-SAM rows, then compare them with the shipped plugins' rows.
# 4. **Your own report.** Add a figure of your choice to `report.html`: save it into `out / "figures"` and
#    add a `("title", "figures/name.png")` block to the `report.write_report` call.
