"""Full-quality frames rendered on the server (gsplat, spherical harmonics) from a browser's camera."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from avatar.avatar import Avatar
from avatar.render.cameras import pinhole_intrinsics
from avatar.render.gaussian import render_gaussians
from avatar.rig.rotations import matrix_to_quaternion, quaternion_to_matrix


@dataclass
class BrowserCamera:
    """A camera as viser reports a tab's: pose T_world_camera (OpenCV axes), vertical fov (radians), aspect."""

    wxyz: np.ndarray
    position: np.ndarray
    fov: float
    aspect: float = 1.0

    @classmethod
    def from_world_to_cam(cls, world_to_cam: torch.Tensor, fov_y: float, aspect: float = 1.0) -> BrowserCamera:
        cam_to_world = torch.linalg.inv(world_to_cam)
        return cls(matrix_to_quaternion(cam_to_world[:3, :3]).numpy(), cam_to_world[:3, 3].numpy(), fov_y, aspect)


def viser_camera_matrices(wxyz, position, fov_y: float, aspect: float, height: int) -> tuple[torch.Tensor, torch.Tensor, int, int]:
    """world_to_cam [4, 4], K [3, 3], width, height for a viser camera (OpenCV axes, vertical fov in radians)."""
    height = int(height)
    width = max(2, int(round(height * aspect)))
    cam_to_world = torch.eye(4)
    cam_to_world[:3, :3] = quaternion_to_matrix(torch.tensor(np.asarray(wxyz), dtype=torch.float32))
    cam_to_world[:3, 3] = torch.tensor(np.asarray(position), dtype=torch.float32)
    K = pinhole_intrinsics(0.5 * height / math.tan(0.5 * fov_y), width, height)
    return torch.linalg.inv(cam_to_world), K, width, height


@torch.no_grad()
def render_view(
    avatar: Avatar, params: dict[str, torch.Tensor], shape: torch.Tensor, camera, height: int = 540, background=(1.0, 1.0, 1.0)
) -> np.ndarray:
    """uint8 [H, W, 3]: the avatar posed by `params` (name -> [D]) seen from a viser camera."""
    dev = avatar.device
    batch = {k: v[None].to(dev) for k, v in params.items()}
    verts = avatar.rig(
        shape=shape[None].to(dev) if shape.numel() else None, vertex_offsets=avatar.vertex_offsets, batch_size=1, **batch
    ).vertices
    world = avatar.world(verts)
    viewmat, K, width, height = viser_camera_matrices(camera.wxyz, camera.position, camera.fov, camera.aspect, height)
    out = render_gaussians(
        world.means,
        world.quats,
        world.scales,
        world.opacities,
        world.sh,
        viewmat[None].to(dev),
        K[None].to(dev),
        width,
        height,
        world.sh_degree,
        torch.tensor(background, device=dev),
    )
    return (out.rgb[0, 0].clamp(0, 1) * 255 + 0.5).to(torch.uint8).cpu().numpy()
