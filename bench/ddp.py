"""Data-parallel training speed: Audio2Mesh (the default student) and SyncNet3D under torchrun.

Each run trains from scratch for the same number of epochs (every process takes its share of an
epoch's batches, at the same per-process batch size), then reads the run's own log: steps/s per
process, samples/s over all processes, scaling efficiency against one process (samples/s over
N x one process's), and the final validation figure (Audio2Mesh: real-speech LVE, mm^2;
SyncNet3D: offset found within +-1 frame). NCCL on GPUs, gloo on CPU processes; NCCL's NVLink
multicast stays off (NCCL_NVLS_ENABLE=0).

    python bench/ddp.py --data CORPUS --work runs/ddp --procs 1,2 [--cpu] [--json bench/results/ddp.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def torchrun(procs: int, *args: str) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(procs), "-m", "l2t_avatar.cli", *args]


def read_log(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "log.jsonl").read_text().splitlines()]


def run(cmd: list[str], env: dict) -> float:
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stderr[-3000:]}")
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, help="corpus folder (its feature cache is enough)")
    ap.add_argument("--work", required=True, help="folder for the runs")
    ap.add_argument("--procs", default="1,2", help="process counts to run (default: 1,2)")
    ap.add_argument("--cpu", action="store_true", help="gloo on CPU processes instead of NCCL on GPUs")
    ap.add_argument("--epochs", type=int, default=6, help="Audio2Mesh epochs (default: 6)")
    ap.add_argument("--batch-size", type=int, default=32, help="Audio2Mesh clips per batch and process (default: 32)")
    ap.add_argument("--expert-epochs", type=int, default=3, help="SyncNet3D epochs of --expert-steps (default: 3)")
    ap.add_argument("--expert-steps", type=int, default=100, help="SyncNet3D steps per epoch (default: 100)")
    ap.add_argument("--json", default=str(ROOT / "bench" / "results" / "ddp.json"))
    args = ap.parse_args()

    import torch

    device = "cpu" if args.cpu else "cuda"
    if device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("no CUDA device: run with --cpu for gloo on CPU processes")
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}", "NCCL_NVLS_ENABLE": "0"}
    if args.cpu:
        env["OMP_NUM_THREADS"] = "1"
    work = Path(args.work)
    counts = [int(n) for n in args.procs.split(",")]
    if device == "cuda" and max(counts) > torch.cuda.device_count():
        raise SystemExit(f"{max(counts)} processes need as many GPUs; this machine has {torch.cuda.device_count()}")
    results = {
        "device": torch.cuda.get_device_name() if device == "cuda" else f"cpu ({platform.processor() or platform.machine()})",
        "gpus": torch.cuda.device_count() if device == "cuda" else 0,
        "backend": "gloo" if args.cpu else "nccl",
        "runs": [],
    }
    for model in ("audio2mesh", "syncnet3d"):
        base = None
        for n in counts:
            out = work / f"{model}_{n}"
            if model == "audio2mesh":
                extra = ["--epochs", str(args.epochs), "--batch-size", str(args.batch_size), "--eval-every", str(args.epochs)]
                batch = args.batch_size
            else:
                extra = ["--epochs", str(args.expert_epochs), "--steps", str(args.expert_steps)]
                batch = 256
            wall = run(torchrun(n, "train", model, "--data", args.data, "--out", str(out), "--device", device, "--quiet", *extra), env)
            rows = read_log(out)
            seconds, steps = rows[-1]["seconds"], rows[-1]["step"]
            val = rows[-1].get("val", {})
            final = val.get("real", {}).get("lve_sq_mm2") if model == "audio2mesh" else val.get("within_1")
            samples = steps * batch * n / seconds
            base = base or samples
            row = {
                "model": model,
                "processes": n,
                "steps": steps,
                "train_seconds": seconds,
                "wall_seconds": round(wall, 1),
                "steps_per_s": round(steps / seconds, 2),
                "samples_per_s": round(samples, 1),
                "scaling_efficiency": round(samples / (n * base), 3),
                "final_val": final,
            }
            results["runs"].append(row)
            print(json.dumps(row), flush=True)
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(results, indent=1) + "\n")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
