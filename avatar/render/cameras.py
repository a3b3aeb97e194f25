"""Pinhole cameras in the OpenCV convention.

Camera space: +x right, +y down, +z forward (into the scene). `world_to_cam` maps world
points to camera space; pixel (u, v) = (fx * x / z + cx, fy * y / z + cy), with pixel i
covering [i, i + 1) so its centre is i + 0.5. World space is the rig's: +y up, +z out of
the face, metres.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from avatar.errors import L2TError


@dataclass
class Camera:
    world_to_cam: torch.Tensor  # [4, 4]
    K: torch.Tensor  # [3, 3]
    width: int
    height: int

    def to(self, device) -> Camera:
        return Camera(self.world_to_cam.to(device), self.K.to(device), self.width, self.height)

    def transform(self, points: torch.Tensor) -> torch.Tensor:
        """World points [..., 3] -> camera-space points [..., 3]."""
        r, t = self.world_to_cam[:3, :3].to(points.dtype), self.world_to_cam[:3, 3].to(points.dtype)
        return points @ r.T + t

    def project(self, points_cam: torch.Tensor) -> torch.Tensor:
        """Camera-space points [..., 3] -> pixel coordinates [..., 2]."""
        k = self.K.to(points_cam.dtype)
        z = points_cam[..., 2:3].clamp(min=1e-8)
        return points_cam[..., :2] / z * torch.stack([k[0, 0], k[1, 1]]) + torch.stack([k[0, 2], k[1, 2]])

    @property
    def position(self) -> torch.Tensor:
        """Camera centre in world space [3]."""
        r, t = self.world_to_cam[:3, :3], self.world_to_cam[:3, 3]
        return -r.T @ t


def pinhole_intrinsics(focal, width: int, height: int) -> torch.Tensor:
    """K [3, 3] for square pixels of focal length ``focal`` (pixels; a float or a 0-d tensor,
    gradients flow through it), principal point at the image centre."""
    f = torch.as_tensor(focal, dtype=torch.float32)
    zero = torch.zeros_like(f)
    return torch.stack(
        [torch.stack([f, zero, zero + width / 2]), torch.stack([zero, f, zero + height / 2]), torch.stack([zero, zero, zero + 1.0])]
    )


def intrinsics_from_fov(fov_deg: float, width: int, height: int) -> torch.Tensor:
    """K [3, 3] for a horizontal field of view (degrees), principal point at the centre."""
    return pinhole_intrinsics(0.5 * width / math.tan(math.radians(fov_deg) / 2), width, height)


def look_at(eye, target, up=(0.0, 1.0, 0.0)) -> torch.Tensor:
    """world_to_cam [4, 4] for a camera at `eye` looking at `target` (OpenCV axes)."""
    eye, target, up = (torch.as_tensor(v, dtype=torch.float32) for v in (eye, target, up))
    forward = target - eye
    forward = forward / forward.norm()
    right = torch.linalg.cross(forward, up)
    if right.norm() < 1e-6:
        raise ValueError("look_at: the up vector is parallel to the viewing direction")
    right = right / right.norm()
    down = torch.linalg.cross(forward, right)
    rot = torch.stack([right, down, forward])
    m = torch.eye(4)
    m[:3, :3] = rot
    m[:3, 3] = -rot @ eye
    return m


def orbit_eye(target, distance: float, yaw_deg: float, pitch_deg: float = 0.0) -> torch.Tensor:
    """Camera position on a sphere round `target`; yaw 0 is straight in front (+z),
    positive yaw moves towards the subject's left (+x), positive pitch looks from above."""
    yaw, pitch = math.radians(yaw_deg), math.radians(pitch_deg)
    offset = torch.tensor([math.sin(yaw) * math.cos(pitch), math.sin(pitch), math.cos(yaw) * math.cos(pitch)])
    return torch.as_tensor(target, dtype=torch.float32) + distance * offset


def orbit_camera(
    target, distance: float, yaw_deg: float, pitch_deg: float = 0.0, fov_deg: float = 20.0, width: int = 512, height: int = 512
) -> Camera:
    """A camera orbiting `target`, looking at it."""
    eye = orbit_eye(target, distance, yaw_deg, pitch_deg)
    return Camera(look_at(eye, target), intrinsics_from_fov(fov_deg, width, height), width, height)


# Named views: yaw, pitch in degrees.
CAMERA_PRESETS = {"front": (0.0, 0.0), "three-quarter": (35.0, 5.0), "profile": (90.0, 0.0)}


def preset_camera(name: str, target, distance: float, fov_deg: float = 20.0, size: int = 512) -> Camera:
    """A named view (front, three-quarter, profile) of `target`."""
    if name not in CAMERA_PRESETS:
        raise L2TError(f"unknown camera {name!r}; choose one of {', '.join(CAMERA_PRESETS)}")
    yaw, pitch = CAMERA_PRESETS[name]
    return orbit_camera(target, distance, yaw, pitch, fov_deg, size, size)


def frame_head(face_verts: torch.Tensor, margin: float = 5.2) -> tuple[torch.Tensor, float]:
    """A look-at target (the face's centre, nudged up) and a camera distance for a 20 deg
    field of view that frames the whole head, from face vertices [N, 3]."""
    lo, hi = face_verts.min(0).values, face_verts.max(0).values
    target = (lo + hi) / 2
    target[2] = lo[2]
    target[1] += 0.1 * float(hi[1] - lo[1])
    return target.detach().cpu(), margin * float((hi - lo)[:2].max())


def motion_cameras(name: str, target, distance: float, num_frames: int, size: int, fov_deg: float = 20.0) -> list[Camera]:
    """One camera per frame: a fixed preset, or "orbit" (a slow swing of +-40 deg yaw)."""
    if name == "orbit":
        yaws = [40.0 * math.sin(2 * math.pi * i / max(num_frames, 1)) for i in range(num_frames)]
        return [orbit_camera(target, distance, y, 5.0, fov_deg, size, size) for y in yaws]
    return [preset_camera(name, target, distance, fov_deg, size)] * num_frames


def camera_points(points: torch.Tensor, world_to_cam: torch.Tensor) -> torch.Tensor:
    """World points [B, P, 3] -> camera-space points [B, P, 3]; world_to_cam [4, 4] or [B, 4, 4]."""
    r, t = world_to_cam[..., :3, :3], world_to_cam[..., :3, 3]
    return points @ r.transpose(-1, -2) + t[..., None, :]


def project_points(points: torch.Tensor, world_to_cam: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """World points [B, P, 3] -> pixels [B, P, 2]; world_to_cam [4, 4] or [B, 4, 4], K [3, 3] or [B, 3, 3]."""
    cam = camera_points(points, world_to_cam)
    z = cam[..., 2:3].clamp(min=1e-6)
    focal = torch.stack([K[..., 0, 0], K[..., 1, 1]], -1)[..., None, :]
    centre = torch.stack([K[..., 0, 2], K[..., 1, 2]], -1)[..., None, :]
    return cam[..., :2] / z * focal + centre
