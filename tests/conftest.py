"""Fixtures shared by the test files.

``tiny_sam``: the random-weight ``tiny-synth`` SAM, ``sam.build_tiny_sam(0)``, built once per test session
(in eval mode, on the CPU). Many files only run it, so they share one copy instead of each building their own.

It is shared, so treat it as read-only: no training, no in-place weight changes, no hooks left behind, and no
``StableSam(tiny_sam)`` (a Stable-SAM wrapper freezes the SAM it wraps: ``requires_grad=False``). A test
that changes the model deep-copies this one (``copy.deepcopy(tiny_sam)``) or builds its own with
``sam.build_tiny_sam(seed)``, as do the tests that need another seed.

Building it also limits torch to one CPU thread for the rest of the session (``torch.set_num_threads(1)`` is
process-wide), as the Stable-SAM test fixtures already do.
"""
from __future__ import annotations

import pytest
import torch

from gsam_lab import sam


@pytest.fixture(scope="session")
def tiny_sam():
    """``sam.build_tiny_sam(0)``: random weights (seed 0), eval mode, CPU; shared, so read-only."""
    torch.set_num_threads(1)
    return sam.build_tiny_sam(0).eval()


# a small run folder and its static site (gsam-lab site), built once per session
from sitebuild import small_run, small_site  # noqa: E402,F401

# stand-ins of the full profile's files (Meta SAM checkpoint, SegFormer folders, DensePASS), built once per session
from standins import cityscapes_ta_folder, densepass_root, meta_sam_checkpoint, standin_dir  # noqa: E402,F401
