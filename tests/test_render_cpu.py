"""The PyTorch Gaussian renderer: analytic single Gaussian, gradients, background, depth."""

import torch

from avatar.gaussians import rgb_to_sh_dc
from avatar.render.cameras import intrinsics_from_fov, look_at, orbit_camera
from avatar.render.gaussian import EPS2D, render_gaussians


def _single(opacity=0.8, scale=0.05, depth=2.0, color=(0.9, 0.2, 0.1), size=32, dtype=torch.float32):
    means = torch.tensor([[[0.0, 0.0, depth]]], dtype=dtype)
    quats = torch.tensor([[[1.0, 0, 0, 0]]], dtype=dtype)
    scales = torch.full((1, 1, 3), scale, dtype=dtype)
    opac = torch.tensor([opacity], dtype=dtype)
    sh = rgb_to_sh_dc(torch.tensor(color, dtype=dtype))[None, None]
    view = torch.eye(4, dtype=dtype)[None]
    k = torch.tensor([[40.0, 0, size / 2], [0, 40.0, size / 2], [0, 0, 1]], dtype=dtype)[None]
    return means, quats, scales, opac, sh, view, k


def test_single_gaussian_matches_the_analytic_image():
    means, quats, scales, opac, sh, view, k = _single()
    bg = torch.tensor([0.0, 0.5, 1.0])
    out = render_gaussians(means, quats, scales, opac, sh, view, k, 32, 32, 0, bg, backend="torch")
    sigma2 = (40.0 * 0.05 / 2.0) ** 2 + EPS2D
    ys, xs = torch.meshgrid(torch.arange(32) + 0.5, torch.arange(32) + 0.5, indexing="ij")
    r2 = (xs - 16) ** 2 + (ys - 16) ** 2
    alpha = 0.8 * torch.exp(-0.5 * r2 / sigma2)
    alpha = torch.where(alpha >= 1 / 255, alpha, torch.zeros_like(alpha))
    expected = alpha[..., None] * torch.tensor([0.9, 0.2, 0.1]) + (1 - alpha[..., None]) * bg
    assert torch.allclose(out.rgb[0, 0], expected, atol=1e-5)
    assert torch.allclose(out.alpha[0, 0, ..., 0], alpha, atol=1e-6)
    covered = alpha > 0
    assert torch.allclose(out.depth[0, 0, ..., 0][covered], torch.full_like(alpha[covered], 2.0))


def test_front_gaussian_occludes_the_back_one():
    means = torch.tensor([[[0.0, 0, 3.0], [0.0, 0, 2.0]]])
    quats = torch.tensor([[[1.0, 0, 0, 0], [1.0, 0, 0, 0]]])
    scales = torch.full((1, 2, 3), 0.2)
    sh = rgb_to_sh_dc(torch.tensor([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]))[:, None]
    _, _, _, _, _, view, k = _single()
    out = render_gaussians(means, quats, scales, torch.tensor([0.99, 0.99]), sh, view, k, 32, 32, 0, backend="torch")
    centre = out.rgb[0, 0, 16, 16]
    assert centre[0] > 0.95 and centre[2] < 0.05  # red (front) wins over blue (back)


def test_renderer_gradcheck():
    means, quats, scales, opac, sh, view, k = _single(dtype=torch.float64, size=8)
    k = k.clone()
    k[0, 0, 0] = k[0, 1, 1] = 12.0
    means = means + torch.tensor([0.03, -0.02, 0.0], dtype=torch.float64)
    inputs = [t.clone().requires_grad_(True) for t in (means, scales, opac, sh)]

    def f(m, s, o, c):
        return render_gaussians(
            m, quats, s, o, c, view, k, 8, 8, 0, torch.tensor([0.2, 0.3, 0.4], dtype=torch.float64), backend="torch"
        ).rgb

    assert torch.autograd.gradcheck(f, inputs, eps=1e-6, atol=1e-5)


def test_batch_of_frames_and_cameras():
    means, quats, scales, opac, sh, view, k = _single()
    means = torch.cat([means, means + torch.tensor([0.2, 0, 0])])
    quats, scales = quats.expand(2, -1, -1), scales.expand(2, -1, -1)
    views = torch.stack([torch.eye(4), look_at([0.5, 0, -0.5], [0, 0, 2])])
    out = render_gaussians(means, quats, scales, opac, sh, views, k.expand(2, -1, -1), 32, 32, 0, backend="torch")
    assert out.rgb.shape == (2, 2, 32, 32, 3)
    assert not torch.allclose(out.rgb[0, 0], out.rgb[1, 0])  # the second frame moved


def test_cameras_follow_opencv_convention():
    cam = orbit_camera([0.0, 0.0, 0.0], 1.0, 0.0, 0.0, 60.0, 64, 48)
    # Yaw 0 looks at the face from +z; +x (subject's left) appears on the image's right, +y up.
    right = cam.project(cam.transform(torch.tensor([0.1, 0.0, 0.0])))
    up = cam.project(cam.transform(torch.tensor([0.0, 0.1, 0.0])))
    assert right[0] > 32 and abs(float(right[1]) - 24) < 1e-4
    assert up[1] < 24
    assert torch.isclose(intrinsics_from_fov(90.0, 64, 64)[0, 0], torch.tensor(32.0))
