"""Fixtures shared by the test files.

``tiny_sam``: the random-weight ``tiny-synth`` SAM, ``sam.build_tiny_sam(0)``, built once per test session
(in eval mode, on the CPU). Many files only run it, so they share one copy instead of each building their own.

It is shared, so treat it as read-only: no training, no in-place weight changes, no hooks left behind, and no
``StableSam(tiny_sam)`` (a Stable-SAM wrapper freezes the SAM it wraps: ``requires_grad=False``). A test
that changes the model deep-copies this one (``copy.deepcopy(tiny_sam)``) or builds its own with
``sam.build_tiny_sam(seed)``, as do the tests that need another seed.

Building it also limits torch to one CPU thread for the rest of the session (``torch.set_num_threads(1)`` is
process-wide), as the Stable-SAM test fixtures already do.

``fake_colab``: a stand-in ``google.colab`` module for one test, so the widgets believe they run in Colab.
"""
from __future__ import annotations

import sys
import types

import pytest
import torch

from gsam_lab import sam


@pytest.fixture(scope="session")
def tiny_sam():
    """``sam.build_tiny_sam(0)``: random weights (seed 0), eval mode, CPU; shared, so read-only."""
    torch.set_num_threads(1)
    return sam.build_tiny_sam(0).eval()


@pytest.fixture()
def fake_colab(monkeypatch):
    """Put a stand-in ``google.colab`` (with ``output.enable_custom_widget_manager``) in ``sys.modules`` for one
    test; returns the list its ``enable_custom_widget_manager`` appends to on every call."""
    calls = []
    output = types.ModuleType("google.colab.output")
    output.enable_custom_widget_manager = lambda: calls.append("enable_custom_widget_manager")
    colab = types.ModuleType("google.colab")
    colab.output = output
    monkeypatch.setitem(sys.modules, "google.colab", colab)
    monkeypatch.setitem(sys.modules, "google.colab.output", output)
    return calls


# a small run folder and its static site (gsam-lab site), built once per session
from sitebuild import small_run, small_site  # noqa: E402,F401

# stand-ins of the full profile's files (Meta SAM checkpoint, SegFormer folders, DensePASS), built once per session
from standins import cityscapes_ta_folder, densepass_root, meta_sam_checkpoint, standin_dir  # noqa: E402,F401
