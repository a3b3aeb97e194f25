"""Image losses and metrics for fitting: PSNR and SSIM (Gaussian window, as in the 3DGS papers)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _gaussian_taps(size: int, sigma: float, device, dtype) -> torch.Tensor:
    """The normalised 1D Gaussian [size] whose outer product is the SSIM window."""
    x = torch.arange(size, device=device, dtype=dtype) - (size - 1) / 2
    g = torch.exp(-x.square() / (2 * sigma**2))
    return g / g.sum()


def ssim_map(a: torch.Tensor, b: torch.Tensor, window: int = 11, sigma: float = 1.5) -> torch.Tensor:
    """Per-pixel SSIM of images [B, H, W, C] in [0, 1] -> [B, H, W] (mean over channels).

    The five local means (x, y, x², y², xy) are blurred together, with the window's two 1D
    passes (the Gaussian window is separable): two convolutions instead of five 2D ones."""
    x, y = a.permute(0, 3, 1, 2), b.permute(0, 3, 1, 2)
    c = x.shape[1]
    g = _gaussian_taps(window, sigma, x.device, x.dtype)
    stacked = F.pad(torch.cat([x, y, x * x, y * y, x * y], 1), [window // 2] * 4, mode="replicate")
    blurred = F.conv2d(stacked, g.view(1, 1, 1, window).expand(5 * c, 1, 1, window), groups=5 * c)
    blurred = F.conv2d(blurred, g.view(1, 1, window, 1).expand(5 * c, 1, window, 1), groups=5 * c)
    mu_x, mu_y, xx, yy, xy = blurred.split(c, 1)
    var_x = xx - mu_x.square()
    var_y = yy - mu_y.square()
    cov = xy - mu_x * mu_y
    c1, c2 = 0.01**2, 0.03**2
    s = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x.square() + mu_y.square() + c1) * (var_x + var_y + c2))
    return s.mean(1)


def ssim(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Mean SSIM per image [B]."""
    return ssim_map(a, b).flatten(1).mean(1)


def psnr(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """PSNR in dB per image [B] for images in [0, 1]."""
    mse = (a - b).square().flatten(1).mean(1).clamp_min(1e-10)
    return -10.0 * torch.log10(mse)


def masked_psnr(a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """PSNR in dB per image [B] over the pixels where `mask` [B, H, W] is set; NaN for an image
    whose mask is empty."""
    weight = mask.to(a.dtype)[..., None]
    area = weight.flatten(1).sum(1) * a.shape[-1]
    mse = ((a - b).square() * weight).flatten(1).sum(1) / area.clamp_min(1)
    out = -10.0 * torch.log10(mse.clamp_min(1e-10))
    return torch.where(area > 0, out, torch.full_like(out, float("nan")))
