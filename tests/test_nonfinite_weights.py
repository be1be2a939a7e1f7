"""A checkpoint holding NaN or infinite weights is refused at load, naming the file (SAM, plugins, TA, student)."""
import pytest
import torch

from gsam_lab import goodsam, sam, stable_sam
from gsam_lab.goodsam.teacher import TeacherLoadError, save_teacher
from gsam_lab.sam.loading import save_tiny_checkpoint
from gsam_lab.stable_sam import StableSam
from gsam_lab.utils import check_finite


def _poison(module, value=float("nan")):
    with torch.no_grad():
        next(p for p in module.parameters() if p.is_floating_point()).view(-1)[0] = value
    return module


def test_check_finite_names_the_source_and_the_tensor():
    check_finite({"a": torch.ones(2), "ids": torch.arange(3)}, "x.pt")
    with pytest.raises(ValueError, match=r"x.pt holds non-finite weights .* first 'b'"):
        check_finite({"a": torch.ones(2), "b": torch.tensor([1.0, float("inf")])}, "x.pt")


def test_sam_checkpoint(tmp_path):
    path = save_tiny_checkpoint(_poison(sam.build_tiny_sam(0)), tmp_path / "sam.pt", half=False)
    with pytest.raises(sam.CheckpointError, match=f"{path} holds non-finite weights"):
        sam.load_sam(path, device="cpu")


def test_stable_sam_plugins(tmp_path):
    model = sam.build_tiny_sam(0)
    stable = StableSam(model)
    _poison(stable.plugin_modules(), float("inf"))
    path = stable_sam.save(stable, tmp_path / "plugins.pt")
    with pytest.raises(stable_sam.PluginCheckpointError, match=f"{path} holds non-finite weights"):
        stable_sam.load(path, model=model)


def test_teacher(tmp_path):
    teacher = goodsam.load_teacher("tiny-synth", pretrained=False, device="cpu")
    _poison(teacher.segformer)
    path = save_teacher(teacher, tmp_path / "ta.pt")
    with pytest.raises(TeacherLoadError, match=f"{path} holds non-finite weights"):
        goodsam.load_teacher(path, device="cpu")


def test_student(tmp_path):
    student = goodsam.Student("tiny", 9, seed=0)
    path = _poison(student).save(tmp_path / "student.pt")
    with pytest.raises(ValueError, match=f"{path} holds non-finite weights"):
        goodsam.load_student(path)
