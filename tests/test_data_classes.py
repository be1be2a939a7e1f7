"""Class table, palette and the Cityscapes -> synthetic mapping."""
import numpy as np

from gsam_lab.data import CITYSCAPES_TO_SYNTH, CLASSES, IGNORE_INDEX, PALETTE, STUFF_CLASSES, THING_CLASSES
from gsam_lab.data.classes import CITYSCAPES_CLASSES, cityscapes_to_synth_lut, colorize


def test_classes_follow_cityscapes_order():
    ids = [CITYSCAPES_CLASSES.index(c) for c in CLASSES]
    assert ids == sorted(ids)
    assert len(set(CLASSES)) == len(CLASSES) == 9


def test_palette_is_cityscapes_colours():
    assert PALETTE.shape == (len(CLASSES), 3) and PALETTE.dtype == np.uint8
    assert tuple(PALETTE[CLASSES.index("road")]) == (128, 64, 128)
    assert tuple(PALETTE[CLASSES.index("car")]) == (0, 0, 142)
    assert len({tuple(c) for c in PALETTE}) == len(CLASSES)


def test_cityscapes_mapping_covers_all_train_ids():
    assert set(CITYSCAPES_TO_SYNTH) == set(range(19))
    for cs, ours in CITYSCAPES_TO_SYNTH.items():
        assert ours == IGNORE_INDEX or 0 <= ours < len(CLASSES)
        if CITYSCAPES_CLASSES[cs] in CLASSES:       # same-named classes map to themselves
            assert CLASSES[ours] == CITYSCAPES_CLASSES[cs]
    c = {n: i for i, n in enumerate(CITYSCAPES_CLASSES)}
    assert CLASSES[CITYSCAPES_TO_SYNTH[c["rider"]]] == "person"
    assert CLASSES[CITYSCAPES_TO_SYNTH[c["truck"]]] == "car" and CLASSES[CITYSCAPES_TO_SYNTH[c["bus"]]] == "car"
    assert CITYSCAPES_TO_SYNTH[c["bicycle"]] == IGNORE_INDEX
    lut = cityscapes_to_synth_lut()
    assert lut.shape == (256,) and lut[255] == IGNORE_INDEX and lut[13] == CLASSES.index("car")


def test_stuff_and_things_partition_classes():
    assert set(STUFF_CLASSES) | set(THING_CLASSES) == set(CLASSES)
    assert not set(STUFF_CLASSES) & set(THING_CLASSES)


def test_colorize_marks_ignore_black():
    sem = np.array([[0, 8], [IGNORE_INDEX, 6]])
    rgb = colorize(sem)
    assert rgb.shape == (2, 2, 3) and tuple(rgb[1, 0]) == (0, 0, 0) and tuple(rgb[0, 1]) == tuple(PALETTE[8])
