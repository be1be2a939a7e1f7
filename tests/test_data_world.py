"""The procedural street world: determinism, layout, parameters."""
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gsam_lab.data import CLASSES, World, make_world, render_panorama
from gsam_lab.data.world import DEFAULT_SCENE


def _flat(w: World):
    return [getattr(getattr(w, g), f) for g in w.groups for f in ("params", "cls", "inst", "material", "color", "tex")]


def test_same_seed_same_world_and_different_seeds_differ():
    a, b, c = make_world(3), make_world(3), make_world(4)
    assert all(torch.equal(x, y) for x, y in zip(_flat(a), _flat(b)))
    assert a.params == b.params and a.look == b.look and a.ground == b.ground
    same_shape = a.boxes.params.shape == c.boxes.params.shape
    assert a.params != c.params or not same_shape or not torch.equal(a.boxes.params, c.boxes.params)


def test_instances_are_unique_objects_with_one_class():
    w = make_world(0)
    cls_of = {}
    for g in w.groups:
        p = getattr(w, g)
        for inst, cls in zip(p.inst.tolist(), p.cls.tolist()):
            if inst == 0:
                assert CLASSES[cls] in ("road", "sidewalk", "terrain", "sky")
            else:
                assert cls_of.setdefault(inst, cls) == cls
                assert int(w.instance_class[inst]) == cls
    assert w.n_instances >= 30
    n_of = lambda name: sum(1 for c in cls_of.values() if CLASSES[c] == name)   # noqa: E731
    assert n_of("car") == DEFAULT_SCENE["n_cars"] and n_of("person") == DEFAULT_SCENE["n_persons"]
    assert n_of("pole") == DEFAULT_SCENE["n_poles"]


def test_camera_height_and_near_objects():
    w = make_world(1, camera_height=2.0)
    assert w.ground.y == pytest.approx(-2.0)
    assert w.ground.road_x0 < 0 < w.ground.road_x1          # camera stands on the road
    centres, _ = w.boxes.bounding_spheres()
    cars = w.boxes.cls == CLASSES.index("car")
    assert centres[cars][:, [0, 2]].norm(dim=1).min() < 8.0   # a car close to the camera


def test_parameters_are_validated():
    with pytest.raises(TypeError, match="unknown scene parameter"):
        make_world(0, n_carz=3)
    with pytest.raises(ValueError, match="n_cars"):
        make_world(0, n_cars=-1)
    with pytest.raises(ValueError, match="road_width"):
        make_world(0, road_width=1000.0)
    with pytest.raises(ValueError, match="seed"):
        make_world(-1)
    w = make_world(0, n_cars=0, n_persons=0, n_poles=0, n_trees=0, n_bushes=0, road_width=8.0, crossing=True)
    assert w.params["road_width"] == 8.0 and w.params["crossing"] is True
    assert not (w.boxes.cls == CLASSES.index("car")).any()


def test_world_moves_between_devices():
    w = make_world(0)
    assert w.to("cpu") is w
    assert w.device.type == "cpu"


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2 ** 50), road=st.floats(3, 40), side=st.floats(0.5, 15), terrain=st.floats(0, 30),
       length=st.floats(30, 1000), height=st.floats(0.2, 20), crossing=st.booleans(), n=st.integers(0, 25))
def test_any_valid_parameters_give_a_consistent_world(seed, road, side, terrain, length, height, crossing, n):
    w = make_world(seed, road_width=road, sidewalk_width=side, terrain_width=terrain, street_length=length,
                   camera_height=height, crossing=crossing, n_cars=n, n_persons=n, n_poles=n, n_trees=n, n_bushes=n)
    for g in w.groups:
        p = getattr(w, g)
        assert torch.isfinite(p.params).all() and (p.inst < len(w.instance_class)).all()
        if len(p) and p.kind != "cylinder":
            assert (p.params[:, 3:6] > 0).all()
    r = render_panorama(w, 16, 32)
    assert (r["instance"][r["semantic"] == CLASSES.index("sky")] == 0).all()
    assert r["depth"][-1].min() == pytest.approx(height, rel=0.05)   # straight down: the ground
