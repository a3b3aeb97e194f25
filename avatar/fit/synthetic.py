"""Closed-loop material for fitting: a video of a known avatar moving in a known way.

The clip shows the avatar talking (jaw, a smile coming and going, blinks) and turning its
head in front of a fixed camera, over a static background with some structure, so a fit of
it can be scored against the truth (benchmarks) and `fit` can be tested end to end on CPU.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from avatar.avatar import Avatar
from avatar.io.tracked_folder import TrackedFrames
from avatar.io.video import Mp4Writer
from avatar.motion import DEFAULT_FPS
from avatar.render.animate import head_framing
from avatar.render.cameras import orbit_camera
from avatar.render.gaussian import render_gaussians


def synthetic_motion(avatar: Avatar, num_frames: int, fps: float = DEFAULT_FPS) -> dict[str, torch.Tensor]:
    """Rig parameters [T, D] for a talking, head-turning clip."""
    t = torch.arange(num_frames, dtype=torch.float32) / fps
    rig = avatar.rig
    expression = torch.zeros(num_frames, rig.num_expressions)
    names = rig.data.expression_names
    for name, value in (("mouthSmile_L", 0.5 * (1 - torch.cos(1.3 * t))), ("mouthSmile_R", 0.5 * (1 - torch.cos(1.3 * t)))):
        if name in names:
            expression[:, names.index(name)] = 0.6 * value
    blink = torch.exp(-(((t % 1.7 - 0.8) / 0.06) ** 2))
    for name in ("eyeBlink_L", "eyeBlink_R"):
        if name in names:
            expression[:, names.index(name)] = blink
    jaw = torch.zeros(num_frames, 3)
    jaw[:, 0] = 0.12 * (1 - torch.cos(2 * math.pi * 2.2 * t)) * (0.6 + 0.4 * torch.sin(2 * math.pi * 0.37 * t))
    rotation = torch.stack(
        [0.08 * torch.sin(2 * math.pi * 0.3 * t), 0.3 * torch.sin(2 * math.pi * 0.21 * t), 0.04 * torch.sin(2 * math.pi * 0.5 * t)], -1
    )
    return {"expression": expression, "jaw": jaw, "rotation": rotation}


def backdrop(size: int) -> torch.Tensor:
    """A static background image [size, size, 3] with gradients and stripes."""
    y, x = torch.meshgrid(torch.linspace(0, 1, size), torch.linspace(0, 1, size), indexing="ij")
    stripes = 0.5 + 0.5 * torch.sin(2 * math.pi * 3 * (x + 0.3 * y))
    return torch.stack([0.25 + 0.35 * x, 0.45 + 0.2 * stripes * (1 - y), 0.6 - 0.3 * y], -1).clamp(0, 1)


@torch.no_grad()
def synthetic_frames(
    avatar: Avatar, num_frames: int, size: int, fps: float = DEFAULT_FPS, batch: int = 8, motion: dict[str, torch.Tensor] | None = None
) -> tuple[np.ndarray, dict]:
    """The clip's frames [N, size, size, 3] uint8 and the truth: motion parameters and the camera.
    motion: rig parameters [N, D] to play (default: synthetic_motion's)."""
    motion = synthetic_motion(avatar, num_frames, fps) if motion is None else motion
    dev = avatar.device
    target, distance = head_framing(avatar)
    cam = orbit_camera(target, distance * 1.2, 0.0, 0.0, 20.0, size, size)
    bg = backdrop(size).to(dev)
    shape = avatar.shape[None] if avatar.shape.numel() else None
    frames = []
    for start in range(0, num_frames, batch):
        part = {k: v[start : start + batch].to(dev) for k, v in motion.items()}
        n = len(part["jaw"])
        verts = avatar.rig(
            shape=shape.expand(n, -1) if shape is not None else None, vertex_offsets=avatar.vertex_offsets, batch_size=n, **part
        ).vertices
        w = avatar.world(verts)
        out = render_gaussians(
            w.means, w.quats, w.scales, w.opacities, w.sh, cam.world_to_cam[None].to(dev), cam.K[None].to(dev), size, size, w.sh_degree
        )
        images = out.rgb[:, 0] + (1 - out.alpha[:, 0]) * bg
        frames.append((images.clamp(0, 1) * 255 + 0.5).to(torch.uint8).cpu().numpy())
    truth = {"motion": {k: v.numpy() for k, v in motion.items()}, "K": cam.K.numpy(), "world_to_cam": cam.world_to_cam.numpy(), "fps": fps}
    return np.concatenate(frames), truth


def render_synthetic_clip(
    avatar: Avatar,
    path: str | Path,
    num_frames: int,
    size: int,
    fps: float = DEFAULT_FPS,
    motion: dict[str, torch.Tensor] | None = None,
    audio: str | Path | None = None,
) -> dict:
    """Write the clip to `path` (MP4, with `audio` as its sound when given); return the truth (see synthetic_frames)."""
    frames, truth = synthetic_frames(avatar, num_frames, size, fps, motion=motion)
    with Mp4Writer(path, size, size, fps, audio=audio, quality=9) as writer:
        for frame in frames:
            writer.write(frame)
    return truth


def synthetic_tracked(avatar: Avatar, num_frames: int, size: int) -> TrackedFrames:
    """A synthetic clip of `avatar` as the Gaussian stage receives it, tracked perfectly (its true
    motion and camera): for measuring and testing that stage without landmarks or tracking."""
    images, truth = synthetic_frames(avatar, num_frames, size)
    params = {k: torch.from_numpy(v).float() for k, v in truth["motion"].items()}
    for name, width in (("translation", 3), ("neck", 3), ("eyes", 6)):
        params.setdefault(name, torch.zeros(num_frames, width))
    return TrackedFrames(
        images=images,
        Ks=torch.from_numpy(truth["K"]).float().expand(num_frames, 3, 3).clone(),
        world_to_cam=torch.from_numpy(truth["world_to_cam"]).float().expand(num_frames, 4, 4).clone(),
        params=params,
        shape=avatar.shape.cpu() if avatar.shape.numel() else torch.zeros(avatar.rig.num_shapes),
        vertex_offsets=avatar.vertex_offsets.cpu() if avatar.vertex_offsets is not None else None,
        fps=truth["fps"],
        video_frames=np.arange(num_frames),
    )
