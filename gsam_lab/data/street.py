"""The street of one world and the builder that collects its primitives.

:func:`describe_street` draws the street itself (where the camera stands in the road, the lanes,
the optional crossing street, the ground colours, the kerb height) into a :class:`Street`; the
placement functions of ``placement.py`` then add objects to a :class:`Builder`, and ``world.py``
stacks the builder's rows into tensors.

Frame and units: see ``world.py`` (x right, y up, z forward, metres; the street runs along z).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Dict, List, Tuple

import numpy as np

from .appearance_params import sample_color
from .classes import CLASSES

__all__ = ["Street", "describe_street", "Builder"]

_C = {name: i for i, name in enumerate(CLASSES)}
Color = Tuple[float, float, float]


# ----------------------------------------------------------------------------------------------
# the street
# ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Street:
    """The street of one world, in metres. The road runs along z over ``road_x0 <= x <= road_x1``;
    the camera (x = 0) stands in one of its lanes. Sidewalks of ``sidewalk_width`` rise ``kerb``
    above the ground on both sides, then a terrain strip of ``terrain_width``, then the buildings.
    A crossing street (when ``crossing``) runs along x, ``cross_width`` wide, centred at
    ``z = cross_z``; its position is drawn even when there is none, so that the draws that follow
    do not depend on it."""
    ground_y: float                 # the ground plane, y = -camera_height
    road_width: float
    road_centre: float              # x of the road's centre line; lanes right of it carry yaw 0, left of it yaw pi
    road_x0: float
    road_x1: float
    lane_lines: Tuple[float, ...]   # x of the dashed lines between lanes
    lane_centres: Tuple[float, ...]
    half_length: float              # the street spans z in [-half_length, half_length]
    sidewalk_width: float
    terrain_width: float
    kerb: float                     # height of the sidewalks above the ground
    crossing: bool
    cross_z: float
    cross_width: float
    asphalt: Color
    grass: Color
    marking: Color
    far_x: float = 90.0             # the crossing street and the blocks closing the street's ends span |x| <= far_x

    @property
    def cross_z0(self) -> float:
        return self.cross_z - self.cross_width / 2

    @property
    def cross_z1(self) -> float:
        return self.cross_z + self.cross_width / 2

    @property
    def sidewalk_y(self) -> float:
        """The top of the sidewalks (persons and poles on them stand here)."""
        return self.ground_y + self.kerb

    @property
    def planting_y(self) -> float:
        """Where trees and bushes stand: the terrain strip when it is wide enough, else the sidewalk."""
        return self.ground_y if self.terrain_width >= 1.2 else self.sidewalk_y

    def near_crossing(self, z: float, margin: float) -> bool:
        """Whether ``z`` lies within ``margin`` of the crossing street (False without one)."""
        return self.crossing and self.cross_z0 - margin < z < self.cross_z1 + margin


def describe_street(rng: np.random.Generator, params: Dict[str, object]) -> Street:
    """Draw the :class:`Street` of resolved scene ``params`` (see ``DEFAULT_SCENE`` in ``world.py``)."""
    rw, half_len = params["road_width"], params["street_length"] / 2
    # the camera in a lane: at least 1.2 m (or a quarter of the road) from either edge
    margin = min(1.2, rw / 4)
    centre = rng.uniform(-(rw / 2 - margin), rw / 2 - margin) * 0.6
    x0, x1 = centre - rw / 2, centre + rw / 2
    cross_width = rng.uniform(6, 12)
    cross_z = float(rng.choice([-1, 1]) * rng.uniform(12, max(13.0, min(40.0, half_len - 20))))
    n_lanes = max(2, int(round(rw / 3.2)))
    lane_w = rw / n_lanes
    asphalt, grass, marking = (sample_color(rng, k) for k in ("asphalt", "grass", "marking"))
    kerb = rng.uniform(0.1, 0.18)
    return Street(
        ground_y=-params["camera_height"], road_width=rw, road_centre=centre, road_x0=x0, road_x1=x1,
        lane_lines=tuple(x0 + lane_w * i for i in range(1, n_lanes)),
        lane_centres=tuple(x0 + lane_w * (i + 0.5) for i in range(n_lanes)),
        half_length=half_len, sidewalk_width=params["sidewalk_width"], terrain_width=params["terrain_width"],
        crossing=params["crossing"], cross_z=cross_z, cross_width=cross_width,
        kerb=kerb, asphalt=asphalt, grass=grass, marking=marking)


# ----------------------------------------------------------------------------------------------
# the builder
# ----------------------------------------------------------------------------------------------

class Builder:
    """Collects primitives as Python rows (``world.py`` stacks them into tensors), the class of
    each instance id, and the ground discs that objects occupy; retries placements that fail.

    ``rows[kind]``: one ``(params, class id, instance id, material, color, tex)`` per primitive;
    ``instance_class[i]``: the class id of instance ``i`` (index 0 = stuff, 255).
    """

    def __init__(self, rng: np.random.Generator):
        self.rng = rng
        self.rows: Dict[str, list] = {"box": [], "ellipsoid": [], "cylinder": []}
        self.instance_class: List[int] = [255]
        self.discs: List[Tuple[float, float, float]] = [(0.0, 0.0, 2.6)]   # occupied ground (x, z, r); ego car

    def new_instance(self, cls: str) -> int:
        self.instance_class.append(_C[cls])
        return len(self.instance_class) - 1

    def add(self, kind, params, cls, inst, material, color, tex=(0.0, 0.0, 0.0, 0.0)):
        self.rows[kind].append((tuple(float(x) for x in params), _C[cls], inst, material,
                                tuple(float(c) for c in color), tuple(float(t) for t in tex)))

    def box(self, center, half, yaw, *a, **k):
        """A box: ``center`` (3), half sizes ``half`` (3), ``yaw`` about +y (rad)."""
        self.add("box", (*center, *half, yaw), *a, **k)

    def ellipsoid(self, center, radii, yaw, *a, **k):
        """An ellipsoid: ``center`` (3), semi-axes ``radii`` (3), ``yaw`` about +y (rad)."""
        self.add("ellipsoid", (*center, *radii, yaw), *a, **k)

    def cylinder(self, cx, cz, y0, y1, r, *a, **k):
        """A vertical cylinder of radius ``r`` on the axis ``(cx, cz)``, from ``y0`` up to ``y1``."""
        self.add("cylinder", (cx, cz, y0, y1, r), *a, **k)

    def free(self, x, z, r) -> bool:
        """Whether the ground disc ``(x, z, r)`` overlaps no occupied one."""
        return all((x - a) ** 2 + (z - b) ** 2 >= (r + c) ** 2 for a, b, c in self.discs)

    def occupy(self, x, z, r):
        self.discs.append((x, z, r))

    @staticmethod
    def place(n: int, try_once: Callable[[], bool], tries: int = 40) -> int:
        """Call ``try_once`` until it has placed ``n`` objects, at most ``tries`` times per object."""
        placed = 0
        for _ in range(n):
            for _ in range(tries):
                if try_once():
                    placed += 1
                    break
        return placed

    @staticmethod
    def place_near(try_once: Callable[[], bool], tries: int = 20) -> int:
        """One object near the camera: 1 if ``try_once`` succeeded within ``tries`` calls, else 0."""
        for _ in range(tries):
            if try_once():
                return 1
        return 0
