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
the path is printed. ``GSAM_LAB_UPDATE_DOCS_IMG=1`` also refreshes the README's images in ``docs/img/``.
``-m "not browser"`` leaves the whole suite out. Timeouts, all in seconds, can be raised on slow machines:
``GSAM_LAB_LAB_START_TIMEOUT`` (JupyterLab start, 120), ``GSAM_LAB_RUN_ALL_TIMEOUT`` (one notebook's
Run All, 600), ``GSAM_LAB_APT_TIMEOUT`` (installing Chromium, 300).
"""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

from labdriver import LabServer, SetupError, ensure_chromium, seconds

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = REPO / "notebooks"
OUT = Path(os.environ.get("GSAM_LAB_BROWSER_OUT", REPO / "tests" / "_out" / "browser"))
VIEWPORT = {"width": 1400, "height": 1000}


def pytest_configure(config):
    config.addinivalue_line("markers", "browser: drives a real JupyterLab in headless Chromium (tests/browser)")


# -- Chromium ---------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def chromium() -> str:
    """Path of a working Chromium (installed through apt-get when missing)."""
    try:
        return ensure_chromium(os.environ.get("GSAM_LAB_CHROMIUM"), apt_timeout=seconds("GSAM_LAB_APT_TIMEOUT", 300))
    except SetupError as e:
        pytest.fail(str(e), pytrace=False)


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
    except SetupError as e:
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


