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


def test_a_device_that_does_not_compute_is_refused():
    for device in ("meta", torch.device("meta")):
        with pytest.raises(ValueError, match="got .*meta.*a 'meta' device does not compute"):
            resolve_device(device)


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


# -- $GSAM_LAB_CACHE: one absolute folder; an unwritable one is worked around, not a crash -----------------

def test_an_empty_cache_variable_means_unset(tmp_path, monkeypatch):
    from gsam_lab.utils import cache_dir

    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    for empty in ("", "  "):
        monkeypatch.setenv("GSAM_LAB_CACHE", empty)
        assert cache_dir("renders") == tmp_path / "home" / ".cache" / "gsam_lab" / "renders"
    assert [p.name for p in tmp_path.iterdir()] == ["home"]          # nothing cached into the working folder


def test_a_relative_cache_variable_is_resolved_once_to_an_absolute_folder(tmp_path, monkeypatch):
    from gsam_lab.utils import cache_dir

    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    name = f"cache-{os.getpid()}-{tmp_path.name}"                   # a value no other test has resolved
    monkeypatch.setenv("GSAM_LAB_CACHE", name)
    monkeypatch.chdir(tmp_path / "a")
    first = cache_dir("renders")
    monkeypatch.chdir(tmp_path / "b")                                 # e.g. a kernel's own working folder
    assert first == cache_dir("renders") == tmp_path / "a" / name / "renders" and first.is_absolute()
    assert not (tmp_path / "b" / name).exists()


@pytest.fixture
def unwritable_cache(tmp_path, monkeypatch):
    """$GSAM_LAB_CACHE naming a folder that cannot be made (a read-only parent; /sys when running as root)."""
    if os.name != "nt" and os.geteuid() == 0:
        if not os.path.isdir("/sys/kernel"):
            pytest.skip("no read-only folder to point the cache at")
        path = "/sys/gsam_lab_cache_test"
    else:
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o555)
        path = str(ro / "cache")
    monkeypatch.setenv("GSAM_LAB_CACHE", path)
    yield path
    if not path.startswith("/sys"):
        (tmp_path / "ro").chmod(0o755)


def test_an_unwritable_cache_renders_without_it_and_warns_once(unwritable_cache, tmp_path):
    import warnings

    from gsam_lab import cli
    from gsam_lab.data import SyntheticPanoramas

    ds = SyntheticPanoramas("val", 2, hw=(16, 32), world_params=dict(n_cars=1, n_persons=1, n_poles=1, n_trees=1,
                                                                     n_bushes=1))
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        items = [ds[0], ds[1], ds[0]]
    about_cache = [w for w in seen if "not writable" in str(w.message)]
    assert len(about_cache) == 1 and "GSAM_LAB_CACHE" in str(about_cache[0].message)
    assert items[0]["image"].shape == (3, 16, 32) and torch.equal(items[0]["image"], items[2]["image"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert cli.main(["render", "--n", "1", "--hw", "16", "32", "--out", str(tmp_path / "r")]) == 0


def test_doctor_reports_an_unwritable_cache_and_exits_1(unwritable_cache, capsys):
    from gsam_lab import cli

    assert cli.main(["doctor"]) == 1
    out = capsys.readouterr().out
    assert "cache             unusable" in out and "not writable" in out and "named models" in out
