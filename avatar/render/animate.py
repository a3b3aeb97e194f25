"""Motion -> frames -> MP4: deform the avatar per frame, render in batches, stream to the encoder."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from avatar.avatar import Avatar
from avatar.io.video import Mp4Writer
from avatar.motion import Motion
from avatar.render.cameras import Camera, frame_head, motion_cameras
from avatar.render.gaussian import pick_backend, render_gaussians
from avatar.render.poser import FramePoser


@dataclass
class RenderStats:
    frames: int
    seconds: float
    backend: str

    @property
    def fps(self) -> float:
        return self.frames / max(self.seconds, 1e-9)


def head_framing(avatar: Avatar) -> tuple[torch.Tensor, float]:
    """Look-at target and camera distance that frame this avatar's neutral head (see frame_head)."""
    verts = avatar.neutral_vertices()[0]
    face = verts[avatar.rig.region("face")] if "face" in avatar.rig.data.regions else verts
    return frame_head(face)


def avatar_cameras(avatar: Avatar, camera: str, num_frames: int, size: int) -> list[Camera]:
    """Cameras that frame this avatar's head for each frame."""
    target, distance = head_framing(avatar)
    return motion_cameras(camera, target, distance, num_frames, size)


@torch.no_grad()
def render_frames(
    avatar: Avatar, motion: Motion, cameras: list[Camera], background=(1.0, 1.0, 1.0), batch: int = 8, backend: str = "auto"
) -> Iterator[np.ndarray]:
    """Yield uint8 frames [H, W, 3], rendering `batch` frames at a time."""
    dev = avatar.device
    bg = torch.tensor(background, dtype=torch.float32, device=dev)
    viewmats = torch.stack([c.world_to_cam for c in cameras]).to(dev)[:, None]  # [T, 1, 4, 4]
    ks = torch.stack([c.K for c in cameras]).to(dev)[:, None]  # [T, 1, 3, 3]
    for start, count, world in FramePoser(avatar).batches(motion, batch):
        views = torch.arange(start, start + len(world.means), device=dev).clamp_max(motion.num_frames - 1)
        out = render_gaussians(
            world.means,
            world.quats,
            world.scales,
            world.opacities,
            world.sh,
            viewmats[views],
            ks[views],
            cameras[0].width,
            cameras[0].height,
            world.sh_degree,
            bg,
            backend=backend,
            depth=False,
        )
        frames = (out.rgb[:count, 0].clamp(0, 1) * 255 + 0.5).to(torch.uint8).cpu().numpy()
        yield from frames


def render_motion_to_mp4(
    avatar: Avatar,
    motion: Motion,
    output: str | Path,
    size: int = 512,
    camera: str = "front",
    audio: str | Path | None = None,
    background=(1.0, 1.0, 1.0),
    progress: bool = True,
    backend: str = "auto",
    on_frame: Callable[[int, int], None] | None = None,
) -> RenderStats:
    """Render a motion to an MP4 (atomically), with an optional audio track.

    Rendering and H.264 encoding overlap: a writer thread feeds the encoder while the next
    batch renders. on_frame(done, total) is called after each frame is queued."""
    cameras = avatar_cameras(avatar, camera, motion.num_frames, size)
    start = time.perf_counter()
    with Mp4Writer(output, size, size, motion.fps, audio=audio) as writer, BackgroundWriter(writer) as queue:
        frames = render_frames(avatar, motion, cameras, background, backend=backend)
        for done, frame in enumerate(tqdm(frames, total=motion.num_frames, unit="frame", desc="render", disable=not progress), 1):
            queue.put(frame)
            if on_frame is not None:
                on_frame(done, motion.num_frames)
    return RenderStats(motion.num_frames, time.perf_counter() - start, pick_backend(avatar.device, backend))


class BackgroundWriter:
    """Feeds frames to a writer from a thread (bounded queue); re-raises the writer's error."""

    def __init__(self, writer, depth: int = 32):
        self.writer, self.queue, self.error = writer, queue.Queue(maxsize=depth), None
        self.thread = threading.Thread(target=self._drain, daemon=True)

    def _drain(self) -> None:
        while (frame := self.queue.get()) is not None:
            if self.error is None:
                try:
                    self.writer.write(frame)
                except BaseException as exc:  # surfaced in put() / __exit__
                    self.error = exc

    def __enter__(self) -> BackgroundWriter:
        self.thread.start()
        return self

    def put(self, frame: np.ndarray) -> None:
        if self.error is not None:
            raise self.error
        self.queue.put(frame)

    def __exit__(self, exc_type, exc, tb) -> None:
        self.queue.put(None)
        self.thread.join()
        if self.error is not None and exc_type is None:
            raise self.error
