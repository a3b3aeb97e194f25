"""GraphedCall: replay a chain of small CUDA kernels as one captured CUDA graph.

Posing an avatar for a batch of frames (blendshapes, skinning, triangle frames, local to world)
is some 360 small tensor operations whose launch cost, not their arithmetic, bounds a renderer's frame
rate. Captured once per input signature and replayed, the whole chain costs one launch.

    posed = GraphedCall(lambda jaw, expression: pose(jaw=jaw, expression=expression))
    means, quats = posed(jaw=jaw, expression=expression)   # captured on the first call

Rules the wrapped function must keep (true of posing code, checked by the tests that compare
graphed and eager results): CUDA tensors in and out, no host synchronisation (no ``.item()``,
no data-dependent shapes), and no state it reads that changes between calls other than the
inputs (the avatar's parameters are read where they were at capture: make a new GraphedCall
after changing them). Gradients are not recorded: call it under ``torch.no_grad()``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

WARMUP_RUNS = 2  # eager runs on a side stream before capture (lazy inits, cuBLAS workspaces)


@dataclass
class _Captured:
    graph: torch.cuda.CUDAGraph
    inputs: dict[str, torch.Tensor]
    outputs: tuple[torch.Tensor, ...]


class GraphedCall:
    """fn(**tensors) -> tuple of tensors, replayed from a CUDA graph captured per input signature
    (names, shapes, dtypes). Returns fresh copies of the outputs, safe to keep across calls."""

    def __init__(self, fn: Callable[..., tuple[torch.Tensor, ...]]):
        self.fn = fn
        self.captured: dict[tuple, _Captured] = {}
        self.pool = None  # one memory pool shared by every graph of this call

    def __call__(self, **inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        key = tuple((name, tuple(t.shape), t.dtype) for name, t in sorted(inputs.items()))
        entry = self.captured.get(key)
        if entry is None:
            entry = self.captured[key] = self._capture(inputs)
        for name, value in inputs.items():
            entry.inputs[name].copy_(value)
        entry.graph.replay()
        return tuple(out.clone() for out in entry.outputs)

    def _capture(self, inputs: dict[str, torch.Tensor]) -> _Captured:
        static = {name: t.detach().clone() for name, t in inputs.items()}
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(WARMUP_RUNS):
                self.fn(**static)
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        if self.pool is None:
            self.pool = torch.cuda.graph_pool_handle()
        with torch.cuda.graph(graph, pool=self.pool):
            outputs = tuple(self.fn(**static))
        return _Captured(graph, static, outputs)
