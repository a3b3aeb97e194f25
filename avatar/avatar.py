"""Avatar: a rig, its identity, and the Gaussians bound to it. Motion in, world Gaussians out."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from avatar.gaussians import GaussianAvatarModel, WorldGaussians
from avatar.motion import Motion
from avatar.rig.model import Rig


@dataclass
class Avatar:
    rig: Rig
    model: GaussianAvatarModel
    shape: torch.Tensor  # [S] identity coefficients
    vertex_offsets: torch.Tensor | None = None  # [V, 3] static offsets before posing
    meta: dict = field(default_factory=dict)

    @property
    def device(self) -> torch.device:
        return self.rig.v_template.device

    def to(self, device) -> Avatar:
        self.rig.to(device)
        self.model.to(device)
        self.shape = self.shape.to(device)
        if self.vertex_offsets is not None:
            self.vertex_offsets = self.vertex_offsets.to(device)
        return self

    def vertices(self, motion: Motion, start: int = 0, stop: int | None = None) -> torch.Tensor:
        """Posed mesh vertices [T, V, 3] for frames start..stop of a motion."""
        stop = motion.num_frames if stop is None else stop
        if motion.vertices is not None:
            return motion.vertices[start:stop].to(self.device)
        return self.posed_vertices({k: v[start:stop].to(self.device) for k, v in motion.params.items()})

    def posed_vertices(self, params: dict[str, torch.Tensor]) -> torch.Tensor:
        """Mesh vertices [T, V, 3] posed by rig parameters (name -> [T, D], on the avatar's device)."""
        n = next(iter(params.values())).shape[0] if params else 1
        shape = self.shape[None].expand(n, -1) if self.shape.numel() else None
        return self.rig(shape=shape, vertex_offsets=self.vertex_offsets, batch_size=n, **params).vertices

    def world(self, vertices: torch.Tensor) -> WorldGaussians:
        """Gaussians posed on meshes [T, V, 3]."""
        return self.model.to_world(vertices, self.rig.faces)

    def neutral_vertices(self) -> torch.Tensor:
        """The avatar's identity in the rest pose: [1, V, 3]."""
        shape = self.shape[None] if self.shape.numel() else None
        return self.rig(shape=shape, vertex_offsets=self.vertex_offsets, batch_size=1).vertices
