"""A square head crop that follows the tracked face smoothly, and the intrinsics that go with it.

The crop centre is the landmarks' bounding-box centre filtered by a zero-phase Gaussian over
time (no jitter, no lag); the side is fixed for the whole video (a multiple of the median
face size), so the head keeps its scale from frame to frame.
"""

from __future__ import annotations

import numpy as np
from PIL import Image
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


def crop_frame(frame: np.ndarray, box: np.ndarray, size: int) -> np.ndarray:
    """The box of ``frame`` resized to ``size`` x ``size`` (black where the box leaves the image)."""
    cx, cy, side = (float(v) for v in box)
    left, top = cx - side / 2, cy - side / 2
    image = Image.fromarray(frame[..., :3])
    # PIL maps each output pixel back to the input through this affine transform.
    step = side / size
    return np.asarray(image.transform((size, size), Image.AFFINE, (step, 0, left, 0, step, top), resample=Image.BILINEAR, fillcolor=None))


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
