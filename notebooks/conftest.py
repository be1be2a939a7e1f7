"""pytest settings for running the notebooks under nbval (``pytest notebooks --nbval-lax``).

nbval waits a hard-coded 5 s for each message a cell sends after its execution reply (its ``status: idle``,
trailing widget updates); the option ``--nbval-cell-timeout`` does not cover that wait (nbval issues #136,
#231). On a busy 2-core CI runner a kernel can take longer than that to flush a long training cell, and the
cell fails with "Timeout of 5 seconds exceeded waiting for output" although it ran fine. We raise that wait;
``GSAM_LAB_NBVAL_OUTPUT_TIMEOUT`` (seconds) overrides it.

The ``NN_name.py`` files beside the notebooks are their jupytext sources, not tests: never collected.
"""
from __future__ import annotations

import os

import pytest

OUTPUT_TIMEOUT_S = float(os.environ.get("GSAM_LAB_NBVAL_OUTPUT_TIMEOUT", "60"))

collect_ignore_glob = ["[0-9][0-9]_*.py"]


def pytest_collection_modifyitems(config, items):
    for item in items:
        if type(item).__name__ == "IPyNbCell" and hasattr(item, "output_timeout"):
            item.output_timeout = OUTPUT_TIMEOUT_S


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item):
    """No progress-bar widgets in the notebooks' kernels: nbval starts a kernel while setting up a notebook's
    first cell, and the kernel inherits ``GSAM_LAB_PROGRESS=0``; the tests of this process keep their own
    environment."""
    if type(item).__name__ != "IPyNbCell":
        yield
        return
    before = os.environ.get("GSAM_LAB_PROGRESS")
    os.environ["GSAM_LAB_PROGRESS"] = "0"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("GSAM_LAB_PROGRESS", None)
        else:
            os.environ["GSAM_LAB_PROGRESS"] = before
