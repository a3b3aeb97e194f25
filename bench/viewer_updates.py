"""`l2t-avatar view`, server side: how many per-frame updates of the default avatar a tab gets.

A viewer server runs on the CPU (torch limited to --threads threads) and a plain websocket
client, standing in for a browser on another machine, drains everything it is sent. The tab's
update loop is replaced by calls as fast as they go:

- speech: frame after frame of Audio2Mesh motion on examples/hello.wav plus idle motion (the
  normal case; only the chunks that moved are sent, the head sway is the node's transform);
- full: every Gaussian changes every update (a neck sweep), the worst case.

Each runs as fast as it goes, then paced at 30 updates/s. Per update: the server's time (pose +
pack + queue); "delivered" counts whole updates' worth of splat bytes that reached the client
per second, until its last byte (viser drops a queued update a newer one supersedes, so when
updates come faster than the socket takes them, fewer arrive than were made).

    python bench/viewer_updates.py [--updates 400] [--threads 2] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from viewer.app import ViewerApp, ViewOptions  # noqa: E402


def _drain(url: str, received, last, ready) -> None:
    import msgspec
    import viser
    from websockets.sync.client import connect

    socket = connect(url, subprotocols=[f"viser-v{viser.__version__}"], max_size=None)
    # viser counts a client as connected once it reports its camera, as a page does first.
    socket.send(
        msgspec.msgpack.encode(
            {
                "type": "ViewerCameraMessage",
                "wxyz": [1.0, 0.0, 0.0, 0.0],
                "position": [0.0, 0.0, 1.0],
                "fov": 0.5,
                "near": 0.01,
                "far": 100.0,
                "image_height": 720,
                "image_width": 1280,
                "look_at": [0.0, 0.0, 0.0],
                "up_direction": [0.0, 1.0, 0.0],
            }
        )
    )
    ready.set()
    try:
        for message in socket:
            received.value += len(message)
            last.value = time.time()
    except Exception:
        pass


class DrainClient:
    """A websocket client in its own process (as a browser would be) that counts what it receives."""

    def __init__(self, url: str):
        import multiprocessing as mp

        ctx = mp.get_context("spawn")
        self.received, self.last, ready = ctx.Value("d", 0.0), ctx.Value("d", time.time()), ctx.Event()
        self.process = ctx.Process(target=_drain, args=(url, self.received, self.last, ready), daemon=True)
        self.process.start()
        ready.wait(30)

    @property
    def bytes(self) -> float:
        return self.received.value

    def wait_quiet(self, seconds: float = 0.5) -> float:
        """Wait until nothing arrived for `seconds`; returns when the last byte came (time.time())."""
        while time.time() - self.last.value < seconds:
            time.sleep(0.05)
        return self.last.value

    def close(self) -> None:
        self.process.terminate()


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def run_phase(session, client: DrainClient, frames: list[dict], shape: torch.Tensor, pace: float | None = None) -> dict:
    """Send `frames` (rig poses), as fast as the server can or `pace` per second; time and size each update."""
    client.wait_quiet()
    bytes_before = client.bytes
    times, payloads = [], []
    start = time.time()
    for params in frames:
        t0 = time.perf_counter()
        posed = session.entry.poser.pose(params, shape)
        with session.client.atomic():
            sent = session.nodes.show(posed)
        times.append(time.perf_counter() - t0)
        payloads.append(sent)
        if pace:
            time.sleep(max(0.0, start + len(times) / pace - time.time()))
    end = client.wait_quiet()
    times_ms = np.array(times) * 1000
    n = len(frames)
    wire = client.bytes - bytes_before
    # viser drops a queued update that a newer one supersedes, so what reached the client is
    # counted in bytes: whole updates' worth of splats received per second.
    delivered = wire / float(np.mean(payloads)) / (end - start)
    return {
        "updates": n,
        "paced_at_per_s": pace,
        "server_updates_per_s": round(n / float(np.sum(times)), 1),
        "server_ms_p50": round(float(np.percentile(times_ms, 50)), 2),
        "server_ms_p95": round(float(np.percentile(times_ms, 95)), 2),
        "delivered_updates_per_s": round(delivered, 1),
        "delivered_fraction": round(wire / float(np.sum(payloads)), 3),
        "splat_kb_per_update_mean": round(float(np.mean(payloads)) / 1024, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--updates", type=int, default=400)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    app = ViewerApp(ViewOptions(port=0, device="cpu", audio=str(ROOT / "examples" / "hello.wav")))
    url = app.start().replace("http://", "ws://")
    client = DrainClient(url)
    deadline = time.monotonic() + 30
    while not app.sessions and time.monotonic() < deadline:
        time.sleep(0.05)
    session = next(iter(app.sessions.values()))
    session.close()  # the bench drives updates itself
    session.thread.join(timeout=5)
    motion, shape = session.motion, session.controls.shape()
    speech = [{k: v[i % motion.num_frames] for k, v in motion.params.items()} for i in range(args.updates)]
    sweep = [
        {"neck": torch.tensor([0.3 * np.sin(i / 10), 0.0, 0.0]), "jaw": torch.tensor([0.1 * (i % 2), 0.0, 0.0])}
        for i in range(args.updates)
    ]
    results = {}
    for name, frames in (("speech", speech), ("full", sweep)):
        for pace in (None, 30.0, 60.0):
            session.nodes.tracker.reset()
            results[f"{name}_{'max' if pace is None else f'paced{pace:g}'}"] = run_phase(session, client, frames, shape, pace)
    record = {
        "device": f"{cpu_name()} ({args.threads} torch threads, {len(__import__('os').sched_getaffinity(0))} cores visible)",
        "gaussians": session.entry.poser.num_gaussians,
        "chunks": len(session.entry.poser.chunks),
        "torch": torch.__version__,
        "results": results,
    }
    client.close()
    app.stop()
    print(json.dumps(record, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(record, indent=2) + "\n")


if __name__ == "__main__":
    main()
