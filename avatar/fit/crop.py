"""A square head crop that follows the tracked face smoothly, and the intrinsics that go with it.

The crop centre is the landmarks' bounding-box centre filtered by a zero-phase Gaussian over
time (no jitter, no lag); the side is fixed for the whole video (a multiple of the median
face size), so the head keeps its scale from frame to frame.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from scipy.ndimage import gaussian_filter1d


def head_boxes(landmarks: np.ndarray, scale: float = 1.9, smoothing_frames: float = 3.0, lift: float = 0.12) -> np.ndarray:
    """[N, 478, 3] pixel landmarks -> [N, 3] boxes (centre x, centre y, side), side constant.

    ``lift`` moves the centre up by that fraction of the face height, so the crop holds the
    forehead and hair as well as the chin.
    """
    lo, hi = landmarks[:, :, :2].min(1), landmarks[:, :, :2].max(1)
    centre = 0.5 * (lo + hi)
    size = (hi - lo).max(1)
    centre[:, 1] -= lift * (hi - lo)[:, 1]
    if len(centre) > 1 and smoothing_frames > 0:
        centre = gaussian_filter1d(centre, smoothing_frames, axis=0, mode="nearest")
    side = np.full(len(centre), scale * float(np.median(size)), np.float64)
    return np.concatenate([centre, side[:, None]], 1)


def sample_positions(boxes: torch.Tensor, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Where each crop pixel samples the video: boxes [B, 3] (centre x, centre y, side) -> source x and y
    [B, size] of pixel i, at left + (i + 0.5) * side / size (pixel centres at +0.5)."""
    steps = (torch.arange(size, device=boxes.device, dtype=boxes.dtype) + 0.5) / size - 0.5  # [S] in box units
    return boxes[:, 0, None] + boxes[:, 2, None] * steps, boxes[:, 1, None] + boxes[:, 2, None] * steps


def crop_frames(
    frames: np.ndarray, boxes: np.ndarray, size: int, device: torch.device = torch.device("cpu"), chunk: int = 64
) -> np.ndarray:
    """Each frame's box [N, 3] resized to ``size`` x ``size`` by bilinear sampling (black where a box
    leaves the image): frames [N, H, W, 3] uint8 -> [N, size, size, 3] uint8, in chunks on ``device``.
    Output pixel i samples the frame at left + (i + 0.5) * side / size (pixel centres at +0.5)."""
    height, width = frames.shape[1:3]
    out = np.empty((len(frames), size, size, 3), np.uint8)
    for start in range(0, len(frames), chunk):
        part = torch.from_numpy(np.ascontiguousarray(frames[start : start + chunk, ..., :3])).to(device)
        box = torch.from_numpy(np.asarray(boxes[start : start + chunk], np.float32)).to(device)
        x, y = sample_positions(box, size)  # [B, S] source pixels
        grid = torch.stack(
            [(2 * x / width - 1)[:, None, :].expand(-1, size, -1), (2 * y / height - 1)[:, :, None].expand(-1, -1, size)], -1
        )
        image = part.permute(0, 3, 1, 2).float()
        sampled = F.grid_sample(image, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        out[start : start + len(part)] = (sampled.permute(0, 2, 3, 1) + 0.5).clamp(0, 255).to(torch.uint8).cpu().numpy()
    return out


def inside_frame(boxes: torch.Tensor, frame_size: tuple[int, int], size: int) -> torch.Tensor:
    """[B, size, size] bool: the crop pixels that `crop_frames` sampled wholly inside the video frame
    (width, height), not from its black padding where a box [B, 3] leaves the image."""
    width, height = frame_size
    x, y = sample_positions(boxes, size)  # as crop_frames samples them
    columns = (x >= 0.5) & (x <= width - 0.5)  # bilinear: both neighbours inside
    rows = (y >= 0.5) & (y <= height - 0.5)
    return rows[:, :, None] & columns[:, None, :]


def crop_intrinsics(K: np.ndarray, box: np.ndarray, size: int) -> np.ndarray:
    """Intrinsics of the crop: a pixel (u, v) of the frame lands at ((u - left) s, (v - top) s), s = size / side."""
    cx, cy, side = (float(v) for v in box)
    s = size / side
    out = np.array(K, np.float64).copy()
    out[0, 0] *= s
    out[1, 1] *= s
    out[0, 2] = (out[0, 2] - (cx - side / 2)) * s
    out[1, 2] = (out[1, 2] - (cy - side / 2)) * s
    return out
