"""Triangle-bound Gaussians to world space in one GPU kernel (Triton), for rendering without gradients.

`GaussianAvatarModel.to_world` (gaussians.py) is the reference and the differentiable path: some 120
tensor operations per batch (triangle frames, their quaternions, the gather to the Gaussians, three
products), each a pass over every Gaussian of every frame. Here each GPU thread reads its Gaussian's
three vertices and local parameters once and writes its world mean, quaternion and scale: the same
formulas (see gaussians.py), one launch, one pass over memory. Tests compare both on CPU (Triton's
interpreter) and on CUDA.

Triton compiles the kernel on its first use on a machine (about a second) and caches it in
``~/.triton/cache``.
"""

from __future__ import annotations

import torch

BLOCK = 256  # Gaussians per program


try:  # Triton comes with torch's CUDA builds; without it the reference path is used
    import triton
    import triton.language as tl
except ImportError:  # pragma: no cover - depends on the install
    triton = None


def available(device: torch.device) -> bool:
    """Whether the fused kernel can run for tensors on `device` (CUDA with Triton installed)."""
    return device.type == "cuda" and triton is not None


if triton is not None:

    @triton.jit
    def normalized(x, y, z):
        inv = 1.0 / tl.maximum(tl.sqrt(x * x + y * y + z * z), 1e-12)
        return x * inv, y * inv, z * inv

    @triton.jit
    def to_world_kernel(
        verts, faces, binding, xyz, local_scales, local_quats, means, quats, scales, n_gaussians, n_verts, BLOCK: tl.constexpr
    ):
        b = tl.program_id(1).to(tl.int64)
        n = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
        inside = n < n_gaussians
        face = tl.load(binding + n, mask=inside, other=0).to(tl.int64)
        corner = verts + b * n_verts * 3
        i0 = tl.load(faces + face * 3, mask=inside, other=0).to(tl.int64) * 3
        i1 = tl.load(faces + face * 3 + 1, mask=inside, other=0).to(tl.int64) * 3
        i2 = tl.load(faces + face * 3 + 2, mask=inside, other=0).to(tl.int64) * 3
        v0x, v0y, v0z = tl.load(corner + i0, mask=inside), tl.load(corner + i0 + 1, mask=inside), tl.load(corner + i0 + 2, mask=inside)
        v1x, v1y, v1z = tl.load(corner + i1, mask=inside), tl.load(corner + i1 + 1, mask=inside), tl.load(corner + i1 + 2, mask=inside)
        v2x, v2y, v2z = tl.load(corner + i2, mask=inside), tl.load(corner + i2 + 1, mask=inside), tl.load(corner + i2 + 2, mask=inside)

        # the triangle's frame (columns a0 a1 a2), scale k and centre, as triangle_frames
        e1x, e1y, e1z = v1x - v0x, v1y - v0y, v1z - v0z
        e2x, e2y, e2z = v2x - v0x, v2y - v0y, v2z - v0z
        a0x, a0y, a0z = normalized(e1x, e1y, e1z)
        a1x, a1y, a1z = normalized(a0y * e2z - a0z * e2y, a0z * e2x - a0x * e2z, a0x * e2y - a0y * e2x)
        a2x, a2y, a2z = normalized(a1y * a0z - a1z * a0y, a1z * a0x - a1x * a0z, a1x * a0y - a1y * a0x)
        a2x, a2y, a2z = -a2x, -a2y, -a2z
        k = 0.5 * (tl.sqrt(e1x * e1x + e1y * e1y + e1z * e1z) + tl.abs(a2x * e2x + a2y * e2y + a2z * e2z))

        g3 = n * 3
        lx, ly, lz = tl.load(xyz + g3, mask=inside), tl.load(xyz + g3 + 1, mask=inside), tl.load(xyz + g3 + 2, mask=inside)
        out3 = (b * n_gaussians + n) * 3
        tl.store(means + out3, k * (a0x * lx + a1x * ly + a2x * lz) + (v0x + v1x + v2x) / 3.0, mask=inside)
        tl.store(means + out3 + 1, k * (a0y * lx + a1y * ly + a2y * lz) + (v0y + v1y + v2y) / 3.0, mask=inside)
        tl.store(means + out3 + 2, k * (a0z * lx + a1z * ly + a2z * lz) + (v0z + v1z + v2z) / 3.0, mask=inside)
        tl.store(scales + out3, k * tl.load(local_scales + g3, mask=inside), mask=inside)
        tl.store(scales + out3 + 1, k * tl.load(local_scales + g3 + 1, mask=inside), mask=inside)
        tl.store(scales + out3 + 2, k * tl.load(local_scales + g3 + 2, mask=inside), mask=inside)

        # the frame's quaternion, as matrix_to_quaternion (m[i][j] = a_j[i]): the best-conditioned candidate
        c0 = 1.0 + a0x + a1y + a2z
        c1 = 1.0 + a0x - a1y - a2z
        c2 = 1.0 - a0x + a1y - a2z
        c3 = 1.0 - a0x - a1y + a2z
        pick1 = (c1 > c0) & (c1 >= c2) & (c1 >= c3)
        pick2 = (c2 > c0) & (c2 > c1) & (c2 >= c3)
        pick3 = (c3 > c0) & (c3 > c1) & (c3 > c2)
        best = tl.where(pick1, c1, tl.where(pick2, c2, tl.where(pick3, c3, c0)))
        r = tl.sqrt(tl.maximum(best, 1e-12))
        half_r, inv_2r = 0.5 * r, 0.5 / r
        wx, wy, wz = (a1z - a2y) * inv_2r, (a2x - a0z) * inv_2r, (a0y - a1x) * inv_2r  # m21-m12, m02-m20, m10-m01
        sxy, sxz, syz = (a1x + a0y) * inv_2r, (a2x + a0z) * inv_2r, (a2y + a1z) * inv_2r  # m01+m10, m02+m20, m12+m21
        qw = tl.where(pick1, wx, tl.where(pick2, wy, tl.where(pick3, wz, half_r)))
        qx = tl.where(pick1, half_r, tl.where(pick2, sxy, tl.where(pick3, sxz, wx)))
        qy = tl.where(pick1, sxy, tl.where(pick2, half_r, tl.where(pick3, syz, wy)))
        qz = tl.where(pick1, sxz, tl.where(pick2, syz, tl.where(pick3, half_r, wz)))
        inv = 1.0 / tl.maximum(tl.sqrt(qw * qw + qx * qx + qy * qy + qz * qz), 1e-12)
        sign = tl.where(qw < 0, -inv, inv)
        qw, qx, qy, qz = qw * sign, qx * sign, qy * sign, qz * sign

        # world quaternion = frame * local (Hamilton product)
        g4 = n * 4
        bw, bx = tl.load(local_quats + g4, mask=inside), tl.load(local_quats + g4 + 1, mask=inside)
        by, bz = tl.load(local_quats + g4 + 2, mask=inside), tl.load(local_quats + g4 + 3, mask=inside)
        out4 = (b * n_gaussians + n) * 4
        tl.store(quats + out4, qw * bw - qx * bx - qy * by - qz * bz, mask=inside)
        tl.store(quats + out4 + 1, qw * bx + qx * bw + qy * bz - qz * by, mask=inside)
        tl.store(quats + out4 + 2, qw * by - qx * bz + qy * bw + qz * bx, mask=inside)
        tl.store(quats + out4 + 3, qw * bz + qx * by - qy * bx + qz * bw, mask=inside)


class FusedWorld:
    """World means, quaternions and scales [B, N, ...] of one avatar's Gaussians on meshes [B, V, 3],
    by one Triton kernel. Holds the Gaussians' local parameters as they were when made."""

    def __init__(self, model, faces: torch.Tensor):
        """model: a GaussianAvatarModel; faces: the rig's triangles [F, 3]."""
        with torch.no_grad():
            self.faces = faces.to(torch.int32).contiguous()
            self.binding = model.binding.to(torch.int32).contiguous()
            self.xyz = model.xyz.detach().float().contiguous()
            self.local_scales = torch.exp(model.log_scales.detach()).float().contiguous()
            self.local_quats = torch.nn.functional.normalize(model.rotations.detach(), dim=-1).float().contiguous()

    def matches(self, model, verts: torch.Tensor, tolerance: float = 1e-4) -> bool:
        """Whether the kernel gives ``model.to_world``'s means, quaternions and scales on ``verts``
        (within ``tolerance``): checked once before trusting it on a new machine."""
        with torch.no_grad():
            want = model.to_world(verts, self.faces.long())
            got = self(verts)
        return all(float((a - b).abs().max()) <= tolerance for a, b in zip(got, (want.means, want.quats, want.scales)))

    def __call__(self, verts: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        verts = verts.float().contiguous()
        b, n = verts.shape[0], self.binding.shape[0]
        means = verts.new_empty(b, n, 3)
        quats = verts.new_empty(b, n, 4)
        scales = verts.new_empty(b, n, 3)
        grid = (triton.cdiv(n, BLOCK), b)
        to_world_kernel[grid](
            verts,
            self.faces,
            self.binding,
            self.xyz,
            self.local_scales,
            self.local_quats,
            means,
            quats,
            scales,
            n,
            verts.shape[1],
            BLOCK=BLOCK,
        )
        return means, quats, scales
