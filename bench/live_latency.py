"""Live speech in `l2t-avatar view`: from audio arriving at the server to the pose update leaving it.

A viewer server runs in this process (torch limited to --threads threads), a plain websocket
client in another process stands in for the browser tab and drains what it is sent, and real
speech (examples/hello.wav, 4 s, with 1 s pauses between repeats) arrives at the pace it is
spoken:

- mic: as the page's "Live mic" sends it, 512-sample chunks of 48 kHz int16 on /l2t/mic;
- push: as examples/05_push_speech.py sends it, 20 ms chunks of 16 kHz int16 on /l2t/push.

Per motion frame: "ready" = the frame is final (look-ahead + waiting for the chunk that completes
it + resampling + inference) and "sent" = the tab queued its pose to the client (+ waiting for
the update loop + posing and packing the splats), both counted from the arrival of the audio at
the frame's own time. Pushed speech is shown PLAY_DELAY after it arrives, in step with the page
playing it, so its "sent" includes that chosen delay; its "ready" is the comparable figure.

--soak S then feeds S seconds of speech to a tab's microphone voice as fast as it takes them, the
tab showing it all along, and samples the process's memory and the live buffers as it goes (they
must stay flat).

    python bench/live_latency.py [--seconds 20] [--threads 2] [--device cpu|cuda] [--soak 600] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from avatar.io.audio import SPEECH_RATE, read_audio, resample  # noqa: E402
from bench.viewer_updates import DrainClient, cpu_name  # noqa: E402
from viewer.app import ViewerApp, ViewOptions  # noqa: E402
from viewer.live_panel import PLAY_DELAY  # noqa: E402


def speech(seconds: float) -> np.ndarray:
    """hello.wav repeated with 1 s pauses, cut to `seconds` (16 kHz)."""
    hello = read_audio(ROOT / "examples" / "hello.wav")
    unit = np.concatenate([hello, np.zeros(SPEECH_RATE, np.float32)])
    return np.tile(unit, int(np.ceil(seconds * SPEECH_RATE / len(unit))))[: int(seconds * SPEECH_RATE)]


def send_paced(url: str, audio: np.ndarray, rate: int, chunk: int, realtime: bool = True, end: bool = False) -> None:
    from websockets.sync.client import connect

    pcm = (np.clip(audio, -1, 1) * 32767).astype("<i2")
    with connect(url, max_size=2**20) as socket:
        start = time.monotonic()
        for i in range(0, len(pcm), chunk):
            socket.send(pcm[i : i + chunk].tobytes())
            if realtime:
                time.sleep(max(0.0, start + (i + chunk) / rate - time.monotonic()))
        if end:
            socket.send("end")
            socket.recv(timeout=600)
        time.sleep(0.5)  # the last frames are shown before the socket closes


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def soak(session, seconds: float, max_wall: float) -> dict:
    """A tab's microphone voice gets `seconds` of speech in 0.1 s chunks as fast as it takes them
    (for at most `max_wall` seconds; pushed straight in, as the socket handler does, so no socket
    backlog builds up), while the tab keeps showing it; memory and the live buffers as it goes."""
    session.live_panel.toggle()
    voice = session.open_mic()
    audio = speech(min(seconds, 600.0))
    chunk = SPEECH_RATE // 10
    samples: list[dict] = []
    start = last = time.perf_counter()
    sent = 0.0
    while sent < seconds and time.perf_counter() - start < max_wall:
        for i in range(0, len(audio), chunk):
            voice.push(audio[i : i + chunk])
        sent += len(audio) / SPEECH_RATE
        if time.perf_counter() - last > 5.0 or sent >= seconds:
            last = time.perf_counter()
            predictor = voice.stream.predictor
            samples.append(
                {
                    "speech_seconds": round(sent, 1),
                    "rss_mb": round(rss_mb(), 1),
                    "frames_kept": len(voice.frames),
                    "audio_buffer_seconds": round(len(predictor.buffer) / SPEECH_RATE, 2),
                    "tab_updates": session.updates.count,
                }
            )
    wall = round(time.perf_counter() - start, 1)
    voice.end()
    session.live_panel.toggle()
    return {"speech_seconds": round(sent, 1), "wall_seconds": wall, "tab_open": session.alive, "samples": samples}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="seconds of speech per path (default: 20)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default: 2, the CPU server)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default: cpu)")
    parser.add_argument("--soak", type=float, default=0.0, help="then push this many seconds as fast as it goes (memory)")
    parser.add_argument("--soak-wall", type=float, default=420.0, help="stop the soak after this many seconds (default: 420)")
    parser.add_argument("--json", default=None, help="write the results here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    app = ViewerApp(ViewOptions(port=0, device=args.device, listen=True))
    app.start()
    port = app.server.get_port()
    tab = DrainClient(f"ws://127.0.0.1:{port}")
    while not app.sessions:
        time.sleep(0.05)
    session = next(iter(app.sessions.values()))
    audio = speech(args.seconds)
    device = torch.cuda.get_device_name() if app.cuda else f"{cpu_name()} ({args.threads} threads)"
    result = {
        "device": device,
        "lookahead_ms": round(1000 * app.engine.live_lookahead_seconds, 1),
        "max_rate": app.opts.max_rate,
        "speech_seconds": args.seconds,
        "play_delay_ms": 1000 * PLAY_DELAY,
    }

    session.live_panel.toggle()  # "Live mic" pressed; the page would now open the socket
    mic_audio = resample(audio, SPEECH_RATE, 48000)
    send_paced(f"ws://127.0.0.1:{port}/l2t/mic?tab={session.client.client_id}&rate=48000", mic_audio, 48000, 512)
    voice = session.mic_voice
    updates = np.asarray(session.updates.seconds) * 1000.0
    result["mic"] = {
        "ready_ms": voice.latency_ms("ready"),
        "sent_ms": voice.latency_ms("shown"),
        "tab_update_ms": {"p50": float(np.percentile(updates, 50)), "p95": float(np.percentile(updates, 95))},
    }
    session.live_panel.toggle()

    pushed = []
    app.hub.open_push, original = (lambda: pushed.append(original()) or pushed[-1]), app.hub.open_push
    send_paced(f"ws://127.0.0.1:{port}/l2t/push", audio, SPEECH_RATE, int(0.02 * SPEECH_RATE), end=True)
    result["push"] = {"ready_ms": pushed[0].latency_ms("ready"), "sent_ms": pushed[0].latency_ms("shown")}

    if args.soak > 0:
        result["soak"] = soak(session, args.soak, args.soak_wall)
    tab.close()
    app.stop()
    print(json.dumps(result, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
