"""The class table of the synthetic street world and its link to Cityscapes / DensePASS.

``CLASSES`` keeps the order in which these classes appear among Cityscapes' 19 train ids, so a
Cityscapes-trained model's logits can be reduced to ours by picking rows (see
``CITYSCAPES_TO_SYNTH``). Class ids are positions in ``CLASSES`` (0..K-1, K = 9);
``IGNORE_INDEX`` (255) marks pixels that carry no label.
"""
from __future__ import annotations

from typing import Dict, Tuple

import numpy as np

__all__ = [
    "CLASSES", "NUM_CLASSES", "PALETTE", "IGNORE_INDEX", "CITYSCAPES_CLASSES", "CITYSCAPES_TO_SYNTH",
    "STUFF_CLASSES", "THING_CLASSES", "cityscapes_to_synth_lut", "colorize",
]

#: Our classes, ordered as in Cityscapes' train ids (0 road, 1 sidewalk, 2 building, 5 pole,
#: 8 vegetation, 9 terrain, 10 sky, 11 person, 13 car).
CLASSES: Tuple[str, ...] = ("road", "sidewalk", "building", "pole", "vegetation", "terrain", "sky", "person", "car")
NUM_CLASSES: int = len(CLASSES)

#: Label value meaning "no label here" (losses and metrics skip it).
IGNORE_INDEX: int = 255

#: ``K x 3`` uint8, the official Cityscapes colours of our classes (row k = colour of ``CLASSES[k]``).
PALETTE: np.ndarray = np.array([
    (128, 64, 128),   # road
    (244, 35, 232),   # sidewalk
    (70, 70, 70),     # building
    (153, 153, 153),  # pole
    (107, 142, 35),   # vegetation
    (152, 251, 152),  # terrain
    (70, 130, 180),   # sky
    (220, 20, 60),    # person
    (0, 0, 142),      # car
], dtype=np.uint8)
PALETTE.setflags(write=False)

#: Cityscapes' 19 evaluation classes in train-id order (0..18).
CITYSCAPES_CLASSES: Tuple[str, ...] = (
    "road", "sidewalk", "building", "wall", "fence", "pole", "traffic light", "traffic sign",
    "vegetation", "terrain", "sky", "person", "rider", "car", "truck", "bus", "train",
    "motorcycle", "bicycle",
)

_C = {name: i for i, name in enumerate(CLASSES)}

#: Cityscapes train id (0..18) -> our class id, or ``IGNORE_INDEX``. Choices:
#:
#: - road, sidewalk, building, pole, vegetation, terrain, sky, person, car: the same class.
#: - wall -> building: a free-standing wall is a vertical man-made surface; our world has no walls
#:   and a TA trained on our renders sees such surfaces only on buildings.
#: - fence -> ignore: thin and see-through, with no counterpart in our world; forcing it into
#:   building or pole would make the ground truth argue with the image.
#: - traffic light, traffic sign -> pole: in street scenes they hang on poles and are small; our
#:   street lights (pole + arm + lamp) are all labelled pole, so this is the closest class.
#: - rider -> person: a person on a vehicle is still a person.
#: - truck, bus, train -> car: large road vehicles; our "car" class is "road vehicle" in spirit.
#: - motorcycle, bicycle -> ignore: thin two-wheelers (whose riders are labelled rider) resemble
#:   neither our cars nor our persons.
CITYSCAPES_TO_SYNTH: Dict[int, int] = {
    0: _C["road"], 1: _C["sidewalk"], 2: _C["building"], 3: _C["building"], 4: IGNORE_INDEX,
    5: _C["pole"], 6: _C["pole"], 7: _C["pole"], 8: _C["vegetation"], 9: _C["terrain"],
    10: _C["sky"], 11: _C["person"], 12: _C["person"], 13: _C["car"], 14: _C["car"], 15: _C["car"],
    16: _C["car"], 17: IGNORE_INDEX, 18: IGNORE_INDEX,
}

#: Classes rendered as amorphous regions with instance id 0 (no objects to count).
STUFF_CLASSES: Tuple[str, ...] = ("road", "sidewalk", "terrain", "sky")
#: Classes whose every object carries its own instance id > 0 in our renders. Note: this is wider
#: than Cityscapes' "thing" set (person, car, ...): buildings, poles and plants are also separate
#: objects here, which is what SAM's class-agnostic masks see.
THING_CLASSES: Tuple[str, ...] = ("building", "pole", "vegetation", "person", "car")


def cityscapes_to_synth_lut() -> np.ndarray:
    """A 256-entry uint8 lookup table: ``lut[train_id] -> our id``; every other value -> 255."""
    lut = np.full(256, IGNORE_INDEX, dtype=np.uint8)
    for k, v in CITYSCAPES_TO_SYNTH.items():
        lut[k] = v
    return lut


def colorize(semantic: np.ndarray, palette: np.ndarray = PALETTE) -> np.ndarray:
    """``H x W`` integer labels -> ``H x W x 3`` uint8 colours; ``IGNORE_INDEX`` (or any id outside
    the palette) is drawn black."""
    sem = np.asarray(semantic)
    out = np.zeros(sem.shape + (3,), dtype=np.uint8)
    ok = (sem >= 0) & (sem < len(palette))
    out[ok] = palette[sem[ok]]
    return out
