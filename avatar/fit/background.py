"""The static background behind the person, learned jointly with the avatar.

It lives in the source frame's pixels (one image for the whole video), seeded by the
temporal median of each pixel over the frames where the person is not there; each training
image sees it through that frame's crop box. What does not move is explained here, so the
avatar's Gaussians do not learn the background.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from avatar.fit.crop import sample_positions

MEDIAN_SAMPLES = 48


def median_sample(num_frames: int, samples: int = MEDIAN_SAMPLES) -> np.ndarray:
    """The frames (indices, evenly spread) that the background median looks at."""
    return np.unique(np.linspace(0, num_frames - 1, min(samples, num_frames)).round().astype(int))


def median_background(frames: np.ndarray, person: np.ndarray) -> np.ndarray:
    """Per-pixel median (the lower middle value) over frames [N, H, W, 3] uint8, ignoring pixels
    where `person` [N, H, W] is set; pixels never free take the median of all free pixels.
    Give it a sample of a video's frames (`median_sample`), not all of them."""
    stack = torch.from_numpy(np.ascontiguousarray(frames)).float()
    stack[torch.from_numpy(np.ascontiguousarray(person))] = float("nan")
    median = torch.nanmedian(stack, 0).values.numpy()
    never = np.isnan(median).any(-1)
    if never.all():
        median[:] = np.median(frames.reshape(-1, 3), axis=0)
    elif never.any():
        median[never] = np.median(median[~never], axis=0)
    return np.clip(median + 0.5, 0, 255).astype(np.uint8)


class Background(nn.Module):
    """A learnable background image [Hb, Wb, 3] and, per frame, the crop box that looks at it."""

    def __init__(self, seed: np.ndarray, crop_boxes: np.ndarray):
        super().__init__()
        self.image = nn.Parameter(torch.from_numpy(seed.astype(np.float32) / 255.0))
        self.register_buffer("boxes", torch.from_numpy(np.asarray(crop_boxes, np.float32)))

    def forward(self, frames: torch.Tensor, size: int) -> torch.Tensor:
        """The background as frames `frames` [B] see it: [B, size, size, 3]."""
        hb, wb = self.image.shape[:2]
        x, y = sample_positions(self.boxes[frames], size)  # source pixels, as the crops sampled the video
        gx = (2 * x / wb - 1)[:, None, :].expand(-1, size, -1)
        gy = (2 * y / hb - 1)[:, :, None].expand(-1, -1, size)
        grid = torch.stack([gx, gy], -1)
        image = self.image.clamp(0, 1).permute(2, 0, 1)[None].expand(len(frames), -1, -1, -1)
        return F.grid_sample(image, grid, mode="bilinear", padding_mode="border", align_corners=False).permute(0, 2, 3, 1)
