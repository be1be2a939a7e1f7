"""One registry shape for SAM, TA, student and plugins; every loader takes a name or a path; the doctor lists them."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from gsam_lab import cli, doctor, goodsam, registry, sam, stable_sam
from gsam_lab.bundled import ASSETS_DIR
from gsam_lab.utils import weights_fingerprint


def test_every_kind_has_one_shape():
    tables = doctor.registries()
    assert list(tables) == ["SAM", "TA", "student", "plugins"]
    assert tables["SAM"] is sam.SAM_MODELS and tables["TA"] is goodsam.TEACHERS
    assert tables["student"] is goodsam.STUDENTS and tables["plugins"] is stable_sam.PLUGINS
    for table in tables.values():
        assert isinstance(table, registry.Registry) and "tiny-synth" in table
        assert table.names() == list(table)
        spec = table.spec("tiny-synth")
        assert spec.present() and spec.location().parent == ASSETS_DIR
        with pytest.raises(ValueError, match="known names: tiny-synth"):
            table.spec("no-such-model")
    assert sam.list_sams() == list(sam.SAM_MODELS) and goodsam.list_teachers() == list(goodsam.TEACHERS)
    assert goodsam.list_students() == ["tiny-synth"] and stable_sam.list_plugins() == ["tiny-synth"]
    for table in tables.values():                 # every row: a name, location() and present() (ModelSpec)
        for name, spec in table.items():
            assert spec.name == name and isinstance(spec.location(), (Path, str)) and isinstance(spec.present(), bool)
    b5 = goodsam.TEACHERS["segformer-b5-cityscapes"]
    assert b5.location() == "nvidia/segformer-b5-finetuned-cityscapes-1024-1024" and not b5.bundled


def test_register_refuses_a_taken_name_unless_overwrite():
    table = registry.Registry("thing")
    spec = stable_sam.PluginSpec("x", "x.pt", sam="tiny-synth")
    table.register(spec)
    with pytest.raises(ValueError, match="already registered"):
        table.register(spec)
    other = stable_sam.PluginSpec("x", "y.pt", sam="vit_b")
    assert table.register(other, overwrite=True) is other and table["x"].filename == "y.pt"


def test_register_plugins_and_student_make_names_loadable(tmp_path, monkeypatch):
    """A registered name loads like the bundled one (the tables are what the loaders read)."""
    monkeypatch.setitem(stable_sam.PLUGINS, "mine", stable_sam.PluginSpec("mine", "stable_sam_tiny_synth.pt",
                                                                          sam="tiny-synth"))
    assert stable_sam.load("mine", device="cpu").num_trainable() == stable_sam.load("tiny-synth",
                                                                                    device="cpu").num_trainable()
    student = goodsam.Student("tiny", 9, seed=0)
    student.save(tmp_path / "s.pt")
    monkeypatch.setattr(goodsam.StudentSpec, "location", lambda self: tmp_path / self.filename)
    monkeypatch.setitem(goodsam.STUDENTS, "mine", goodsam.StudentSpec("mine", "s.pt"))
    loaded = goodsam.load_student("mine")
    assert all(torch.equal(a, b) for a, b in zip(loaded.state_dict().values(), student.state_dict().values()))


def test_plugins_load_by_name_and_by_path_alike():
    by_name = stable_sam.load("tiny-synth", device="cpu")
    by_path = stable_sam.load(ASSETS_DIR / "stable_sam_tiny_synth.pt", device="cpu")
    assert by_name.sam_name == by_path.sam_name == "tiny-synth"
    for a, b in zip(by_name.plugin_modules().state_dict().values(), by_path.plugin_modules().state_dict().values()):
        assert torch.equal(a, b)
    host = sam.load_sam("tiny-synth", device="cpu")
    assert stable_sam.load("tiny-synth", model=host).sam is host
    with pytest.raises(stable_sam.PluginCheckpointError, match="no Stable-SAM plugin file"):
        stable_sam.load("not-a-name-or-file")


def test_tiny_synth_plugins_refuse_another_sam(tiny_sam):
    """The shipped plugins belong to the bundled tiny-synth SAM: another SAM's decoder is refused."""
    with pytest.raises(stable_sam.PluginCheckpointError, match="trained on another SAM"):
        stable_sam.load("tiny-synth", model=tiny_sam)


def test_every_loader_takes_the_name_and_the_path(tmp_path):
    assert sam.SAM_MODELS["tiny-synth"].location() == ASSETS_DIR / "tiny_sam_synth.pt"
    a, b = sam.load_sam("tiny-synth", device="cpu"), sam.load_sam(ASSETS_DIR / "tiny_sam_synth.pt", device="cpu")
    assert weights_fingerprint(a) == weights_fingerprint(b)
    ta_name = goodsam.load_teacher("tiny-synth", device="cpu")
    ta_path = goodsam.load_teacher(goodsam.TEACHERS["tiny-synth"].location(), device="cpu")
    assert all(torch.equal(x, y) for x, y in zip(ta_name.state_dict().values(), ta_path.state_dict().values()))
    st_name = goodsam.load_student("tiny-synth")
    st_path = goodsam.load_student(goodsam.STUDENTS["tiny-synth"].location())
    assert all(torch.equal(x, y) for x, y in zip(st_name.state_dict().values(), st_path.state_dict().values()))


def test_doctor_lists_each_kind_with_location_and_presence(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("GSAM_LAB_CACHE", str(tmp_path))
    lines = doctor.named_models()
    text = "\n".join(lines)
    for kind in ("SAM", "TA", "student", "plugins"):
        assert f"    {kind}" in lines
    assert "vit_h" in text and str(tmp_path / "checkpoints" / "sam_vit_h_4b8939.pth") in text
    vit_h = next(line for line in lines if "vit_h" in line)
    assert "missing" in vit_h
    (tmp_path / "checkpoints").mkdir(exist_ok=True)          # cache_dir may have made it
    (tmp_path / "checkpoints" / "sam_vit_h_4b8939.pth").write_bytes(b"x")
    assert "present" in next(line for line in doctor.named_models() if "vit_h" in line)
    assert "nvidia/segformer-b5-finetuned-cityscapes-1024-1024" in text
    assert str(ASSETS_DIR / "stable_sam_tiny_synth.pt") in text
    assert cli.main(["doctor"]) == 0
    assert "named models" in capsys.readouterr().out
