"""A seeded procedural street world (DensePASS-like: an outdoor street seen from a car's roof).

Frame: the package's world frame (x right/east, y up, z forward, see ``gsam_lab.panorama.sphere``),
metres. The camera sits at the origin, ``camera_height`` above the ground plane ``y = -camera_height``,
in a lane of a road that runs along z. Layout, from the road outwards on both sides::

    road (x in [road_x0, road_x1], lane markings) | kerb + sidewalk (raised boxes) |
    terrain strip (grass on the ground plane) | a row of building blocks with gaps | a taller back row

The street is closed by buildings at ``z = +-street_length/2``; an optional crossing street runs
along x at ``z = crossing_z``. Objects: cars (body box + cabin box; parked at the kerbs, driving in
lanes, on the crossing, a few turned by arbitrary yaw), persons (two leg cylinders, torso cylinder,
two arm cylinders, head sphere) on the sidewalks and crossing the road, poles (plain, with a sign
plate, or street lights with an arm and a lamp, all labelled pole), trees (trunk cylinder + crown
ellipsoids, all vegetation) and bushes/hedges (ellipsoids, boxes). With ``near_objects`` a car,
a person, a pole and a tree are placed within a few metres of the camera, so that they appear
large and strongly distorted near the panorama's sides and poles. Sky is the background.

The street is drawn by :func:`~gsam_lab.data.street.describe_street`, each kind of object by one
``place_*`` function of ``gsam_lab.data.placement``; :func:`make_world` calls them in a fixed order.

Every object (building, car, person, pole, tree, bush) has its own instance id > 0; road,
sidewalk, terrain and sky are stuff (instance 0). Primitives are grouped by type
(:class:`Primitives`: box, ellipsoid, cylinder) as torch tensors so that the ray caster handles each
type in one vectorised call.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Dict, Tuple

import numpy as np
import torch

from .appearance_params import Look, sample_look
from .placement import (
    place_buildings,
    place_bushes,
    place_cars,
    place_persons,
    place_poles,
    place_sidewalks,
    place_trees,
)
from .street import Builder, Street, describe_street

__all__ = ["World", "Primitives", "Ground", "make_world", "DEFAULT_SCENE", "PARAM_COLS"]

#: Columns of ``Primitives.params`` per primitive type.
PARAM_COLS: Dict[str, Tuple[str, ...]] = {
    "box": ("cx", "cy", "cz", "hx", "hy", "hz", "yaw"),          # centre, half sizes, yaw about +y (rad)
    "ellipsoid": ("cx", "cy", "cz", "rx", "ry", "rz", "yaw"),    # centre, semi-axes, yaw about +y (rad)
    "cylinder": ("cx", "cz", "y0", "y1", "r"),                   # vertical axis at (cx, cz), y0 < y < y1
}

#: Scene parameters and their defaults (``None`` = drawn from the seed).
DEFAULT_SCENE: Dict[str, object] = {
    "camera_height": 1.6,      # m above the ground, in (0.2, 20]
    "road_width": None,        # m, None -> U(6, 14); allowed [3, 40]
    "sidewalk_width": None,    # m, None -> U(1.5, 4); allowed [0.5, 15]
    "terrain_width": None,     # m grass strip between sidewalk and buildings, None -> U(0, 4); [0, 30]
    "street_length": 140.0,    # m, street spans z in [-L/2, L/2]; allowed [30, 1000]
    "crossing": None,          # bool, None -> random (p = 0.5)
    "n_cars": 10,
    "n_persons": 8,
    "n_poles": 8,
    "n_trees": 6,
    "n_bushes": 4,
    "near_objects": True,      # put a car, person, pole and tree within a few metres of the camera
}


@dataclass
class Primitives:
    """One primitive type, P primitives, all torch tensors on one device.

    params: ``P x K`` float32 (columns ``PARAM_COLS[kind]``); cls, inst, material: ``P`` int64;
    color: ``P x 3`` float32 base albedo in [0,1]; tex: ``P x 4`` float32 material parameters.
    """
    kind: str
    params: torch.Tensor
    cls: torch.Tensor
    inst: torch.Tensor
    material: torch.Tensor
    color: torch.Tensor
    tex: torch.Tensor

    def __len__(self) -> int:
        return int(self.params.shape[0])

    def to(self, device) -> "Primitives":
        return Primitives(self.kind, *(getattr(self, f).to(device) for f in
                                       ("params", "cls", "inst", "material", "color", "tex")))

    def bounding_spheres(self) -> Tuple[torch.Tensor, torch.Tensor]:
        """Centres ``P x 3`` and radii ``P`` of spheres that contain each primitive."""
        p = self.params
        if self.kind in ("box", "ellipsoid"):
            return p[:, 0:3], p[:, 3:6].norm(dim=1)
        c = torch.stack((p[:, 0], 0.5 * (p[:, 2] + p[:, 3]), p[:, 1]), 1)
        return c, torch.sqrt(p[:, 4] ** 2 + (0.5 * (p[:, 3] - p[:, 2])) ** 2)


@dataclass(frozen=True)
class Ground:
    """The ground plane ``y = y``: road where ``road_x0 <= x <= road_x1`` or (with a crossing)
    ``cross_z0 <= z <= cross_z1``, terrain elsewhere. Colours are RGB in [0,1]; ``lane_x`` are the
    x positions of the dashed lane lines of the main road, ``edge_x`` of its solid edge lines."""
    y: float
    road_x0: float
    road_x1: float
    crossing: bool
    cross_z0: float
    cross_z1: float
    asphalt: Tuple[float, float, float]
    grass: Tuple[float, float, float]
    marking: Tuple[float, float, float]
    lane_x: Tuple[float, ...]
    edge_x: Tuple[float, float]


@dataclass
class World:
    """A seeded street scene. ``boxes``, ``ellipsoids``, ``cylinders``: :class:`Primitives`;
    ``ground``: :class:`Ground`; ``look``: :class:`Look`; ``instance_class``: ``N+1`` int64 tensor,
    class id of each instance id (index 0 = stuff, value 255); ``params``: the resolved scene
    parameters (every ``None`` replaced by its drawn value)."""
    seed: int
    params: Dict[str, object]
    camera_height: float
    boxes: Primitives
    ellipsoids: Primitives
    cylinders: Primitives
    ground: Ground
    look: Look
    instance_class: torch.Tensor
    groups: Tuple[str, ...] = field(default=("boxes", "ellipsoids", "cylinders"))

    @property
    def n_instances(self) -> int:
        return int(self.instance_class.shape[0]) - 1

    @property
    def n_primitives(self) -> int:
        return sum(len(getattr(self, g)) for g in self.groups)

    @property
    def device(self) -> torch.device:
        return self.boxes.params.device

    def to(self, device) -> "World":
        """A copy with every tensor on ``device`` (``self`` if already there)."""
        device = torch.device(device)
        if self.device == device:
            return self
        return replace(self, boxes=self.boxes.to(device), ellipsoids=self.ellipsoids.to(device),
                       cylinders=self.cylinders.to(device), instance_class=self.instance_class.to(device))


# ----------------------------------------------------------------------------------------------
# scene parameters
# ----------------------------------------------------------------------------------------------

_RANGES = {"camera_height": (0.2, 20.0), "road_width": (3.0, 40.0), "sidewalk_width": (0.5, 15.0),
           "terrain_width": (0.0, 30.0), "street_length": (30.0, 1000.0)}
_COUNTS = ("n_cars", "n_persons", "n_poles", "n_trees", "n_bushes")
_MAX_COUNT = 200


def _resolve_params(rng: np.random.Generator, scene: Dict[str, object]) -> Dict[str, object]:
    unknown = sorted(set(scene) - set(DEFAULT_SCENE))
    if unknown:
        raise TypeError(f"unknown scene parameter(s) {unknown}; valid ones: {sorted(DEFAULT_SCENE)}")
    p = dict(DEFAULT_SCENE)
    p.update(scene)
    for k in _COUNTS:
        v = p[k]
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not 0 <= int(v) <= _MAX_COUNT:
            raise ValueError(f"{k} must be an int in [0, {_MAX_COUNT}], got {v!r}")
        p[k] = int(v)
    for k, (lo, hi) in _RANGES.items():
        v = p[k]
        if v is None:
            continue
        if isinstance(v, bool) or not isinstance(v, (int, float, np.floating, np.integer)) or not lo <= float(v) <= hi:
            raise ValueError(f"{k} must be a number in [{lo}, {hi}] (metres) or None, got {v!r}")
        p[k] = float(v)
    for k in ("crossing", "near_objects"):
        if p[k] is not None and not isinstance(p[k], (bool, np.bool_)):
            raise ValueError(f"{k} must be True, False{' or None' if k == 'crossing' else ''}, got {p[k]!r}")
    if p["near_objects"] is None:
        raise ValueError("near_objects must be True or False, got None")
    # draw the unspecified ones (always consume the same random numbers, whatever was given)
    draws = {"road_width": rng.uniform(6, 14), "sidewalk_width": rng.uniform(1.5, 4.0),
             "terrain_width": rng.uniform(0, 4) * (rng.random() < 0.7), "crossing": bool(rng.random() < 0.5)}
    for k, v in draws.items():
        if p[k] is None:
            p[k] = float(v) if k != "crossing" else v
    p["crossing"] = bool(p["crossing"])
    p["near_objects"] = bool(p["near_objects"])
    return p


# ----------------------------------------------------------------------------------------------
# the world
# ----------------------------------------------------------------------------------------------

def _primitives(kind: str, rows: list) -> Primitives:
    """Stack the ``Builder`` rows of one primitive type into a :class:`Primitives` (CPU tensors)."""
    if not rows:
        z = torch.zeros
        return Primitives(kind, z(0, len(PARAM_COLS[kind])), z(0, dtype=torch.int64), z(0, dtype=torch.int64),
                          z(0, dtype=torch.int64), z(0, 3), z(0, 4))
    params, cls, inst, mat, col, tex = zip(*rows)
    t = torch.tensor
    return Primitives(kind, t(params, dtype=torch.float32), t(cls, dtype=torch.int64), t(inst, dtype=torch.int64),
                      t(mat, dtype=torch.int64), t(col, dtype=torch.float32), t(tex, dtype=torch.float32))


def _ground(street: Street) -> Ground:
    """The ground plane of ``street``, as the renderer reads it."""
    s = street
    return Ground(y=s.ground_y, road_x0=s.road_x0, road_x1=s.road_x1, crossing=s.crossing, cross_z0=s.cross_z0,
                  cross_z1=s.cross_z1, asphalt=s.asphalt, grass=s.grass, marking=s.marking, lane_x=s.lane_lines,
                  edge_x=(s.road_x0 + 0.3, s.road_x1 - 0.3))


def make_world(seed: int, **scene_params) -> World:
    """Build the street world of ``seed`` (an int >= 0). ``scene_params``: see ``DEFAULT_SCENE``.

    The same seed and parameters always give the same world (numpy PCG64 draws, CPU tensors).
    Unknown parameter names raise ``TypeError``; out-of-range values raise ``ValueError``.
    The street is drawn by ``street.py``, then each kind of object in turn by ``placement.py``.
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or int(seed) < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    seed = int(seed)
    rng = np.random.default_rng(seed)
    p = _resolve_params(rng, scene_params)
    look = sample_look(rng)
    street = describe_street(rng, p)
    b = Builder(rng)
    # the order of these calls fixes the order of the random draws, hence the world of a seed
    place_sidewalks(b, street)
    place_buildings(b, street)
    place_cars(b, street, p["n_cars"], near=p["near_objects"])
    place_persons(b, street, p["n_persons"], near=p["near_objects"])
    place_poles(b, street, p["n_poles"], near=p["near_objects"])
    place_trees(b, street, p["n_trees"], near=p["near_objects"])
    place_bushes(b, street, p["n_bushes"])
    return World(seed=seed, params=p, camera_height=p["camera_height"], boxes=_primitives("box", b.rows["box"]),
                 ellipsoids=_primitives("ellipsoid", b.rows["ellipsoid"]),
                 cylinders=_primitives("cylinder", b.rows["cylinder"]), ground=_ground(street), look=look,
                 instance_class=torch.tensor(b.instance_class, dtype=torch.int64))
