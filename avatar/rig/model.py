"""Rig: the differentiable torch head model (shape, expression, pose -> vertices, joints)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from avatar.rig.data import RigData
from avatar.rig.lbs import linear_blend_skinning
from avatar.rig.rotations import to_rotation_matrix


@dataclass
class RigOutput:
    vertices: torch.Tensor  # [B, V, 3] posed vertices (metres)
    joints: torch.Tensor  # [B, J, 3] posed joints


class Rig(nn.Module):
    """A FLAME-format head as a torch module. Batched, differentiable, CPU or CUDA.

    Every argument of forward() is optional and batched on its first dimension:
      shape [B, <=S], expression [B, <=E] (missing trailing coefficients are zero),
      rotation / neck / jaw [B, 3] axis-angle or [B, 6] 6D,
      eyes [B, 6] (left then right, axis-angle) or [B, 12] (6D),
      translation [B, 3].
    """

    def __init__(self, data: RigData):
        super().__init__()
        data.validate()
        self.data = data
        self.parents = [int(p) for p in data.parents]
        self.register_buffer("v_template", torch.from_numpy(data.v_template.astype(np.float32)))
        self.register_buffer("faces", torch.from_numpy(data.faces.astype(np.int64)))
        self.register_buffer("shapedirs", torch.from_numpy(data.shapedirs.astype(np.float32)))
        self.register_buffer("exprdirs", torch.from_numpy(data.exprdirs.astype(np.float32)))
        self.register_buffer("posedirs", torch.from_numpy(data.posedirs.astype(np.float32)))
        self.register_buffer("j_regressor", torch.from_numpy(data.j_regressor.astype(np.float32)))
        self.register_buffer("lbs_weights", torch.from_numpy(data.lbs_weights.astype(np.float32)))
        self.register_buffer("landmark_faces", torch.from_numpy(data.landmark_faces.astype(np.int64)))
        self.register_buffer("landmark_bary", torch.from_numpy(data.landmark_bary.astype(np.float32)))

    # ------------------------------------------------------------------ sizes
    @property
    def num_vertices(self) -> int:
        return self.data.num_vertices

    @property
    def num_shapes(self) -> int:
        return int(self.shapedirs.shape[-1])

    @property
    def num_expressions(self) -> int:
        return int(self.exprdirs.shape[-1])

    @property
    def num_joints(self) -> int:
        return len(self.parents)

    def expression_index(self, name: str) -> int:
        """Index of a named expression (KeyError lists the names if unknown)."""
        try:
            return self.data.expression_names.index(name)
        except ValueError:
            raise KeyError(f"{name!r} is not an expression of {self.data.name}; known: {', '.join(self.data.expression_names)}") from None

    def region(self, name: str) -> torch.Tensor:
        """Vertex indices [N] of a named region, on the rig's device."""
        return torch.as_tensor(self.data.regions[name], device=self.v_template.device)

    # ---------------------------------------------------------------- forward
    def forward(
        self,
        shape: torch.Tensor | None = None,
        expression: torch.Tensor | None = None,
        rotation: torch.Tensor | None = None,
        neck: torch.Tensor | None = None,
        jaw: torch.Tensor | None = None,
        eyes: torch.Tensor | None = None,
        translation: torch.Tensor | None = None,
        vertex_offsets: torch.Tensor | None = None,
        batch_size: int | None = None,
    ) -> RigOutput:
        """vertex_offsets: [V, 3] or [B, V, 3] static per-vertex offsets added before posing."""
        batch = batch_of(shape, expression, rotation, neck, jaw, eyes, translation, batch_size=batch_size)
        v_shaped = self.shaped_vertices(shape, expression, batch)
        if vertex_offsets is not None:
            v_shaped = v_shaped + vertex_offsets
        rotmats = self.joint_rotations(rotation, neck, jaw, eyes, batch)
        joints = torch.einsum("jv,bvc->bjc", self.j_regressor, v_shaped)
        verts, posed_joints = linear_blend_skinning(v_shaped, rotmats, joints, self.parents, self.lbs_weights, self.posedirs)
        if translation is not None:
            verts = verts + translation[:, None, :]
            posed_joints = posed_joints + translation[:, None, :]
        return RigOutput(vertices=verts, joints=posed_joints)

    def shaped_vertices(self, shape: torch.Tensor | None, expression: torch.Tensor | None, batch: int) -> torch.Tensor:
        """Template plus identity and expression offsets, before posing: [B, V, 3]."""
        return blend_shapes(self.v_template, self.shapedirs, self.exprdirs, shape, expression, batch)

    def joint_rotations(self, rotation, neck, jaw, eyes, batch: int) -> torch.Tensor:
        """Local rotation matrices of every joint: [B, J, 3, 3] (identity where not given)."""
        eye3 = torch.eye(3, dtype=self.v_template.dtype, device=self.v_template.device)
        given = {j: rot for j, rot in ((0, rotation), (1, neck), (2, jaw)) if rot is not None and j < self.num_joints}
        if eyes is not None and self.num_joints >= 5:
            half = eyes.shape[-1] // 2
            given.update({3: eyes[:, :half], 4: eyes[:, half:]})
        mats = [eye3.expand(batch, 3, 3)] * self.num_joints
        if given and len({rot.shape[-1] for rot in given.values()}) == 1:  # one batched conversion for all joints
            converted = to_rotation_matrix(torch.stack(list(given.values()), 1)).unbind(1)
        else:
            converted = [to_rotation_matrix(rot) for rot in given.values()]
        for j, mat in zip(given, converted):
            mats[j] = mat
        return torch.stack(mats, dim=1)

    def landmarks(self, vertices: torch.Tensor) -> torch.Tensor:
        """Landmarks from posed vertices via the barycentric embedding: [B, V, 3] -> [B, L, 3]."""
        tri = self.faces[self.landmark_faces]  # [L, 3]
        corners = vertices[:, tri]  # [B, L, 3, 3]
        return (corners * self.landmark_bary[None, :, :, None]).sum(-2)


def batch_of(*args: torch.Tensor | None, batch_size: int | None = None) -> int:
    """`batch_size`, else the first dimension of the first argument given, else 1."""
    if batch_size is not None:
        return batch_size
    return next((t.shape[0] for t in args if t is not None), 1)


def blend_shapes(
    template: torch.Tensor,  # [P, 3] points (vertices, or joints)
    shapedirs: torch.Tensor,  # [P, 3, S]
    exprdirs: torch.Tensor,  # [P, 3, E]
    shape: torch.Tensor | None,  # [B, <=S]
    expression: torch.Tensor | None,  # [B, <=E]
    batch: int,
) -> torch.Tensor:
    """Points moved by identity and expression coefficients (missing trailing ones are zero): [B, P, 3]."""
    v = template.expand(batch, -1, -1)
    for dirs, coeffs, what in ((shapedirs, shape, "shape"), (exprdirs, expression, "expression")):
        if coeffs is None or coeffs.shape[-1] == 0:
            continue
        n = coeffs.shape[-1]
        if n > dirs.shape[-1]:
            raise ValueError(f"{n} {what} coefficients given, the rig has {dirs.shape[-1]}")
        flat = dirs.reshape(-1, dirs.shape[-1])[:, :n]  # [P*3, n]: a view
        v = torch.addmm(v.reshape(batch, -1), coeffs.to(dirs.dtype), flat.T).view(batch, -1, 3)  # one product and add
    return v
