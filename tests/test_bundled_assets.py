"""The SHA-256 table of the bundled weights matches the files, and a mismatch is a clear error.

Whoever replaces a file in gsam_lab/assets updates its line in gsam_lab/bundled.py (this test says which).
"""
import shutil
import struct
import zipfile
from pathlib import Path

import pytest
import torch

from gsam_lab import bundled, cli, goodsam, sam, stable_sam
from gsam_lab.bundled import ASSETS_DIR, BUNDLED_SHA256, sha256_file
from gsam_lab.utils import load_torch_file


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
    assert cli.main(["doctor"]) == 1                   # a damaged installation is not a success
    out = capsys.readouterr().out
    assert "SHA-256 mismatch" in out and "problems          1" in out
    assert any("tiny-synth" in line and "damaged" in line for line in out.splitlines())


# -- every path to a bundled file is checked, and every archive before it is read --------------------

def test_the_bundled_student_given_by_its_path_is_checked(monkeypatch):
    monkeypatch.setitem(BUNDLED_SHA256, "student_synth.pt", "0" * 64)
    for path in (ASSETS_DIR / "student_synth.pt", str(ASSETS_DIR / "student_synth.pt")):
        with pytest.raises(ValueError, match="student_synth.pt has SHA-256 .* BUNDLED_SHA256"):
            goodsam.load_student(path)


def _symlink(link, target):
    try:
        link.symlink_to(target, target_is_directory=Path(target).is_dir())
    except (OSError, NotImplementedError):
        pytest.skip("symbolic links are not available here")


def test_a_bundled_file_reached_through_a_symbolic_link_is_checked(tmp_path, monkeypatch):
    monkeypatch.setitem(BUNDLED_SHA256, "student_synth.pt", "0" * 64)
    mine = tmp_path / "my_student.pt"                 # a link to the shipped file
    _symlink(mine, ASSETS_DIR / "student_synth.pt")
    with pytest.raises(ValueError, match=r"my_student.pt \(gsam_lab/assets/student_synth.pt\) has SHA-256"):
        goodsam.load_student(mine)

    elsewhere = tmp_path / "elsewhere"                # the shipped entry is a link to a file elsewhere
    elsewhere.mkdir()
    shutil.copy(ASSETS_DIR / "student_synth.pt", elsewhere / "weights.pt")
    assets = tmp_path / "assets"
    assets.mkdir()
    _symlink(assets / "student_synth.pt", elsewhere / "weights.pt")
    monkeypatch.setattr(bundled, "ASSETS_DIR", assets)
    with pytest.raises(ValueError, match="has SHA-256"):
        load_torch_file(assets / "student_synth.pt")

    linked_folder = tmp_path / "assets_link"          # the assets folder itself is a link
    _symlink(linked_folder, elsewhere)
    shutil.copy(ASSETS_DIR / "student_synth.pt", elsewhere / "student_synth.pt")
    monkeypatch.setattr(bundled, "ASSETS_DIR", linked_folder)
    with pytest.raises(ValueError, match="has SHA-256"):
        load_torch_file(linked_folder / "student_synth.pt")
    with pytest.raises(ValueError, match="has SHA-256"):
        load_torch_file(elsewhere / "student_synth.pt")


def _zero_a_block(path):
    """Zero one aligned 4 KiB block in the middle of the largest member's bytes (its weights)."""
    with zipfile.ZipFile(path) as z:
        info = max(z.infolist(), key=lambda i: i.file_size)
    raw = bytearray(path.read_bytes())
    name_len, extra_len = struct.unpack("<HH", raw[info.header_offset + 26:info.header_offset + 30])
    start = info.header_offset + 30 + name_len + extra_len
    block = (start + info.file_size // 2) // 4096 * 4096
    assert start <= block and block + 4096 <= start + info.file_size and any(raw[block:block + 4096])
    raw[block:block + 4096] = bytes(4096)
    path.write_bytes(bytes(raw))


@pytest.mark.parametrize("name, load", [
    ("student_synth.pt", goodsam.load_student),
    ("tiny_sam_synth.pt", lambda p: sam.load_sam(p, device="cpu")),
    ("stable_sam_tiny_synth.pt", lambda p: stable_sam.load(p, model=sam.build_tiny_sam(0))),
    ("teacher_tiny_synth.pt", lambda p: load_torch_file(p)),
])
def test_a_zeroed_block_in_a_checkpoint_is_refused(tmp_path, name, load):
    damaged = tmp_path / name
    shutil.copy(ASSETS_DIR / name, damaged)
    _zero_a_block(damaged)
    torch.load(damaged, map_location="cpu", weights_only=True)       # torch itself reads it without a word
    with pytest.raises(ValueError, match=r"damaged: the CRC-32 of .* does not match"):
        load(damaged)


def test_a_damaged_archive_directory_is_one_clear_error(tmp_path):
    damaged = tmp_path / "ckpt.pt"
    shutil.copy(ASSETS_DIR / "student_synth.pt", damaged)
    raw = bytearray(damaged.read_bytes())
    raw[-200:] = bytes(200)                            # the central directory at the end of the zip
    damaged.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match="ckpt.pt is not a readable torch file"):
        load_torch_file(damaged)
