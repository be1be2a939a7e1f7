"""The full profile end to end, on real-format stand-ins of its files (CPU, tiny sizes).

``gsam-lab run --profile full`` is meant for Meta's SAM checkpoints, Hugging Face SegFormers fine-tuned
on Cityscapes and DensePASS on a GPU. Those files cannot be downloaded here, so ``tests/standins.py``
writes files in the same formats (a Meta ``vit_b`` state dict with random weights, ``save_pretrained``
SegFormer folders with Cityscapes' 19 classes, a DensePASS folder made by
``data_scripts/prepare_densepass.py``) and each notebook runs through the ``gsam-lab run`` command with
``--profile full``, those files, and ``-p`` overrides that keep the sizes tiny. ``check_claims=False``:
random weights make no claim; the notebooks' mechanical asserts stay on. Checked here: the run
summary, the Cityscapes -> synthetic class mapping, the pseudo-label folder, the students' training
and scores, the Stable-SAM plugins trained on the given SAM, and the report files.

Each notebook runs once; later notebooks take what earlier ones made, as a GPU run does: 05 and 06 train
their students on notebook 04's pseudo-label folder, 06 scores the plugins notebook 03 trained.

What is not checked (needs a GPU and the real files): speed, AMP, and any number a claim is about.
"""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import torch

from gsam_lab import cli, goodsam
from gsam_lab.data.classes import CITYSCAPES_CLASSES, CLASSES

pytestmark = [pytest.mark.full_profile, pytest.mark.slow]

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def _fmt(value) -> str:
    return value if isinstance(value, str) else repr(value).replace(" ", "")


def _params(ckpt, ta, densepass) -> dict:
    """The ``-p`` overrides of each notebook: the stand-in files and the smallest sizes that run every step.

    Meta's ViT-B embeds every image at 1024 x 1024 (seconds on a CPU, whatever the image's size), so what
    counts is how many images SAM sees. 02 and 03 read one DensePASS image (``data_root``, the real-data
    branch; their synthetic one runs under nbval); 05 and 06 read notebook 04's pseudo-labels (no DAR of
    their own, see ``full_run``).
    """
    sam_p = {"sam_checkpoint": str(ckpt)}
    real = dict(data_root=str(densepass), data_layout="densepass", n_pinhole=1)
    return {
        "01": dict(erp_hw=(64, 128), view_hw=(32, 32), n_stats=2, stats_hw=(32, 64)),
        "02": dict(sam_p, **real, n_erp=1, pinhole_hw=(64, 96), erp_hw=(64, 128), draws=2, max_objects=2,
                   noise=(0.4,), points=(1, 3)),
        "03": dict(sam_p, **real, steps=2, n_train=1, images_per_step=1, n_erp=1, pinhole_hw=(64, 96),
                   erp_hw=(64, 128), draws=2, max_objects=2),
        "04": dict(sam_p, data_root=str(densepass), teacher=str(ta), erp_hw=(64, 128), n_test=1, n_pinhole=2,
                   points_per_side=2),
        "05": dict(sam_p, teacher=str(ta), steps=2, batch_size=2, erp_hw=(64, 128), n_train=2, n_test=2),
        "06": dict(sam_p, teacher=str(ta), steps=2, erp_hw=(64, 128), n_train=1, n_test=1, n_pinhole=1, draws=2,
                   max_objects=2, points_per_side=2),
    }


def _pseudo_folder(out04: Path) -> Path:
    """The pseudo-label folder notebook 04 wrote into its output folder ``out04``."""
    folders = [p for p in out04.glob("pseudo_*") if p.is_dir()]
    assert len(folders) == 1, folders
    return folders[0]


@pytest.fixture(scope="module")
def full_run(tmp_path_factory, meta_sam_checkpoint, cityscapes_ta_folder, densepass_root):
    """``run("04")``: notebook 04's output folder, the notebook run (once) into one run folder with
    ``gsam-lab run --profile full``. 05 and 06 get 04's pseudo-label folder as ``data_root``, 06 gets
    03's plugins: those notebooks run first when they have not yet."""
    out = tmp_path_factory.mktemp("full_run")
    params = _params(meta_sam_checkpoint, cityscapes_ta_folder, densepass_root)
    done = {}

    def run(nb: str) -> Path:
        if nb in done:
            return done[nb]
        p = {"check_claims": False, **params[nb]}
        if nb in ("05", "06"):
            p["data_root"] = str(_pseudo_folder(run("04")))
        if nb == "06":
            p["plugins"] = str(run("03") / "plugins_notebook_run.pt")
        argv = ["run", nb, "--profile", "full", "--out", str(out), "--quiet", "--notebooks-dir", str(NOTEBOOKS)]
        for k, v in p.items():
            argv += ["-p", f"{k}={_fmt(v)}"]
        rc = cli.main(argv)
        rows = {r["notebook"]: r for r in json.loads((out / "summary.json").read_text())}
        row = next(r for name, r in rows.items() if name.startswith(nb))
        assert rc == 0 and row["status"] == "ok", f"notebook {nb} failed under --profile full: {row['error']}"
        done[nb] = out / Path(row["output"]).stem
        return done[nb]

    return run


def test_standin_formats(meta_sam_checkpoint, cityscapes_ta_folder, densepass_root):
    """The stand-ins are what the full profile's loaders expect: Meta's vit_b, a 19-class TA, DensePASS."""
    from gsam_lab import data, sam

    state = torch.load(meta_sam_checkpoint, map_location="cpu", weights_only=True)
    assert sam.infer_sam_type(state) == "vit_b"
    ta = goodsam.load_teacher(cityscapes_ta_folder, device="cpu")
    assert ta.source_classes == CITYSCAPES_CLASSES and ta.classes == CLASSES
    car = ta.groups[CLASSES.index("car")]
    assert [CITYSCAPES_CLASSES[i] for i in car] == ["car", "truck", "bus", "train"]
    assert {CITYSCAPES_CLASSES[i] for g in ta.groups for i in g}.isdisjoint({"fence", "motorcycle", "bicycle"})
    assert goodsam.count_parameters("b0", 19) < sum(p.numel() for p in ta.parameters()), "TA > B0 student"
    out = ta(torch.rand(1, 3, 64, 128))
    assert out.logits.shape == (1, len(CLASSES), 16, 32) and len(out.features) == 4
    ds = data.FolderDataset(densepass_root, layout="densepass", split="val")
    item = ds[0]
    assert tuple(item["image"].shape) == (3, 400, 2048) and int(item["semantic"].max()) < len(CLASSES)


def test_01_full(full_run):
    out = full_run("01")
    assert any(out.glob("*.png"))


def test_02_full(full_run):
    out = full_run("02")
    assert any(out.glob("*.png"))


def test_03_full(full_run):
    out = full_run("03")
    plugins = out / "plugins_notebook_run.pt"
    assert plugins.is_file(), "notebook 03 trains plugins on the given SAM"
    obj = torch.load(plugins, map_location="cpu", weights_only=True)
    assert obj["config"]["transformer_dim"] == 256


def test_04_full_densepass(full_run):
    pl = goodsam.PseudoLabelDataset(_pseudo_folder(full_run("04")))
    item = pl[0]
    # a DensePASS band (400 x 2048) is centred in a full 1024 x 2048 ERP, then resized to erp_hw, before DAR
    assert tuple(item["pseudo_label"].shape) == (64, 128)
    assert item["ensemble_logits"].shape[0] == len(CLASSES)
    labels = item["pseudo_label"].unique()
    assert bool(((labels < len(CLASSES)) | (labels == 255)).all()) and bool((labels != 255).any())


def test_05_full_students(full_run):
    out = full_run("05")
    table = pd.read_csv(out / "ablation.csv").set_index("model")
    point = table["test mIoU (%)"].str.split().str[0].astype(float)        # "31.1 [28.0, 34.7]": the value
    assert len(table) >= 4 and point.between(0, 100).all()
    sweep = pd.read_csv(out / "students.csv")
    assert list(sweep["student"]) == ["b0", "b1", "b2"], "the full profile trains GoodSAM's B0/B1/B2 students"
    for name in ("b0", "b1", "b2"):
        student = goodsam.load_student(out / f"student_{name}.pt")
        assert student.config_name == name and student.num_classes == len(CLASSES)


def test_06_full_report(full_run):
    out = full_run("06")
    for name in ("report.md", "report.html", "claims.csv", "stable_sam.csv", "goodsam.csv"):
        assert (out / name).is_file(), name
    goodsam_table = pd.read_csv(out / "goodsam.csv")
    models = list(goodsam_table["model"])
    # a TA that is not tiny-synth: no shipped student; TA, both DAR fusions, and the live demo at its own size
    assert len(models) == 5 and not any("shipped" in m for m in models), models
    assert sum("DAR" in m for m in models) == 2 and "live demo" in models[-1], models
    assert goodsam_table["mIoU"].between(0, 100).all() and (goodsam_table["low"] <= goodsam_table["high"]).all()
