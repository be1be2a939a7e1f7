import os
import stat

import pytest
import torch

from gsam_lab.utils import atomic_save, atomic_write_bytes, resolve_device


def test_atomic_write_replaces_whole_file_with_normal_permissions(tmp_path):
    p = atomic_write_bytes(tmp_path / "a" / "f.bin", b"one")
    atomic_write_bytes(p, b"two")
    assert p.read_bytes() == b"two"
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(p.stat().st_mode) == 0o666 & ~umask
    assert [q.name for q in p.parent.iterdir()] == ["f.bin"]          # no temporary left behind


def test_atomic_save_round_trip(tmp_path):
    atomic_save({"x": torch.arange(3)}, tmp_path / "t.pt")
    assert torch.equal(torch.load(tmp_path / "t.pt", weights_only=True)["x"], torch.arange(3))


def test_resolve_device():
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type in ("cpu", "cuda", "mps")
    with pytest.raises(ValueError, match="device must be"):
        resolve_device("gpu0")


def test_weights_fingerprint_follows_the_weights_not_the_object():
    import copy

    from gsam_lab.utils import weights_fingerprint
    a = torch.nn.Linear(3, 2)
    b = copy.deepcopy(a)
    assert weights_fingerprint(a) == weights_fingerprint(b) and len(weights_fingerprint(a)) == 16
    with torch.no_grad():
        b.bias[0] += 1e-3
    assert weights_fingerprint(a) != weights_fingerprint(b)


def test_progress_bar_redraws_at_most_once_a_second_by_default():
    import io

    from gsam_lab.utils import PROGRESS_INTERVAL_S, progress_bar

    bar = progress_bar(range(3), desc="x", file=io.StringIO())
    assert bar.mininterval == PROGRESS_INTERVAL_S == 1.0
    assert list(bar) == [0, 1, 2]
    assert progress_bar(total=5, mininterval=0.2, file=io.StringIO()).mininterval == 0.2


def test_a_stray_temporary_of_a_killed_write_is_removed_by_the_next_write(tmp_path):
    import subprocess
    import sys

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()                       # a pid that no longer runs
    strays = [tmp_path / f".f.bin.{dead}.x1y2.tmp", tmp_path / ".f.bin.k3j4l5.tmp"]   # the second: older naming
    live = tmp_path / f".f.bin.{os.getpid()}.busy.tmp"                    # a write in progress elsewhere
    other = tmp_path / f".g.bin.{dead}.x.tmp"                             # another file's: not ours to judge now
    for p in strays + [live, other]:
        p.write_bytes(b"partial")
    atomic_write_bytes(tmp_path / "f.bin", b"whole")
    assert (tmp_path / "f.bin").read_bytes() == b"whole"
    assert not any(p.exists() for p in strays) and live.exists() and other.exists()


def test_cache_dir_pointing_at_a_file_is_a_clear_error(tmp_path, monkeypatch):
    from gsam_lab.utils import cache_dir

    (tmp_path / "f").write_text("x")
    monkeypatch.setenv("GSAM_LAB_CACHE", str(tmp_path / "f"))
    with pytest.raises(NotADirectoryError, match=r"point \$GSAM_LAB_CACHE at a folder"):
        cache_dir("renders")
