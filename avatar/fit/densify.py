"""When and how the Gaussian stage adds and removes Gaussians: a strategy the fitter calls.

A strategy keeps its own state (a dict of tensors, saved in fit checkpoints) and is told about
each step twice: ``after_backward`` (gradients are there to read) and ``after_step`` (the
optimizer has moved; the strategy may now change the set of Gaussians). ``GradientDensify`` is
the 3DGS rule on bound Gaussians: clone the small and split the large ones whose positions pull
hardest, at a few scheduled iterations, then prune the nearly transparent.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from avatar.gaussians import GaussianAvatarModel


@dataclass
class GradientDensify:
    times: int = 8  # densifications, spread over `window` of the run
    window: tuple[float, float] = (0.1, 0.6)
    fraction: float = 0.05  # of the Gaussians, by mean position gradient, grown each time
    split_scale: float = 0.3  # largest axis (triangle-local units) above which a Gaussian splits instead of cloning
    min_opacity: float = 0.005  # pruned below this
    max_gaussians: int = 100_000
    min_iterations: int = 20  # shorter runs never densify

    def initial_state(self, model: GaussianAvatarModel) -> dict[str, torch.Tensor]:
        """Per-Gaussian sums of position-gradient norms and the steps that saw each Gaussian."""
        zeros = torch.zeros(model.num_gaussians, device=model.xyz.device)
        return {"grad_sum": zeros, "grad_count": zeros.clone()}

    def schedule(self, iterations: int) -> set[int]:
        """The iterations after which the Gaussians change."""
        if iterations < self.min_iterations:
            return set()
        lo, hi = self.window
        steps = max(self.times - 1, 1)
        return {int(round(iterations * (lo + (hi - lo) * i / steps))) for i in range(self.times)}

    @torch.no_grad()
    def after_backward(self, state: dict[str, torch.Tensor], model: GaussianAvatarModel) -> None:
        g = model.xyz.grad.norm(dim=-1)
        state["grad_sum"] += g
        state["grad_count"] += (g > 0).float()

    @torch.no_grad()
    def after_step(
        self, state: dict[str, torch.Tensor], model: GaussianAvatarModel, optimizer, iteration: int, iterations: int, generator=None
    ) -> None:
        if iteration in self.schedule(iterations):
            self.densify_and_prune(state, model, optimizer, generator)

    @torch.no_grad()
    def densify_and_prune(self, state: dict[str, torch.Tensor], model: GaussianAvatarModel, optimizer, generator=None) -> None:
        """Clone small and split large Gaussians with the largest mean position gradients, prune the faint.
        `generator` (CPU) draws the split children's positions."""
        mean_grad = state["grad_sum"] / state["grad_count"].clamp_min(1)
        room = self.max_gaussians - model.num_gaussians
        if room > 0 and (state["grad_count"] > 0).any():
            take = min(room, max(1, int(self.fraction * model.num_gaussians)))
            threshold = torch.topk(mean_grad, min(take, model.num_gaussians)).values[-1]
            grow = (mean_grad >= threshold) & (mean_grad > 0)
            large = model.log_scales.exp().amax(-1) > self.split_scale
            model.clone_gaussians(grow & ~large, optimizer)
            added = torch.zeros(model.num_gaussians - len(grow), dtype=torch.bool, device=grow.device)
            model.split_gaussians(torch.cat([grow & large, added]), 2, optimizer, generator)
        model.prune_gaussians(torch.sigmoid(model.opacity_logits) < self.min_opacity, optimizer)
        state.update(self.initial_state(model))
