"""A vertex subset of a rig posed by jaw and expression only: cheap, differentiable lip vertices.

Used by Audio2Mesh training to turn predicted rig parameters into lip-region vertices without
evaluating the whole head. Joints depend linearly on expression (J = J_reg (T + E e)), so the
regressor is folded into per-expression joint directions once.
"""

from __future__ import annotations

import torch
from torch import nn

from avatar.rig.lbs import linear_blend_skinning
from avatar.rig.model import Rig
from avatar.rig.rotations import to_rotation_matrix

JAW_JOINT = 2  # FLAME joint order: root, neck, jaw, left eye, right eye


class RegionRig(nn.Module):
    """``forward(expression [B, E'], jaw [B, 3]) -> vertices [B, N, 3]`` for ``indices`` of ``rig``."""

    def __init__(self, rig: Rig, indices: torch.Tensor):
        super().__init__()
        idx = torch.as_tensor(indices, dtype=torch.long, device=rig.v_template.device)
        self.parents = rig.parents
        self.register_buffer("template", rig.v_template[idx].clone())
        self.register_buffer("exprdirs", rig.exprdirs[idx].clone())  # [N, 3, E]
        self.register_buffer("joint_template", rig.j_regressor @ rig.v_template)  # [J, 3]
        self.register_buffer("joint_exprdirs", torch.einsum("jv,vce->jce", rig.j_regressor, rig.exprdirs))  # [J, 3, E]
        num_pose = rig.posedirs.shape[0]
        self.register_buffer("posedirs", rig.posedirs.view(num_pose, -1, 3)[:, idx].reshape(num_pose, -1).clone())
        self.register_buffer("lbs_weights", rig.lbs_weights[idx].clone())
        self.num_joints = rig.num_joints

    def forward(self, expression: torch.Tensor, jaw: torch.Tensor) -> torch.Tensor:
        batch, n = expression.shape[0], expression.shape[-1]
        expression = expression.to(self.template.dtype)
        v_shaped = self.template + torch.einsum("vce,be->bvc", self.exprdirs[..., :n], expression)
        joints = self.joint_template + torch.einsum("jce,be->bjc", self.joint_exprdirs[..., :n], expression)
        rotmats = torch.eye(3, dtype=v_shaped.dtype, device=v_shaped.device).repeat(batch, self.num_joints, 1, 1)
        rotmats[:, JAW_JOINT] = to_rotation_matrix(jaw.to(v_shaped.dtype))
        verts, _ = linear_blend_skinning(v_shaped, rotmats, joints, self.parents, self.lbs_weights, self.posedirs)
        return verts
