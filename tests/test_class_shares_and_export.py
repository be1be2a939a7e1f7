"""Latitude class shares of ERP label maps, and the PNG export behind `gsam-lab render`."""
import numpy as np
import pytest
from PIL import Image

from gsam_lab import cli
from gsam_lab.data import CLASSES, FolderDataset
from gsam_lab.data.export import export_panoramas
from gsam_lab.data.stats import latitude_class_shares


def test_shares_by_hand():
    lab = np.zeros((4, 8), np.int64)
    lab[:2] = CLASSES.index("sky")
    lab[2:, :4] = CLASSES.index("road")
    lab[2:, 4:] = CLASSES.index("car")
    lab[3, 0] = 255                                   # ignored
    df = latitude_class_shares([lab], bands=2)
    assert list(df.index) == ["+90..+0", "+0..-90"]
    assert df.loc["+90..+0", "sky"] == pytest.approx(1.0)
    # south band: rows 2 and 3 with cos weights; car has 4+4 px, road 4+3 px
    lat = np.pi / 2 - (np.arange(4) + 0.5) / 4 * np.pi
    c2, c3 = np.cos(lat[2]), np.cos(lat[3])
    car, road = 4 * c2 + 4 * c3, 4 * c2 + 3 * c3
    assert df.loc["+0..-90", "car"] == pytest.approx(car / (car + road))
    assert np.allclose(df.sum(axis=1), 1.0)


def test_shares_reject_bad_input():
    with pytest.raises(ValueError, match="H x 2H"):
        latitude_class_shares([np.zeros((4, 4), np.int64)])
    with pytest.raises(ValueError, match="0..8"):
        latitude_class_shares([np.full((4, 8), 40)], bands=2)
    with pytest.raises(ValueError, match="no label maps"):
        latitude_class_shares([])


def test_export_writes_a_generic_folder_and_never_overwrites(tmp_path):
    paths = export_panoramas(tmp_path, split="test", n=2, hw=(32, 64))
    assert len(paths) == 6 and all(p.exists() for p in paths)
    ds = FolderDataset(tmp_path, layout="generic")
    assert len(ds) == 2 and tuple(ds[0]["semantic"].shape) == (32, 64)
    assert np.asarray(Image.open(paths[0])).shape == (32, 64, 3)
    before = paths[0].read_bytes()
    with pytest.raises(FileExistsError, match="overwrite=True"):
        export_panoramas(tmp_path, split="test", n=2, hw=(32, 64))
    assert paths[0].read_bytes() == before


def test_render_command(tmp_path, capsys):
    assert cli.main(["render", "--n", "1", "--hw", "32", "64", "--out", str(tmp_path)]) == 0
    assert "wrote 3 files" in capsys.readouterr().out


def test_render_offers_the_overwrite_it_asks_for(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("GSAM_LAB_CACHE", str(tmp_path / "cache"))
    args = ["render", "--n", "1", "--hw", "32", "64", "--out", str(tmp_path / "r")]
    assert cli.main(args) == 0
    capsys.readouterr()
    assert cli.main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--overwrite" in err and "Traceback" not in err
    assert cli.main(args + ["--overwrite"]) == 0


def test_a_kill_while_writing_leaves_no_torn_png(tmp_path, monkeypatch):
    """PNGs go through a temporary file: a write cut short leaves the old file or none, never half a file."""
    real_save, calls = Image.Image.save, []

    def save_then_die(self, fp, format=None, **kw):
        calls.append(fp)
        if len(calls) == 2:
            half = b"\x89PNG\r\n\x1a\n half a file"
            if hasattr(fp, "write"):
                fp.write(half)
            else:
                open(fp, "wb").write(half)
            raise KeyboardInterrupt
        return real_save(self, fp, format, **kw)

    monkeypatch.setattr(Image.Image, "save", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        export_panoramas(tmp_path, split="test", n=1, hw=(32, 64))
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert [p.parent.name for p in files] == ["images"]                 # the first file, whole; nothing else
    monkeypatch.setattr(Image.Image, "save", real_save)
    assert np.asarray(Image.open(files[0])).shape == (32, 64, 3)


def test_render_faults_end_in_one_line(tmp_path, capsys, monkeypatch):
    a_file = tmp_path / "file"
    a_file.write_text("x")
    monkeypatch.setenv("GSAM_LAB_CACHE", str(tmp_path / "cache"))
    assert cli.main(["render", "--n", "1", "--hw", "32", "64", "--out", str(a_file)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is a file, not a folder" in err
    monkeypatch.setenv("GSAM_LAB_CACHE", str(a_file))
    assert cli.main(["render", "--n", "1", "--hw", "32", "64", "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "GSAM_LAB_CACHE" in err and a_file.read_text() == "x"
