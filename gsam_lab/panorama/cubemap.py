"""Cubemaps: six 90° tangent views of the sphere, and back to an ERP.

Face order (:data:`FACE_NAMES`) and the camera of each face (``yaw_deg, pitch_deg``, roll 0, see
:mod:`gsam_lab.panorama.sphere`)::

    0 front (0, 0)  looks along +z (lon 0)     3 left (-90, 0)  looks along -x (lon -90)
    1 right (90, 0) looks along +x (lon 90)    4 up   (0, 90)   looks along +y, image top towards back
    2 back (180, 0) looks along -z (lon 180)   5 down (0, -90)  looks along -y, image top towards front

so the up face's bottom edge and the down face's top edge meet the front face (the usual "dice" layout).
"""
from __future__ import annotations

import numpy as np
import torch

from gsam_lab.images import NP_HW, NP_HWC, T_HW, numpy_to_tensor, restore_dtype, work_dtype

from ._validate import check_erp_size, check_mode, check_positive_int
from .projection import cached_erp_rays, erp_to_perspective
from .sampling import sample_image
from .sphere import rotation_matrix

__all__ = ["FACE_NAMES", "FACE_ANGLES", "erp_to_cubemap", "cubemap_to_erp"]

FACE_NAMES = ("front", "right", "back", "left", "up", "down")
#: ``(yaw_deg, pitch_deg)`` of each face's camera, in :data:`FACE_NAMES` order.
FACE_ANGLES = ((0.0, 0.0), (90.0, 0.0), (180.0, 0.0), (-90.0, 0.0), (0.0, 90.0), (0.0, -90.0))


def erp_to_cubemap(erp, face_size: int, mode: str = "bilinear"):
    """Six cube faces of an ERP.

    Arguments:
      erp: as for :func:`~gsam_lab.panorama.erp_to_perspective` (torch ``C x H x W``, ``B x C x H x W``,
        ``H x W``; numpy ``H x W x C`` / ``H x W``).
      face_size: side ``f`` of each square face, in pixels.
      mode: ``"bilinear"`` or ``"nearest"``.

    Returns:
      ``6 x C x f x f`` (``B x 6 x C x f x f`` for batched input; ``6 x f x f`` for ``H x W``;
      numpy ``6 x f x f x C``) in :data:`FACE_NAMES` order.
    """
    f = check_positive_int(face_size, "face_size")
    yaws = [a[0] for a in FACE_ANGLES]
    pitches = [a[1] for a in FACE_ANGLES]
    return erp_to_perspective(erp, 90.0, yaws, pitches, (f, f), mode=mode)


def _faces_to_tensor(faces):
    """faces -> (``B x 6 x C x f x f``, layout). Raises on a wrong shape."""
    if isinstance(faces, np.ndarray):
        t = numpy_to_tensor(faces, "faces")
        if t.dim() == 3:
            t, layout = t[None, :, None], NP_HW
        elif t.dim() == 4:
            t, layout = t.permute(0, 3, 1, 2)[None], NP_HWC
        else:
            raise ValueError(f"numpy faces must be 6 x f x f or 6 x f x f x C, got shape {faces.shape}")
    elif isinstance(faces, torch.Tensor):
        layout = {3: T_HW, 4: "t_chw", 5: "t_bchw"}.get(faces.dim())
        if layout is None:
            raise ValueError(f"faces must be 6 x C x f x f or B x 6 x C x f x f, got shape {tuple(faces.shape)}")
        t = {3: lambda: faces[None, :, None], 4: lambda: faces[None], 5: lambda: faces}[faces.dim()]()
    else:
        raise TypeError(f"faces must be a torch.Tensor or a numpy.ndarray, got {type(faces).__name__}")
    if t.shape[1] != 6 or t.shape[-1] != t.shape[-2]:
        raise ValueError(f"faces must hold 6 square faces (6 x C x f x f), got shape {tuple(faces.shape)}")
    return t, layout


def cubemap_to_erp(faces, erp_hw, mode: str = "bilinear"):
    """Assemble an ERP from six cube faces (the inverse of :func:`erp_to_cubemap`).

    Each ERP pixel is sampled from the one face its ray hits (the dominant axis of the ray), with
    bilinear interpolation clamped inside that face.

    Arguments:
      faces: torch ``6 x C x f x f`` or ``B x 6 x C x f x f`` (or ``6 x f x f``); numpy ``6 x f x f x C``
        or ``6 x f x f``; in :data:`FACE_NAMES` order.
      erp_hw: ``(H, W)`` of the output, ``W == 2 H``.
      mode: ``"bilinear"`` or ``"nearest"``.

    Returns:
      ``C x H x W`` (``B x C x H x W`` for batched faces, ``H x W`` for ``6 x f x f``; numpy
      ``H x W x C`` / ``H x W``), same dtype as ``faces``.
    """
    mode = check_mode(mode)
    eh, ew = check_erp_size(erp_hw, "erp_hw")
    t, layout = _faces_to_tensor(faces)
    b, _, c, f, _ = t.shape
    dtype = t.dtype
    wdt = work_dtype(dtype)
    x = t if mode == "nearest" else t.to(wdt)
    rays = cached_erp_rays(eh, ew, x.device, wdt)                                   # H x W x 3
    rots = torch.stack([rotation_matrix(y, p, dtype=wdt, device=x.device) for y, p in FACE_ANGLES])
    cams = torch.einsum("hwi,fij->fhwj", rays, rots)                            # R^T d per face: 6 x H x W x 3
    face = cams[..., 2].argmax(dim=0)                                           # the face hit: largest depth
    cam = cams.gather(0, face[None, ..., None].expand(1, eh, ew, 3))[0]
    col = ((cam[..., 0] / cam[..., 2] + 1.0) * (f / 2)).clamp(0.5, f - 0.5)
    row = ((1.0 - cam[..., 1] / cam[..., 2]) * (f / 2)).clamp(0.5, f - 0.5) + face * f
    stacked = x.permute(0, 2, 1, 3, 4).reshape(b, c, 6 * f, f)                 # faces stacked vertically
    out = restore_dtype(sample_image(stacked, col, row, mode), dtype)           # B x C x H x W
    if layout == "t_bchw":
        return out
    out = out[0]
    if layout == "t_chw":
        return out
    if layout == T_HW:
        return out[0]
    out = out[0] if layout == NP_HW else out.movedim(0, -1)
    return np.ascontiguousarray(out.detach().cpu().numpy())
