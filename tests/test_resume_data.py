"""A resume continues only the same data: every item is fingerprinted (a folder's files by size and
modification time, the synthetic renders by every parameter they follow from, other items by content),
a changed item is named, and one folder is one data set whether given by a relative or an absolute path."""
import os
import time

import numpy as np
import pytest
import torch
from PIL import Image
from test_goodsam_pseudo import KW, PointwiseTeacher

from gsam_lab import data, goodsam, sam, stable_sam
from gsam_lab.data import FolderDataset
from gsam_lab.goodsam.distill import MKAConfig
from gsam_lab.goodsam.pseudo import PseudoLabelFolderError, pseudo_label_dataset, read_item
from gsam_lab.stable_sam import RTSConfig, StableSam
from gsam_lab.training import Checkpoint, ResumeMismatch, describe, describe_data, fingerprint
from gsam_lab.utils import atomic_save

HOUR_AGO = time.time() - 3600


def _age(folder):
    """Date every file under ``folder`` an hour back: a later edit is then one the clock can tell apart."""
    for p in folder.rglob("*"):
        if p.is_file():
            os.utime(p, (HOUR_AGO, HOUR_AGO))


def _generic(root, n=5):
    rng = np.random.default_rng(0)
    for d in ("images", "labels"):
        (root / d).mkdir(parents=True)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (8, 16, 3), dtype=np.uint8)).save(root / "images" / f"{i}.png")
        Image.fromarray(rng.integers(0, 9, (8, 16), dtype=np.uint8)).save(root / "labels" / f"{i}.png")
    _age(root)
    return root


def _checkpoint(path, dataset):
    job = describe(config={"lr": 0.1}, data=describe_data(dataset))
    return Checkpoint(path, fingerprint(**job), details=job)


def test_a_fixed_label_in_the_middle_of_a_folder_refuses_the_resume_and_names_the_file(tmp_path):
    root = _generic(tmp_path / "ds")
    _checkpoint(tmp_path / "last.pt", FolderDataset(root)).save({"step": 3})
    assert _checkpoint(tmp_path / "last.pt", FolderDataset(root)).load()["step"] == 3
    fixed = np.asarray(Image.open(root / "labels" / "2.png")).copy()
    fixed[0, 0] = (fixed[0, 0] + 1) % 9
    Image.fromarray(fixed).save(root / "labels" / "2.png")
    with pytest.raises(ResumeMismatch, match=r"different data: data\.files\.labels/2\.png: checkpoint '\d+ bytes"):
        _checkpoint(tmp_path / "last.pt", FolderDataset(root)).load()


def test_a_folder_by_a_relative_and_an_absolute_path_is_one_job(tmp_path, monkeypatch):
    root = _generic(tmp_path / "ds")
    monkeypatch.chdir(tmp_path)
    assert describe_data(FolderDataset("ds")) == describe_data(FolderDataset(root))
    _checkpoint(tmp_path / "last.pt", FolderDataset("ds")).save({"step": 3})
    assert _checkpoint(tmp_path / "last.pt", FolderDataset(str(root))).load()["step"] == 3


def test_synthetic_renders_are_told_apart_by_every_parameter_and_lists_by_every_item():
    a = describe_data(data.SyntheticPanoramas("train", 4, (32, 64)))
    assert a == describe_data(data.SyntheticPanoramas("train", 4, (32, 64)))          # nothing rendered
    assert a != describe_data(data.SyntheticPanoramas("train", 4, (32, 64), world_params={"n_cars": 2}))
    items = [{"x": torch.full((2,), float(i))} for i in range(12)]
    before = describe_data(items)
    items[9] = {"x": torch.full((2,), -1.0)}
    assert before["items"]["0"] == describe_data(items)["items"]["0"]
    assert before["items"]["9"] != describe_data(items)["items"]["9"]


def _panoramas(folder, n=3):
    folder.mkdir()
    for i in range(n):
        pixels = (np.random.default_rng(i).random((32, 64, 3)) * 255).astype(np.uint8)
        Image.fromarray(pixels).save(folder / f"p{i}.png")
    _age(folder)
    return folder


def test_pseudo_labels_of_a_replaced_panorama_are_not_mixed_in(tmp_path, monkeypatch):
    pano = _panoramas(tmp_path / "pano")
    out = pseudo_label_dataset(PointwiseTeacher(), None, pano, tmp_path / "pl", indices=[0], **KW)
    monkeypatch.chdir(tmp_path)
    pseudo_label_dataset(PointwiseTeacher(), None, "pano", tmp_path / "pl", indices=[1], **KW)   # one folder: resumes
    manifest = (out / "manifest.json").read_bytes()
    Image.fromarray(np.zeros((32, 64, 3), np.uint8)).save(pano / "p1.png")
    with pytest.raises(PseudoLabelFolderError, match=r"manifest differs: source_items\.files\.p1\.png: folder"):
        pseudo_label_dataset(PointwiseTeacher(), None, pano, out, **KW)
    assert (out / "manifest.json").read_bytes() == manifest


def test_mka_resume_notices_a_re_made_pseudo_label_item(tmp_path):
    out = pseudo_label_dataset(PointwiseTeacher(), None, _panoramas(tmp_path / "pano"), tmp_path / "pl", **KW)
    _age(out)
    cfg = MKAConfig(steps=2, batch_size=2, warmup=1, ckpt_every=1, log_every=1, feat_weight=0.0)

    def train(steps):
        student = goodsam.Student("tiny", len(data.CLASSES), dropout=False, seed=0)
        return goodsam.train_mka(student, None, goodsam.PseudoLabelDataset(out), cfg, steps=steps, device="cpu",
                                 progress=False, log=lambda s: None, work_dir=tmp_path / "work")
    train(1)
    rec = read_item(out / "items" / "000002.pt")
    rec["pseudo_label"] = torch.full_like(rec["pseudo_label"], 255)        # the last item re-made, the first kept
    atomic_save(rec, out / "items" / "000002.pt")
    with pytest.raises(ResumeMismatch, match=r"different data: data\.files\.items/000002\.pt: checkpoint"):
        train(2)


def _rts_items(n=3):
    rng = np.random.default_rng(0)
    out = []
    for _ in range(n):
        inst = np.zeros((48, 64), np.int64)
        inst[4:28, 8:40], inst[24:44, 30:60] = 1, 2
        out.append({"image": rng.integers(0, 256, (48, 64, 3), dtype=np.uint8), "instance": inst})
    return out


def test_rts_resume_notices_a_replaced_image_with_the_same_objects(tmp_path):
    model = sam.build_tiny_sam(0)
    ck = tmp_path / "run.ckpt"
    cfg = RTSConfig(steps=1, images_per_step=1, prompts_per_image=1, warmup=1, log_every=1, ckpt_every=1, min_area=16)
    items = _rts_items()
    stable_sam.train_rts(StableSam(model), items, cfg, checkpoint=ck, device="cpu", progress=False, log=lambda s: None)
    items[1] = dict(items[1], image=255 - items[1]["image"])               # the same instance map
    with pytest.raises(ResumeMismatch, match=r"different data: data\.items\.1: checkpoint"):
        stable_sam.train_rts(StableSam(model), items, cfg, steps=2, checkpoint=ck, device="cpu", progress=False)
