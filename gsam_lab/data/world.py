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

Every object (building, car, person, pole, tree, bush) has its own instance id > 0; road,
sidewalk, terrain and sky are stuff (instance 0). Primitives are grouped by type
(:class:`Primitives`: box, ellipsoid, cylinder) as torch tensors so that the ray caster handles each
type in one vectorised call.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Dict, List, Tuple

import numpy as np
import torch

from .appearance_params import Look, Material, sample_color, sample_look
from .classes import CLASSES

__all__ = ["World", "Primitives", "Ground", "make_world", "DEFAULT_SCENE", "PARAM_COLS"]

_C = {name: i for i, name in enumerate(CLASSES)}

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
# builder
# ----------------------------------------------------------------------------------------------

class _Builder:
    """Collects primitives as Python lists, then stacks them into tensors."""

    def __init__(self, rng: np.random.Generator):
        self.rng = rng
        self.rows = {"box": [], "ellipsoid": [], "cylinder": []}
        self.instance_class: List[int] = [255]
        self.discs: List[Tuple[float, float, float]] = [(0.0, 0.0, 2.6)]   # occupied ground (x, z, r); ego car

    def new_instance(self, cls: str) -> int:
        self.instance_class.append(_C[cls])
        return len(self.instance_class) - 1

    def add(self, kind, params, cls, inst, material, color, tex=(0.0, 0.0, 0.0, 0.0)):
        self.rows[kind].append((tuple(float(x) for x in params), _C[cls], inst, material,
                                tuple(float(c) for c in color), tuple(float(t) for t in tex)))

    def box(self, center, half, yaw, *a, **k):
        self.add("box", (*center, *half, yaw), *a, **k)

    def ellipsoid(self, center, radii, yaw, *a, **k):
        self.add("ellipsoid", (*center, *radii, yaw), *a, **k)

    def cylinder(self, cx, cz, y0, y1, r, *a, **k):
        self.add("cylinder", (cx, cz, y0, y1, r), *a, **k)

    def free(self, x, z, r) -> bool:
        return all((x - a) ** 2 + (z - b) ** 2 >= (r + c) ** 2 for a, b, c in self.discs)

    def occupy(self, x, z, r):
        self.discs.append((x, z, r))

    def group(self, kind) -> Primitives:
        rows = self.rows[kind]
        k = len(PARAM_COLS[kind])
        if not rows:
            z = torch.zeros
            return Primitives(kind, z(0, k), z(0, dtype=torch.int64), z(0, dtype=torch.int64),
                              z(0, dtype=torch.int64), z(0, 3), z(0, 4))
        params, cls, inst, mat, col, tex = zip(*rows)
        t = torch.tensor
        return Primitives(kind, t(params, dtype=torch.float32), t(cls, dtype=torch.int64), t(inst, dtype=torch.int64),
                          t(mat, dtype=torch.int64), t(col, dtype=torch.float32), t(tex, dtype=torch.float32))


def _segments(z0: float, z1: float, holes: List[Tuple[float, float]], max_len: float):
    """Split [z0, z1] minus ``holes`` into pieces of at most ``max_len`` (for tight culling)."""
    pieces = [(z0, z1)]
    for h0, h1 in holes:
        nxt = []
        for a, b in pieces:
            if h1 <= a or h0 >= b:
                nxt.append((a, b))
                continue
            if h0 > a:
                nxt.append((a, h0))
            if h1 < b:
                nxt.append((h1, b))
        pieces = nxt
    out = []
    for a, b in pieces:
        n = max(1, int(math.ceil((b - a) / max_len)))
        edges = np.linspace(a, b, n + 1)
        out.extend(zip(edges[:-1], edges[1:]))
    return out


def _facade_tex(rng):
    return (rng.uniform(2.8, 3.8), rng.uniform(1.8, 3.6), rng.uniform(0.3, 0.7), rng.random())


def make_world(seed: int, **scene_params) -> World:
    """Build the street world of ``seed`` (an int >= 0). ``scene_params``: see ``DEFAULT_SCENE``.

    The same seed and parameters always give the same world (numpy PCG64 draws, CPU tensors).
    Unknown parameter names raise ``TypeError``; out-of-range values raise ``ValueError``.
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or int(seed) < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    seed = int(seed)
    rng = np.random.default_rng(seed)
    p = _resolve_params(rng, scene_params)
    look = sample_look(rng)
    b = _Builder(rng)

    ch, rw, sw, tw, L = p["camera_height"], p["road_width"], p["sidewalk_width"], p["terrain_width"], p["street_length"]
    gy = -ch
    # camera in a lane: at least 1.2 m (or a quarter of the road) from either edge
    margin = min(1.2, rw / 4)
    off = rng.uniform(-(rw / 2 - margin), rw / 2 - margin) * 0.6
    x0, x1 = off - rw / 2, off + rw / 2
    half_len = L / 2
    crossing = p["crossing"]
    cw = rng.uniform(6, 12)
    zc = float(rng.choice([-1, 1]) * rng.uniform(12, max(13.0, min(40.0, half_len - 20))))
    cz0, cz1 = zc - cw / 2, zc + cw / 2
    n_lanes = max(2, int(round(rw / 3.2)))
    lane_w = rw / n_lanes
    lane_x = tuple(x0 + lane_w * i for i in range(1, n_lanes))
    lane_centres = [x0 + lane_w * (i + 0.5) for i in range(n_lanes)]
    ground = Ground(y=gy, road_x0=x0, road_x1=x1, crossing=crossing, cross_z0=cz0, cross_z1=cz1,
                    asphalt=sample_color(rng, "asphalt"), grass=sample_color(rng, "grass"),
                    marking=sample_color(rng, "marking"), lane_x=lane_x, edge_x=(x0 + 0.3, x1 - 0.3))

    # ---- sidewalks (stuff, raised boxes with kerbs) ------------------------------------------
    kerb = rng.uniform(0.1, 0.18)
    side_top = gy + kerb
    holes = [(cz0, cz1)] if crossing else []
    far_x = 90.0
    for side in (-1, 1):
        col = sample_color(rng, "paving")
        tex = (rng.uniform(0.3, 0.8), rng.uniform(0.2, 0.7), 0, 0)
        xa, xb = (x1, x1 + sw) if side > 0 else (x0 - sw, x0)
        for za, zb in _segments(-half_len - 20, half_len + 20, holes, 8.0):
            b.box(((xa + xb) / 2, gy + kerb / 2, (za + zb) / 2), ((xb - xa) / 2, kerb / 2, (zb - za) / 2), 0.0,
                  "sidewalk", 0, Material.PAVING, col, tex)
        if crossing:   # sidewalks along the crossing street, outside the main street's sidewalks
            xs = (x1 + sw, far_x) if side > 0 else (-far_x, x0 - sw)
            for za, zb in ((cz0 - sw, cz0), (cz1, cz1 + sw)):
                for xa2, xb2 in _segments(xs[0], xs[1], [], 8.0):
                    b.box(((xa2 + xb2) / 2, gy + kerb / 2, (za + zb) / 2), ((xb2 - xa2) / 2, kerb / 2, (zb - za) / 2),
                          0.0, "sidewalk", 0, Material.PAVING, col, tex)

    # ---- buildings: front row, back row, far ends ------------------------------------------
    bhole = [(cz0 - sw - 1.0, cz1 + sw + 1.0)] if crossing else []

    def building(xf, side, za, zb, hmin, hmax, dmin, dmax):
        h = rng.uniform(hmin, hmax)
        d = rng.uniform(dmin, dmax)
        inst = b.new_instance("building")
        xc = xf + side * d / 2
        b.box((xc, gy + h / 2, (za + zb) / 2), (d / 2, h / 2, (zb - za) / 2), 0.0, "building", inst,
              Material.FACADE, sample_color(rng, "building"), _facade_tex(rng))

    def row(xf0, side, hmin, hmax, dmin, dmax, gap_p, jitter):
        z = -half_len - 10
        while z < half_len + 10:
            length = rng.uniform(8, 26)
            za, zb = z, min(z + length, half_len + 10)
            if not any(za < h1 and zb > h0 for h0, h1 in bhole) and zb - za > 3:
                building(xf0 + side * rng.uniform(0, jitter), side, za, zb, hmin, hmax, dmin, dmax)
            z = zb + (rng.uniform(2, 8) if rng.random() < gap_p else 0.0)

    for side in (-1, 1):
        front = (x1 + sw + tw) if side > 0 else (x0 - sw - tw)
        row(front, side, 5, 28, 8, 16, 0.35, 1.5)
        row(front + side * rng.uniform(22, 30), side, 12, 45, 10, 20, 0.1, 3.0)
    for end in (-1, 1):   # close the street
        zf = end * (half_len + 10)
        x = -far_x
        while x < far_x:
            wdt = rng.uniform(10, 25)
            h, d = rng.uniform(8, 35), rng.uniform(10, 20)
            inst = b.new_instance("building")
            b.box((x + wdt / 2, gy + h / 2, zf + end * d / 2), (wdt / 2, h / 2, d / 2), 0.0, "building", inst,
                  Material.FACADE, sample_color(rng, "building"), _facade_tex(rng))
            x += wdt
    if crossing:   # close the crossing street's ends
        for end in (-1, 1):
            h, d = rng.uniform(10, 35), rng.uniform(10, 20)
            inst = b.new_instance("building")
            b.box((end * (far_x + d / 2), gy + h / 2, zc), (d / 2, h / 2, cw / 2 + sw + 12), 0.0, "building", inst,
                  Material.FACADE, sample_color(rng, "building"), _facade_tex(rng))

    # ---- cars ---------------------------------------------------------------------------------
    def car(x, z, yaw, base):
        length, width = rng.uniform(3.8, 4.9), rng.uniform(1.6, 1.95)
        if not b.free(x, z, length / 2):
            return False
        b.occupy(x, z, length / 2)
        inst = b.new_instance("car")
        col = sample_color(rng, "car")
        clear, bh = 0.25, rng.uniform(0.6, 0.8)
        b.box((x, base + clear + bh / 2, z), (width / 2, bh / 2, length / 2), yaw, "car", inst, Material.PAINT, col)
        cl, chh = length * rng.uniform(0.45, 0.6), rng.uniform(0.45, 0.6)
        shift = length * rng.uniform(-0.1, 0.05)
        cx, cz = x + math.sin(yaw) * shift, z + math.cos(yaw) * shift
        b.box((cx, base + clear + bh + chh / 2, cz), (width / 2 * 0.9, chh / 2, cl / 2), yaw, "car", inst,
              Material.GLASS, col, (rng.random(), 0, 0, 0))
        return True

    def place(n, fn, tries=40):
        placed = 0
        for _ in range(n):
            for _ in range(tries):
                if fn():
                    placed += 1
                    break
        return placed

    park_x = (x0 + 1.1, x1 - 1.1)
    n_cars = p["n_cars"]
    if p["near_objects"] and n_cars > 0:   # a car parked or driving right beside the camera
        ok = False
        for _ in range(20):
            x = rng.choice([park_x[0], park_x[1]] + [c for c in lane_centres if abs(c) > 2.6])
            ok = car(float(x), rng.uniform(-5, 5), float(rng.choice([0.0, math.pi])) + rng.normal(0, 0.03), gy)
            if ok:
                break
        n_cars -= int(ok)

    def random_car():
        u = rng.random()
        if u < 0.45:      # parked at a kerb
            x = park_x[int(rng.integers(2))]
            z = rng.uniform(-half_len, half_len)
            if crossing and cz0 - 3 < z < cz1 + 3:
                return False
            yaw = float(rng.choice([0.0, math.pi])) + rng.normal(0, 0.04)
        elif u < 0.8 or not crossing:   # driving along a lane
            x = lane_centres[int(rng.integers(len(lane_centres)))] + rng.normal(0, 0.2)
            z = rng.uniform(-half_len, half_len)
            yaw = (0.0 if x > off else math.pi) + rng.normal(0, 0.05)
        else:             # on the crossing street, some turning
            x = rng.uniform(-40, 40)
            z = rng.uniform(cz0 + 1.2, cz1 - 1.2)
            yaw = math.pi / 2 * float(rng.choice([-1, 1])) + (rng.uniform(-0.8, 0.8) if abs(x) < rw else rng.normal(0, 0.05))
        if rng.random() < 0.1:
            yaw = rng.uniform(0, 2 * math.pi)
        return car(x, z, yaw, gy)

    place(n_cars, random_car)

    # ---- persons --------------------------------------------------------------------------------
    def person(x, z, base):
        if not b.free(x, z, 0.35):
            return False
        b.occupy(x, z, 0.35)
        inst = b.new_instance("person")
        h = rng.uniform(1.5, 1.92)
        face = rng.uniform(0, 2 * math.pi)
        px, pz = math.cos(face), -math.sin(face)            # across the body
        cloth, pants, skin = sample_color(rng, "cloth"), sample_color(rng, "pants"), sample_color(rng, "skin")
        leg_r, leg_h = 0.075, 0.47 * h
        stride = rng.uniform(0, 0.12)
        for s in (-1, 1):
            b.cylinder(x + s * 0.1 * px + s * stride * pz, z + s * 0.1 * pz - s * stride * px, base, base + leg_h, leg_r,
                       "person", inst, Material.CLOTH, pants)
        tr = rng.uniform(0.16, 0.22)
        b.cylinder(x, z, base + leg_h - 0.02, base + 0.83 * h, tr, "person", inst, Material.CLOTH, cloth)
        for s in (-1, 1):
            b.cylinder(x + s * (tr + 0.05) * px, z + s * (tr + 0.05) * pz, base + 0.45 * h, base + 0.8 * h, 0.05,
                       "person", inst, Material.CLOTH, cloth)
        hr = 0.1 * h / 1.75
        b.ellipsoid((x, base + 0.83 * h + hr * 1.05, z), (hr, hr * 1.2, hr), 0.0, "person", inst, Material.SKIN, skin)
        return True

    def on_sidewalk(near=False):
        side = int(rng.choice([-1, 1]))
        a, c = (0.4, sw - 0.3) if sw >= 0.8 else (sw / 2, sw / 2)
        off_x = rng.uniform(a, c)
        x = (x1 + off_x) if side > 0 else (x0 - off_x)
        z = rng.uniform(-4, 4) if near else rng.uniform(-half_len, half_len)
        return x, z

    n_persons = p["n_persons"]
    if p["near_objects"] and n_persons > 0:
        for _ in range(20):
            x, z = on_sidewalk(near=True)
            if person(x, z, side_top):
                n_persons -= 1
                break

    def random_person():
        if rng.random() < 0.25:   # crossing the road
            x, z = rng.uniform(x0 + 0.3, x1 - 0.3), rng.uniform(3, 30) * float(rng.choice([-1, 1]))
            if crossing and rng.random() < 0.6:
                z = rng.uniform(cz0 + 0.5, cz1 - 0.5)
            return person(x, z, gy)
        x, z = on_sidewalk()
        return person(x, z, side_top)

    place(n_persons, random_person)

    # ---- poles --------------------------------------------------------------------------------
    def pole(x, z, side):
        if not b.free(x, z, 0.3):
            return False
        b.occupy(x, z, 0.3)
        inst = b.new_instance("pole")
        col = sample_color(rng, "pole")
        u = rng.random()
        if u < 0.55:          # street light leaning over the road
            h, r = rng.uniform(6, 9.5), rng.uniform(0.07, 0.13)
            b.cylinder(x, z, side_top, side_top + h, r, "pole", inst, Material.METAL, col)
            arm = rng.uniform(1.2, 2.5)
            b.box((x - side * arm / 2, side_top + h - 0.1, z), (arm / 2, 0.05, 0.05), 0.0, "pole", inst, Material.METAL, col)
            b.box((x - side * arm, side_top + h - 0.2, z), (0.3, 0.08, 0.15), 0.0, "pole", inst, Material.METAL, col)
        elif u < 0.8:         # sign pole with a plate
            h, r = rng.uniform(2.6, 3.6), rng.uniform(0.04, 0.07)
            b.cylinder(x, z, side_top, side_top + h, r, "pole", inst, Material.METAL, col)
            plate = sample_color(rng, "car")
            b.box((x, side_top + h - 0.35, z), (0.03, rng.uniform(0.25, 0.45), rng.uniform(0.25, 0.45)), rng.normal(0, 0.2),
                  "pole", inst, Material.PLAIN, plate)
        else:                 # plain tall pole
            h, r = rng.uniform(4, 10), rng.uniform(0.08, 0.16)
            b.cylinder(x, z, side_top, side_top + h, r, "pole", inst, Material.METAL, col)
        return True

    def kerb_x(side):
        return (x1 + min(0.4, sw / 2)) if side > 0 else (x0 - min(0.4, sw / 2))

    n_poles = p["n_poles"]
    if p["near_objects"] and n_poles > 0:
        for _ in range(20):
            side = int(rng.choice([-1, 1]))
            if pole(kerb_x(side), rng.uniform(-3, 3), side):
                n_poles -= 1
                break

    def random_pole():
        side = int(rng.choice([-1, 1]))
        z = rng.uniform(-half_len, half_len)
        if crossing and cz0 - 0.5 < z < cz1 + 0.5:
            return False
        return pole(kerb_x(side), z, side)

    place(n_poles, random_pole)

    # ---- trees and bushes (vegetation) ------------------------------------------------------------
    def strip_x(side):
        """x of a planting spot: the terrain strip when wide enough, else the sidewalk's outer part."""
        if tw >= 1.2:
            a, c = sw + 0.5, sw + tw - 0.5
        else:
            a, c = max(0.3, sw - 0.8), max(0.35, sw - 0.3)
        d = rng.uniform(min(a, c), max(a, c))
        return (x1 + d) if side > 0 else (x0 - d)

    def tree(x, z):
        if not b.free(x, z, 0.6):
            return False
        b.occupy(x, z, 0.6)
        inst = b.new_instance("vegetation")
        base = gy if (tw >= 1.2) else side_top
        th, tr = rng.uniform(2.0, 4.0), rng.uniform(0.12, 0.3)
        b.cylinder(x, z, base, base + th + 0.5, tr, "vegetation", inst, Material.BARK, sample_color(rng, "bark"))
        leaves = sample_color(rng, "leaves")
        tex = (rng.uniform(0.12, 0.35), rng.uniform(0.4, 0.9), 0, 0)
        for _ in range(int(rng.integers(1, 4))):
            rx, ry, rz = rng.uniform(1.2, 3.0), rng.uniform(1.4, 3.2), rng.uniform(1.2, 3.0)
            cx, cz = x + rng.normal(0, 0.5), z + rng.normal(0, 0.5)
            b.ellipsoid((cx, base + th + ry * 0.7, cz), (rx, ry, rz), rng.uniform(0, math.pi), "vegetation", inst,
                        Material.LEAVES, leaves, tex)
        return True

    n_trees = p["n_trees"]
    if p["near_objects"] and n_trees > 0:
        for _ in range(20):
            if tree(strip_x(int(rng.choice([-1, 1]))), rng.uniform(-6, 6)):
                n_trees -= 1
                break

    def random_tree():
        z = rng.uniform(-half_len, half_len)
        if crossing and cz0 - sw - 1 < z < cz1 + sw + 1:
            return False
        return tree(strip_x(int(rng.choice([-1, 1]))), z)

    place(n_trees, random_tree)

    def bush():
        side = int(rng.choice([-1, 1]))
        x, z = strip_x(side), rng.uniform(-half_len, half_len)
        if crossing and cz0 - sw - 1 < z < cz1 + sw + 1:
            return False
        base = gy if tw >= 1.2 else side_top
        inst = b.new_instance("vegetation")
        col = sample_color(rng, "leaves")
        tex = (rng.uniform(0.08, 0.25), rng.uniform(0.4, 0.9), 0, 0)
        if rng.random() < 0.5:   # hedge
            length, hh, d = rng.uniform(2, 9), rng.uniform(0.3, 0.75), rng.uniform(0.3, 0.6)
            if not b.free(x, z, length / 2):
                b.instance_class.pop()
                return False
            b.occupy(x, z, length / 2)
            b.box((x, base + hh, z), (d, hh, length / 2), 0.0, "vegetation", inst, Material.LEAVES, col, tex)
        else:
            r = rng.uniform(0.4, 1.0)
            if not b.free(x, z, r):
                b.instance_class.pop()
                return False
            b.occupy(x, z, r)
            b.ellipsoid((x, base + r * 0.6, z), (r, r * rng.uniform(0.7, 1.1), r * rng.uniform(0.8, 1.3)), rng.uniform(0, 3),
                        "vegetation", inst, Material.LEAVES, col, tex)
        return True

    place(p["n_bushes"], bush)

    return World(seed=seed, params=p, camera_height=ch, boxes=b.group("box"), ellipsoids=b.group("ellipsoid"),
                 cylinders=b.group("cylinder"), ground=ground, look=look,
                 instance_class=torch.tensor(b.instance_class, dtype=torch.int64))
