import math

import torch

from avatar.rig.rotations import (
    axis_angle_to_matrix,
    matrix_to_axis_angle,
    matrix_to_quaternion,
    matrix_to_rotation_6d,
    quaternion_multiply,
    quaternion_to_matrix,
    right_product_matrix,
    rotation_6d_to_matrix,
)


def test_zero_axis_angle_is_exact_identity():
    assert torch.equal(axis_angle_to_matrix(torch.zeros(2, 3)), torch.eye(3).expand(2, 3, 3))


def test_axis_angle_known_rotation():
    r = axis_angle_to_matrix(torch.tensor([0.0, 0.0, math.pi / 2]))
    assert torch.allclose(r @ torch.tensor([1.0, 0.0, 0.0]), torch.tensor([0.0, 1.0, 0.0]), atol=1e-6)


def test_round_trips():
    torch.manual_seed(0)
    aa = torch.randn(64, 3, dtype=torch.float64)
    aa = aa / aa.norm(dim=-1, keepdim=True) * torch.rand(64, 1, dtype=torch.float64) * 3.0
    m = axis_angle_to_matrix(aa)
    assert torch.allclose(m @ m.transpose(-1, -2), torch.eye(3, dtype=torch.float64).expand(64, 3, 3), atol=1e-10)
    assert torch.allclose(matrix_to_axis_angle(m), aa, atol=1e-6)
    assert torch.allclose(rotation_6d_to_matrix(matrix_to_rotation_6d(m)), m, atol=1e-10)
    assert torch.allclose(quaternion_to_matrix(matrix_to_quaternion(m)), m, atol=1e-8)


def test_quaternion_product_composes_rotations():
    torch.manual_seed(1)
    a, b = axis_angle_to_matrix(torch.randn(8, 3, dtype=torch.float64)), axis_angle_to_matrix(torch.randn(8, 3, dtype=torch.float64))
    q = quaternion_multiply(matrix_to_quaternion(a), matrix_to_quaternion(b))
    assert torch.allclose(quaternion_to_matrix(q), a @ b, atol=1e-8)


def test_axis_angle_gradient_finite_at_zero():
    aa = torch.zeros(1, 3, dtype=torch.float64, requires_grad=True)
    axis_angle_to_matrix(aa).sum().backward()
    assert torch.isfinite(aa.grad).all()


def test_right_product_matrix_multiplies_by_the_fixed_right_factor():
    a, b = torch.randn(5, 4), torch.randn(5, 4)
    product = (right_product_matrix(b) @ a[..., None])[..., 0]
    assert torch.allclose(product, quaternion_multiply(a, b), atol=1e-6)
