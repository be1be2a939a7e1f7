"""Browser tests: a real JupyterLab server driven by a headless Chromium through Playwright.

Fixtures (all session-wide except ``page``):

* ``chromium``: path of a Chromium binary. ``GSAM_LAB_CHROMIUM`` names one; otherwise
  ``/usr/bin/chromium`` (Debian's package), installed with ``apt-get`` when missing (root only,
  bounded by a timeout). Playwright never downloads a browser of its own here.
* ``lab``: a JupyterLab server of the installed package on a free loopback port, with a random
  token, a temporary root holding copies of ``notebooks/*.ipynb``, and its own temporary Jupyter
  config / data / settings folders (so a user's settings or extensions cannot change what we see).
  It is always stopped at the end (kernels shut down, the server's process group killed).
* ``page``: a fresh browser page (1400 x 1000) on the lab.

Screenshots and the server log go to ``tests/_out/browser/`` (``GSAM_LAB_BROWSER_OUT`` overrides);
the path is printed. Timeouts, all in seconds, can be raised on slow machines:
``GSAM_LAB_LAB_START_TIMEOUT`` (JupyterLab start, 120), ``GSAM_LAB_RUN_ALL_TIMEOUT`` (one notebook's
Run All, 420), ``GSAM_LAB_APT_TIMEOUT`` (installing Chromium, 600).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from labdriver import LabServer, _tail, seconds

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = REPO / "notebooks"
OUT = Path(os.environ.get("GSAM_LAB_BROWSER_OUT", REPO / "tests" / "_out" / "browser"))
DEBIAN_CHROMIUM = "/usr/bin/chromium"
VIEWPORT = {"width": 1400, "height": 1000}


def pytest_configure(config):
    config.addinivalue_line("markers", "browser: drives a real JupyterLab in headless Chromium (tests/browser)")


# -- Chromium ---------------------------------------------------------------------------------------
def _apt_install_chromium(timeout: float) -> None:
    """Install Debian's chromium with apt-get, or pytest.fail saying why it could not be."""
    apt = shutil.which("apt-get")
    if apt is None:
        pytest.fail(f"Chromium is missing ({DEBIAN_CHROMIUM} not found) and this machine has no apt-get to install "
                    "it: install Chromium and set GSAM_LAB_CHROMIUM to its path", pytrace=False)
    if hasattr(os, "geteuid") and os.geteuid() != 0:
        pytest.fail(f"Chromium is missing ({DEBIAN_CHROMIUM} not found) and installing it needs root: run "
                    "`sudo apt-get install -y chromium`, or set GSAM_LAB_CHROMIUM to a Chromium binary", pytrace=False)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    deadline = time.monotonic() + timeout
    print(f"[browser] Chromium missing: apt-get install chromium (timeout {timeout:.0f} s)", file=sys.stderr)
    for cmd in ([apt, "-o", "DPkg::Lock::Timeout=60", "update", "-q"],
                [apt, "-o", "DPkg::Lock::Timeout=60", "install", "-y", "-q", "chromium"]):
        left = deadline - time.monotonic()
        try:
            res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=max(left, 1.0),
                                 stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            pytest.fail(f"Chromium is missing and `{' '.join(cmd[-2:])}` did not finish within {timeout:.0f} s "
                        "(GSAM_LAB_APT_TIMEOUT): no package mirror reachable?", pytrace=False)
        if res.returncode != 0:
            pytest.fail(f"Chromium is missing and not installable: `{' '.join(cmd)}` exited {res.returncode}:\n"
                        f"{_tail(res.stdout + res.stderr)}", pytrace=False)


@pytest.fixture(scope="session")
def chromium() -> str:
    """Path of a working Chromium (installed through apt-get when missing)."""
    path = os.environ.get("GSAM_LAB_CHROMIUM") or DEBIAN_CHROMIUM
    if not Path(path).exists():
        if os.environ.get("GSAM_LAB_CHROMIUM"):
            pytest.fail(f"GSAM_LAB_CHROMIUM={path!r} does not exist", pytrace=False)
        _apt_install_chromium(seconds("GSAM_LAB_APT_TIMEOUT", 600))
        if not Path(path).exists():
            pytest.fail(f"apt-get reported success but {path} is still missing", pytrace=False)
    try:
        res = subprocess.run([path, "--headless", "--no-sandbox", "--version"], capture_output=True, text=True,
                             timeout=60, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as e:
        pytest.fail(f"Chromium at {path} does not run: {e}", pytrace=False)
    if res.returncode != 0 or "chrom" not in res.stdout.lower():
        pytest.fail(f"Chromium at {path} does not run (exit {res.returncode}):\n{_tail(res.stdout + res.stderr)}",
                    pytrace=False)
    return path


@pytest.fixture(scope="session")
def browser(chromium):
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("playwright is not installed: `pip install -e .[test]` (the browser itself comes from "
                    "Debian's chromium, never from `playwright install`)", pytrace=False)
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=chromium, headless=True,
                               args=["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"])
        try:
            yield b
        finally:
            b.close()


@pytest.fixture(scope="session")
def browser_out() -> Path:
    OUT.mkdir(parents=True, exist_ok=True)
    print(f"\n[browser] screenshots and logs: {OUT}", file=sys.stderr)
    return OUT


@pytest.fixture(scope="session")
def lab(tmp_path_factory, browser_out):
    """A running JupyterLab whose root holds copies of notebooks/*.ipynb; stopped at the end whatever happens."""
    root = tmp_path_factory.mktemp("lab_root")
    for nb in sorted(NOTEBOOKS.glob("*.ipynb")):
        shutil.copy2(nb, root / nb.name)
    server = LabServer(root, tmp_path_factory.mktemp("lab_home"), browser_out / "jupyterlab.log",
                       timeout=seconds("GSAM_LAB_LAB_START_TIMEOUT", 120))
    try:
        server.start()
    except RuntimeError as e:
        pytest.fail(str(e), pytrace=False)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def page(browser, lab):
    context = browser.new_context(viewport=VIEWPORT)
    pg = context.new_page()
    pg.set_default_timeout(60_000)
    try:
        yield pg
    finally:
        context.close()


