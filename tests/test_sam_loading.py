"""gsam_lab.sam registry and load_sam: names, shape inference, and every checkpoint error."""

import pytest
import torch

from gsam_lab import sam
from gsam_lab.sam import loading, registry
from gsam_lab.sam.cnn_encoder import ConvImageEncoder


@pytest.fixture(scope="module")
def tiny(tiny_sam):
    return tiny_sam


@pytest.fixture()
def empty_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GSAM_LAB_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / "checkpoints"


def vit_shaped(embed_dim, depth, few=True):
    """A state dict with only the keys that identify a ViT SAM (stands in for Meta's files)."""
    sd = {"image_encoder.patch_embed.proj.weight": torch.zeros(embed_dim, 3, 16, 16),
          "image_encoder.pos_embed": torch.zeros(1, 64, 64, 1)}
    for i in range(depth):
        sd[f"image_encoder.blocks.{i}.norm1.weight"] = torch.zeros(1)
    return sd


def test_registry_lists_the_four_models():
    assert {"tiny-synth", "vit_b", "vit_l", "vit_h"} <= set(sam.list_sams())
    b = sam.get_spec("vit_b")
    assert b.filename == "sam_vit_b_01ec64.pth" and b.url.endswith(b.filename) and b.size_bytes == 375_042_383
    assert sam.get_spec("vit_h").filename == "sam_vit_h_4b8939.pth"
    assert sam.get_spec("vit_l").filename == "sam_vit_l_0b3195.pth"


def test_unknown_name_lists_known_names():
    with pytest.raises(ValueError, match="vit_b") as e:
        sam.load_sam("vit_q")
    assert "tiny-synth" in str(e.value) and not isinstance(e.value, sam.CheckpointError)


def test_random_init_is_seeded_and_has_real_decoder(tiny):
    again = sam.load_sam("tiny-synth", device="cpu", pretrained=False)
    other = sam.load_sam("tiny-synth", device="cpu", pretrained=False, seed=1)
    sd, sd2, sd3 = tiny.state_dict(), again.state_dict(), other.state_dict()
    assert all(torch.equal(sd[k], sd2[k]) for k in sd)
    assert not all(torch.equal(sd[k], sd3[k]) for k in sd)
    assert tiny.mask_decoder.transformer_dim == 256 and tiny.prompt_encoder.embed_dim == 256
    assert tiny.mask_decoder.num_multimask_outputs == 3
    assert tiny.image_encoder.img_size == 256 and tiny.prompt_encoder.image_embedding_size == (32, 32)
    n_dec = sum(p.numel() for p in tiny.mask_decoder.parameters())
    assert 4.0e6 < n_dec < 4.1e6  # real SAM's decoder (4.06M)


def test_infer_type_from_shapes(tiny):
    assert sam.infer_sam_type(tiny.state_dict()) == "tiny-synth"
    assert sam.infer_sam_type(vit_shaped(768, 12)) == "vit_b"
    assert sam.infer_sam_type(vit_shaped(1024, 24)) == "vit_l"
    assert sam.infer_sam_type(vit_shaped(1280, 32)) == "vit_h"
    with pytest.raises(sam.CheckpointError, match="matches no known"):
        sam.infer_sam_type(vit_shaped(768, 5))
    with pytest.raises(sam.CheckpointError, match="not a SAM checkpoint"):
        sam.infer_sam_type({"foo.weight": torch.zeros(2)})


def test_missing_bundled_weights_point_to_training_script(tmp_path, monkeypatch):
    monkeypatch.setattr(registry, "ASSETS_DIR", tmp_path)
    with pytest.raises(sam.CheckpointError, match="train_tiny_sam.py") as e:
        sam.load_sam("tiny-synth")
    assert str(tmp_path / "tiny_sam_synth.pt") in str(e.value)


def test_missing_meta_checkpoint_names_path_url_and_script(empty_cache):
    with pytest.raises(sam.CheckpointError) as e:
        sam.load_sam("vit_b")
    msg = str(e.value)
    assert str(empty_cache / "sam_vit_b_01ec64.pth") in msg
    assert "https://dl.fbaipublicfiles.com/segment_anything/sam_vit_b_01ec64.pth" in msg
    assert "download_checkpoints.py" in msg
    assert not (empty_cache / "sam_vit_b_01ec64.pth").exists()  # nothing downloaded


def test_corrupt_and_truncated_files(tmp_path, tiny, empty_cache):
    bad = tmp_path / "sam_vit_b_01ec64.pth"
    bad.write_bytes(b"<html>404 not found</html>")
    with pytest.raises(sam.CheckpointError, match="not a readable torch checkpoint") as e:
        sam.load_sam("vit_b", checkpoint=bad)
    assert "download_checkpoints.py" in str(e.value) and "375,042,383" in str(e.value)
    good = tmp_path / "tiny.pt"
    torch.save(tiny.state_dict(), good)
    cut = tmp_path / "cut.pt"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(sam.CheckpointError, match="corrupt or truncated"):
        sam.load_sam(cut)
    with pytest.raises(sam.CheckpointError, match="does not exist"):
        sam.load_sam(tmp_path / "nope.pth")
    notsd = tmp_path / "list.pt"
    torch.save([1, 2, 3], notsd)
    with pytest.raises(sam.CheckpointError, match="no model weights"):
        sam.load_sam(notsd)


def test_checkpoint_of_another_type(tmp_path, tiny):
    p = tmp_path / "tiny.pth"
    torch.save(tiny.state_dict(), p)
    with pytest.raises(sam.CheckpointError, match="is a 'tiny-synth' checkpoint, not 'vit_b'") as e:
        sam.load_sam("vit_b", checkpoint=p)
    assert "sam_vit_b_01ec64.pth" in str(e.value)
    fake_b = tmp_path / "fake_vit_b.pth"
    torch.save(vit_shaped(768, 12), fake_b)
    with pytest.raises(sam.CheckpointError, match="'vit_b' checkpoint, not 'tiny-synth'"):
        sam.load_sam("tiny-synth", checkpoint=fake_b)


def test_save_and_load_roundtrip_fp16(tmp_path, tiny):
    p = loading.save_tiny_checkpoint(tiny, tmp_path / "tiny_sam_synth.pt", meta={"note": "test"})
    raw = torch.load(p, weights_only=True)
    assert raw["format"] == loading.TINY_FORMAT
    assert raw["state_dict"]["mask_decoder.iou_token.weight"].dtype == torch.float16
    for src in (p, tmp_path):  # a file, or a folder holding the official file name
        m = sam.load_sam("tiny-synth", device="cpu", checkpoint=src)
        w = m.state_dict()["image_encoder.stem.0.0.weight"]
        assert w.dtype == torch.float32 and not m.training
        assert torch.equal(w, tiny.state_dict()["image_encoder.stem.0.0.weight"].half().float())
    bare = sam.load_sam(str(p), device="cpu")
    assert isinstance(bare, type(tiny))
    with pytest.raises(ValueError, match="not both"):
        sam.load_sam(str(p), checkpoint=p)


def test_tiny_weights_are_recognised_by_their_encoder_and_must_fit(tmp_path, tiny):
    p = loading.save_tiny_checkpoint(tiny, tmp_path / "tiny.pt")
    assert sam.infer_sam_type(loading.read_state_dict(p)) == "tiny-synth"
    assert isinstance(sam.load_sam(str(p), device="cpu").image_encoder, ConvImageEncoder)
    broken = {k: v for k, v in tiny.state_dict().items() if not k.startswith("image_encoder.stage16.")}
    torch.save(broken, tmp_path / "broken.pth")
    with pytest.raises(sam.CheckpointError, match="do not fit"):
        sam.load_sam(str(tmp_path / "broken.pth"), device="cpu")


def test_device_auto_resolves(tiny):
    m = sam.load_sam("tiny-synth", pretrained=False)
    from gsam_lab.utils import resolve_device
    assert m.device.type == resolve_device("auto").type


def test_every_row_builds_from_a_seed_alone(monkeypatch):
    """One ``build(seed)`` for every row: Meta's builders get their random weights from the seed too, and
    the caller's random state is left as it was (a small stand-in builder replaces ViT-B's, 91M parameters)."""
    monkeypatch.setitem(registry.sam_model_registry, "vit_b", lambda: torch.nn.Linear(4, 4))
    build = registry.meta_builder("vit_b")
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a, b, c = build(0), build(0), build(1)
    assert torch.equal(torch.rand(1), before)                 # the global random state is untouched
    assert torch.equal(a.weight, b.weight) and not torch.equal(a.weight, c.weight)
    for spec in sam.SAM_MODELS.values():
        assert spec.location().name == spec.filename and isinstance(spec.present(), bool)


def test_an_empty_name_is_refused_naming_the_models():
    with pytest.raises(ValueError, match="empty.*tiny-synth"):
        sam.load_sam("")
