"""The SHA-256 table of the bundled weights matches the files, and a mismatch is a clear error.

Whoever replaces a file in gsam_lab/assets updates its line in gsam_lab/bundled.py (this test says which).
"""
import pytest

from gsam_lab import bundled, cli, goodsam, sam, stable_sam
from gsam_lab.bundled import ASSETS_DIR, BUNDLED_SHA256, sha256_file


@pytest.mark.parametrize("name", sorted(BUNDLED_SHA256))
def test_table_matches_the_files_on_disk(name):
    path = ASSETS_DIR / name
    assert path.is_file(), f"{path} is listed in BUNDLED_SHA256 but missing"
    assert sha256_file(path) == BUNDLED_SHA256[name], (
        f"{name} was replaced: put \"{name}\": \"{sha256_file(path)}\" in BUNDLED_SHA256 (gsam_lab/bundled.py)")


def test_every_bundled_file_is_in_the_table():
    on_disk = {p.name for p in ASSETS_DIR.glob("*") if p.is_file() and not p.name.startswith(".")}
    assert on_disk <= set(BUNDLED_SHA256), f"add {sorted(on_disk - set(BUNDLED_SHA256))} to BUNDLED_SHA256"


@pytest.mark.parametrize("name, load", [
    ("tiny_sam_synth.pt", lambda: sam.load_sam("tiny-synth", device="cpu")),
    ("teacher_tiny_synth.pt", lambda: goodsam.load_teacher("tiny-synth", device="cpu")),
    ("stable_sam_tiny_synth.pt", lambda: stable_sam.load(ASSETS_DIR / "stable_sam_tiny_synth.pt",
                                                         model=sam.build_tiny_sam(0))),
])
def test_a_mismatch_is_an_error_that_says_how_to_fix_it(monkeypatch, name, load):
    monkeypatch.setitem(BUNDLED_SHA256, name, "0" * 64)
    with pytest.raises(ValueError) as info:
        load()
    msg = str(info.value)
    assert name in msg and "0" * 64 in msg and sha256_file(ASSETS_DIR / name) in msg
    assert "BUNDLED_SHA256" in msg and "python -m gsam_lab.bundled" in msg


def test_files_outside_assets_are_not_checked(tmp_path):
    copy = tmp_path / "tiny_sam_synth.pt"
    copy.write_bytes(b"anything")
    bundled.check_bundled(copy)                     # no error: not the bundled file


def test_doctor_reports_each_file(monkeypatch, capsys):
    assert cli.main(["doctor"]) == 0
    out = capsys.readouterr().out
    assert all(f"{n}" in out for n in BUNDLED_SHA256) and "SHA-256 checked" in out and "mismatch" not in out
    monkeypatch.setitem(BUNDLED_SHA256, "tiny_sam_synth.pt", "0" * 64)
    assert cli.main(["doctor"]) == 0
    assert "SHA-256 mismatch" in capsys.readouterr().out
