import numpy as np
import pytest
import torch

from gsam_lab import data


def test_connected_regions_of_thing_classes_become_objects():
    car, person, road = data.CLASSES.index("car"), data.CLASSES.index("person"), data.CLASSES.index("road")
    sem = np.full((20, 30), road, np.int64)
    sem[2:6, 2:8] = car          # car region 1
    sem[10:15, 20:28] = car      # car region 2
    sem[12:18, 2:5] = person     # person
    sem[0, 29] = car             # 1-pixel speck, dropped by min_area
    inst = data.things_as_instances(torch.as_tensor(sem), min_area=4)
    assert inst.dtype == np.int64 and inst.shape == sem.shape
    assert set(np.unique(inst)) == {0, 1, 2, 3}
    assert (inst[sem == road] == 0).all() and inst[0, 29] == 0
    # each object is one class and one region
    for o in (1, 2, 3):
        assert len(np.unique(sem[inst == o])) == 1
    assert inst[3, 3] != inst[11, 21]


def test_diagonal_pixels_are_connected_and_bad_input_is_named():
    sem = np.zeros((5, 5), np.int64)
    pole = data.CLASSES.index("pole")
    for i in range(5):
        sem[i, i] = pole
    inst = data.things_as_instances(sem, things=("pole",), min_area=1)
    assert inst.max() == 1 and (inst > 0).sum() == 5
    with pytest.raises(ValueError, match="unknown thing class"):
        data.things_as_instances(sem, things=("bicycle",))
    with pytest.raises(ValueError, match="H x W array of integer"):
        data.things_as_instances(sem.astype(float))
