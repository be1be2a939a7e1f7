"""Stand-ins in the real formats of the full profile's files, made by the tests (never committed).

The full profile reads files this machine cannot download: Meta's SAM checkpoints, Hugging Face
SegFormers fine-tuned on Cityscapes, and DensePASS. The helpers here write files in exactly those
formats, with random weights and synthetic pixels, so the full path's loading code runs unchanged:

- :func:`make_meta_sam_checkpoint`: ``segment_anything.sam_model_registry["vit_b"]()`` with seeded
  random weights, saved as Meta's checkpoints are (``torch.save(model.state_dict(), path)``);
- :func:`make_segformer_folder`: a ``save_pretrained`` folder of a ``SegformerForSemanticSegmentation``
  with Cityscapes' 19 classes in ``id2label``, like ``nvidia/segformer-b5-finetuned-cityscapes-1024-1024``
  but with small hidden sizes and depths (same config class and loading code as B5);
- :func:`make_densepass_zip` + ``data_scripts/prepare_densepass.py``: a ``.zip`` holding synthetic
  renders at DensePASS' 400 x 2048 (a ±35° latitude band) with Cityscapes train-id labels, turned into
  the folder ``data.FolderDataset(root, "densepass")`` reads.

The session fixtures (``meta_sam_checkpoint``, ``cityscapes_ta_folder``, ``densepass_root``) build each
file once per test session in a temporary folder.
"""
from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Sequence, Tuple

import numpy as np
import pytest
import torch
from datascripts import load_script
from PIL import Image

#: DensePASS' image size (a ±35° latitude band of a 2048-wide panorama)
DENSEPASS_HW: Tuple[int, int] = (400, 2048)

#: a SegFormer of the B0-B5 family: B1-B5's widths (64/128/320/512) with one block per stage (B5: 3/6/40/3),
#: ~7M parameters: cheap on a CPU, yet larger than the B0 student (3.7M), as GoodSAM's TA is
TINY_SEGFORMER = dict(hidden_sizes=[64, 128, 320, 512], depths=[1, 1, 1, 1], num_attention_heads=[1, 2, 5, 8],
                      decoder_hidden_size=256, sr_ratios=[8, 4, 2, 1])


def make_meta_sam_checkpoint(path: Path, seed: int = 0) -> Path:
    """A Meta-format ``vit_b`` checkpoint (a plain state dict) with seeded random weights."""
    from segment_anything import sam_model_registry

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = sam_model_registry["vit_b"]()
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), path)
    return path


def make_segformer_folder(path: Path, seed: int = 0, arch: dict = TINY_SEGFORMER, sharpen: float = 60.0) -> Path:
    """A Hugging Face ``save_pretrained`` folder: SegFormer with Cityscapes' 19 classes, random weights.

    ``sharpen`` scales the classifier so the random TA is *confident* (peaked softmax), as a trained one
    is: DAR then keeps pixels above its confidence threshold and the students' CE term has labels.
    """
    from transformers import SegformerConfig, SegformerForSemanticSegmentation

    from gsam_lab.data.classes import CITYSCAPES_CLASSES

    id2label = {i: name for i, name in enumerate(CITYSCAPES_CLASSES)}
    cfg = SegformerConfig(**arch, num_labels=len(id2label), id2label=id2label,
                          label2id={v: k for k, v in id2label.items()}, semantic_loss_ignore_index=255)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = SegformerForSemanticSegmentation(cfg)
    with torch.no_grad():
        model.decode_head.classifier.weight.mul_(sharpen)
        model.decode_head.classifier.bias.normal_(0.0, 1.0)
    model.save_pretrained(path)
    return path


def synth_to_cityscapes_train_ids(semantic: np.ndarray) -> np.ndarray:
    """Synthetic class ids (``data.CLASSES``) -> Cityscapes train ids (same names), 255 kept."""
    from gsam_lab.data.classes import CITYSCAPES_CLASSES, CLASSES

    lut = np.full(256, 255, dtype=np.uint8)
    for k, name in enumerate(CLASSES):
        lut[k] = CITYSCAPES_CLASSES.index(name)
    return lut[semantic.astype(np.uint8)]


def densepass_band(n: int, split: str = "val", seed: int = 0, hw: Sequence[int] = DENSEPASS_HW):
    """``n`` (image H x W x 3 uint8, Cityscapes train-id label H x W) pairs: the ±35° band of synthetic
    panoramas, resized to ``hw`` (DensePASS: 400 x 2048)."""
    from gsam_lab import data

    h, w = hw
    src = data.SyntheticPanoramas(split, n, (256, 512), seed=seed)
    out = []
    for i in range(n):
        item = src[i]
        eh = item["image"].shape[-2]
        band = int(round(eh * 70 / 180))                 # rows within ±35° latitude
        top = (eh - band) // 2
        img = (item["image"][:, top:top + band].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
        sem = item["semantic"][top:top + band].numpy().astype(np.uint8)
        img = np.asarray(Image.fromarray(img).resize((w, h), Image.BILINEAR))
        sem = np.asarray(Image.fromarray(sem).resize((w, h), Image.NEAREST))
        out.append((img, synth_to_cityscapes_train_ids(sem)))
    return out


def make_densepass_zip(path: Path, n_val: int = 2, n_unlabelled: int = 1, seed: int = 0) -> Path:
    """A ``.zip`` laid out like the DensePASS download: labelled ``val`` panoramas
    (``<stem>_labelTrainIds.png``) and unlabelled ones, 400 x 2048 PNGs."""
    import io

    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as z:
        def put(name, arr):
            buf = io.BytesIO()
            Image.fromarray(arr).save(buf, format="PNG")
            z.writestr(name, buf.getvalue())
        for i, (img, lab) in enumerate(densepass_band(n_val, "val", seed)):
            put(f"DensePASS/leftImg8bit/val/pano{i:03d}_leftImg8bit.png", img)
            put(f"DensePASS/gtFine/val/pano{i:03d}_labelTrainIds.png", lab)
        for i, (img, _) in enumerate(densepass_band(n_unlabelled, "train", seed)):
            put(f"DensePASS/leftImg8bit/train/train{i:03d}_leftImg8bit.png", img)
    return path


def prepare_densepass(src: Path, out: Path) -> dict:
    """``data_scripts/prepare_densepass.py --src src --out out`` (the script a GPU user runs)."""
    return load_script("prepare_densepass", "prepare_densepass").main(["--src", str(src), "--out", str(out)])


# ----------------------------------------------------------------------------------------------
# session fixtures (imported by tests/conftest.py)
# ----------------------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def standin_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("standins")


@pytest.fixture(scope="session")
def meta_sam_checkpoint(standin_dir) -> Path:
    """A Meta-format SAM ViT-B checkpoint (seeded random weights) named like Meta's file."""
    return make_meta_sam_checkpoint(standin_dir / "sam_vit_b_01ec64.pth")


@pytest.fixture(scope="session")
def cityscapes_ta_folder(standin_dir) -> Path:
    """A ``save_pretrained`` SegFormer folder with Cityscapes' 19 classes (the TA's format)."""
    return make_segformer_folder(standin_dir / "segformer-cityscapes-ta", seed=0)


@pytest.fixture(scope="session")
def densepass_root(standin_dir) -> Path:
    """A DensePASS folder made by ``data_scripts/prepare_densepass.py`` from a zip of 400 x 2048 renders."""
    src = make_densepass_zip(standin_dir / "DensePASS.zip", n_val=2, n_unlabelled=1)
    out = standin_dir / "DensePASS"
    stats = prepare_densepass(src, out)
    assert stats == {"images": 3, "labels": 2, "skipped_same": 0}, stats
    return out
