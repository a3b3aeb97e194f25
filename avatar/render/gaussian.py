"""render_gaussians(): one entry point, two backends with the same arguments and outputs.

- "gsplat": gsplat's CUDA rasterizer (used whenever the tensors are on CUDA);
- "torch": a differentiable pure-PyTorch rasterizer for the CPU, tile by tile, that
  follows gsplat's conventions (EWA projection with a 0.3 px blur, 3.33-sigma extent,
  pixel centres at +0.5, alpha capped at 0.999 and dropped under 1/255, front-to-back
  compositing that stops at transmittance 1e-4).

Cameras are OpenCV-style (see cameras.py): viewmats are world-to-camera [C, 4, 4].
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import torch

from avatar.render.sh import eval_sh
from avatar.rig.rotations import quaternion_to_matrix

NEAR_PLANE = 0.01
EPS2D = 0.3
ALPHA_MIN, ALPHA_MAX, T_MIN = 1.0 / 255.0, 0.999, 1e-4
TILE = 16
SIGMA_MAX = 8.0  # exp(-8) < ALPHA_MIN: farther pixels are dropped anyway, and exp of large negatives is slow on the CPU


@dataclass
class RenderOutput:
    rgb: torch.Tensor  # [B, C, H, W, 3] composited over the background
    alpha: torch.Tensor  # [B, C, H, W, 1]
    depth: torch.Tensor | None  # [B, C, H, W, 1] expected camera-space depth (0 where empty); None if not asked for


def pick_backend(device: torch.device, backend: str = "auto") -> str:
    if backend == "auto":
        return "gsplat" if device.type == "cuda" else "torch"
    if backend == "gsplat" and device.type != "cuda":
        raise ValueError("the gsplat backend needs CUDA tensors (gsplat cannot rasterize on the CPU)")
    if backend not in ("gsplat", "torch"):
        raise ValueError(f"unknown backend {backend!r}")
    return backend


def render_gaussians(
    means: torch.Tensor,  # [B, N, 3] world positions
    quats: torch.Tensor,  # [B, N, 4] (w, x, y, z)
    scales: torch.Tensor,  # [B, N, 3] linear
    opacities: torch.Tensor,  # [N] or [B, N] in (0, 1)
    sh: torch.Tensor,  # [N, K, 3] or [B, N, K, 3] SH coefficients
    viewmats: torch.Tensor,  # [C, 4, 4] or [B, C, 4, 4] world-to-camera
    Ks: torch.Tensor,  # [C, 3, 3] or [B, C, 3, 3]
    width: int,
    height: int,
    sh_degree: int,
    background: torch.Tensor | None = None,  # [3] colour behind the avatar (default black)
    backend: str = "auto",
    depth: bool = True,  # False: colour and alpha only (gsplat skips the depth channel)
) -> RenderOutput:
    """Render B frames from C cameras each."""
    b = means.shape[0]
    opacities = opacities.expand(b, -1) if opacities.dim() == 1 else opacities
    sh = sh.expand(b, *sh.shape) if sh.dim() == 3 else sh
    viewmats = viewmats.expand(b, -1, -1, -1) if viewmats.dim() == 3 else viewmats
    Ks = Ks.expand(b, -1, -1, -1) if Ks.dim() == 3 else Ks
    bg = torch.zeros(3, device=means.device, dtype=means.dtype) if background is None else background.to(means)
    if pick_backend(means.device, backend) == "gsplat":
        return _render_gsplat(means, quats, scales, opacities, sh, viewmats, Ks, width, height, sh_degree, bg, depth)
    frames = [
        torch.stack(
            [
                _render_torch_one(
                    means[i], quats[i], scales[i], opacities[i], sh[i], viewmats[i, c], Ks[i, c], width, height, sh_degree, bg
                )
                for c in range(viewmats.shape[1])
            ]
        )
        for i in range(b)
    ]
    out = torch.stack(frames)  # [B, C, H, W, 5]
    return RenderOutput(out[..., :3], out[..., 3:4], out[..., 4:5] if depth else None)


def _render_gsplat(means, quats, scales, opacities, sh, viewmats, Ks, width, height, sh_degree, bg, depth: bool) -> RenderOutput:
    from gsplat import rasterization

    from avatar.render.gsplat_kernels import ensure_kernels

    ensure_kernels(log=lambda note: print(note, file=sys.stderr, flush=True))

    c = viewmats.shape[1]
    img, alpha, _ = rasterization(
        means,
        quats,
        scales,
        opacities,
        sh,
        viewmats,
        Ks,
        width,
        height,
        near_plane=NEAR_PLANE,
        eps2d=EPS2D,
        sh_degree=sh_degree,
        render_mode="RGB+ED" if depth else "RGB",
        backgrounds=bg.expand(means.shape[0], c, 3),
        packed=False,
    )
    if not depth:
        return RenderOutput(img, alpha, None)
    return RenderOutput(img[..., :3], alpha, torch.where(alpha > 0, img[..., 3:4], torch.zeros_like(img[..., 3:4])))


def project_gaussians(means, quats, scales, viewmat, K, width, height):
    """EWA projection of N Gaussians into one camera.

    Returns (means2d [N, 2], conics [N, 3] (a, b, c of the inverse 2D covariance),
    depths [N], radii [N, 2], valid [N]).
    """
    r, t = viewmat[:3, :3], viewmat[:3, 3]
    mc = means @ r.T + t
    rot = quaternion_to_matrix(quats)
    m = rot * scales[:, None, :]
    cov_cam = r @ (m @ m.transpose(1, 2)) @ r.T
    fx, fy, cx, cy = K[0, 0], K[1, 1], K[0, 2], K[1, 2]
    tx, ty, tz = mc.unbind(-1)
    tz_safe = torch.where(tz > NEAR_PLANE, tz, torch.ones_like(tz))
    lim_x_pos, lim_x_neg = (width - cx) / fx + 0.3 * 0.5 * width / fx, cx / fx + 0.3 * 0.5 * width / fx
    lim_y_pos, lim_y_neg = (height - cy) / fy + 0.3 * 0.5 * height / fy, cy / fy + 0.3 * 0.5 * height / fy
    txc = tz_safe * torch.clamp(tx / tz_safe, -lim_x_neg, lim_x_pos)
    tyc = tz_safe * torch.clamp(ty / tz_safe, -lim_y_neg, lim_y_pos)
    zero = torch.zeros_like(tz)
    jac = torch.stack([fx / tz_safe, zero, -fx * txc / tz_safe**2, zero, fy / tz_safe, -fy * tyc / tz_safe**2], -1).reshape(-1, 2, 3)
    cov2d = jac @ cov_cam @ jac.transpose(1, 2) + EPS2D * torch.eye(2, dtype=means.dtype, device=means.device)
    a, bb, c = cov2d[:, 0, 0], cov2d[:, 0, 1], cov2d[:, 1, 1]
    det = a * c - bb * bb
    det_safe = torch.where(det > 0, det, torch.ones_like(det))
    conics = torch.stack([c / det_safe, -bb / det_safe, a / det_safe], -1)
    means2d = torch.stack([fx * tx / tz_safe + cx, fy * ty / tz_safe + cy], -1)
    radii = torch.ceil(3.33 * torch.sqrt(torch.stack([a, c], -1).clamp_min(0)))
    valid = (tz > NEAR_PLANE) & (det > 0)
    valid &= (means2d[:, 0] + radii[:, 0] > 0) & (means2d[:, 0] - radii[:, 0] < width)
    valid &= (means2d[:, 1] + radii[:, 1] > 0) & (means2d[:, 1] - radii[:, 1] < height)
    return means2d, conics, tz, radii, valid


def _render_torch_one(means, quats, scales, opacities, sh, viewmat, K, width, height, sh_degree, bg) -> torch.Tensor:
    """One image [H, W, 5] (rgb, alpha, depth), tile by tile, differentiable."""
    means2d, conics, depths, radii, valid = project_gaussians(means, quats, scales, viewmat, K, width, height)
    ids = valid.nonzero().squeeze(1)
    ids = ids[torch.argsort(depths[ids].detach())]  # front to back
    campos = -viewmat[:3, :3].T @ viewmat[:3, 3]
    colors = eval_sh(sh[ids], means[ids] - campos, sh_degree)
    mu, con, op, dep = means2d[ids], conics[ids], opacities[ids], depths[ids]
    rad = radii[ids].detach()
    lo = torch.floor((mu.detach() - rad) / TILE).clamp_min(0)
    hi = torch.floor((mu.detach() + rad) / TILE)
    out = torch.zeros(height, width, 5, dtype=means.dtype, device=means.device)
    out[..., :3] = bg
    tiles_x, tiles_y = (width + TILE - 1) // TILE, (height + TILE - 1) // TILE
    for ty in range(tiles_y):
        in_row = (lo[:, 1] <= ty) & (hi[:, 1] >= ty)
        for tx in range(tiles_x):
            hit = (in_row & (lo[:, 0] <= tx) & (hi[:, 0] >= tx)).nonzero().squeeze(1)
            if hit.numel() == 0:
                continue
            y0, x0 = ty * TILE, tx * TILE
            y1, x1 = min(y0 + TILE, height), min(x0 + TILE, width)
            py, px = torch.meshgrid(torch.arange(y0, y1, device=means.device), torch.arange(x0, x1, device=means.device), indexing="ij")
            centre = torch.tensor([x0 + TILE / 2, y0 + TILE / 2], dtype=means.dtype, device=means.device)
            pix = torch.stack([px.reshape(-1), py.reshape(-1)], -1).to(means.dtype) + 0.5 - centre  # [P, 2], from the tile's centre
            rgb, acc, depth = _composite_tile(pix, hit, mu - centre, con, op, colors, dep)
            rgb = rgb + (1 - acc) * bg
            depth = torch.where(acc > 0, depth / acc.clamp_min(1e-12), torch.zeros_like(depth))
            out[y0:y1, x0:x1] = torch.cat([rgb, acc, depth], -1).reshape(y1 - y0, x1 - x0, 5)
    return out


def _quadratic_form(mu: torch.Tensor, con: torch.Tensor) -> torch.Tensor:
    """[6, K] coefficients of each Gaussian's exponent over the pixel monomials (x², y², xy, x, y, 1):
    sigma(x, y) = a/2 (x - mx)² + c/2 (y - my)² + b (x - mx)(y - my), with conic (a, b, c).
    One [P, 6] x [6, K] product then gives every pixel's sigma (coordinates from the tile's
    centre keep the expanded terms small enough for float32)."""
    a, b, c = con.unbind(-1)
    mx, my = mu.unbind(-1)
    return torch.stack([0.5 * a, 0.5 * c, b, -(a * mx + b * my), -(c * my + b * mx), 0.5 * a * mx * mx + 0.5 * c * my * my + b * mx * my])


def _composite_tile(pix, hit, mu, con, op, colors, dep, chunk: int = 512):
    """Front-to-back compositing of the depth-sorted Gaussians `hit` over pixels [P, 2]
    (`mu` in the same coordinates as `pix`).

    Gaussians go in chunks; once every pixel of the tile is opaque (transmittance under
    T_MIN) the rest are skipped, as gsplat's kernel does. Returns (rgb [P,3], alpha [P,1],
    weighted depth [P,1]).
    """
    p = pix.shape[0]
    x, y = pix.unbind(-1)
    monomials = torch.stack([x * x, y * y, x * y, x, y, torch.ones_like(x)], -1)  # [P, 6]
    trans = torch.ones(p, 1, dtype=pix.dtype, device=pix.device)
    rgb = torch.zeros(p, 3, dtype=pix.dtype, device=pix.device)
    depth = torch.zeros(p, 1, dtype=pix.dtype, device=pix.device)
    acc = torch.zeros(p, 1, dtype=pix.dtype, device=pix.device)
    for ids in hit.split(chunk):
        sigma = (monomials @ _quadratic_form(mu[ids], con[ids])).clamp(0.0, SIGMA_MAX)  # [P, K]; >= 0 up to rounding
        alpha = torch.clamp_max(op[ids] * torch.exp(-sigma), ALPHA_MAX)
        alpha = torch.where(alpha >= ALPHA_MIN, alpha, torch.zeros_like(alpha))
        local = torch.cumprod(torch.cat([torch.ones_like(alpha[:, :1]), 1 - alpha], 1), 1)
        before, after = trans * local[:, :-1], trans * local[:, 1:]
        weight = torch.where(after > T_MIN, alpha * before, torch.zeros_like(alpha))
        rgb = rgb + weight @ colors[ids]
        depth = depth + weight @ dep[ids][:, None]
        acc = acc + weight.sum(1, keepdim=True)
        # Pixels stop at the Gaussian that would take them under T_MIN, as gsplat does.
        trans = torch.where(after[:, -1:] > T_MIN, after[:, -1:], torch.zeros_like(trans))
        if bool((trans.detach() <= T_MIN).all()):
            break
    return rgb, acc, depth
