"""The street worlds of a few seeds, pinned: every primitive, instance, ground and look value.

``tests/fixtures/pinned_worlds.json`` was written by this file's ``__main__`` from the world
generator as it stood when the fixture was made. Any change to the layout code that draws random
numbers in another order, or computes a pose or size differently, changes these worlds (and every
cached render and trained asset built on them) and fails this test.

Comparison: ints (classes, instance ids, materials, counts) exactly; floats within 1e-9. Primitive
tensors are float32, so the fixture stores each of their values as the shortest decimal that reads
back as the same float32; the test reads it back that way before comparing.

To re-pin on purpose (a change of the world that is meant): ``python tests/test_data_world_pinned.py``.
"""
import json
import math
from pathlib import Path

import numpy as np
import pytest

from gsam_lab.data import make_world, world_seed

FIXTURE = Path(__file__).parent / "fixtures" / "pinned_worlds.json"
FLOAT_TOL = 1e-9
TENSOR_FIELDS = ("params", "color", "tex")   # float32 per primitive; cls, inst, material are int64

#: (seed, scene parameters) of the pinned worlds: default scenes of a few seeds, a test-split
#: world, and one scene with a narrow sidewalk, a forced crossing and no near objects.
CASES = [
    (0, {}),
    (1, {}),
    (7, {}),
    (123, {}),
    (world_seed("test", 0, 3), {}),
    (2, {"sidewalk_width": 0.6, "crossing": True, "near_objects": False, "n_bushes": 10}),
]


def _f32(x: float) -> float:
    """The shortest decimal that reads back as the float32 ``x``."""
    return float(str(np.float32(x)))


def snapshot(world, shortest: bool = True) -> dict:
    """Everything a world holds, as plain JSON values (primitive rows: cls, inst, material, then
    the float32 values of params, color and tex: as shortest decimals, or with ``shortest=False``
    exactly, as float64)."""
    as_float = _f32 if shortest else float
    out = {"seed": world.seed, "params": dict(world.params), "camera_height": world.camera_height,
           "ground": {k: list(v) if isinstance(v, tuple) else v for k, v in vars(world.ground).items()},
           "look": {k: list(v) if isinstance(v, tuple) else v for k, v in vars(world.look).items()},
           "instance_class": world.instance_class.tolist()}
    for g in world.groups:
        p = getattr(world, g)
        ints = zip(p.cls.tolist(), p.inst.tolist(), p.material.tolist())
        floats = zip(*(getattr(p, f).tolist() for f in TENSOR_FIELDS))
        out[g] = [[*i, *(as_float(v) for part in f for v in part)] for i, f in zip(ints, floats)]
    return out


def _compare(expected, actual, path: str, float32: bool = False):
    """Assert ``actual == expected`` (ints, bools, strings exactly; floats within FLOAT_TOL)."""
    if isinstance(expected, dict):
        assert isinstance(actual, dict) and sorted(actual) == sorted(expected), path
        for k in expected:
            _compare(expected[k], actual[k], f"{path}.{k}", float32)
    elif isinstance(expected, list):
        assert isinstance(actual, (list, tuple)) and len(actual) == len(expected), f"{path}: length"
        for i, (e, a) in enumerate(zip(expected, actual)):
            _compare(e, a, f"{path}[{i}]", float32)
    elif isinstance(expected, float):
        want = float(np.float32(expected)) if float32 else expected
        assert isinstance(actual, float) and math.isclose(actual, want, rel_tol=0, abs_tol=FLOAT_TOL), \
            f"{path}: {actual!r} != {want!r}"
    else:
        assert type(actual) is type(expected) and actual == expected, f"{path}: {actual!r} != {expected!r}"


@pytest.fixture(scope="module")
def pinned():
    return json.loads(FIXTURE.read_text())


@pytest.mark.parametrize("seed,scene", CASES, ids=[f"seed{s}" + ("-scene" if p else "") for s, p in CASES])
def test_world_is_pinned(pinned, seed, scene):
    case = next(c for c in pinned if c["seed"] == seed and c["scene"] == scene)
    world = make_world(seed, **scene)
    expected, actual = case["world"], snapshot(world, shortest=False)
    for key in expected:
        _compare(expected[key], actual[key], key, float32=key in world.groups)
    assert sorted(actual) == sorted(expected)


def test_fixture_covers_every_case(pinned):
    assert [(c["seed"], c["scene"]) for c in pinned] == [(s, p) for s, p in CASES]


if __name__ == "__main__":
    cases = [{"seed": s, "scene": p, "world": snapshot(make_world(s, **p))} for s, p in CASES]
    FIXTURE.parent.mkdir(exist_ok=True)
    # one world per line: compact, and a re-pin shows which worlds changed
    FIXTURE.write_text("[\n" + ",\n".join(json.dumps(c, separators=(",", ":")) for c in cases) + "\n]\n")
    print(f"wrote {FIXTURE} ({FIXTURE.stat().st_size // 1024} KiB, {len(cases)} worlds)")
