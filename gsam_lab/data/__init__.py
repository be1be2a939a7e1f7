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
    "CLASSES", "PALETTE", "IGNORE_INDEX", "CITYSCAPES_TO_SYNTH", "NUM_CLASSES", "STUFF_CLASSES", "THING_CLASSES",
    "colorize", "make_world", "World", "DEFAULT_SCENE", "render_rays", "render_panorama", "render_pinhole",
    "RENDERER_VERSION", "SyntheticPanoramas", "SyntheticPinholes", "heldout_domains", "world_seed",
    "split_of_world_seed", "FolderDataset", "latitude_class_shares", "export_panoramas", "things_as_instances",
]
