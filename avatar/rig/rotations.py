"""Rotation conversions used by the rig: axis-angle, 6D and matrices (batched, differentiable).

6D follows the PyTorch3D / Zhou et al. convention: the first two *rows* of the matrix.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def skew(v: torch.Tensor) -> torch.Tensor:
    """[..., 3] -> [..., 3, 3] cross-product matrix."""
    x, y, z = v.unbind(-1)
    o = torch.zeros_like(x)
    return torch.stack([o, -z, y, z, o, -x, -y, x, o], dim=-1).reshape(*v.shape[:-1], 3, 3)


def axis_angle_to_matrix(rotvec: torch.Tensor) -> torch.Tensor:
    """Rodrigues' formula, exact at zero and smooth for autograd.

    rotvec: [..., 3] axis * angle (radians) -> [..., 3, 3]
    """
    theta2 = (rotvec * rotvec).sum(-1, keepdim=True)[..., None]  # [..., 1, 1]
    small = theta2 < 1e-8
    safe2 = torch.where(small, torch.ones_like(theta2), theta2)
    theta = safe2.sqrt()
    a = torch.where(small, 1.0 - theta2 / 6.0, torch.sin(theta) / theta)
    b = torch.where(small, 0.5 - theta2 / 24.0, (1.0 - torch.cos(theta)) / safe2)
    k = skew(rotvec)
    eye = torch.eye(3, dtype=rotvec.dtype, device=rotvec.device).expand_as(k)
    k_squared = rotvec[..., :, None] * rotvec[..., None, :] - theta2 * eye  # skew(v) @ skew(v) = v v^T - |v|^2 I
    return eye + a * k + b * k_squared


def rotate(matrices: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """matrices [..., 3, 3] applied to points [..., 3] (broadcast). On a GPU as products and a sum:
    cuBLAS runs millions of 3x3 products as batched GEMV/GEMM kernels, several times slower there than
    this elementwise form (the rig's skinning in tracking, measured on an H100). On the CPU the matmul
    is the faster (the rig's forward and backward 152 against 221 ms for 300 frames on 2 cores)."""
    if matrices.device.type == "cpu":
        return (matrices @ points[..., None])[..., 0]
    return (matrices * points[..., None, :]).sum(-1)


def compose(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """a @ b for [..., 3, 3] matrices, chosen by device as in `rotate`."""
    if a.device.type == "cpu":
        return a @ b
    return (a[..., :, :, None] * b[..., None, :, :]).sum(-2)


def matrix_to_axis_angle(matrix: torch.Tensor) -> torch.Tensor:
    """[..., 3, 3] rotation matrices -> [..., 3] axis-angle (angle in [0, pi])."""
    return quaternion_to_axis_angle(matrix_to_quaternion(matrix))


def rotation_6d_to_matrix(d6: torch.Tensor) -> torch.Tensor:
    """[..., 6] (first two rows) -> [..., 3, 3] via Gram-Schmidt."""
    a1, a2 = d6[..., :3], d6[..., 3:]
    b1 = F.normalize(a1, dim=-1)
    b2 = F.normalize(a2 - (b1 * a2).sum(-1, keepdim=True) * b1, dim=-1)
    b3 = torch.cross(b1, b2, dim=-1)
    return torch.stack((b1, b2, b3), dim=-2)


def matrix_to_rotation_6d(matrix: torch.Tensor) -> torch.Tensor:
    """[..., 3, 3] -> [..., 6] (first two rows)."""
    return matrix[..., :2, :].reshape(*matrix.shape[:-2], 6)


def to_rotation_matrix(rot: torch.Tensor) -> torch.Tensor:
    """Axis-angle [..., 3] or 6D [..., 6] -> [..., 3, 3], chosen by the last dimension."""
    if rot.shape[-1] == 3:
        return axis_angle_to_matrix(rot)
    if rot.shape[-1] == 6:
        return rotation_6d_to_matrix(rot)
    raise ValueError(f"rotation must end in 3 (axis-angle) or 6 (6D), got shape {tuple(rot.shape)}")


# Row k of the symmetric 4x4 matrix N(R) is 2 r_k q (up to sign), where r_k = 2 |q_k|: 1 + m00 + m11 + m22 = 4 w²
# on the diagonal, m21 - m12 = 4 w x off it, and so on. Each entry is linear in R's nine entries.
_N_TERMS = {  # (row, column): ((sign, i, j) of R's entries...), plus 1 on the diagonal
    (0, 0): ((1, 0, 0), (1, 1, 1), (1, 2, 2)),
    (1, 1): ((1, 0, 0), (-1, 1, 1), (-1, 2, 2)),
    (2, 2): ((-1, 0, 0), (1, 1, 1), (-1, 2, 2)),
    (3, 3): ((-1, 0, 0), (-1, 1, 1), (1, 2, 2)),
    (0, 1): ((1, 2, 1), (-1, 1, 2)),
    (0, 2): ((1, 0, 2), (-1, 2, 0)),
    (0, 3): ((1, 1, 0), (-1, 0, 1)),
    (1, 2): ((1, 0, 1), (1, 1, 0)),
    (1, 3): ((1, 0, 2), (1, 2, 0)),
    (2, 3): ((1, 1, 2), (1, 2, 1)),
}
_N_MAPS: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}


def _n_map(dtype: torch.dtype, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """(A [9, 16], b [16]) with N(R).flatten() = R.flatten() @ A + b, made once per dtype and device."""
    key = (dtype, device)
    if key not in _N_MAPS:
        a, b = torch.zeros(9, 4, 4, dtype=torch.float64), torch.zeros(4, 4, dtype=torch.float64)
        for (row, col), terms in _N_TERMS.items():
            for sign, i, j in terms:
                a[3 * i + j, row, col] = a[3 * i + j, col, row] = sign
            if row == col:
                b[row, col] = 1.0
        _N_MAPS[key] = (a.reshape(9, 16).to(dtype=dtype, device=device), b.reshape(16).to(dtype=dtype, device=device))
    return _N_MAPS[key]


def matrix_to_quaternion(matrix: torch.Tensor) -> torch.Tensor:
    """[..., 3, 3] -> [..., 4] unit quaternions (w, x, y, z) with w >= 0.

    The row of N(R) (see _N_TERMS) with the largest diagonal entry is the quaternion scaled by a
    positive number no smaller than 2, so it is normalised without any division by a small value:
    one matrix product, a pick and a normalisation (few kernels forward and backward)."""
    a, b = _n_map(matrix.dtype, matrix.device)
    n = torch.addmm(b, matrix.reshape(-1, 9), a).view(*matrix.shape[:-2], 4, 4)
    best = n.diagonal(dim1=-2, dim2=-1).argmax(-1)  # [...]
    row = torch.gather(n, -2, best[..., None, None].expand(*best.shape, 1, 4)).squeeze(-2)
    q = F.normalize(row, dim=-1)
    return torch.where(q[..., :1] < 0, -q, q)


def quaternion_to_matrix(q: torch.Tensor) -> torch.Tensor:
    """[..., 4] quaternions (w, x, y, z), any norm -> [..., 3, 3]."""
    w, x, y, z = F.normalize(q, dim=-1).unbind(-1)
    return torch.stack(
        [
            1 - 2 * (y * y + z * z),
            2 * (x * y - w * z),
            2 * (x * z + w * y),
            2 * (x * y + w * z),
            1 - 2 * (x * x + z * z),
            2 * (y * z - w * x),
            2 * (x * z - w * y),
            2 * (y * z + w * x),
            1 - 2 * (x * x + y * y),
        ],
        dim=-1,
    ).reshape(*q.shape[:-1], 3, 3)


def quaternion_multiply(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Hamilton product of [..., 4] (w, x, y, z) quaternions."""
    aw, ax, ay, az = a.unbind(-1)
    bw, bx, by, bz = b.unbind(-1)
    return torch.stack(
        [
            aw * bw - ax * bx - ay * by - az * bz,
            aw * bx + ax * bw + ay * bz - az * by,
            aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw,
        ],
        dim=-1,
    )


def right_product_matrix(b: torch.Tensor) -> torch.Tensor:
    """[..., 4] -> [..., 4, 4] M with M @ a == quaternion_multiply(a, b) for any a (w, x, y, z):
    a product by a fixed right factor as one matrix (one fused multiply-add per batch)."""
    bw, bx, by, bz = b.unbind(-1)
    rows = [
        [bw, -bx, -by, -bz],
        [bx, bw, bz, -by],
        [by, -bz, bw, bx],
        [bz, by, -bx, bw],
    ]
    return torch.stack([torch.stack(row, dim=-1) for row in rows], dim=-2)


def quaternion_to_axis_angle(q: torch.Tensor) -> torch.Tensor:
    """[..., 4] (w, x, y, z) -> [..., 3] axis-angle."""
    q = F.normalize(q, dim=-1)
    q = torch.where(q[..., :1] < 0, -q, q)
    xyz = q[..., 1:]
    s = xyz.norm(dim=-1, keepdim=True)
    angle = 2.0 * torch.atan2(s, q[..., :1])
    scale = torch.where(s < 1e-8, 2.0 / q[..., :1].clamp(min=1e-8), angle / s.clamp(min=1e-12))
    return xyz * scale
