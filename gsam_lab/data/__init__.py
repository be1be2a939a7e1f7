"""Synthetic street world, ray-cast renderer (ERP and pinhole cameras), class table, datasets.

Quick start::

    from gsam_lab import data
    world = data.make_world(0)
    pano = data.render_panorama(world, 256, 512)     # image uint8 HxWx3, semantic, instance, depth
    view = data.render_pinhole(world, 256, 512, fov_deg=80, yaw_deg=30)
    ds = data.SyntheticPanoramas("val", n=8)          # torch Dataset, cached renders

Modules: ``classes`` (CLASSES, PALETTE, Cityscapes mapping), ``world`` (scene generator),
``raycast`` (intersections, culling), ``appearance`` / ``appearance_params`` / ``noise`` (shading),
``render`` (cameras), ``datasets`` (SyntheticPanoramas / SyntheticPinholes, splits, cache),
``folder`` (FolderDataset for DensePASS, Stanford2D3D and generic folders).
"""
from .classes import (
    CITYSCAPES_TO_SYNTH,
    CLASSES,
    IGNORE_INDEX,
    NUM_CLASSES,
    PALETTE,
    STUFF_CLASSES,
    THING_CLASSES,
    colorize,
)
from .datasets import SyntheticPanoramas, SyntheticPinholes, heldout_domains, split_of_world_seed, world_seed
from .export import export_panoramas
from .folder import FolderDataset
from .instances import things_as_instances
from .render import RENDERER_VERSION, render_panorama, render_pinhole, render_rays
from .stats import latitude_class_shares
from .world import DEFAULT_SCENE, World, make_world

__all__ = [
    # classes.py
    "CITYSCAPES_TO_SYNTH", "CLASSES", "IGNORE_INDEX", "NUM_CLASSES", "PALETTE", "STUFF_CLASSES", "THING_CLASSES",
    "colorize",
    # datasets.py
    "SyntheticPanoramas", "SyntheticPinholes", "heldout_domains", "split_of_world_seed", "world_seed",
    # export.py
    "export_panoramas",
    # folder.py
    "FolderDataset",
    # instances.py
    "things_as_instances",
    # render.py
    "RENDERER_VERSION", "render_panorama", "render_pinhole", "render_rays",
    # stats.py
    "latitude_class_shares",
    # world.py
    "DEFAULT_SCENE", "World", "make_world",
]
