"""How fine the frames of a fit can see each triangle, for anti-aliasing (Mip-Splatting's 3D filter).

A Gaussian smaller than a pixel of the frames it was fitted to is unconstrained: at the
training resolution it looks right, rendered larger (a 108 px face crop shown at 512²) it
sparkles. The fit therefore convolves every Gaussian with an isotropic one as wide as the
finest pixel that saw its triangle (`GaussianAvatarModel.smoothed`), so renders at a higher
resolution blur instead, and bakes the filter into the avatar it writes.
"""

from __future__ import annotations

import torch

from avatar.gaussians import triangle_frames

FILTER_PIXELS = 0.2**0.5  # the filter's std in pixels of the finest frame (Mip-Splatting's variance of 0.2)


@torch.no_grad()
def triangle_footprints(
    vertices, faces: torch.Tensor, world_to_cam: torch.Tensor, Ks: torch.Tensor, frames: torch.Tensor, chunk: int = 64
) -> torch.Tensor:
    """Per-triangle smoothing [F] in triangle-local units (the Gaussians' own): FILTER_PIXELS times
    the smallest pixel footprint (depth / focal, over the triangle's size) over the given frames.

    vertices: a function of frame indices [B] -> posed vertices [B, V, 3]."""
    best = None
    for f in frames.split(chunk):
        _, k, centre = triangle_frames(vertices(f), faces)
        r, t = world_to_cam[f][:, :3, :3], world_to_cam[f][:, :3, 3]
        depth = (torch.einsum("bij,bfj->bfi", r, centre) + t[:, None])[..., 2].clamp_min(1e-3)
        focal = Ks[f][:, 0, 0, None]
        local = (depth / focal / k.clamp_min(1e-9)).amin(0)
        best = local if best is None else torch.minimum(best, local)
    return FILTER_PIXELS * best
