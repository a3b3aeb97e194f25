"""Motion files: per-frame rig parameters or per-frame vertices, in an npz.

Keys (all optional but at least one of them; T frames):
  expression [T, E'] (E' <= the rig's expressions), jaw [T, 3], neck [T, 3],
  rotation [T, 3] (global head rotation), eyes [T, 6] (left, right; axis-angle),
  translation [T, 3] (metres), or vertices [T, V, 3] (the rig's topology, metres),
  and fps (a scalar, frames per second; default 25).
Rotations may also be 6D: jaw/neck/rotation [T, 6], eyes [T, 12].
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from avatar.checks import DEFAULT_FPS, MAX_FPS
from avatar.errors import L2TError
from avatar.io.atomic import atomic_write_bytes
from avatar.io.npz import read_npz

PARAM_WIDTHS = {"jaw": (3, 6), "neck": (3, 6), "rotation": (3, 6), "eyes": (6, 12), "translation": (3,)}


def frames_for(seconds: float, fps: float) -> int:
    """Frames of a clip that lasts ``seconds``: duration x fps, rounded (at least 1)."""
    return max(1, int(math.floor(seconds * fps + 0.5)))


@dataclass
class Motion:
    params: dict[str, torch.Tensor]  # name -> [T, D]
    vertices: torch.Tensor | None = None  # [T, V, 3]
    fps: float = DEFAULT_FPS

    @property
    def num_frames(self) -> int:
        if self.vertices is not None:
            return int(self.vertices.shape[0])
        return int(next(iter(self.params.values())).shape[0])

    @property
    def seconds(self) -> float:
        return self.num_frames / self.fps

    def resample(self, fps: float) -> Motion:
        """The same motion at another frame rate (linear interpolation between frames)."""
        if abs(fps - self.fps) < 1e-9:
            return self
        n_out = max(1, int(round(self.seconds * fps)))
        params = {k: resample_frames(v, self.fps, fps, n_out) for k, v in self.params.items()}
        vertices = resample_frames(self.vertices, self.fps, fps, n_out) if self.vertices is not None else None
        return Motion(params, vertices, fps)

    def save(self, path: str | Path) -> None:
        """Write the motion npz atomically."""
        arrays = {k: v.detach().cpu().numpy().astype(np.float32) for k, v in self.params.items()}
        if self.vertices is not None:
            arrays["vertices"] = self.vertices.detach().cpu().numpy().astype(np.float32)
        arrays["fps"] = np.array(self.fps, dtype=np.float32)
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **arrays)
        atomic_write_bytes(path, buffer.getvalue())


def resample_frames(x: torch.Tensor, fps_from: float, fps_to: float, num_out: int | None = None) -> torch.Tensor:
    """Frames [T, ...] at ``fps_from`` linearly interpolated to ``fps_to`` (frame i at i / fps)."""
    num_in = x.shape[0]
    num_out = num_out or max(1, int(round(num_in / fps_from * fps_to)))
    src = torch.arange(num_out, dtype=torch.float64) * (fps_from / fps_to)
    lo = src.floor().long().clamp(max=num_in - 1)
    hi = (lo + 1).clamp(max=num_in - 1)
    w = (src - lo.double()).clamp(0, 1).to(x.dtype if x.is_floating_point() else torch.float32)
    shape = (-1,) + (1,) * (x.dim() - 1)
    return x[lo] * (1 - w.view(shape)) + x[hi] * w.view(shape)


def load_motion(path: str | Path, num_vertices: int, num_expressions: int) -> Motion:
    """Read and check a motion file against a rig's sizes; L2TError names any problem."""
    data = read_npz(path, "motion file")
    return motion_from_arrays(data, num_vertices, num_expressions, str(path))


def motion_from_arrays(data: dict, num_vertices: int, num_expressions: int, source: str = "motion") -> Motion:
    """Validate raw arrays (see the module docstring) and build a Motion."""
    raw_fps = np.asarray(data.pop("fps", DEFAULT_FPS))
    if raw_fps.size != 1 or not np.issubdtype(raw_fps.dtype, np.number):
        raise L2TError(f"{source}: fps must be one number, got {raw_fps.dtype} {list(raw_fps.shape)}")
    fps = float(raw_fps.reshape(()))
    if not math.isfinite(fps) or not 0 < fps <= MAX_FPS:
        raise L2TError(f"{source}: fps must be in (0, {MAX_FPS:g}], got {fps}")
    known = set(PARAM_WIDTHS) | {"expression", "vertices"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise L2TError(f"{source}: unknown keys {', '.join(unknown)} (expected some of {', '.join(sorted(known))}, fps)")
    if not data:
        raise L2TError(f"{source}: no motion in it (expected some of {', '.join(sorted(known))})")
    frames = {k: np.asarray(v).shape[0] if np.asarray(v).ndim else 0 for k, v in data.items()}
    if len(set(frames.values())) != 1 or 0 in frames.values():
        raise L2TError(f"{source}: every key needs the same number of frames, got {frames}")
    params, vertices = {}, None
    for key, value in data.items():
        arr = np.asarray(value)
        if not np.issubdtype(arr.dtype, np.number):
            raise L2TError(f"{source}: {key} is not numeric")
        if not np.isfinite(arr).all():
            raise L2TError(f"{source}: {key} contains NaN or infinite values")
        if key == "vertices":
            if arr.ndim != 3 or arr.shape[1:] != (num_vertices, 3):
                raise L2TError(f"{source}: vertices must be [T, {num_vertices}, 3] for this rig, got {list(arr.shape)}")
            vertices = torch.from_numpy(arr.astype(np.float32))
        elif key == "expression":
            if arr.ndim != 2 or arr.shape[1] > num_expressions:
                raise L2TError(f"{source}: expression must be [T, <= {num_expressions}], got {list(arr.shape)}")
            params[key] = torch.from_numpy(arr.astype(np.float32))
        else:
            if arr.ndim != 2 or arr.shape[1] not in PARAM_WIDTHS[key]:
                widths = " or ".join(str(w) for w in PARAM_WIDTHS[key])
                raise L2TError(f"{source}: {key} must be [T, {widths}], got {list(arr.shape)}")
            params[key] = torch.from_numpy(arr.astype(np.float32))
    if vertices is not None and params:
        raise L2TError(f"{source}: give either vertices or rig parameters, not both")
    return Motion(params=params, vertices=vertices, fps=fps)


def demo_motion(expression_names: list[str], seconds: float = 4.0, fps: float = DEFAULT_FPS) -> Motion:
    """A lively demo: a head turn and nod, the jaw talking, a smile, a pucker, raised brows, blinks."""
    t = torch.arange(int(round(seconds * fps))) / fps
    n = len(t)
    names = {name: i for i, name in enumerate(expression_names)}
    expr = torch.zeros(n, len(expression_names))

    def pulse(centre: float, width: float) -> torch.Tensor:
        return torch.exp(-0.5 * ((t - centre) / width) ** 2)

    def put(name: str, curve: torch.Tensor) -> None:
        if name in names:
            expr[:, names[name]] += curve

    phase = t / seconds
    put("mouthSmile_L", 0.9 * pulse(0.3 * seconds, 0.35))
    put("mouthSmile_R", 0.9 * pulse(0.3 * seconds, 0.35))
    put("mouthPucker", 0.9 * pulse(0.62 * seconds, 0.25))
    put("browInnerUp", 0.8 * pulse(0.8 * seconds, 0.3))
    for blink in (0.15, 0.5, 0.9):
        put("eyeBlink_L", pulse(blink * seconds, 0.06))
        put("eyeBlink_R", pulse(blink * seconds, 0.06))
    talk = 0.12 * (0.5 - 0.5 * torch.cos(2 * math.pi * 4.0 * t)) * (1 - pulse(0.62 * seconds, 0.25))
    jaw = torch.stack([talk, torch.zeros(n), torch.zeros(n)], -1)
    rotation = torch.stack([0.08 * torch.sin(2 * math.pi * phase * 2), 0.35 * torch.sin(2 * math.pi * phase), torch.zeros(n)], -1)
    return Motion(params={"expression": expr, "jaw": jaw, "rotation": rotation}, fps=fps)
