"""Where a Gaussian-stage step of `fit` spends its time.

    python bench/fit_step.py [--frames 1500] [--size 512] [--batch 8] [--steps 200] [--out bench/results/fit_step.json]

Builds the Gaussian stage on a synthetic clip of the default avatar with its true tracking
(no landmarks, no tracking: only the stage itself), then times: building the stage, steps
(mean ms per step after a warm-up), the operators a step dispatches (how many: each is a
kernel launch on CUDA), and the profiler's top operators by device and by host time.
Prints everything and saves JSON with the device name.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from torch.utils._python_dispatch import TorchDispatchMode

from avatar.fit.optimize import GaussianFitter, OptimizeConfig, heldout_split
from avatar.fit.synthetic import synthetic_tracked
from avatar.io.avatar_folder import load_avatar


class OpCounter(TorchDispatchMode):
    """Counts the operators dispatched while active (views included)."""

    def __init__(self):
        super().__init__()
        self.count = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.count += 1
        return func(*args, **(kwargs or {}))


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=1500)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--batch", type=int, default=None, help="frames per step (default: 8 on CUDA, 1 on CPU)")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--run", default=None, help="keep the result under this name in --out's runs (others stay)")
    args = parser.parse_args()
    device = torch.device(args.device)
    batch = args.batch or (8 if device.type == "cuda" else 1)
    avatar = load_avatar(device=device)
    t = time.perf_counter()
    data = synthetic_tracked(avatar, args.frames, args.size)
    clip_s = time.perf_counter() - t
    train, _ = heldout_split(data.num_frames)
    cfg = OptimizeConfig(iterations=100_000, batch=batch)  # no densification inside the timed window
    t = time.perf_counter()
    fitter = GaussianFitter(avatar.rig, data, train, cfg, device)
    sync(device)
    setup_s = time.perf_counter() - t
    t = time.perf_counter()
    fitter.step()  # the first step (allocations, cuDNN's choices)
    sync(device)
    first_step_s = time.perf_counter() - t
    for _ in range(args.warmup):
        fitter.step()
    sync(device)
    t = time.perf_counter()
    for _ in range(args.steps):
        fitter.step()
    sync(device)
    step_ms = 1000 * (time.perf_counter() - t) / args.steps
    with OpCounter() as counter:
        fitter.step()
    activities = [torch.profiler.ProfilerActivity.CPU] + ([torch.profiler.ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with torch.profiler.profile(activities=activities) as prof:
        for _ in range(10):
            fitter.step()
        sync(device)
    averages = prof.key_averages()
    by = "cuda_time_total" if device.type == "cuda" else "cpu_time_total"
    print(averages.table(sort_by=by, row_limit=25))
    print(averages.table(sort_by="self_cpu_time_total", row_limit=25))
    result = {
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "torch": torch.__version__,
        "frames": args.frames,
        "size": args.size,
        "batch": batch,
        "gaussians": fitter.state.model.num_gaussians,
        "clip_seconds": clip_s,
        "setup_seconds": setup_s,
        "first_step_seconds": first_step_s,
        "step_ms": step_ms,
        "ops_per_step": counter.count,
        "top_device_ms_per_step": {
            e.key: e.device_time_total / 1000 / 10 for e in sorted(averages, key=lambda e: -e.device_time_total)[:15]
        }
        if device.type == "cuda"
        else {},
        "top_host_self_ms_per_step": {
            e.key: e.self_cpu_time_total / 1000 / 10 for e in sorted(averages, key=lambda e: -e.self_cpu_time_total)[:15]
        },
    }
    print(json.dumps({k: v for k, v in result.items() if not k.startswith("top")}, indent=1))
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        if args.run is not None:  # one named run among the file's others
            saved = json.loads(args.out.read_text()) if args.out.is_file() else {}
            runs = {**saved.get("runs", {}), args.run: result}
            result = {"device": result["device"], "torch": result["torch"], "runs": runs}
        args.out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
