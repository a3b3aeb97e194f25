"""`speak` end to end: 10 s of speech at 512x512 with the default avatar and checkpoint (decode,
Audio2Mesh, render, H.264 + AAC encode), after a warm-up run; then 10 minutes of speech at 256x256
to show that memory stays bounded (peak RSS and GPU memory of both runs).

Also the command a user types, cold: `l2t-avatar speak` of the same 10 s as a fresh process,
`--cold-runs` times (wall time from the shell, Python start-up and imports included; gsplat's
kernels are already built by the warm-up, as they are after a machine's first run); and the
same command while `l2t-avatar serve` runs (`--worker-runs` times; the worker's warm-up apart).

    python bench/speak.py [--device cuda] [--long-minutes 10] [--cold-runs 3] [--worker-runs 3] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from avatar.io.audio import SPEECH_RATE, read_audio, write_wav  # noqa: E402
from avatar.io.video import probe_video  # noqa: E402
from l2t_avatar.speak import SpeakOptions, speak  # noqa: E402


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run(audio: Path, out: Path, size: int, device: str) -> dict:
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    result = speak(SpeakOptions(audio=str(audio), output=str(out), size=size, device=device, progress=False))
    wall = time.perf_counter() - start
    info = probe_video(out)
    return {
        "audio_s": round(result.seconds, 2),
        "size": size,
        "frames": result.frames,
        "wall_s": round(wall, 3),
        "x_realtime": round(result.seconds / wall, 2),
        "timings_s": {k: round(v, 3) for k, v in result.timings.items()},
        "mp4_frames": info["frames"],
        "mp4_audio_s": round(info["audio_seconds"], 2),
        "peak_rss_mb": round(peak_rss_mb()),
        "peak_gpu_mb": round(torch.cuda.max_memory_allocated() / 2**20) if device == "cuda" else None,
    }


def cold_runs(audio: Path, out: Path, size: int, device: str, runs: int) -> dict:
    """Wall seconds of `python -m l2t_avatar speak` as a new process, `runs` times."""
    cmd = [sys.executable, "-m", "l2t_avatar", "speak", "--audio", str(audio), "-o", str(out), "--size", str(size), "--device", device]
    cmd += ["--no-worker"]  # a new process all the way, even if a worker runs on this machine
    walls = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd + ["--quiet"], check=True, cwd=ROOT, capture_output=True)
        walls.append(round(time.perf_counter() - start, 3))
    floor_cmd = [sys.executable, "-c", "import torch; torch.zeros(1, device='cuda' if torch.cuda.is_available() else 'cpu')"]
    start = time.perf_counter()
    subprocess.run(floor_cmd, check=True, capture_output=True)
    floor = round(time.perf_counter() - start, 3)
    return {
        "command": " ".join(["l2t-avatar", *cmd[3:]]),
        "size": size,
        "wall_s": walls,
        "median_wall_s": sorted(walls)[len(walls) // 2],
        "python_import_torch_and_init_device_s": floor,  # the floor any command that uses torch pays
    }


def worker_runs(audio: Path, out: Path, size: int, device: str, runs: int) -> dict:
    """Wall seconds of `python -m l2t_avatar speak` as a new process while `l2t-avatar serve` runs."""
    socket_dir = Path(tempfile.mkdtemp(prefix="l2t-bench-"))
    env = {**os.environ, "L2T_WORKER_SOCKET": str(socket_dir / "w.sock")}
    start = time.perf_counter()
    server = subprocess.Popen([sys.executable, "-m", "l2t_avatar", "serve", "--device", device], env=env, cwd=ROOT, stderr=subprocess.PIPE)
    while not (socket_dir / "w.sock").exists():
        if server.poll() is not None:
            raise SystemExit(f"serve exited: {server.stderr.read().decode()[-2000:]}")
        time.sleep(0.05)
    ready = round(time.perf_counter() - start, 3)
    cmd = [sys.executable, "-m", "l2t_avatar", "speak", "--audio", str(audio), "-o", str(out), "--size", str(size), "--device", device]
    walls = []
    try:
        for _ in range(runs):
            start = time.perf_counter()
            subprocess.run(cmd + ["--quiet"], check=True, cwd=ROOT, capture_output=True, env=env)
            walls.append(round(time.perf_counter() - start, 3))
    finally:
        subprocess.run([sys.executable, "-m", "l2t_avatar", "serve", "--stop"], env=env, capture_output=True)
        server.wait(timeout=60)
    return {
        "command": " ".join(["l2t-avatar", *cmd[3:]]) + "  (while `l2t-avatar serve` runs)",
        "size": size,
        "serve_ready_s": ready,  # start-up and warm-up of the worker, once
        "wall_s": walls,
        "median_wall_s": sorted(walls)[len(walls) // 2],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--long-minutes", type=float, default=10.0)
    ap.add_argument("--cold-runs", type=int, default=3, help="fresh `l2t-avatar speak` processes to time (0: none)")
    ap.add_argument("--worker-runs", type=int, default=3, help="`l2t-avatar speak` processes to time while a worker runs (0: none)")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    clip = read_audio(ROOT / "examples" / "hello.wav")
    tmp = Path(tempfile.mkdtemp())

    def speech(seconds: float) -> Path:
        path = tmp / f"speech_{seconds:g}.wav"
        write_wav(path, np.tile(clip, int(np.ceil(seconds * SPEECH_RATE / len(clip))))[: int(seconds * SPEECH_RATE)])
        return path

    run(speech(2.0), tmp / "warmup.mp4", 512, args.device)  # compiles gsplat's kernels on first use
    short = run(speech(10.0), tmp / "short.mp4", 512, args.device)
    print("10 s at 512:", json.dumps(short), flush=True)
    cold = cold_runs(speech(10.0), tmp / "cold.mp4", 512, args.device, args.cold_runs) if args.cold_runs > 0 else None
    print("cold command, 10 s at 512:", json.dumps(cold), flush=True)
    served = worker_runs(speech(10.0), tmp / "served.mp4", 512, args.device, args.worker_runs) if args.worker_runs > 0 else None
    print("command with a worker running, 10 s at 512:", json.dumps(served), flush=True)
    long = run(speech(args.long_minutes * 60), tmp / "long.mp4", 256, args.device) if args.long_minutes > 0 else None
    print(f"{args.long_minutes:g} min at 256:", json.dumps(long), flush=True)
    name = torch.cuda.get_device_name() if args.device == "cuda" else f"{platform.machine()} CPU"
    result = {
        "device": name,
        "torch": torch.__version__,
        "speak_10s_512": short,
        "speak_10s_512_cold_command": cold,
        "speak_10s_512_command_with_worker": served,
        "speak_long_256": long,
    }
    path = Path(args.json or ROOT / "bench" / "results" / f"speak_{args.device}.json")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
