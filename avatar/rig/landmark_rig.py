"""LandmarkRig: a rig's landmarks without posing the whole mesh.

Tracking evaluates the rig's landmarks on every frame of a video hundreds of times. The
landmark embedding reads only the corners of its triangles (1,229 of l2t-head's 4,768
vertices), so this module blends and skins just those, and regresses the joints from the
full mesh's blendshapes folded into per-joint ones (the joint regressor is linear). Same
landmarks as ``rig.landmarks(rig(...).vertices)``, for a quarter of the work.
"""

from __future__ import annotations

import torch
from torch import nn

from avatar.rig.lbs import linear_blend_skinning
from avatar.rig.model import Rig, batch_of, blend_shapes


class LandmarkRig(nn.Module):
    """forward(**rig arguments) -> landmarks [B, L, 3], as Rig.forward + Rig.landmarks would give."""

    def __init__(self, rig: Rig):
        super().__init__()
        self.rig = rig
        corners = rig.faces[rig.landmark_faces]  # [L, 3] vertex indices
        ids, local = torch.unique(corners.reshape(-1), return_inverse=True)
        num_poses = rig.posedirs.shape[0]
        reg = rig.j_regressor  # [J, V]
        self.register_buffer("ids", ids)
        self.register_buffer("corners", local.reshape(-1, 3))  # [L, 3] rows of the subset
        self.register_buffer("v_template", rig.v_template[ids])
        self.register_buffer("shapedirs", rig.shapedirs[ids])
        self.register_buffer("exprdirs", rig.exprdirs[ids])
        self.register_buffer("posedirs", rig.posedirs.reshape(num_poses, -1, 3)[:, ids].reshape(num_poses, -1))
        self.register_buffer("lbs_weights", rig.lbs_weights[ids])
        self.register_buffer("j_template", reg @ rig.v_template)  # [J, 3]
        self.register_buffer("j_shapedirs", torch.einsum("jv,vck->jck", reg, rig.shapedirs))  # [J, 3, S]
        self.register_buffer("j_exprdirs", torch.einsum("jv,vck->jck", reg, rig.exprdirs))  # [J, 3, E]

    def forward(
        self,
        shape: torch.Tensor | None = None,
        expression: torch.Tensor | None = None,
        rotation: torch.Tensor | None = None,
        neck: torch.Tensor | None = None,
        jaw: torch.Tensor | None = None,
        eyes: torch.Tensor | None = None,
        translation: torch.Tensor | None = None,
        vertex_offsets: torch.Tensor | None = None,  # [V, 3] over the whole mesh
        batch_size: int | None = None,
    ) -> torch.Tensor:
        batch = batch_of(shape, expression, rotation, neck, jaw, eyes, translation, batch_size=batch_size)
        v_shaped = blend_shapes(self.v_template, self.shapedirs, self.exprdirs, shape, expression, batch)
        joints = blend_shapes(self.j_template, self.j_shapedirs, self.j_exprdirs, shape, expression, batch)
        if vertex_offsets is not None:
            v_shaped = v_shaped + vertex_offsets[..., self.ids, :]
            joints = joints + self.rig.j_regressor @ vertex_offsets  # [J, 3], or [B, J, 3] for per-frame offsets
        rotmats = self.rig.joint_rotations(rotation, neck, jaw, eyes, batch)
        verts, _ = linear_blend_skinning(v_shaped, rotmats, joints, self.rig.parents, self.lbs_weights, self.posedirs)
        if translation is not None:
            verts = verts + translation[:, None, :]
        return (verts[:, self.corners] * self.rig.landmark_bary[None, :, :, None]).sum(-2)
