"""FramePoser: a motion's frames as world Gaussians, batch after batch, for rendering (no gradients).

The same result as ``avatar.world(avatar.vertices(motion, start, stop))`` (the differentiable path
that fitting uses), made fast for playback:
- the motion goes to the device once, not batch by batch;
- the constant parts (opacities, SH, the identity's blend shapes) are computed once, and the rig
  poses through PrecomputedPosing (avatar/rig/precomputed.py): about 60 operations a batch, not 90;
- on CUDA, triangle frames and local to world are one Triton kernel (fused_world.py) instead of
  some 120 tensor operations over every Gaussian of every frame;
- on CUDA the per-frame chain (blendshapes, skinning, then the above) is one captured CUDA graph
  per batch size (see cuda_graph.py); the last, shorter batch repeats its final frame to fill the
  batch and so replays the same graph.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator

import torch

from avatar.avatar import Avatar
from avatar.gaussians import WorldGaussians
from avatar.motion import Motion
from avatar.render.cuda_graph import GraphedCall
from avatar.rig.precomputed import PrecomputedPosing


class FramePoser:
    """Poses one avatar for rendering. Make a new one after changing the avatar's Gaussians or identity."""

    def __init__(self, avatar: Avatar, graphs: bool | None = None, fused: bool | None = None):
        """graphs: replay CUDA graphs; fused: pose the Gaussians with the fused kernel (both by
        default on a CUDA avatar, the kernel where Triton is installed)."""
        self.avatar = avatar
        self.graphs = avatar.device.type == "cuda" if graphs is None else graphs
        self.fused_world = _fused_world(avatar) if (avatar.device.type == "cuda" if fused is None else fused) else None
        model = avatar.model
        self.opacities = torch.sigmoid(model.opacity_logits.detach())  # [N]
        self.sh = model.sh.detach()  # [N, K, 3]
        self.posing = PrecomputedPosing(avatar.rig, avatar.shape, avatar.vertex_offsets)
        self._pose = GraphedCall(self._pose_eager) if self.graphs else self._pose_eager

    def _pose_eager(self, **inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        verts = inputs["vertices"] if "vertices" in inputs else self.posing(inputs)
        if self.fused_world is not None:
            return self.fused_world(verts)
        world = self.avatar.world(verts)
        return world.means, world.quats, world.scales

    @torch.no_grad()
    def pose(self, frames: dict[str, torch.Tensor]) -> WorldGaussians:
        """World Gaussians [T, N, ...] for T frames of rig parameters (name -> [T, D]) or of
        posed vertices ({"vertices": [T, V, 3]}), on the avatar's device."""
        means, quats, scales = self._pose(**frames)
        return WorldGaussians(means, quats, scales, self.opacities, self.sh, self.avatar.model.sh_degree)

    def batches(self, motion: Motion, batch: int) -> Iterator[tuple[int, int, WorldGaussians]]:
        """(first frame, frames of the motion in this batch, world Gaussians [b, N, ...]) for the
        whole motion, in order.

        With graphs every batch has `batch` frames (one graph): the last repeats its final frame,
        and only its first `count` frames belong to the motion. Without, the last is shorter."""
        dev = self.avatar.device
        frames = {"vertices": motion.vertices} if motion.vertices is not None else motion.params
        frames = {name: value.to(dev, torch.float32) for name, value in frames.items()}
        total = motion.num_frames
        for start in range(0, total, batch):
            count = min(batch, total - start)
            index = torch.arange(start, start + (batch if self.graphs else count), device=dev).clamp_max(total - 1)
            yield start, count, self.pose({name: value[index] for name, value in frames.items()})


def _fused_world(avatar: Avatar):
    """The fused posing kernel for this avatar, or None where it cannot run (no CUDA or no Triton)
    or does not give the reference path's result on the avatar's rest pose (then a note says so and
    the tensor operations are used). Imported here, not at the top: the CPU path never loads Triton."""
    from avatar.render import fused_world

    if not fused_world.available(avatar.device):
        return None
    fused = fused_world.FusedWorld(avatar.model, avatar.rig.faces)
    try:
        if fused.matches(avatar.model, avatar.neutral_vertices()):
            return fused
        problem = "its result differs from the reference path's"
    except Exception as exc:  # Triton could not build or launch it here: the reference path still works
        problem = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    print(f"note: the fused posing kernel is off on this machine ({problem}); rendering goes on without it", file=sys.stderr)
    return None
