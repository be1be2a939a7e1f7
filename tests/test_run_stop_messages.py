"""A stopped ``gsam-lab run`` (cell timeout, kill) says so in one line: no kernel traceback above it."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

import gsam_lab

ROOT = Path(gsam_lab.__file__).parents[1]


def _slow_notebook(folder: Path) -> Path:
    folder.mkdir()
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell('profile = "quick"\nout_dir = "outputs"')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell("import time\ntime.sleep(60)")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, str(folder / "01_slow.ipynb"))
    return folder


def _start(tmp_path, *extra):
    nbs = _slow_notebook(tmp_path / "nbs")
    return subprocess.Popen([sys.executable, "-m", "gsam_lab.cli", "run", "--notebooks-dir", str(nbs),
                             "--out", str(tmp_path / "run"), "--quiet", *extra],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})


def _no_kernel_noise(err: str) -> None:
    assert "Traceback" not in err and "zmq" not in err.lower() and "IPKernelApp" not in err, err
    assert "Timeout waiting for execute reply" not in err, err


@pytest.mark.slow
def test_a_cell_timeout_prints_only_the_one_line_message(tmp_path):
    proc = _start(tmp_path, "--timeout", "1")
    try:
        err = proc.communicate(timeout=120)[1]
    finally:
        proc.kill()
    assert proc.returncode == 1
    _no_kernel_noise(err)
    assert [line for line in err.splitlines() if line.strip()] == [
        "FAILED 01_slow: cell 3 of the executed copy (In [3]) | import time: timed out after 1 s (--timeout)"]


def _sleeping(copy: Path) -> bool:
    """Whether papermill has started the ``time.sleep`` cell in the executed copy."""
    try:
        nb = nbformat.read(str(copy), as_version=4)
    except Exception:  # noqa: BLE001 - not written yet, or being written
        return False
    return any("time.sleep" in c.source and c.metadata.get("papermill", {}).get("start_time") for c in nb.cells)


@pytest.mark.slow
def test_a_kill_prints_only_the_one_line_message(tmp_path):
    proc = _start(tmp_path)
    copy = tmp_path / "run" / "01_slow.ipynb"
    try:
        deadline = time.time() + 60
        while time.time() < deadline and not _sleeping(copy):
            time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        err = proc.communicate(timeout=60)[1]
    finally:
        proc.kill()
    assert proc.returncode == 130
    _no_kernel_noise(err)
    assert [line for line in err.splitlines() if line.strip()] == ["gsam-lab run: interrupted"]
