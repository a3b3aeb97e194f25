"""Gaussians bound to the rig's triangles, as in GaussianAvatars.

Each Gaussian lives in the local frame of one triangle: frame R = [a0, a1, a2] with
a0 = norm(v1 - v0), a1 = norm(a0 x (v2 - v0)) (the normal), a2 = -norm(a1 x a0); scale
k = (|v1 - v0| + |a2 . (v2 - v0)|) / 2; origin T = the centroid. In the world:
    mean = k R mu_local + T,   scale = k exp(s_local),   quat = quat(R) * normalize(q_local).
Colour is spherical harmonics (degree 0-3); opacity is stored as a logit.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from avatar.render.fused_binding import bind_gaussians
from avatar.rig.rotations import matrix_to_quaternion, quaternion_to_matrix

SH_C0 = 0.28209479177387814


def num_sh_coeffs(degree: int) -> int:
    return (degree + 1) ** 2


def rgb_to_sh_dc(rgb: torch.Tensor) -> torch.Tensor:
    """Colour in [0, 1] -> the degree-0 SH coefficient that renders it."""
    return (rgb - 0.5) / SH_C0


def triangle_frames(verts: torch.Tensor, faces: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-triangle frames of a mesh.

    verts [..., V, 3], faces [F, 3] -> (rotation [..., F, 3, 3] with columns a0 a1 a2,
    scale [..., F], centre [..., F, 3]).
    """
    v0, v1, v2 = verts[..., faces, :].unbind(-2)  # one gather (and one scatter backward) for the three corners
    e1, e2 = v1 - v0, v2 - v0
    a0 = torch.nn.functional.normalize(e1, dim=-1)
    a1 = torch.nn.functional.normalize(torch.linalg.cross(a0, e2, dim=-1), dim=-1)
    a2 = -torch.nn.functional.normalize(torch.linalg.cross(a1, a0, dim=-1), dim=-1)
    rot = torch.stack([a0, a1, a2], dim=-1)
    scale = 0.5 * (e1.norm(dim=-1) + (a2 * e2).sum(-1).abs())
    return rot, scale, (v0 + v1 + v2) / 3.0


@dataclass
class WorldGaussians:
    """Gaussians posed in world space for a batch of frames."""

    means: torch.Tensor  # [B, N, 3]
    quats: torch.Tensor  # [B, N, 4] unit, (w, x, y, z)
    scales: torch.Tensor  # [B, N, 3] linear
    opacities: torch.Tensor  # [N] in (0, 1)
    sh: torch.Tensor  # [N, K, 3]
    sh_degree: int


class GaussianAvatarModel(nn.Module):
    """Triangle-bound Gaussians in local form (the trainable part of an avatar)."""

    def __init__(
        self,
        binding: torch.Tensor,  # [N] triangle index of each Gaussian
        xyz: torch.Tensor,  # [N, 3] local position
        log_scales: torch.Tensor,  # [N, 3] local log-scale
        rotations: torch.Tensor,  # [N, 4] local rotation (w, x, y, z), any norm
        opacity_logits: torch.Tensor,  # [N]
        sh: torch.Tensor,  # [N, K, 3]
    ):
        super().__init__()
        self.register_buffer("binding", binding.long())
        self.xyz = nn.Parameter(xyz.float())
        self.log_scales = nn.Parameter(log_scales.float())
        self.rotations = nn.Parameter(rotations.float())
        self.opacity_logits = nn.Parameter(opacity_logits.float())
        self.sh = nn.Parameter(sh.float())

    @property
    def num_gaussians(self) -> int:
        return int(self.binding.shape[0])

    @property
    def sh_degree(self) -> int:
        return int(round(self.sh.shape[1] ** 0.5)) - 1

    @classmethod
    def on_triangles(cls, num_faces: int, per_face: int = 1, sh_degree: int = 0, colors: torch.Tensor | None = None) -> GaussianAvatarModel:
        """Fresh Gaussians, `per_face` on every triangle, flat discs spread over the face.

        colors: optional [F, 3] per-triangle colour in [0, 1] (grey otherwise).
        """
        binding = torch.arange(num_faces).repeat_interleave(per_face)
        n = len(binding)
        # Spread the discs over the triangle's local frame (unit-ish size in triangle units).
        offsets = torch.zeros(n, 3)
        if per_face > 1:
            g = torch.Generator().manual_seed(0)
            offsets[:, 0] = (torch.rand(n, generator=g) - 0.5) * 0.6
            offsets[:, 2] = (torch.rand(n, generator=g) - 0.5) * 0.6
        disc = torch.log(torch.tensor([0.55, 0.05, 0.55]) / per_face**0.5)
        sh = torch.zeros(n, num_sh_coeffs(sh_degree), 3)
        base = colors[binding] if colors is not None else torch.full((n, 3), 0.5)
        sh[:, 0] = rgb_to_sh_dc(base)
        return cls(
            binding, offsets, disc.expand(n, 3).clone(), torch.tensor([1.0, 0, 0, 0]).expand(n, 4).clone(), torch.full((n,), 2.5), sh
        )

    # ------------------------------------------------------------ posing
    def to_world(self, verts: torch.Tensor, faces: torch.Tensor, smoothing: torch.Tensor | None = None) -> WorldGaussians:
        """Pose the Gaussians on a batch of meshes: verts [B, V, 3] (the rig's topology).

        smoothing: optional [F] per-triangle anti-aliasing filter (see `smoothed`).

        Everything per triangle (frame, its quaternion) is computed once per triangle and
        applied to its Gaussians by `bind_gaussians` (one Triton kernel each way on CUDA)."""
        rot, k, centre = triangle_frames(verts, faces)
        per_face = torch.cat([rot.flatten(-2), matrix_to_quaternion(rot), centre, k[..., None]], dim=-1)  # [B, F, 17]
        log_scales, opacities = self.smoothed(smoothing)
        means, quats, scales = bind_gaussians(per_face, self.binding, self.xyz, log_scales, self.rotations)
        return WorldGaussians(means, quats, scales, opacities, self.sh, self.sh_degree)

    def smoothed(self, smoothing: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """(log-scales [N, 3], opacities [N]) after a low-pass filter in the spirit of Mip-Splatting's 3D one:
        each Gaussian's two larger axes are convolved with a Gaussian of std `smoothing[its triangle]`
        (triangle-local units) and its opacity scaled to keep its weight, so no Gaussian is finer than the
        frames could show. The thinnest axis is left alone: these are surface discs, and thickening them
        would make a disc seen face-on translucent."""
        opacities = torch.sigmoid(self.opacity_logits)
        if smoothing is None:
            return self.log_scales, opacities
        var = torch.exp(2 * self.log_scales)
        in_plane = torch.ones_like(var).scatter_(1, var.argmin(1, keepdim=True), 0.0)
        filtered = var + in_plane * smoothing[self.binding, None].square()
        ratio = (var / filtered).unbind(-1)  # a product of three, not .prod(): a far cheaper backward
        return 0.5 * torch.log(filtered), opacities * torch.sqrt(ratio[0] * ratio[1] * ratio[2])

    @torch.no_grad()
    def bake_smoothing(self, smoothing: torch.Tensor) -> None:
        """Make the filter of `smoothed` part of the Gaussians (renders then need no filter)."""
        log_scales, opacities = self.smoothed(smoothing)
        self.log_scales.copy_(log_scales)
        self.opacity_logits.copy_(torch.logit(opacities.clamp(1e-6, 1 - 1e-6)))

    # -------------------------------------------------------- densify / prune
    def clone_gaussians(self, mask: torch.Tensor, optimizer: torch.optim.Optimizer | None = None) -> None:
        """Duplicate the Gaussians in `mask` [N] (the copies keep their parent's triangle)."""
        idx = torch.cat([torch.arange(self.num_gaussians, device=mask.device), mask.nonzero().squeeze(1)])
        self._reindex(idx, {}, optimizer)

    def split_gaussians(
        self,
        mask: torch.Tensor,
        children: int = 2,
        optimizer: torch.optim.Optimizer | None = None,
        generator: torch.Generator | None = None,
    ) -> None:
        """Replace each Gaussian in `mask` by `children` smaller ones sampled inside it
        (from `generator`, a CPU one, when given: a seeded fit then repeats exactly).

        Children inherit the parent's triangle; their scale shrinks by 1 / (0.8 * children).
        """
        parents = mask.nonzero().squeeze(1)
        keep = (~mask).nonzero().squeeze(1)
        rep = parents.repeat(children)
        local_rot = quaternion_to_matrix(self.rotations.data[rep])
        std = torch.exp(self.log_scales.data[rep])
        noise = torch.randn(std.shape, generator=generator).to(std) if generator is not None else torch.randn_like(std)
        sample = (local_rot @ (noise * std)[..., None])[..., 0]
        idx = torch.cat([keep, rep])
        overrides = {
            "xyz": torch.cat([self.xyz.data[keep], self.xyz.data[rep] + sample]),
            "log_scales": torch.cat([self.log_scales.data[keep], self.log_scales.data[rep] - torch.log(torch.tensor(0.8 * children))]),
        }
        self._reindex(idx, overrides, optimizer, new_from=len(keep))

    def prune_gaussians(self, mask: torch.Tensor, optimizer: torch.optim.Optimizer | None = None) -> int:
        """Remove the Gaussians in `mask`, except the last one left on any triangle.

        Returns how many were removed.
        """
        mask = mask.clone()
        num_faces = int(self.binding.max()) + 1 if self.num_gaussians else 0
        total = torch.bincount(self.binding, minlength=num_faces)
        removed = torch.bincount(self.binding[mask], minlength=num_faces)
        orphaned = (removed >= total) & (total > 0)
        if orphaned.any():
            # Keep the most opaque Gaussian of each triangle that would lose all of them.
            cand = mask & orphaned[self.binding]
            score = torch.where(cand, self.opacity_logits.data, torch.full_like(self.opacity_logits.data, -torch.inf))
            best = torch.full((num_faces,), -torch.inf, device=score.device).scatter_reduce(0, self.binding, score, "amax")
            keep_one = cand & (score == best[self.binding])
            # Ties: keep only the first per triangle.
            first = torch.full((num_faces,), self.num_gaussians, device=score.device).scatter_reduce(
                0, self.binding[keep_one], keep_one.nonzero().squeeze(1), "amin"
            )
            spared = torch.zeros_like(mask)
            spared[first[orphaned]] = True
            mask &= ~spared
        idx = (~mask).nonzero().squeeze(1)
        self._reindex(idx, {}, optimizer, new_from=len(idx))
        return int(mask.sum())

    def _reindex(self, idx: torch.Tensor, overrides: dict[str, torch.Tensor], optimizer, new_from: int | None = None) -> None:
        """Rebuild every parameter as rows `idx` of the old one (or `overrides`), and carry the
        optimizer state along; rows from `new_from` on (default: past the old count) start fresh."""
        old_n = self.num_gaussians
        new_from = old_n if new_from is None else new_from
        for name, param in list(self._parameters.items()):
            value = overrides.get(name, param.data[idx])
            new_param = nn.Parameter(value.contiguous(), requires_grad=param.requires_grad)
            if optimizer is not None:
                _swap_in_optimizer(optimizer, param, new_param, idx, new_from)
            setattr(self, name, new_param)
        self.binding = self.binding[idx]


def _swap_in_optimizer(optimizer: torch.optim.Optimizer, old: nn.Parameter, new: nn.Parameter, idx: torch.Tensor, new_from: int) -> None:
    for group in optimizer.param_groups:
        for i, p in enumerate(group["params"]):
            if p is not old:
                continue
            group["params"][i] = new
            state = optimizer.state.pop(old, None)
            if state:
                for key, value in state.items():
                    if torch.is_tensor(value) and value.dim() > 0 and value.shape[0] == old.shape[0]:
                        value = value[idx].clone()
                        value[new_from:] = 0
                        state[key] = value
                optimizer.state[new] = state
