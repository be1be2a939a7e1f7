"""Bad input for the browser suite: Chromium missing or broken, a port in use, JupyterLab failing or hanging.

Each case must end quickly with a message that says which; nothing may be left running.
"""
import os
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

import labdriver
from labdriver import LabServer, SetupError, ensure_chromium

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]


def _script(path, body: str) -> str:
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return str(path)


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


@pytest.fixture
def as_root(monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 0)


# -- Chromium ---------------------------------------------------------------------------------------
def test_named_chromium_that_does_not_exist(tmp_path):
    with pytest.raises(SetupError, match="GSAM_LAB_CHROMIUM=.*does not exist"):
        ensure_chromium(str(tmp_path / "nope"))


def test_chromium_that_does_not_run(tmp_path):
    broken = _script(tmp_path / "chromium", "echo 'error while loading shared libraries' >&2; exit 127")
    with pytest.raises(SetupError, match="does not run.*exit 127"):
        ensure_chromium(broken)


def test_missing_chromium_without_apt_get(tmp_path, monkeypatch, as_root):
    monkeypatch.setattr(labdriver.shutil, "which", lambda name: None)
    with pytest.raises(SetupError, match=r"Chromium is missing .* no apt-get.*GSAM_LAB_CHROMIUM"):
        ensure_chromium(default=str(tmp_path / "chromium"))


def test_missing_chromium_needs_root(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    apt = _script(tmp_path / "apt-get", "exit 0")
    with pytest.raises(SetupError, match="needs root"):
        ensure_chromium(default=str(tmp_path / "chromium"), apt_get=apt)


def test_missing_chromium_not_installable(tmp_path, as_root):
    apt = _script(tmp_path / "apt-get", 'case "$3" in update) exit 0;; esac\n'
                                         'echo "E: Unable to locate package chromium" >&2; exit 100')
    with pytest.raises(SetupError, match=r"(?s)install -y -q chromium` exited 100.*Unable to locate package"):
        ensure_chromium(default=str(tmp_path / "chromium"), apt_get=apt)


def test_apt_get_that_hangs_is_stopped(tmp_path, as_root):
    apt = _script(tmp_path / "apt-get", "sleep 120")
    t0 = time.monotonic()
    with pytest.raises(SetupError, match=r"apt-get update` did not finish within 2 s"):
        ensure_chromium(default=str(tmp_path / "chromium"), apt_get=apt, apt_timeout=2)
    assert time.monotonic() - t0 < 30, "a hanging apt-get must be given up at the timeout"


def test_missing_chromium_installed_by_apt_get(tmp_path, as_root):
    target = tmp_path / "chromium"
    apt = _script(tmp_path / "apt-get", f'case "$3" in update) exit 0;; esac\n'
                                         f"printf '#!/bin/sh\\necho Chromium 999.0\\n' > {target}; chmod +x {target}")
    assert ensure_chromium(default=str(target), apt_get=apt) == str(target)


# -- JupyterLab -------------------------------------------------------------------------------------
def test_port_in_use_is_named(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        server = LabServer(tmp_path / "root", tmp_path / "home", tmp_path / "lab.log", port=port, timeout=60)
        with pytest.raises(SetupError, match=f"port {port} on 127.0.0.1 is already in use"):
            server.start()


def test_port_taken_while_starting_is_named(tmp_path, monkeypatch):
    """The port is free when checked but taken when JupyterLab binds: the server exits, we say why."""
    monkeypatch.setattr(labdriver, "port_in_use", lambda port: False)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        server = LabServer(tmp_path / "root", tmp_path / "home", tmp_path / "lab.log", port=port, timeout=90)
        with pytest.raises(SetupError, match=f"port {port} on 127.0.0.1 is already in use"):
            server.start()
    assert server.proc is None or server.proc.poll() is not None


class _FakeLab(LabServer):
    def __init__(self, *a, script: str, **kw):
        super().__init__(*a, **kw)
        self.script = script

    def command(self):
        return [sys.executable, "-c", self.script]


def test_lab_that_exits_is_reported_with_its_log(tmp_path):
    server = _FakeLab(tmp_path / "root", tmp_path / "home", tmp_path / "lab.log", timeout=60,
                      script="import sys; print('ModuleNotFoundError: No module named jupyterlab'); sys.exit(3)")
    with pytest.raises(SetupError, match=r"(?s)JupyterLab failed to start.*exited 3.*No module named jupyterlab"):
        server.start()


def test_lab_that_never_answers_is_stopped_at_the_timeout(tmp_path):
    pidfile = tmp_path / "child.pid"
    script = ("import subprocess, sys, time; "
              "c = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)']); "
              f"open({str(pidfile)!r}, 'w').write(str(c.pid)); time.sleep(300)")
    server = _FakeLab(tmp_path / "root", tmp_path / "home", tmp_path / "lab.log", timeout=3, script=script)
    t0 = time.monotonic()
    with pytest.raises(SetupError, match=r"did not answer on http://127\.0\.0\.1:\d+ within 3 s"):
        server.start()
    assert time.monotonic() - t0 < 40, "a silent server must be given up at the start timeout"
    assert pidfile.exists(), "the fake server did not start its child"
    child = int(pidfile.read_text())
    deadline = time.monotonic() + 10
    while not _gone(child) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _gone(child), "a process started by the server outlived stop()"


def test_real_lab_stops_with_its_kernels(tmp_path):
    server = LabServer(tmp_path / "root", tmp_path / "home", tmp_path / "lab.log", timeout=120).start()
    try:
        lab_pid = server.proc.pid
        kernel = server.api("/api/kernels", method="POST", timeout=30)
        deadline = time.monotonic() + 60
        kernels = []
        while not kernels and time.monotonic() < deadline:
            kernels = server._kernel_pids()
            time.sleep(0.5)
        assert kernels, f"started kernel {kernel['id']} but found no kernel process"
    finally:
        server.stop()
    assert server.proc is None
    assert _gone(lab_pid), "the JupyterLab process outlived stop()"
    for pid in kernels:
        assert _gone(pid), f"kernel process {pid} outlived stop()"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux only")
def test_lab_dies_with_a_killed_test_process(tmp_path):
    """Even when the test process is killed outright (no finalizer runs), its JupyterLab goes too."""
    script = (f"import sys; sys.path.insert(0, {str(Path(labdriver.__file__).parent)!r})\n"
              "from labdriver import LabServer\n"
              f"s = LabServer({str(tmp_path / 'root')!r}, {str(tmp_path / 'home')!r}, {str(tmp_path / 'lab.log')!r},"
              " timeout=120).start()\n"
              "print(s.proc.pid, flush=True)\n"
              "import time; time.sleep(600)\n")
    owner = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        line = owner.stdout.readline()
        assert line.strip().isdigit(), f"the helper did not start a lab: {line!r}\n{(tmp_path / 'lab.log').read_text()}"
        lab_pid = int(line)
        assert not _gone(lab_pid)
    finally:
        owner.kill()
        owner.wait(timeout=30)
    deadline = time.monotonic() + 30
    while not _gone(lab_pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    if not _gone(lab_pid):
        os.kill(lab_pid, 9)
        pytest.fail("JupyterLab outlived the killed process that started it")
