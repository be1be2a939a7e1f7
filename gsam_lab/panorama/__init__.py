"""Equirectangular (ERP) geometry in torch: sphere <-> pixels, tangent views, rotations, cubemaps, distortion.

Conventions (pixel centres, longitude / latitude signs, camera angles) are stated once in
:mod:`gsam_lab.panorama.sphere`. Every image function accepts torch ``C x H x W`` / ``B x C x H x W``
tensors (float or integer, on any device) and numpy ``H x W x C`` arrays for notebooks.
"""
from .cubemap import FACE_ANGLES, FACE_NAMES, cubemap_to_erp, erp_to_cubemap
from .distortion import area_distortion, pixel_solid_angle, tissot_axes, tissot_ellipses
from .projection import erp_to_perspective, perspective_footprint, perspective_to_erp, py360convert_fov
from .rotation import rotate_erp
from .sampling import sample_erp, sample_image
from .sphere import (
    check_erp_hw,
    erp_lonlat,
    erp_rays,
    lonlat_to_pixel,
    lonlat_to_xyz,
    perspective_lonlat,
    perspective_rays,
    pixel_to_lonlat,
    rotation_matrix,
    xyz_to_lonlat,
)

__all__ = [
    # cubemap.py
    "FACE_ANGLES", "FACE_NAMES", "cubemap_to_erp", "erp_to_cubemap",
    # distortion.py
    "area_distortion", "pixel_solid_angle", "tissot_axes", "tissot_ellipses",
    # projection.py
    "erp_to_perspective", "perspective_footprint", "perspective_to_erp", "py360convert_fov",
    # rotation.py
    "rotate_erp",
    # sampling.py
    "sample_erp", "sample_image",
    # sphere.py
    "check_erp_hw", "erp_lonlat", "erp_rays", "lonlat_to_pixel", "lonlat_to_xyz", "perspective_lonlat",
    "perspective_rays", "pixel_to_lonlat", "rotation_matrix", "xyz_to_lonlat",
]
