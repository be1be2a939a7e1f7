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

OUTPUT_TIMEOUT_S = float(os.environ.get("GSAM_LAB_NBVAL_OUTPUT_TIMEOUT", "60"))

collect_ignore_glob = ["[0-9][0-9]_*.py"]

# no progress-bar widgets in the kernels nbval starts (they inherit this process's environment)
os.environ.setdefault("GSAM_LAB_PROGRESS", "0")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if type(item).__name__ == "IPyNbCell" and hasattr(item, "output_timeout"):
            item.output_timeout = OUTPUT_TIMEOUT_S
