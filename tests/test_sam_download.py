"""data_scripts/download_checkpoints.py: size and checksum checks, atomic writes, no overwrite, dry run."""
import hashlib

import pytest
from datascripts import load_script

from gsam_lab.sam import registry


@pytest.fixture(scope="module")
def dl():
    return load_script("download_checkpoints", "download_checkpoints")


@pytest.fixture()
def fake_vit_b(tmp_path, monkeypatch):
    payload = b"fake checkpoint bytes " * 1000
    src = tmp_path / "src.pth"
    src.write_bytes(payload)
    spec = registry.SAM_MODELS["vit_b"]
    fake = registry.SamSpec(**{**spec.__dict__, "url": src.as_uri(), "size_bytes": len(payload),
                               "sha256": hashlib.sha256(payload).hexdigest()})
    monkeypatch.setitem(registry.SAM_MODELS, "vit_b", fake)
    return fake, payload


def test_download_verifies_and_is_atomic(dl, tmp_path, fake_vit_b):
    spec, payload = fake_vit_b
    dest = tmp_path / "ckpt"
    p = dl.fetch("vit_b", dest, progress=False, log=lambda s: None)
    assert p == dest / "sam_vit_b_01ec64.pth" and p.read_bytes() == payload
    assert not list(dest.glob(".*.part"))


def test_existing_good_file_is_kept(dl, tmp_path, fake_vit_b):
    spec, payload = fake_vit_b
    dest = tmp_path / "ckpt"
    dest.mkdir()
    (dest / spec.filename).write_bytes(payload)
    calls = []

    def opener(url):
        calls.append(url)
        raise AssertionError("must not download")

    msgs = []
    dl.fetch("vit_b", dest, opener=opener, log=msgs.append, verify=True)
    assert not calls and "kept" in msgs[0]


def test_bad_size_or_checksum_leaves_nothing(dl, tmp_path, fake_vit_b):
    spec, payload = fake_vit_b
    with pytest.raises(IOError, match="incomplete"):
        dl.download(spec.url, tmp_path / "a.pth", size=len(payload) + 1, progress=False)
    with pytest.raises(IOError, match="SHA-256"):
        dl.download(spec.url, tmp_path / "b.pth", size=len(payload), sha256="0" * 64, progress=False)
    assert not (tmp_path / "a.pth").exists() and not (tmp_path / "b.pth").exists()
    assert not list(tmp_path.glob(".*.part"))


def test_dry_run_downloads_nothing(dl, tmp_path, fake_vit_b):
    msgs = []
    p = dl.fetch("vit_b", tmp_path / "ckpt", dry_run=True, log=msgs.append)
    assert not p.exists() and "would download" in msgs[0]
    assert dl.main(["vit_l", "--dry-run", "--dest", str(tmp_path)]) == 0
    with pytest.raises(SystemExit):
        dl.main(["vit_q", "--dry-run"])


def test_real_registry_rows_are_consistent():
    for name in ("vit_b", "vit_l", "vit_h"):
        s = registry.SAM_MODELS[name]
        assert s.url == "https://dl.fbaipublicfiles.com/segment_anything/" + s.filename
        assert s.size_bytes > 3e8 and len(s.sha256) == 64
