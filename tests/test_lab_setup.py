"""``gsam_lab.setup``: the one call every notebook's set-up cell makes."""
import random

import numpy as np
import pytest
import torch

import gsam_lab
from gsam_lab.lab import Lab


def test_setup_fills_the_profile_and_makes_the_folder(tmp_path, capsys):
    out = tmp_path / "a" / "b"
    lab = gsam_lab.setup("01", "quick", device="cpu", seed=3, out_dir=out, erp_hw=None, view_hw=(32, 32))
    assert isinstance(lab, Lab)
    assert lab.cfg.profile == "quick" and lab.cfg.erp_hw == (256, 512), "None leaves the size to the profile"
    assert lab.cfg.view_hw == (32, 32), "a given size wins over the profile"
    assert lab.device == torch.device("cpu") and lab.out == out and out.is_dir()
    assert "profile=quick" in capsys.readouterr().out
    assert 0 <= lab.elapsed() < 60


def test_setup_seeds_every_generator(tmp_path):
    draws = []
    for _ in range(2):
        gsam_lab.setup("02", device="cpu", seed=7, out_dir=tmp_path, verbose=False)
        draws.append((random.random(), float(np.random.rand()), float(torch.rand(1))))
    assert draws[0] == draws[1]
    gsam_lab.setup("02", device="cpu", seed=8, out_dir=tmp_path, verbose=False)
    assert (random.random(), float(np.random.rand()), float(torch.rand(1))) != draws[0]


def test_setup_caps_cpu_threads(tmp_path):
    before = torch.get_num_threads()
    try:
        lab = gsam_lab.setup("05", device="cpu", out_dir=tmp_path, threads=1, verbose=False)
        assert lab.threads == 1 == torch.get_num_threads()
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize("notebook", ["05", "06"])
def test_quick_profile_picks_one_thread_and_an_explicit_value_wins(tmp_path, notebook):
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        assert gsam_lab.setup(notebook, device="cpu", out_dir=tmp_path, verbose=False).threads == 1
        torch.set_num_threads(2)
        assert gsam_lab.setup(notebook, device="cpu", out_dir=tmp_path, threads=2, verbose=False).threads == 2
        torch.set_num_threads(2)
        assert gsam_lab.setup(notebook, "full", device="cpu", out_dir=tmp_path, verbose=False).threads == 2
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize("kwargs, match", [
    (dict(notebook="99"), "no profile table"),
    (dict(notebook="01", profile="huge"), "unknown profile"),
    (dict(notebook="01", nonsense=1), "unknown setting"),
    (dict(notebook="01", device="tpu"), "device must be"),
    (dict(notebook="01", seed="0"), "seed must be an int"),
    (dict(notebook="01", threads=0), "threads must be a positive int"),
])
def test_setup_refuses_bad_input(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        gsam_lab.setup(out_dir=tmp_path, verbose=False, **kwargs)


def test_out_dir_that_is_a_file_is_refused(tmp_path):
    f = tmp_path / "file.txt"
    f.write_text("x")
    with pytest.raises(NotADirectoryError, match="is a file"):
        gsam_lab.setup("01", device="cpu", out_dir=f, verbose=False)
