"""GraphedStep: an optimisation step (loss, backward, optimizer update) replayed as one CUDA graph.

Tracking solves small parameters of every frame of a video at once: some 900 small kernels a
step, whose launches from Python, not their arithmetic, are the step's cost on a GPU. Its shapes
never change within a stage, so after a few eager steps the whole step is captured once and
replayed: one launch a step. The pattern is PyTorch's "whole network capture"; the rules it
needs of `loss_fn` are those of ``avatar/render/cuda_graph.py`` (no host synchronisation, no
data-dependent shapes, nothing created from host data inside it).

The optimizer must be built with ``capturable=True``; its learning rates become device tensors
here, so a scheduler that writes them (``LambdaLR`` fills tensors in place) keeps working
between replays. Where capture fails, a one-line note, and the steps run eagerly.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import torch

WARMUP_STEPS = 3  # eager steps before capture (they initialise the optimizer's state and cuBLAS)


class GraphedStep:
    """``step()`` runs ``loss_fn()``, its backward and ``optimizer.step()`` and returns the loss.

    With ``use_graph`` (a CUDA device): the first WARMUP_STEPS steps run eagerly on a side stream,
    the next is captured and every step from then on is a replay. The loss returned by a replay is
    the same tensor each time: read it before the next step."""

    def __init__(self, loss_fn: Callable[[], torch.Tensor], optimizer: torch.optim.Optimizer, use_graph: bool):
        self.loss_fn = loss_fn
        self.optimizer = optimizer
        self.use_graph = use_graph
        self.graph: torch.cuda.CUDAGraph | None = None
        self.loss: torch.Tensor | None = None
        self.eager_steps = 0
        if use_graph:
            self._learning_rates_on_device()

    def step(self) -> torch.Tensor:
        if self.graph is not None:
            self.graph.replay()
            return self.loss
        if not self.use_graph:
            return self._eager()
        if self.eager_steps < WARMUP_STEPS:
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                loss = self._eager()
            torch.cuda.current_stream().wait_stream(side)
            return loss
        try:
            self._capture()
        except RuntimeError as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            print(f"note: tracking runs without a CUDA graph on this machine ({type(exc).__name__}: {first})", file=sys.stderr)
            self.graph, self.use_graph = None, False
            self.optimizer.zero_grad(set_to_none=True)
            return self._eager()
        self.graph.replay()
        return self.loss

    def _eager(self) -> torch.Tensor:
        loss = self.loss_fn()
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.eager_steps += 1
        # Detached: a caller holding the loss would keep this step's autograd graph, and with it the
        # parameters' gradient accumulators made on the warm-up stream, alive into the capture.
        return loss.detach()

    def _capture(self) -> None:
        self.optimizer.zero_grad(set_to_none=True)  # gradients are created inside the graph, written (not summed) by each replay
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            loss = self.loss_fn()
            loss.backward()
            self.optimizer.step()
        self.graph, self.loss = graph, loss.detach()  # the replays' output, without an autograd graph to keep alive

    def _learning_rates_on_device(self) -> None:
        device = self.optimizer.param_groups[0]["params"][0].device
        for group in self.optimizer.param_groups:
            if not group.get("capturable", False):
                raise ValueError("GraphedStep needs an optimizer built with capturable=True")
            group["lr"] = torch.tensor(float(group["lr"]), device=device)
