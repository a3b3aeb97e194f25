"""Audio2Mesh speed: offline (seconds of audio per second of compute, features included) and
streaming latency (from pushing a 100 ms audio chunk to having its frames), default checkpoint.

    python bench/audio2mesh_speed.py [--device cpu|cuda] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from audio2mesh.checkpoint import load_model  # noqa: E402
from audio2mesh.inference import StreamingPredictor, predict  # noqa: E402
from audio2mesh.model import count_parameters  # noqa: E402
from avatar.io.audio import SPEECH_RATE, read_audio  # noqa: E402
from avatar.motion import DEFAULT_FPS, frames_for  # noqa: E402
from sync_expert.features import speech_features  # noqa: E402


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def example_speech(seconds: float) -> np.ndarray:
    clip = read_audio(ROOT / "examples" / "hello.wav")
    reps = int(np.ceil(seconds * SPEECH_RATE / len(clip)))
    return np.tile(clip, reps)[: int(seconds * SPEECH_RATE)]


def offline(model, device, seconds: float, reps: int) -> float:
    audio = example_speech(seconds)
    n = frames_for(seconds, DEFAULT_FPS)
    for _ in range(2):
        predict(model, speech_features(audio, device), DEFAULT_FPS, n)
    sync(device)
    start = time.perf_counter()
    for _ in range(reps):
        predict(model, speech_features(audio, device), DEFAULT_FPS, n)
    sync(device)
    return seconds * reps / (time.perf_counter() - start)


def streaming(model, device, seconds: float = 20.0, chunk_ms: int = 100) -> dict:
    audio = example_speech(seconds)
    chunk = SPEECH_RATE * chunk_ms // 1000
    warm = StreamingPredictor(model, DEFAULT_FPS, device=device)
    for i in range(0, 20 * chunk, chunk):
        warm.push(audio[i : i + chunk])
    stream = StreamingPredictor(model, DEFAULT_FPS, device=device)
    latencies, frames = [], 0
    for i in range(0, len(audio), chunk):
        sync(device)
        start = time.perf_counter()
        out = stream.push(audio[i : i + chunk])
        sync(device)
        latencies.append((time.perf_counter() - start) * 1000)
        frames += len(out.params)
    frames += len(stream.flush().params)
    latencies.sort()
    return {
        "chunk_ms": chunk_ms,
        "median_ms": round(statistics.median(latencies), 2),
        "p95_ms": round(latencies[int(0.95 * len(latencies))], 2),
        "max_ms": round(latencies[-1], 2),
        "lookahead_s": round(stream.lookahead_seconds, 4),
        "frames": frames,
        "expected_frames": frames_for(seconds, DEFAULT_FPS),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    device = torch.device(args.device)
    model, meta = load_model(None, "audio2mesh", device)
    name = torch.cuda.get_device_name() if device.type == "cuda" else f"{platform.machine()} CPU, {torch.get_num_threads()} threads"
    result = {
        "device": name,
        "torch": torch.__version__,
        "checkpoint": "default",
        "parameters": count_parameters(model),
        "offline_x_realtime_60s": round(offline(model, device, 60.0, 5 if device.type == "cuda" else 2), 1),
        "offline_x_realtime_600s": round(offline(model, device, 600.0, 2 if device.type == "cuda" else 1), 1),
        "streaming": streaming(model, device),
    }
    print(json.dumps(result, indent=1))
    path = Path(args.json or ROOT / "bench" / "results" / f"audio2mesh_speed_{device.type}.json")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
