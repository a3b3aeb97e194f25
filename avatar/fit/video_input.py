"""Reading the video a user wants to fit: frames as RGB arrays, with the checks that make a
bad input one clear error (unreadable, empty, variable frame rate) and a huge frame downscaled."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from avatar.errors import L2TError
from avatar.io.audio import ffmpeg_exe

MAX_SIDE = 1280  # longer frame side we work at; bigger videos are downscaled on reading
VFR_TOLERANCE = 0.02  # fraction of frames whose duration may differ before we call it variable


@dataclass
class VideoFrames:
    frames: np.ndarray  # [N, H, W, 3] uint8 RGB
    fps: float
    source_size: tuple[int, int]  # (width, height) as stored in the file
    scale: float  # frames are source_size * scale

    @property
    def size(self) -> tuple[int, int]:
        return int(self.frames.shape[2]), int(self.frames.shape[1])


def variable_frame_fraction(path: str | Path) -> float:
    """Fraction of frames whose duration differs from the rest (ffmpeg's vfrdet filter); 0 when constant."""
    log = subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", str(path), "-map", "0:v:0", "-vf", "vfrdet", "-an", "-f", "null", "-"],
        capture_output=True,
        text=True,
    ).stderr
    found = re.findall(r"VFR:([-\d.naNinf]+) \((\d+)/(\d+)\)", log)
    if not found:
        return 0.0
    _, vfr, total = found[-1]
    return int(vfr) / int(total) if int(total) else 0.0


def read_video(path: str | Path, max_side: int = MAX_SIDE, max_frames: int | None = None) -> VideoFrames:
    """All frames of a video as RGB (downscaled so the longer side is at most ``max_side``)."""
    import imageio_ffmpeg

    path = Path(path)
    if not path.is_file():
        raise L2TError(f"video not found: {path}")
    try:
        reader = imageio_ffmpeg.read_frames(str(path), pix_fmt="rgb24")
        meta = reader.__next__()
    except (OSError, RuntimeError, StopIteration) as exc:
        raise L2TError(f"cannot read {path} as a video ({str(exc).splitlines()[0] if str(exc) else 'no video stream'})") from None
    width, height = meta["size"]
    fps = float(meta.get("fps") or 0)
    if not width or not height or not fps > 0:
        raise L2TError(f"{path} has no usable video stream")
    fraction = variable_frame_fraction(path)
    if fraction > VFR_TOLERANCE:
        raise L2TError(
            f"{path} has a variable frame rate ({100 * fraction:.0f}% of frames differ in duration); "
            f"convert it first: ffmpeg -i {path.name} -fps_mode cfr -r {fps:g} fixed.mp4"
        )
    scale = min(1.0, max_side / max(width, height))
    out_size = (max(2, round(width * scale)), max(2, round(height * scale)))
    frames = []
    try:
        for raw in reader:
            frame = np.frombuffer(raw, np.uint8).reshape(height, width, 3)
            if scale < 1:
                frame = np.asarray(Image.fromarray(frame).resize(out_size, Image.LANCZOS))
            frames.append(frame)
            if max_frames is not None and len(frames) >= max_frames:
                break
    except (OSError, RuntimeError) as exc:
        raise L2TError(f"{path} is damaged: decoding stopped after {len(frames)} frames ({str(exc).splitlines()[0]})") from None
    finally:
        reader.close()
    if not frames:
        raise L2TError(f"{path} holds no video frames")
    return VideoFrames(np.stack(frames), fps, (width, height), scale)
