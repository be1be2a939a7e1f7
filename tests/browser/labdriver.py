"""Start and stop a JupyterLab server, and drive its notebooks from Playwright (used by tests/browser)."""
from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest


def _tail(text: str, n: int = 2500) -> str:
    text = text or ""
    return text if len(text) <= n else "..." + text[-n:]


def seconds(name: str, default: float) -> float:
    """A timeout in seconds from the environment variable ``name`` (``default`` when unset)."""
    try:
        return float(os.environ.get(name, default))
    except ValueError:
        raise pytest.UsageError(f"{name} must be a number of seconds, got {os.environ[name]!r}") from None


class SetupError(RuntimeError):
    """The browser or the lab could not be set up; the message says which and why."""


DEBIAN_CHROMIUM = "/usr/bin/chromium"


def _kill_group(proc: subprocess.Popen) -> None:
    """KILL the process group that ``proc`` leads (it was started with start_new_session=True) and reap it."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.communicate(timeout=10)
    except (subprocess.TimeoutExpired, ValueError):
        pass


def apt_install(packages, timeout: float, apt_get: str | None = None) -> None:
    """``apt-get update`` and ``apt-get install -y PACKAGES`` within ``timeout`` seconds, or a SetupError."""
    apt = apt_get or shutil.which("apt-get")
    what = " ".join(packages)
    if apt is None:
        raise SetupError("this machine has no apt-get")
    if hasattr(os, "geteuid") and os.geteuid() != 0:
        raise SetupError(f"apt-get needs root (run `sudo apt-get install -y {what}`)")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    deadline = time.monotonic() + timeout
    print(f"[browser] installing {what} with apt-get (timeout {timeout:.0f} s)", file=sys.stderr)
    for cmd in ([apt, "-o", "DPkg::Lock::Timeout=60", "update", "-q"],
                [apt, "-o", "DPkg::Lock::Timeout=60", "install", "-y", "-q", *packages]):
        left = deadline - time.monotonic()
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            output, _ = proc.communicate(timeout=max(left, 1.0))
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            raise SetupError(f"`apt-get {cmd[3]}` did not finish within {timeout:.0f} s (GSAM_LAB_APT_TIMEOUT): "
                             "is a package mirror reachable?") from None
        if proc.returncode != 0:
            raise SetupError(f"`apt-get {' '.join(cmd[3:])}` exited {proc.returncode} (not installable):\n"
                             f"{_tail(output)}")


def ensure_chromium(path: str | None = None, apt_timeout: float = 600.0, default: str = DEBIAN_CHROMIUM,
                    apt_get: str | None = None) -> str:
    """The path of a Chromium that runs: ``path`` when given, else ``default`` (Debian's package),
    installed with apt-get when missing. A SetupError says what is wrong otherwise."""
    if path:
        if not Path(path).exists():
            raise SetupError(f"GSAM_LAB_CHROMIUM={path!r} does not exist")
    else:
        path = default
        if not Path(path).exists():
            try:
                apt_install(["chromium"], apt_timeout, apt_get=apt_get)
            except SetupError as e:
                raise SetupError(f"Chromium is missing ({path} not found) and could not be installed: {e}. "
                                 "Install Debian's chromium, or set GSAM_LAB_CHROMIUM to a Chromium binary") from None
            if not Path(path).exists():
                raise SetupError(f"apt-get installed chromium but {path} is still missing")
    try:
        res = subprocess.run([path, "--headless", "--no-sandbox", "--version"], capture_output=True, text=True,
                             timeout=60, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise SetupError(f"Chromium at {path} does not run: {e}") from None
    if res.returncode != 0 or "chrom" not in res.stdout.lower():
        raise SetupError(f"Chromium at {path} does not run (exit {res.returncode}):\n{_tail(res.stdout + res.stderr)}")
    return path


# -- JupyterLab -------------------------------------------------------------------------------------
def free_port() -> int:
    """A loopback TCP port that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def _term_with_parent() -> None:
    """In the child, before exec (Linux): get SIGTERM when the test process dies, even by SIGKILL or
    os._exit (a pytest-timeout in thread mode), so a server is never left behind. The server's own
    SIGTERM handler then shuts its kernels down."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGTERM), 0, 0, 0)   # PR_SET_PDEATHSIG = 1
    except Exception:
        pass


# user settings that keep the page quiet and every cell in the DOM
_LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings":
        {"fetchNews": "false", "checkForUpdates": False},
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
}


class LabServer:
    """One JupyterLab process; :meth:`start` waits until its REST API answers, :meth:`stop` always ends it."""

    def __init__(self, root: Path, home: Path, log_path: Path, port: int | None = None, timeout: float = 120.0):
        self.root, self.home, self.log_path = Path(root), Path(home), Path(log_path)
        self.port = port if port is not None else free_port()
        self.token = secrets.token_hex(16)
        self.timeout = timeout
        self.proc: subprocess.Popen | None = None
        self.url = f"http://127.0.0.1:{self.port}"

    # environment: nothing from the user's Jupyter folders
    def _env(self) -> dict:
        dirs = {k: self.home / v for k, v in (("JUPYTER_CONFIG_DIR", "config"), ("JUPYTER_DATA_DIR", "data"),
                                               ("JUPYTER_RUNTIME_DIR", "runtime"),
                                               ("JUPYTERLAB_SETTINGS_DIR", "settings"),
                                               ("JUPYTERLAB_WORKSPACES_DIR", "workspaces"))}
        for d in dirs.values():
            d.mkdir(parents=True, exist_ok=True)
        for rel, value in _LAB_SETTINGS.items():
            f = dirs["JUPYTERLAB_SETTINGS_DIR"] / rel
            f.parent.mkdir(parents=True, exist_ok=True)
            f.write_text(json.dumps(value))
        env = dict(os.environ, **{k: str(v) for k, v in dirs.items()})
        env.pop("MPLBACKEND", None)          # a person's kernel: the inline backend
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def command(self) -> list:
        cmd = [sys.executable, "-m", "jupyter", "lab", "--no-browser",
               f"--ServerApp.token={self.token}", f"--ServerApp.root_dir={self.root}",
               f"--port={self.port}", "--ServerApp.ip=127.0.0.1", "--ServerApp.port_retries=0",
               "--LabApp.expose_app_in_browser=True"]   # window.jupyterapp: read cell outputs from the model
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            cmd.append("--allow-root")
        return cmd

    def log_tail(self, n: int = 3000) -> str:
        try:
            return _tail(self.log_path.read_text(errors="replace"), n)
        except OSError:
            return "(no log)"

    def api(self, path: str, method: str = "GET", timeout: float = 5.0):
        sep = "&" if "?" in path else "?"
        req = urllib.request.Request(f"{self.url}{path}{sep}token={self.token}", method=method)
        with urllib.request.urlopen(req, timeout=timeout) as r:
            body = r.read()
        return json.loads(body) if body else None

    def start(self) -> "LabServer":
        if port_in_use(self.port):
            raise SetupError(f"cannot start JupyterLab: port {self.port} on 127.0.0.1 is already in use")
        self.root.mkdir(parents=True, exist_ok=True)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(self.command(), cwd=str(self.root), env=self._env(), stdout=log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
                                     preexec_fn=_term_with_parent if sys.platform.startswith("linux") else None)
        log.close()
        deadline = time.monotonic() + self.timeout
        while True:
            code = self.proc.poll()
            if code is not None:
                tail = self.log_tail()
                if "already in use" in tail or "Address already in use" in tail:
                    self.stop()
                    raise SetupError(f"cannot start JupyterLab: port {self.port} on 127.0.0.1 is already in use "
                                     f"(the server exited {code}); log {self.log_path}:\n{tail}")
                self.stop()
                raise SetupError(f"JupyterLab failed to start: `{' '.join(self.command()[:4])} ...` exited {code} "
                                 f"before serving; log {self.log_path}:\n{tail}")
            try:
                self.api("/api/status", timeout=2.0)
                return self
            except (urllib.error.URLError, ConnectionError, OSError, ValueError):
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise SetupError(f"JupyterLab did not answer on {self.url} within {self.timeout:.0f} s "
                                 f"(GSAM_LAB_LAB_START_TIMEOUT); log {self.log_path}:\n{self.log_tail()}")
            time.sleep(0.5)

    def _kernel_pids(self) -> list:
        """Kernels this server launched: their command line names a connection file in our runtime dir."""
        try:
            import psutil
        except ImportError:  # pragma: no cover - ipykernel depends on psutil
            return []
        runtime = str(self.home / "runtime")
        pids = []
        for p in psutil.process_iter(["pid", "cmdline"]):
            try:
                if any(runtime in a for a in (p.info["cmdline"] or [])):
                    pids.append(p.info["pid"])
            except (psutil.Error, TypeError):
                continue
        return pids

    def stop(self) -> None:
        """Shut the kernels down, then end the server's whole process group (TERM, then KILL)."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                for k in self.api("/api/kernels", timeout=3.0) or []:
                    self.api(f"/api/kernels/{k['id']}", method="DELETE", timeout=10.0)
            except Exception:
                pass
        kernels = self._kernel_pids()
        for sig, wait in ((signal.SIGTERM, 15.0), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=wait)
                break
            except subprocess.TimeoutExpired:
                continue
        for pid in kernels + self._kernel_pids():     # a kernel left behind: end it by its id
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)   # anything else left in the group
        except (ProcessLookupError, PermissionError):
            pass
        self.proc = None


# -- driving a notebook -----------------------------------------------------------------------------
_CELLS_JS = """() => {
  const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  if (!w || !w.content || !w.content.model) return null;
  const kernel = w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;
  const cells = w.content.model.cells, out = [];
  for (let i = 0; i < cells.length; i++) {
    const c = cells.get(i);
    if (c.type !== 'code') continue;
    const outs = [];
    for (let j = 0; j < c.outputs.length; j++) {
      const o = c.outputs.get(j).toJSON();
      outs.push({type: o.output_type, ename: o.ename || '', evalue: o.evalue || ''});
    }
    out.push({index: i, count: c.executionCount, source: c.sharedModel.getSource().slice(0, 120), outputs: outs});
  }
  return {path: w.context.path, kernel: kernel ? kernel.status : 'none', cells: out};
}"""


def notebook_state(pg) -> dict | None:
    """The open notebook's path, kernel status and code cells (execution count, output types) from the model."""
    return pg.evaluate(_CELLS_JS)


def open_notebook(pg, lab: LabServer, name: str, timeout: float = 120.0) -> None:
    """Open ``name`` (a file in the lab's root) in JupyterLab and wait for an idle kernel."""
    if not (lab.root / name).exists():
        raise FileNotFoundError(f"{name} is not in the lab's root {lab.root}")
    pg.goto(f"{lab.url}/lab/tree/{name}?token={lab.token}&reset", wait_until="domcontentloaded")
    pg.wait_for_selector(".jp-NotebookPanel .jp-Cell", timeout=timeout * 1000)
    pg.wait_for_function(
        """(name) => { const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
           const k = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;
           return !!(w && w.context && w.context.path === name && k && k.status === 'idle'); }""",
        arg=name, timeout=timeout * 1000)


def cell_errors(state: dict) -> list:
    """``[(cell index, ename, evalue, source start)]`` for every error output."""
    return [(c["index"], o["ename"], o["evalue"], c["source"].splitlines()[0] if c["source"] else "")
            for c in state["cells"] for o in c["outputs"] if o["type"] == "error"]


def dom_tracebacks(pg) -> list:
    """Texts of rendered outputs that show a Python traceback (warnings on stderr are fine)."""
    texts = pg.locator('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]').all_inner_texts()
    return [t[:400] for t in texts if "Traceback (most recent call last)" in t]


def run_all_cells(pg, timeout: float | None = None) -> dict:
    """Run > Run All Cells from the menu bar; wait until every code cell ran (or one failed) and the kernel is idle.

    Returns the final :func:`notebook_state`. Fails (with the cells that did not finish) after ``timeout``.
    """
    timeout = timeout if timeout is not None else seconds("GSAM_LAB_RUN_ALL_TIMEOUT", 600)
    pg.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
    pg.locator(".lm-Menu-item:not(.lm-mod-disabled) .lm-Menu-itemLabel", has_text="Run All Cells").first.click()
    t0 = time.monotonic()
    # the kernel picks the queue up: some cell shows [*] or the kernel turns busy
    try:
        pg.wait_for_function("""() => { const w = window.jupyterapp.shell.currentWidget;
              const k = w.sessionContext.session.kernel;
              return k.status !== 'idle' || w.content.node.querySelector('.jp-InputPrompt') &&
                     [...w.content.node.querySelectorAll('.jp-InputPrompt')]
                       .some(e => e.textContent.includes('*')); }""",
                             timeout=20_000)
    except Exception:
        pass
    state = notebook_state(pg)
    while time.monotonic() - t0 < timeout:
        state = notebook_state(pg)
        if state["kernel"] in ("dead", "unknown") and time.monotonic() - t0 > 30:
            pytest.fail(f"the kernel of {state['path']} is {state['kernel']} during Run All", pytrace=False)
        prompts = pg.locator(".jp-Notebook .jp-CodeCell .jp-InputPrompt").all_inner_texts()
        busy = any("*" in p for p in prompts)
        done = all(c["count"] is not None for c in state["cells"]) or bool(cell_errors(state))
        if done and not busy and state["kernel"] == "idle":
            print(f"[browser] Run All of {state['path']}: {time.monotonic() - t0:.0f} s", file=sys.stderr)
            return state
        time.sleep(1.0)
    pending = [(c["index"], c["source"].splitlines()[0] if c["source"] else "") for c in state["cells"]
               if c["count"] is None]
    pytest.fail(f"Run All of {state['path']} did not finish within {timeout:.0f} s (GSAM_LAB_RUN_ALL_TIMEOUT); "
                f"kernel {state['kernel']}; cells not run yet: {pending[:5]}", pytrace=False)


def assert_no_errors(pg, state: dict) -> None:
    errors = cell_errors(state)
    assert not errors, "cells raised in JupyterLab:\n" + "\n".join(
        f"  cell {i} ({src!r}): {en}: {ev}" for i, en, ev, src in errors)
    shown = dom_tracebacks(pg)
    assert not shown, "the page shows tracebacks:\n" + "\n---\n".join(shown)
    missing = [c["index"] for c in state["cells"] if c["count"] is None]
    assert not missing, f"code cells that never ran: {missing}"


def image_src(locator) -> str:
    return locator.get_attribute("src") or ""


def wait_src_change(pg, locator, old: str, what: str, timeout: float = 60.0) -> str:
    """Wait until the ``img`` at ``locator`` shows a new ``src``; fail naming ``what`` otherwise."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        new = image_src(locator)
        if new and new != old:
            return new
        pg.wait_for_timeout(200)
    pytest.fail(f"{what}: the image did not change within {timeout:.0f} s (src stays {old[:60]!r})", pytrace=False)


def png_pixels(png: bytes):
    """PNG bytes (a Playwright screenshot) -> H x W x 3 uint8 array."""
    import io

    import numpy as np
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def shot(pg, out: Path, name: str, locator=None) -> Path:
    """Save a screenshot (of ``locator`` or the whole page) as ``out/name.png`` and return its path."""
    path = out / f"{name}.png"
    (locator.screenshot(path=str(path)) if locator is not None else pg.screenshot(path=str(path)))
    print(f"[browser] screenshot {path}", file=sys.stderr)
    return path


DOCS_IMG = Path(__file__).resolve().parents[2] / "docs" / "img"


def publish_to_docs(png: Path, name: str, colors: int = 256) -> Path | None:
    """With ``GSAM_LAB_UPDATE_DOCS_IMG=1``, copy screenshot ``png`` to ``docs/img/name`` as a small palette PNG
    (the README's images). Without it, nothing happens: test runs never change tracked files."""
    if os.environ.get("GSAM_LAB_UPDATE_DOCS_IMG") != "1":
        return None
    from PIL import Image

    DOCS_IMG.mkdir(parents=True, exist_ok=True)
    target = DOCS_IMG / name
    img = Image.open(png).convert("RGB").quantize(colors=colors, method=Image.Quantize.MEDIANCUT,
                                                 dither=Image.Dither.FLOYDSTEINBERG)
    img.save(target, optimize=True)
    print(f"[browser] README image {target} ({target.stat().st_size // 1024} KB)", file=sys.stderr)
    return target
