"""Layout of the street world: one placement function per kind of object.

``make_world`` (``world.py``) first draws the street (:func:`~gsam_lab.data.street.describe_street`),
then calls the ``place_*`` functions below in this order: sidewalks, buildings, cars, persons,
poles, trees, bushes. Each adds primitives to a :class:`~gsam_lab.data.street.Builder`. Every
object occupies a disc of ground (``Builder.free`` / ``Builder.occupy``) so that objects do not
overlap; the disc of radius 2.6 m at the origin is the ego car the camera sits on.

Every random number comes from one ``numpy.random.Generator`` (``Builder.rng``, the world seed's),
so the order of the draws *is* the world: ``tests/test_data_world_pinned.py`` pins the worlds of a
few seeds. Reordering two draws, even inside one expression, gives different worlds.

Frame and units: see ``world.py`` (x right, y up, z forward, metres; the street runs along z).
"""
from __future__ import annotations

import math
from typing import List, Optional, Tuple

import numpy as np

from .appearance_params import Material, sample_color
from .street import Builder, Street

__all__ = ["place_sidewalks", "place_buildings", "place_cars", "place_persons", "place_poles", "place_trees",
           "place_bushes"]


# ----------------------------------------------------------------------------------------------
# sidewalks and buildings
# ----------------------------------------------------------------------------------------------

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


def _sidewalk_slab(b: Builder, street: Street, xa, xb, za, zb, color, tex):
    """One raised paving box over ``[xa, xb] x [za, zb]`` (stuff: instance 0)."""
    gy, kerb = street.ground_y, street.kerb
    b.box(((xa + xb) / 2, gy + kerb / 2, (za + zb) / 2), ((xb - xa) / 2, kerb / 2, (zb - za) / 2), 0.0,
          "sidewalk", 0, Material.PAVING, color, tex)


def place_sidewalks(b: Builder, street: Street) -> None:
    """The sidewalks on both sides of the road (cut by the crossing street, which has its own),
    in pieces of at most 8 m. One paving colour and texture per side."""
    rng, s = b.rng, street
    x0, x1, sw = s.road_x0, s.road_x1, s.sidewalk_width
    holes = [(s.cross_z0, s.cross_z1)] if s.crossing else []
    for side in (-1, 1):
        col = sample_color(rng, "paving")
        tex = (rng.uniform(0.3, 0.8), rng.uniform(0.2, 0.7), 0, 0)
        xa, xb = (x1, x1 + sw) if side > 0 else (x0 - sw, x0)
        for za, zb in _segments(-s.half_length - 20, s.half_length + 20, holes, 8.0):
            _sidewalk_slab(b, s, xa, xb, za, zb, col, tex)
        if s.crossing:   # sidewalks along the crossing street, outside the main street's sidewalks
            xs = (x1 + sw, s.far_x) if side > 0 else (-s.far_x, x0 - sw)
            for za, zb in ((s.cross_z0 - sw, s.cross_z0), (s.cross_z1, s.cross_z1 + sw)):
                for xa2, xb2 in _segments(xs[0], xs[1], [], 8.0):
                    _sidewalk_slab(b, s, xa2, xb2, za, zb, col, tex)


def _facade_tex(rng):
    return (rng.uniform(2.8, 3.8), rng.uniform(1.8, 3.6), rng.uniform(0.3, 0.7), rng.random())


def _building(b: Builder, center, half):
    """One building block (a facade box) with its own instance, colour and window grid."""
    inst = b.new_instance("building")
    b.box(center, half, 0.0, "building", inst, Material.FACADE, sample_color(b.rng, "building"), _facade_tex(b.rng))


def _building_row(b: Builder, street: Street, front_x, side, height, depth, gap_p, jitter, holes):
    """Blocks 8-26 m long along the whole street, their fronts at ``front_x`` (+ up to ``jitter``),
    reaching away from the road on ``side``; a gap of 2-8 m follows a block with probability
    ``gap_p``. ``height``, ``depth``: (min, max) in metres. No block overlaps a z-range in ``holes``."""
    rng, gy, end = b.rng, street.ground_y, street.half_length + 10
    z = -end
    while z < end:
        length = rng.uniform(8, 26)
        za, zb = z, min(z + length, end)
        if not any(za < h1 and zb > h0 for h0, h1 in holes) and zb - za > 3:
            xf = front_x + side * rng.uniform(0, jitter)
            h, d = rng.uniform(*height), rng.uniform(*depth)
            _building(b, (xf + side * d / 2, gy + h / 2, (za + zb) / 2), (d / 2, h / 2, (zb - za) / 2))
        z = zb + (rng.uniform(2, 8) if rng.random() < gap_p else 0.0)


def _street_end(b: Builder, street: Street, end: int):
    """Blocks side by side across the street's end ``end`` (-1: -z, +1: +z), from x = -far_x to far_x."""
    rng, gy = b.rng, street.ground_y
    zf = end * (street.half_length + 10)
    x = -street.far_x
    while x < street.far_x:
        wdt = rng.uniform(10, 25)
        h, d = rng.uniform(8, 35), rng.uniform(10, 20)
        _building(b, (x + wdt / 2, gy + h / 2, zf + end * d / 2), (wdt / 2, h / 2, d / 2))
        x += wdt


def place_buildings(b: Builder, street: Street) -> None:
    """Per side of the road a front row (5-28 m high) behind the terrain strip and a taller back
    row (12-45 m) 22-30 m further out, both leaving the crossing street open; then blocks that
    close both ends of the street and, with a crossing, one at each end of the crossing street."""
    rng, s = b.rng, street
    sw, gy = s.sidewalk_width, s.ground_y
    holes = [(s.cross_z0 - sw - 1.0, s.cross_z1 + sw + 1.0)] if s.crossing else []
    for side in (-1, 1):
        front = (s.road_x1 + sw + s.terrain_width) if side > 0 else (s.road_x0 - sw - s.terrain_width)
        _building_row(b, s, front, side, (5, 28), (8, 16), 0.35, 1.5, holes)
        _building_row(b, s, front + side * rng.uniform(22, 30), side, (12, 45), (10, 20), 0.1, 3.0, holes)
    for end in (-1, 1):
        _street_end(b, s, end)
    if s.crossing:
        for end in (-1, 1):
            h, d = rng.uniform(10, 35), rng.uniform(10, 20)
            _building(b, (end * (s.far_x + d / 2), gy + h / 2, s.cross_z),
                      (d / 2, h / 2, s.cross_width / 2 + sw + 12))


# ----------------------------------------------------------------------------------------------
# cars
# ----------------------------------------------------------------------------------------------

def _car(b: Builder, x, z, yaw, base) -> bool:
    """A car (body box + cabin box, one instance) centred at ``(x, z)`` on the ground ``base``,
    heading ``yaw``; False (nothing added) if its ground disc is taken."""
    rng = b.rng
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


def _parking_x(street: Street) -> Tuple[float, float]:
    """x of the cars parked along the left and the right kerb."""
    return (street.road_x0 + 1.1, street.road_x1 - 1.1)


def _near_car(b: Builder, street: Street) -> bool:
    """A car parked or driving right beside the camera (within 5 m along the street)."""
    rng = b.rng
    x = rng.choice(list(_parking_x(street)) + [c for c in street.lane_centres if abs(c) > 2.6])
    z = rng.uniform(-5, 5)
    yaw = float(rng.choice([0.0, math.pi])) + rng.normal(0, 0.03)
    return _car(b, float(x), z, yaw, street.ground_y)


def _random_car_pose(rng: np.random.Generator, street: Street) -> Optional[Tuple[float, float, float]]:
    """``(x, z, yaw)`` of a car parked at a kerb (45 %), driving along a lane (35 %; 55 % without a
    crossing street) or on the crossing street (20 %), turning where it crosses the road; None for a
    parking spot within 3 m of the crossing street."""
    s = street
    u = rng.random()
    if u < 0.45:      # parked at a kerb
        x = _parking_x(s)[int(rng.integers(2))]
        z = rng.uniform(-s.half_length, s.half_length)
        if s.near_crossing(z, 3):
            return None
        yaw = float(rng.choice([0.0, math.pi])) + rng.normal(0, 0.04)
    elif u < 0.8 or not s.crossing:   # driving along a lane
        x = s.lane_centres[int(rng.integers(len(s.lane_centres)))] + rng.normal(0, 0.2)
        z = rng.uniform(-s.half_length, s.half_length)
        yaw = (0.0 if x > s.road_centre else math.pi) + rng.normal(0, 0.05)
    else:             # on the crossing street, turning when on the main road
        x = rng.uniform(-40, 40)
        z = rng.uniform(s.cross_z0 + 1.2, s.cross_z1 - 1.2)
        heading = math.pi / 2 * float(rng.choice([-1, 1]))
        yaw = heading + (rng.uniform(-0.8, 0.8) if abs(x) < s.road_width else rng.normal(0, 0.05))
    return x, z, yaw


def _random_car(b: Builder, street: Street) -> bool:
    pose = _random_car_pose(b.rng, street)
    if pose is None:
        return False
    x, z, yaw = pose
    if b.rng.random() < 0.1:   # any heading
        yaw = b.rng.uniform(0, 2 * math.pi)
    return _car(b, x, z, yaw, street.ground_y)


def place_cars(b: Builder, street: Street, n: int, near: bool) -> None:
    """``n`` cars: with ``near`` one of them beside the camera, the others anywhere (see
    :func:`_random_car_pose`; 10 % of them at an arbitrary heading)."""
    if near and n > 0:
        n -= b.place_near(lambda: _near_car(b, street))
    b.place(n, lambda: _random_car(b, street))


# ----------------------------------------------------------------------------------------------
# persons
# ----------------------------------------------------------------------------------------------

def _person(b: Builder, x, z, base) -> bool:
    """A person 1.5-1.92 m tall standing at ``(x, z)`` on ``base``: two legs, a torso and two arms
    (cylinders), a head (ellipsoid), one instance; False (nothing added) if the spot is taken."""
    rng = b.rng
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


def _on_sidewalk(rng: np.random.Generator, street: Street, near: bool = False) -> Tuple[float, float]:
    """A spot ``(x, z)`` on either sidewalk (within 4 m of the camera along z when ``near``)."""
    s, sw = street, street.sidewalk_width
    side = int(rng.choice([-1, 1]))
    a, c = (0.4, sw - 0.3) if sw >= 0.8 else (sw / 2, sw / 2)
    off_x = rng.uniform(a, c)
    x = (s.road_x1 + off_x) if side > 0 else (s.road_x0 - off_x)
    z = rng.uniform(-4, 4) if near else rng.uniform(-s.half_length, s.half_length)
    return x, z


def _random_person(b: Builder, street: Street) -> bool:
    """A person crossing the road (25 %; with a crossing street, mostly on it) or on a sidewalk."""
    rng, s = b.rng, street
    if rng.random() < 0.25:   # crossing the road
        x, z = rng.uniform(s.road_x0 + 0.3, s.road_x1 - 0.3), rng.uniform(3, 30) * float(rng.choice([-1, 1]))
        if s.crossing and rng.random() < 0.6:
            z = rng.uniform(s.cross_z0 + 0.5, s.cross_z1 - 0.5)
        return _person(b, x, z, s.ground_y)
    x, z = _on_sidewalk(rng, s)
    return _person(b, x, z, s.sidewalk_y)


def place_persons(b: Builder, street: Street, n: int, near: bool) -> None:
    """``n`` persons: with ``near`` one of them on a sidewalk beside the camera."""
    def near_person():
        x, z = _on_sidewalk(b.rng, street, near=True)
        return _person(b, x, z, street.sidewalk_y)

    if near and n > 0:
        n -= b.place_near(near_person)
    b.place(n, lambda: _random_person(b, street))


# ----------------------------------------------------------------------------------------------
# poles
# ----------------------------------------------------------------------------------------------

def _pole(b: Builder, street: Street, x, z, side) -> bool:
    """A pole on the sidewalk at ``(x, z)``, one instance, labelled pole: a street light whose arm
    leans over the road (55 %), a sign pole with a plate (25 %) or a plain tall pole (20 %).
    ``side``: the sidewalk's side of the road (-1 left, +1 right). False if the spot is taken."""
    rng, y = b.rng, street.sidewalk_y
    if not b.free(x, z, 0.3):
        return False
    b.occupy(x, z, 0.3)
    inst = b.new_instance("pole")
    col = sample_color(rng, "pole")
    u = rng.random()
    if u < 0.55:          # street light leaning over the road
        h, r = rng.uniform(6, 9.5), rng.uniform(0.07, 0.13)
        b.cylinder(x, z, y, y + h, r, "pole", inst, Material.METAL, col)
        arm = rng.uniform(1.2, 2.5)
        b.box((x - side * arm / 2, y + h - 0.1, z), (arm / 2, 0.05, 0.05), 0.0, "pole", inst, Material.METAL, col)
        b.box((x - side * arm, y + h - 0.2, z), (0.3, 0.08, 0.15), 0.0, "pole", inst, Material.METAL, col)
    elif u < 0.8:         # sign pole with a plate
        h, r = rng.uniform(2.6, 3.6), rng.uniform(0.04, 0.07)
        b.cylinder(x, z, y, y + h, r, "pole", inst, Material.METAL, col)
        plate = sample_color(rng, "car")
        b.box((x, y + h - 0.35, z), (0.03, rng.uniform(0.25, 0.45), rng.uniform(0.25, 0.45)), rng.normal(0, 0.2),
              "pole", inst, Material.PLAIN, plate)
    else:                 # plain tall pole
        h, r = rng.uniform(4, 10), rng.uniform(0.08, 0.16)
        b.cylinder(x, z, y, y + h, r, "pole", inst, Material.METAL, col)
    return True


def _kerb_x(street: Street, side: int) -> float:
    """x of a pole at the road side of the sidewalk on ``side``."""
    d = min(0.4, street.sidewalk_width / 2)
    return (street.road_x1 + d) if side > 0 else (street.road_x0 - d)


def _random_pole(b: Builder, street: Street) -> bool:
    side = int(b.rng.choice([-1, 1]))
    z = b.rng.uniform(-street.half_length, street.half_length)
    if street.near_crossing(z, 0.5):
        return False
    return _pole(b, street, _kerb_x(street, side), z, side)


def place_poles(b: Builder, street: Street, n: int, near: bool) -> None:
    """``n`` poles along the kerbs: with ``near`` one of them within 3 m of the camera along z."""
    def near_pole():
        side = int(b.rng.choice([-1, 1]))
        return _pole(b, street, _kerb_x(street, side), b.rng.uniform(-3, 3), side)

    if near and n > 0:
        n -= b.place_near(near_pole)
    b.place(n, lambda: _random_pole(b, street))


# ----------------------------------------------------------------------------------------------
# trees and bushes (vegetation)
# ----------------------------------------------------------------------------------------------

def _planting_x(rng: np.random.Generator, street: Street, side: int) -> float:
    """x of a planting spot on ``side``: the terrain strip when wide enough, else the sidewalk's outer part."""
    sw, tw = street.sidewalk_width, street.terrain_width
    if tw >= 1.2:
        a, c = sw + 0.5, sw + tw - 0.5
    else:
        a, c = max(0.3, sw - 0.8), max(0.35, sw - 0.3)
    d = rng.uniform(min(a, c), max(a, c))
    return (street.road_x1 + d) if side > 0 else (street.road_x0 - d)


def _at_crossing_sidewalks(street: Street, z: float) -> bool:
    """Whether ``z`` lies on the crossing street, its sidewalks or within 1 m of them (no planting there)."""
    s = street
    return s.crossing and s.cross_z0 - s.sidewalk_width - 1 < z < s.cross_z1 + s.sidewalk_width + 1


def _tree(b: Builder, street: Street, x, z) -> bool:
    """A tree at ``(x, z)``: a trunk cylinder under one to three crown ellipsoids, one instance,
    all labelled vegetation; False if the spot is taken."""
    rng = b.rng
    if not b.free(x, z, 0.6):
        return False
    b.occupy(x, z, 0.6)
    inst = b.new_instance("vegetation")
    base = street.planting_y
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


def place_trees(b: Builder, street: Street, n: int, near: bool) -> None:
    """``n`` trees beside the sidewalks, none at the crossing street: with ``near`` one of them
    within 6 m of the camera along z."""
    rng, s = b.rng, street

    def near_tree():
        x = _planting_x(rng, s, int(rng.choice([-1, 1])))
        return _tree(b, s, x, rng.uniform(-6, 6))

    def random_tree():
        z = rng.uniform(-s.half_length, s.half_length)
        if _at_crossing_sidewalks(s, z):
            return False
        return _tree(b, s, _planting_x(rng, s, int(rng.choice([-1, 1]))), z)

    if near and n > 0:
        n -= b.place_near(near_tree)
    b.place(n, random_tree)


def _bush(b: Builder, street: Street) -> bool:
    """A hedge (a box 2-9 m long, 50 %) or a bush (an ellipsoid) on a planting spot, one instance
    labelled vegetation; False if the spot is at the crossing street or taken."""
    rng, s = b.rng, street
    side = int(rng.choice([-1, 1]))
    x, z = _planting_x(rng, s, side), rng.uniform(-s.half_length, s.half_length)
    if _at_crossing_sidewalks(s, z):
        return False
    base = s.planting_y
    col = sample_color(rng, "leaves")
    tex = (rng.uniform(0.08, 0.25), rng.uniform(0.4, 0.9), 0, 0)
    if rng.random() < 0.5:   # hedge
        length, hh, d = rng.uniform(2, 9), rng.uniform(0.3, 0.75), rng.uniform(0.3, 0.6)
        if not b.free(x, z, length / 2):
            return False
        b.occupy(x, z, length / 2)
        inst = b.new_instance("vegetation")
        b.box((x, base + hh, z), (d, hh, length / 2), 0.0, "vegetation", inst, Material.LEAVES, col, tex)
    else:
        r = rng.uniform(0.4, 1.0)
        if not b.free(x, z, r):
            return False
        b.occupy(x, z, r)
        inst = b.new_instance("vegetation")
        b.ellipsoid((x, base + r * 0.6, z), (r, r * rng.uniform(0.7, 1.1), r * rng.uniform(0.8, 1.3)),
                    rng.uniform(0, 3), "vegetation", inst, Material.LEAVES, col, tex)
    return True


def place_bushes(b: Builder, street: Street, n: int) -> None:
    """``n`` hedges and bushes on planting spots (none near the camera on purpose)."""
    b.place(n, lambda: _bush(b, street))
