"""Cubemaps: erp_to_cubemap / cubemap_to_erp."""
import numpy as np
import torch

from gsam_lab import panorama as P


def ray_erp(h=64, w=128):
    return P.erp_rays(h, w).permute(2, 0, 1).contiguous()


def test_face_order_and_directions():
    assert P.FACE_NAMES == ("front", "right", "back", "left", "up", "down")
    faces = P.erp_to_cubemap(ray_erp(), 9)                     # 6 x 3 x 9 x 9; channels = ray direction
    centres = faces[:, :, 4, 4]
    expected = torch.tensor([[0, 0, 1], [1, 0, 0], [0, 0, -1], [-1, 0, 0], [0, 1, 0], [0, -1, 0]], dtype=torch.float32)
    assert (centres - expected).abs().max() < 0.03
    # up face: image top points to the back (-z), bottom to the front; down face the other way round
    assert faces[4, 2, 0, 4] < -0.5 and faces[4, 2, -1, 4] > 0.5
    assert faces[5, 2, 0, 4] > 0.5 and faces[5, 2, -1, 4] < -0.5


def test_faces_are_90_degree_views():
    e = torch.rand(2, 32, 64)
    faces = P.erp_to_cubemap(e, 8)
    for k, (yaw, pitch) in enumerate(P.FACE_ANGLES):
        assert torch.allclose(faces[k], P.erp_to_perspective(e, 90.0, yaw, pitch, (8, 8)), atol=1e-6)


def test_shapes():
    assert P.erp_to_cubemap(torch.rand(2, 3, 32, 64), 8).shape == (2, 6, 3, 8, 8)
    assert P.erp_to_cubemap(torch.rand(32, 64), 8).shape == (6, 8, 8)
    assert P.erp_to_cubemap(np.zeros((32, 64, 3), np.uint8), 8).shape == (6, 8, 8, 3)
    faces = torch.rand(2, 6, 3, 8, 8)
    assert P.cubemap_to_erp(faces, (16, 32)).shape == (2, 3, 16, 32)
    assert P.cubemap_to_erp(faces[0], (16, 32)).shape == (3, 16, 32)
    assert P.cubemap_to_erp(faces[0, :, 0], (16, 32)).shape == (16, 32)
    assert P.cubemap_to_erp(faces[0].permute(0, 2, 3, 1).numpy(), (16, 32)).shape == (16, 32, 3)


def test_cubemap_roundtrip_smooth():
    e = ray_erp(128, 256)
    back = P.cubemap_to_erp(P.erp_to_cubemap(e, 64), (128, 256))
    assert (back - e).abs().max() < 0.02
    assert (back - e).abs().mean() < 2e-3


def test_cubemap_roundtrip_texture_and_batch():
    lon, lat = P.erp_lonlat(64, 128)
    e = torch.stack([torch.sin(k * lon) * torch.cos(lat) ** k for k in (1, 2, 3)])   # smooth on the sphere
    e = torch.stack([e, e.flip(0)])
    back = P.cubemap_to_erp(P.erp_to_cubemap(e, 48), (64, 128))
    assert (back - e).abs().mean() < 0.01
    assert torch.allclose(back[1], back[0].flip(0))


def test_cubemap_labels_nearest_roundtrip():
    labels = torch.zeros(1, 32, 64, dtype=torch.int64)
    labels[:, :, :32] = 3                                      # west half
    labels[:, :8] = 7                                          # north cap
    back = P.cubemap_to_erp(P.erp_to_cubemap(labels, 32, mode="nearest"), (32, 64), mode="nearest")
    assert back.dtype == torch.int64
    assert (back == labels).float().mean() > 0.97


def test_cubemap_to_erp_each_pixel_from_its_face():
    faces = torch.arange(6, dtype=torch.float32)[:, None, None, None].expand(6, 1, 4, 4)
    erp = P.cubemap_to_erp(faces, (64, 128), mode="nearest")[0]
    lon, lat = P.erp_lonlat(64, 128)
    assert erp[32, 64] == 0 and erp[32, 96] == 1 and erp[32, 0] == 2 and erp[32, 32] == 3
    assert erp[0, 10] == 4 and erp[-1, 10] == 5
