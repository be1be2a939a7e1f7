"""Pseudo-label folders: format round trip, compact logits, resume / refuse, rank sharding, image folders."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

from gsam_lab import data, goodsam
from gsam_lab.goodsam.pseudo import (
    PseudoLabelFolderError,
    dense_from_topk,
    pseudo_label_dataset,
    topk_from_logits,
)
from gsam_lab.goodsam.teacher import TeacherOutput


class PointwiseTeacher(nn.Module):
    classes = data.CLASSES
    num_classes = len(data.CLASSES)
    name = "pointwise"

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.randn(self.num_classes, 3, generator=torch.Generator().manual_seed(0)) * 4)

    def forward(self, x):
        return TeacherOutput(nn.functional.avg_pool2d(torch.einsum("kc,bchw->bkhw", self.w, x), 4), ())


def panos(n=4, h=32):
    g = torch.Generator().manual_seed(0)
    return [{"image": torch.rand(3, h, 2 * h, generator=g), "meta": {"i": i}} for i in range(n)]


KW = dict(windows="h", boundary=True, fusion="none", progress=False)


def test_topk_roundtrip():
    lg = torch.randn(9, 4, 5) * 3
    idx, lp = topk_from_logits(lg, 3)
    dense = dense_from_topk(idx, lp, 9)
    assert dense.shape == (9, 4, 5)
    assert torch.allclose(dense.exp().sum(0), torch.ones(4, 5), atol=1e-2)
    assert torch.equal(dense.argmax(0), lg.argmax(0))
    full = dense_from_topk(*topk_from_logits(lg, 9), 9)
    assert torch.allclose(full, lg.log_softmax(0), atol=2e-2)


def test_write_and_read_back(tmp_path):
    t = PointwiseTeacher()
    out = pseudo_label_dataset(t, None, panos(), tmp_path / "pl", **KW)
    ds = goodsam.PseudoLabelDataset(out)
    assert len(ds) == 4 and ds.classes == data.CLASSES
    it = ds[2]
    assert it["index"] == 2 and it["image"].shape == (3, 32, 64) and it["image"].dtype == torch.float32
    assert it["pseudo_label"].dtype == torch.int64 and it["pseudo_label"].shape == (32, 64)
    assert it["ensemble_logits"].shape == (9, 32, 64)
    direct = goodsam.dar(t, None, panos()[2]["image"], windows="h", boundary=True, fusion="none")
    assert torch.equal(it["pseudo_label"], direct.pseudo_label)
    ok = it["pseudo_label"] != 255
    assert torch.equal(it["ensemble_logits"].argmax(0)[ok], it["pseudo_label"][ok])
    man = json.loads((out / "manifest.json").read_text())
    assert man["format"] == "gsam_lab.pseudo/1" and man["topk"] == 3 and man["dar"]["windows"] == "h"
    head = ds[:3]                        # a slice is a list of items, as notebook 05 slices its training set
    assert [b["index"] for b in head] == [0, 1, 2] and torch.equal(head[2]["pseudo_label"], it["pseudo_label"])
    assert [b["index"] for b in ds[-2:]] == [2, 3] and ds[5:] == []


def test_resume_skips_done_items_and_refuses_other_runs(tmp_path):
    t = PointwiseTeacher()
    out = tmp_path / "pl"
    pseudo_label_dataset(t, None, panos(), out, indices=[0, 1], **KW)
    assert len(list((out / "items").glob("*.pt"))) == 2
    before = (out / "items" / "000000.pt").stat().st_mtime_ns
    pseudo_label_dataset(t, None, panos(), out, **KW)                   # resumes: 2 more
    assert len(list((out / "items").glob("*.pt"))) == 4
    assert (out / "items" / "000000.pt").stat().st_mtime_ns == before  # not recomputed
    manifest = (out / "manifest.json").read_bytes()
    with pytest.raises(PseudoLabelFolderError, match="already holds other pseudo-labels.*fusion"):
        pseudo_label_dataset(t, None, panos(), out, **dict(KW, fusion="vote"), masks=None)
    with pytest.raises(PseudoLabelFolderError, match="topk"):
        pseudo_label_dataset(t, None, panos(), out, topk=2, **KW)
    with pytest.raises(PseudoLabelFolderError, match="resume=True"):
        pseudo_label_dataset(t, None, panos(), out, resume=False, **KW)
    assert (out / "manifest.json").read_bytes() == manifest
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(PseudoLabelFolderError, match="not empty"):
        pseudo_label_dataset(t, None, panos(), other, **KW)
    assert (other / "notes.txt").read_text() == "mine" and not (other / "manifest.json").exists()


def test_a_torn_item_names_its_file_and_a_resume_makes_it_again(tmp_path):
    t = PointwiseTeacher()
    out = pseudo_label_dataset(t, None, panos(), tmp_path / "pl", **KW)
    torn = out / "items" / "000001.pt"
    whole = torn.read_bytes()
    torn.write_bytes(whole[: len(whole) // 2])                           # what a kill mid-write leaves
    (out / "items" / "000002.pt").write_bytes(b"")
    ds = goodsam.PseudoLabelDataset(out)
    with pytest.raises(ValueError, match=r"damaged pseudo-label item: .*000001\.pt .*resume=True"):
        ds[1]
    with pytest.raises(ValueError, match=r"000002\.pt"):
        ds[2]
    kept = (out / "items" / "000000.pt").stat().st_mtime_ns
    pseudo_label_dataset(t, None, panos(), out, **KW)                   # the resume redoes the damaged items
    assert torn.read_bytes() == whole and (out / "items" / "000000.pt").stat().st_mtime_ns == kept
    assert goodsam.PseudoLabelDataset(out)[2]["index"] == 2


def test_bad_input(tmp_path):
    t = PointwiseTeacher()
    with pytest.raises(ValueError, match="topk"):
        pseudo_label_dataset(t, None, panos(), tmp_path / "a", topk=10, **KW)
    bad = [{"image": torch.rand(3, 32, 32)}]
    with pytest.raises(ValueError, match="2:1"):
        pseudo_label_dataset(t, None, bad, tmp_path / "b", **KW)
    with pytest.raises(FileNotFoundError, match="manifest"):
        goodsam.PseudoLabelDataset(tmp_path)


def test_rank_sharding_from_env(tmp_path, monkeypatch):
    t = PointwiseTeacher()
    out = tmp_path / "pl"
    for r in (0, 1):
        monkeypatch.setenv("RANK", str(r))
        monkeypatch.setenv("WORLD_SIZE", "2")
        pseudo_label_dataset(t, None, panos(5), out, **KW)
        names = sorted(p.name for p in (out / "items").glob("*.pt"))
        assert names == (["000000.pt", "000002.pt", "000004.pt"] if r == 0 else
                         [f"{i:06d}.pt" for i in range(5)])
    with pytest.raises(ValueError, match="rank"):
        pseudo_label_dataset(t, None, panos(5), out, rank=2, world_size=2, **KW)


def test_a_folder_of_images_is_pseudo_labelled(tmp_path):
    from PIL import Image

    (tmp_path / "sub").mkdir()
    for i in range(2):
        pixels = (np.random.default_rng(i).random((32, 64, 3)) * 255).astype(np.uint8)
        Image.fromarray(pixels).save(tmp_path / "sub" / f"p{i}.png")
    out = pseudo_label_dataset(PointwiseTeacher(), None, tmp_path, tmp_path.parent / "pl_folder", **KW)
    pl = goodsam.PseudoLabelDataset(out, require_complete=True)
    assert len(pl) == 2 and pl[1]["image"].shape == (3, 32, 64)
    assert pl.manifest["source"].startswith("FolderDataset") and "layout=images" in pl.manifest["source"]


def test_a_resume_with_another_sam_or_ta_is_refused(tmp_path):
    from gsam_lab import sam
    from gsam_lab.utils import weights_fingerprint

    t, sam_a = PointwiseTeacher(), sam.build_tiny_sam(0)
    out = tmp_path / "pl"
    pseudo_label_dataset(t, sam_a, panos(), out, indices=[], **KW)          # the manifest only (no DAR run)
    man = json.loads((out / "manifest.json").read_text())
    assert man["sam_weights"] == weights_fingerprint(sam_a.mask_decoder)
    assert man["teacher_weights"] == weights_fingerprint(t)
    pseudo_label_dataset(t, sam_a, panos(), out, indices=[], **KW)          # the same SAM and TA resume
    manifest = (out / "manifest.json").read_bytes()
    with pytest.raises(PseudoLabelFolderError, match=r"made with another SAM .*sam_weights"):
        pseudo_label_dataset(t, sam.build_tiny_sam(1), panos(), out, indices=[], **KW)
    other_ta = PointwiseTeacher()
    with torch.no_grad():
        other_ta.w.mul_(2)
    with pytest.raises(PseudoLabelFolderError, match=r"made with another TA .*teacher_weights"):
        pseudo_label_dataset(other_ta, sam_a, panos(), out, indices=[], **KW)
    with pytest.raises(PseudoLabelFolderError, match=r"another SAM"):       # and without a SAM at all
        pseudo_label_dataset(t, None, panos(), out, indices=[], **KW)
    assert (out / "manifest.json").read_bytes() == manifest


@pytest.mark.parametrize("text", ['{"format": "gsam_lab.pseudo/1", "classes": [', "\xff\xfe", "[1, 2]",
                                  '{"format": "gsam_lab.pseudo/1"}'])
def test_a_damaged_manifest_names_the_file(tmp_path, text):
    out = pseudo_label_dataset(PointwiseTeacher(), None, panos(), tmp_path / "pl", **KW)
    (out / "manifest.json").write_bytes(text.encode("latin-1"))
    with pytest.raises(ValueError, match=r"pl/manifest.json"):
        goodsam.PseudoLabelDataset(out)
    with pytest.raises(PseudoLabelFolderError, match=r"pl"):          # a resume refuses it, touching nothing
        pseudo_label_dataset(PointwiseTeacher(), None, panos(), out, **KW)
    assert (out / "manifest.json").read_bytes() == text.encode("latin-1")
