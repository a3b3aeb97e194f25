"""Triangle frames applied to their Gaussians, forward and backward in one Triton kernel each.

`GaussianAvatarModel.to_world` computes every triangle's frame once per frame (rotation R,
its quaternion, centre T and scale k: some 35 tensor operations on [B, F] that stay in
PyTorch), then applies it to each Gaussian of the triangle:

    mean = k R mu + T,   scale = k exp(s),   quat = quat(R) * normalize(q)

`bind_gaussians` is that last part. Done with tensor operations it is about 25 kernels forward
and 50 backward, each a pass over every Gaussian of every frame; a fit step runs it once and it
is host time there, not GPU time. Here each GPU program takes a block of Gaussians in one frame:
one kernel forward and one backward, whose gradients are the formulas' own (the
products are bilinear, so each derivative is one line). Per-triangle gradients are summed with
atomic adds (CUDA fits were not bit-reproducible before either: gsplat's backward adds the same
way); per-Gaussian ones, summed over the frames, by the program that owns the Gaussian.
`reference_bind` is the same maths in PyTorch: the CPU path, and what the tests compare with.
"""

from __future__ import annotations

import sys

import torch
import torch.nn.functional as F

from avatar.rig.rotations import right_product_matrix

BLOCK = 128  # Gaussians per program (each program does one frame)
FACE_WIDTH = 17  # per-triangle values: R row-major (9), quat(R) (4), centre (3), k (1)

try:  # Triton comes with torch's CUDA builds; without it the reference path is used
    import triton
    import triton.language as tl
except ImportError:  # pragma: no cover - depends on the install
    triton = None


def reference_bind(
    per_face: torch.Tensor, binding: torch.Tensor, xyz: torch.Tensor, log_scales: torch.Tensor, rotations: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """per_face [B, F, 17], binding [N], local xyz [N, 3], log-scales [N, 3], rotations [N, 4] (any norm)
    -> world means [B, N, 3], quaternions [B, N, 4], scales [B, N, 3]."""
    g = per_face[:, binding]  # [B, N, 17]
    rot_g, quat_g, centre_g, k_g = g.split([9, 4, 3, 1], -1)  # split, not slices: one concatenation backward
    rot_g = rot_g.unflatten(-1, (3, 3))
    means = k_g * (rot_g * xyz[None, :, None, :]).sum(-1) + centre_g
    scales = k_g * torch.exp(log_scales)[None]
    local = right_product_matrix(F.normalize(rotations, dim=-1))  # [N, 4, 4]
    quats = (local[None] * quat_g[:, :, None, :]).sum(-1)  # quat(R) * q_local
    return means, quats, scales


def fused_available(device: torch.device) -> bool:
    """Whether the kernels can run for tensors on `device` (CUDA with Triton installed)."""
    return device.type == "cuda" and triton is not None


_fused_ok: bool | None = None  # this process's verdict on the kernels: None until first used


def bind_gaussians(
    per_face: torch.Tensor, binding: torch.Tensor, xyz: torch.Tensor, log_scales: torch.Tensor, rotations: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """`reference_bind`'s results, differentiable in every float input; by the fused kernels on CUDA
    where gradients are wanted (a fit's step; rendering without them has its own kernel, fused_world.py).
    Their first use in a process is checked against the reference; a machine where they fail to build
    or disagree gets a one-line note and the reference from then on."""
    global _fused_ok
    args = (per_face, binding, xyz, log_scales, rotations)
    wanted = torch.is_grad_enabled() and any(t.requires_grad for t in (per_face, xyz, log_scales, rotations))
    if not (wanted and _fused_ok is not False and fused_available(per_face.device) and per_face.dtype == torch.float32):
        return reference_bind(*args)
    try:
        out = FusedBind.apply(*args)
    except Exception as exc:  # noqa: BLE001 - any build or launch failure: the reference computes the same
        _fused_ok = False
        first = (str(exc).strip().splitlines() or [""])[0][:160]
        print(f"note: the fused Gaussian binding kernel is off on this machine ({type(exc).__name__}: {first})", file=sys.stderr)
        return reference_bind(*args)
    if _fused_ok is None:
        with torch.no_grad():
            want = reference_bind(*args)
        _fused_ok = all(float((a.detach() - b).abs().max()) <= 1e-4 for a, b in zip(out, want))
        if not _fused_ok:
            print("note: the fused Gaussian binding kernel differs from the reference here; it is off", file=sys.stderr)
            return reference_bind(*args)
    return out


def compile_kernels(device: torch.device) -> bool:
    """Run both kernels once on a few Gaussians (Triton compiles them and caches them in ~/.triton/cache;
    `l2t-avatar prebuild` does this), checked like a first use: whether they are on here."""
    g = torch.Generator().manual_seed(0)
    per_face = torch.randn(2, 4, FACE_WIDTH, generator=g).to(device).requires_grad_()
    local = [torch.randn(8, width, generator=g).to(device).requires_grad_() for width in (3, 3, 4)]
    out = bind_gaussians(per_face, torch.arange(8, device=device) % 4, *local)
    sum(t.sum() for t in out).backward()
    return _fused_ok is True


class FusedBind(torch.autograd.Function):
    """`reference_bind` as one Triton kernel forward and one backward (CUDA, or Triton's interpreter)."""

    @staticmethod
    def forward(ctx, per_face, binding, xyz, log_scales, rotations):
        per_face, xyz, log_scales, rotations = (t.contiguous() for t in (per_face, xyz, log_scales, rotations))
        binding = binding.contiguous()  # the model's int64 indices, read as they are (no conversion a step)
        b, f, n = per_face.shape[0], per_face.shape[1], binding.shape[0]
        means, quats, scales = per_face.new_empty(b, n, 3), per_face.new_empty(b, n, 4), per_face.new_empty(b, n, 3)
        grid = (triton.cdiv(n, BLOCK), b)
        bind_forward_kernel[grid](per_face, binding, xyz, log_scales, rotations, means, quats, scales, n, f, BLOCK=BLOCK)
        ctx.save_for_backward(per_face, binding, xyz, log_scales, rotations)
        return means, quats, scales

    @staticmethod
    def backward(ctx, d_means, d_quats, d_scales):
        per_face, binding, xyz, log_scales, rotations = ctx.saved_tensors
        b, f, n = per_face.shape[0], per_face.shape[1], binding.shape[0]
        grads = [
            torch.zeros(b, n, w, device=per_face.device, dtype=per_face.dtype) if g is None else g.contiguous()
            for g, w in ((d_means, 3), (d_quats, 4), (d_scales, 3))
        ]
        d_face = torch.zeros_like(per_face)
        d_local = per_face.new_empty(b, n, 10)  # each frame's share of d xyz (3), d log-scales (3), d rotations (4)
        bind_backward_kernel[(triton.cdiv(n, BLOCK), b)](
            per_face, binding, xyz, log_scales, rotations, *grads, d_face, d_local, n, f, BLOCK=BLOCK
        )
        d_xyz, d_log_scales, d_rotations = d_local.sum(0).split([3, 3, 4], -1)
        return d_face, None, d_xyz, d_log_scales, d_rotations


if triton is not None:

    @triton.jit
    def _load3(ptr, at, mask):
        x = tl.load(ptr + at, mask=mask, other=0.0)
        return x, tl.load(ptr + at + 1, mask=mask, other=0.0), tl.load(ptr + at + 2, mask=mask, other=0.0)

    @triton.jit
    def _gaussian_values(xyz, log_scales, rotations, n, inside):
        """The Gaussians' local position, scale (exp of the log-scale) and rotation, normalised as
        F.normalize does, and 1 / max(|q|, eps)."""
        lx, ly, lz = _load3(xyz, n * 3, inside)
        sx, sy, sz = _load3(log_scales, n * 3, inside)
        rw = tl.load(rotations + n * 4, mask=inside, other=1.0)
        rx, ry, rz = _load3(rotations, n * 4 + 1, inside)
        inv = 1.0 / tl.maximum(tl.sqrt(rw * rw + rx * rx + ry * ry + rz * rz), 1e-12)
        return lx, ly, lz, tl.exp(sx), tl.exp(sy), tl.exp(sz), rw * inv, rx * inv, ry * inv, rz * inv, inv

    @triton.jit
    def _face_values(per_face, at, inside):
        """The triangles' frame R (row-major), its quaternion and scale k (the centre is read apart)."""
        m00, m01, m02 = _load3(per_face, at, inside)
        m10, m11, m12 = _load3(per_face, at + 3, inside)
        m20, m21, m22 = _load3(per_face, at + 6, inside)
        qw = tl.load(per_face + at + 9, mask=inside, other=0.0)
        qx, qy, qz = _load3(per_face, at + 10, inside)
        return m00, m01, m02, m10, m11, m12, m20, m21, m22, qw, qx, qy, qz, tl.load(per_face + at + 16, mask=inside, other=0.0)

    @triton.jit
    def _frame_at(per_face, binding, n_gaussians, n_faces, BLOCK: tl.constexpr):
        """This program's frame b, Gaussians n, which are real, and where their triangles' values start."""
        b = tl.program_id(1).to(tl.int64)
        n = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
        inside = n < n_gaussians
        face = tl.load(binding + n, mask=inside, other=0).to(tl.int64)
        return b, n, inside, (b * n_faces + face) * 17

    @triton.jit
    def bind_forward_kernel(per_face, binding, xyz, log_scales, rotations, means, quats, scales, n_gaussians, n_faces, BLOCK: tl.constexpr):
        b, n, inside, at = _frame_at(per_face, binding, n_gaussians, n_faces, BLOCK)
        lx, ly, lz, sx, sy, sz, bw, bx, by, bz, _ = _gaussian_values(xyz, log_scales, rotations, n, inside)
        m00, m01, m02, m10, m11, m12, m20, m21, m22, qw, qx, qy, qz, k = _face_values(per_face, at, inside)
        cx, cy, cz = _load3(per_face, at + 13, inside)
        out3 = (b * n_gaussians + n) * 3
        tl.store(means + out3, k * (m00 * lx + m01 * ly + m02 * lz) + cx, mask=inside)
        tl.store(means + out3 + 1, k * (m10 * lx + m11 * ly + m12 * lz) + cy, mask=inside)
        tl.store(means + out3 + 2, k * (m20 * lx + m21 * ly + m22 * lz) + cz, mask=inside)
        tl.store(scales + out3, k * sx, mask=inside)
        tl.store(scales + out3 + 1, k * sy, mask=inside)
        tl.store(scales + out3 + 2, k * sz, mask=inside)
        out4 = (b * n_gaussians + n) * 4
        tl.store(quats + out4, qw * bw - qx * bx - qy * by - qz * bz, mask=inside)
        tl.store(quats + out4 + 1, qw * bx + qx * bw + qy * bz - qz * by, mask=inside)
        tl.store(quats + out4 + 2, qw * by - qx * bz + qy * bw + qz * bx, mask=inside)
        tl.store(quats + out4 + 3, qw * bz + qx * by - qy * bx + qz * bw, mask=inside)

    @triton.jit
    def bind_backward_kernel(
        per_face,
        binding,
        xyz,
        log_scales,
        rotations,
        d_means,
        d_quats,
        d_scales,
        d_face,
        d_local,
        n_gaussians,
        n_faces,
        BLOCK: tl.constexpr,
    ):
        b, n, inside, at = _frame_at(per_face, binding, n_gaussians, n_faces, BLOCK)
        lx, ly, lz, sx, sy, sz, bw, bx, by, bz, inv = _gaussian_values(xyz, log_scales, rotations, n, inside)
        m00, m01, m02, m10, m11, m12, m20, m21, m22, qw, qx, qy, qz, k = _face_values(per_face, at, inside)
        out3 = (b * n_gaussians + n) * 3
        gx, gy, gz = _load3(d_means, out3, inside)
        hx, hy, hz = _load3(d_scales, out3, inside)
        out4 = (b * n_gaussians + n) * 4
        pw = tl.load(d_quats + out4, mask=inside, other=0.0)
        px, py, pz = _load3(d_quats, out4 + 1, inside)
        # mean = k R l + c ; scale = k exp(s)
        rlx = m00 * lx + m01 * ly + m02 * lz
        rly = m10 * lx + m11 * ly + m12 * lz
        rlz = m20 * lx + m21 * ly + m22 * lz
        dk = gx * rlx + gy * rly + gz * rlz + hx * sx + hy * sy + hz * sz
        # quat = q (x) b, bilinear: the triangle's side, then the Gaussian's (through the normalisation)
        dqw = pw * bw + px * bx + py * by + pz * bz
        dqx = -pw * bx + px * bw - py * bz + pz * by
        dqy = -pw * by + px * bz + py * bw - pz * bx
        dqz = -pw * bz - px * by + py * bx + pz * bw
        gbw = pw * qw + px * qx + py * qy + pz * qz
        gbx = -pw * qx + px * qw + py * qz - pz * qy
        gby = -pw * qy - px * qz + py * qw + pz * qx
        gbz = -pw * qz + px * qy - py * qx + pz * qw
        dot = gbw * bw + gbx * bx + gby * by + gbz * bz
        # this frame's share of the Gaussian's gradients (summed over the frames outside)
        out10 = (b * n_gaussians + n) * 10
        tl.store(d_local + out10, k * (m00 * gx + m10 * gy + m20 * gz), mask=inside)
        tl.store(d_local + out10 + 1, k * (m01 * gx + m11 * gy + m21 * gz), mask=inside)
        tl.store(d_local + out10 + 2, k * (m02 * gx + m12 * gy + m22 * gz), mask=inside)
        tl.store(d_local + out10 + 3, k * hx * sx, mask=inside)
        tl.store(d_local + out10 + 4, k * hy * sy, mask=inside)
        tl.store(d_local + out10 + 5, k * hz * sz, mask=inside)
        tl.store(d_local + out10 + 6, (gbw - bw * dot) * inv, mask=inside)
        tl.store(d_local + out10 + 7, (gbx - bx * dot) * inv, mask=inside)
        tl.store(d_local + out10 + 8, (gby - by * dot) * inv, mask=inside)
        tl.store(d_local + out10 + 9, (gbz - bz * dot) * inv, mask=inside)
        # the triangle's gradients, summed over every Gaussian on it
        tl.atomic_add(d_face + at, k * gx * lx, mask=inside)
        tl.atomic_add(d_face + at + 1, k * gx * ly, mask=inside)
        tl.atomic_add(d_face + at + 2, k * gx * lz, mask=inside)
        tl.atomic_add(d_face + at + 3, k * gy * lx, mask=inside)
        tl.atomic_add(d_face + at + 4, k * gy * ly, mask=inside)
        tl.atomic_add(d_face + at + 5, k * gy * lz, mask=inside)
        tl.atomic_add(d_face + at + 6, k * gz * lx, mask=inside)
        tl.atomic_add(d_face + at + 7, k * gz * ly, mask=inside)
        tl.atomic_add(d_face + at + 8, k * gz * lz, mask=inside)
        tl.atomic_add(d_face + at + 9, dqw, mask=inside)
        tl.atomic_add(d_face + at + 10, dqx, mask=inside)
        tl.atomic_add(d_face + at + 11, dqy, mask=inside)
        tl.atomic_add(d_face + at + 12, dqz, mask=inside)
        tl.atomic_add(d_face + at + 13, gx, mask=inside)
        tl.atomic_add(d_face + at + 14, gy, mask=inside)
        tl.atomic_add(d_face + at + 15, gz, mask=inside)
        tl.atomic_add(d_face + at + 16, dk, mask=inside)
