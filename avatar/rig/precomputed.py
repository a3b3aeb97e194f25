"""A rig with one identity folded in, for posing many frames fast (playback, and fitting with the identity fixed).

`Rig.forward` recomputes, every frame, what never changes for one avatar: the identity's blend
shapes, the joint regressor over the whole mesh, and the skinning as per-joint einsums. Here the
identity (shape and vertex offsets) is folded into the template once, the joints' expression
dependence becomes one small matrix, the joint rotations come from the rig's one batched
conversion, and skinning is one matrix product of the weights with every joint's [R | t]. Some
45 kernel launches a batch instead of about 90: on CUDA, where a batch of one frame is bound by
launches, that is what the viewer and live speech wait for.

Same vertices as `Rig.forward` (to float32 rounding): tests/test_poser.py checks it.
"""

from __future__ import annotations

import torch

from avatar.rig.lbs import joint_transforms, skin
from avatar.rig.model import Rig


class PrecomputedPosing:
    """Poses `rig` with a fixed identity: call with rig parameters (name -> [B, D]) for vertices [B, V, 3]."""

    def __init__(self, rig: Rig, shape: torch.Tensor | None = None, vertex_offsets: torch.Tensor | None = None):
        self.rig = rig
        with torch.no_grad():
            base = rig.shaped_vertices(shape[None] if shape is not None and shape.numel() else None, None, 1)[0]
            if vertex_offsets is not None:
                base = base + vertex_offsets.reshape(base.shape)
            num_vertices, num_expressions = base.shape[0], rig.num_expressions
            self.base = base  # [V, 3]
            self.exprdirs = rig.exprdirs.permute(2, 0, 1).reshape(num_expressions, num_vertices * 3).contiguous()  # [E, V*3]
            self.joints_base = rig.j_regressor @ base  # [J, 3]
            self.joints_expr = torch.einsum("jv,vck->kjc", rig.j_regressor, rig.exprdirs).reshape(num_expressions, -1).contiguous()
            self.posedirs = rig.posedirs if rig.posedirs.numel() and rig.num_joints > 1 else None  # [(J-1)*9, V*3]
            self.weights = rig.lbs_weights  # [V, J]
            self.eye = torch.eye(3, dtype=base.dtype, device=base.device)

    @torch.no_grad()
    def __call__(self, params: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.pose(params)

    def pose(self, params: dict[str, torch.Tensor]) -> torch.Tensor:
        """Vertices [B, V, 3], differentiable in the parameters (the fit's per-frame corrections)."""
        rig = self.rig
        batch = _batch(params)
        num_vertices, num_joints = self.base.shape[0], rig.num_joints
        verts = self.base.expand(batch, -1, -1)
        joints = self.joints_base.expand(batch, -1, -1)
        expression = params.get("expression")
        if expression is not None and expression.shape[-1]:
            n = expression.shape[-1]
            if n > self.exprdirs.shape[0]:
                raise ValueError(f"{n} expression coefficients given, the rig has {self.exprdirs.shape[0]}")
            verts = torch.addmm(self.base.reshape(1, -1), expression, self.exprdirs[:n]).reshape(batch, num_vertices, 3)
            joints = torch.addmm(self.joints_base.reshape(1, -1), expression, self.joints_expr[:n]).reshape(batch, num_joints, 3)
        rotmats = rig.joint_rotations(params.get("rotation"), params.get("neck"), params.get("jaw"), params.get("eyes"), batch)
        if self.posedirs is not None:
            feature = (rotmats[:, 1:] - self.eye).reshape(batch, -1)
            verts = verts + (feature @ self.posedirs).reshape(batch, num_vertices, 3)
        verts = skin(verts, *joint_transforms(joints, rotmats, rig.parents), self.weights)
        if "translation" in params:
            verts = verts + params["translation"][:, None, :]
        return verts


def _batch(params: dict[str, torch.Tensor]) -> int:
    return next(iter(params.values())).shape[0] if params else 1
