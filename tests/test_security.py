"""Every loader of a torch file refuses a pickle that would run code, without running it, naming the file."""
import json

import numpy as np
import pytest
import torch
from torch import nn

from gsam_lab import goodsam, sam, stable_sam
from gsam_lab.goodsam import distill, pseudo
from gsam_lab.goodsam.teacher import TeacherLoadError
from gsam_lab.stable_sam import StableSam
from gsam_lab.stable_sam.embedded import EmbeddedImage
from gsam_lab.utils import load_torch_file


class Payload:
    """Unpickling this calls ``open(marker, "w")``: the marker file proves that the pickle ran code."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _evil_file(path, marker, extra=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({**(extra or {}), "state_dict": {"w": torch.zeros(1)}, "payload": Payload(marker)}, path)
    return path


def _refused(load, path, marker, error=Exception):
    with pytest.raises(error) as info:
        load(path)
    assert not marker.exists(), "the pickled callable ran"
    assert str(path) in str(info.value), f"the error does not name the file: {info.value}"
    return str(info.value)


def test_the_payload_runs_under_an_unsafe_load(tmp_path):
    """The test file is real: torch.load(weights_only=False) would create the marker."""
    marker = tmp_path / "ran"
    torch.load(_evil_file(tmp_path / "x.pt", marker), weights_only=False)
    assert marker.exists()


def test_load_torch_file_refuses_objects_and_says_so(tmp_path):
    marker = tmp_path / "ran"
    msg = _refused(load_torch_file, _evil_file(tmp_path / "x.pt", marker), marker, ValueError)
    assert "refusing to load" in msg and "io.open" in msg and "weights_only=False" not in msg


def test_stable_sam_load_refuses(tmp_path):
    marker = tmp_path / "ran"
    path = _evil_file(tmp_path / "plugins.pt", marker, {"format": stable_sam.io.FORMAT})
    _refused(lambda p: stable_sam.load(p, model="tiny-synth"), path, marker, stable_sam.PluginCheckpointError)


def test_load_student_refuses(tmp_path):
    marker = tmp_path / "ran"
    path = _evil_file(tmp_path / "student.pt", marker, {"kind": "gsam_lab.goodsam.Student"})
    _refused(goodsam.load_student, path, marker, ValueError)


def test_load_sam_and_load_teacher_refuse(tmp_path):
    marker = tmp_path / "ran"
    _refused(sam.load_sam, _evil_file(tmp_path / "sam.pth", marker), marker, sam.CheckpointError)
    _refused(goodsam.load_teacher, _evil_file(tmp_path / "ta.pt", marker), marker, TeacherLoadError)


def test_pseudo_label_item_is_refused(tmp_path):
    marker = tmp_path / "ran"
    root = tmp_path / "pseudo"
    (root / "items").mkdir(parents=True)
    (root / "manifest.json").write_text(json.dumps({"format": pseudo.PSEUDO_FORMAT, "classes": ["a", "b"], "n": 1}))
    item = _evil_file(root / "items" / "000000.pt", marker)
    ds = goodsam.PseudoLabelDataset(root)
    _refused(lambda _: ds[0], item, marker, ValueError)


class _Student(nn.Module):
    """The smallest thing train_mka distils into: 2 classes, one feature stage."""

    num_classes = 2
    feature_channels = (4,)

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 4, stride=4)
        self.head = nn.Conv2d(4, 2, 1)

    def forward(self, x):
        f = self.conv(x)
        return goodsam.StudentOutput(self.head(f), (f,))


def test_train_mka_resume_refuses(tmp_path):
    marker = tmp_path / "ran"
    ckpt = _evil_file(tmp_path / "work" / distill.CHECKPOINT_NAME, marker, {"kind": distill._KIND})
    item = {"image": torch.rand(3, 16, 32), "pseudo_label": torch.zeros(16, 32, dtype=torch.long),
            "ensemble_logits": torch.zeros(2, 16, 32)}
    _refused(lambda _: goodsam.train_mka(_Student(), None, [item], work_dir=tmp_path / "work", feat_weight=0.0,
                                         steps=1, batch_size=1, device="cpu", progress=False),
             ckpt, marker, ValueError)


def test_train_rts_resume_refuses(tmp_path):
    marker = tmp_path / "ran"
    ckpt = _evil_file(tmp_path / "rts.ckpt", marker, {"config": {"trainable": "plugins"}})
    stable = StableSam(sam.load_sam("tiny-synth", pretrained=False, device="cpu"))
    fake = [EmbeddedImage(torch.zeros(1, 1, 1, 1), np.ones((8, 8), np.int64), np.array([1]), (8, 8), (8, 8))]
    _refused(lambda _: stable_sam.train_rts(stable, None, checkpoint=ckpt, embedded=fake, steps=1, device="cpu",
                                            progress=False, log=lambda s: None),
             ckpt, marker, ValueError)


def test_load_torch_file_names_unreadable_files(tmp_path):
    for name, payload in (("junk.pt", b"not a torch file"), ("empty.pt", b"")):
        (tmp_path / name).write_bytes(payload)
        with pytest.raises(ValueError, match=f"{name} is not a readable torch file \\(corrupt or truncated"):
            load_torch_file(tmp_path / name)
