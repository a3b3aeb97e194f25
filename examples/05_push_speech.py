"""Push speech into a running viewer, as a TTS or chat engine would: the avatar speaks it live.

    l2t-avatar view --listen                                   # in one shell; open the page
    python examples/05_push_speech.py examples/hello.wav       # in another

The protocol (README, "Live speech"): a websocket to ws://HOST:PORT/l2t/push?rate=16000
(add &token=... when the viewer printed one); binary messages of 16-bit little-endian mono PCM
at that rate (or a WAV stream: its header in the first message); the text message "end" closes
an utterance, and the viewer answers {"event": "end", "frames": N, "seconds": S}.
Audio is sent in 20 ms chunks at the pace it would be spoken, so the face follows it live.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from websockets.sync.client import connect

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from avatar.io.audio import SPEECH_RATE, read_audio  # noqa: E402

CHUNK_SECONDS = 0.02


def push(url: str, audio: np.ndarray, realtime: bool = True) -> dict:
    """Send 16 kHz mono float audio as one utterance; the viewer's answer."""
    pcm = (np.clip(audio, -1.0, 1.0) * 32767.0).astype("<i2")
    step = int(CHUNK_SECONDS * SPEECH_RATE)
    with connect(url, max_size=2**20) as socket:
        start = time.monotonic()
        for i in range(0, len(pcm), step):
            socket.send(pcm[i : i + step].tobytes())
            if realtime:  # at the pace of speech
                time.sleep(max(0.0, start + (i + step) / SPEECH_RATE - time.monotonic()))
        socket.send("end")
        return json.loads(socket.recv(timeout=30))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("audio", help="speech file (wav, flac, mp3, ogg...)")
    parser.add_argument("--url", default="ws://127.0.0.1:8080/l2t/push", help="the viewer's push address (printed by view --listen)")
    parser.add_argument("--fast", action="store_true", help="send as fast as possible (the viewer still plays it at speaking pace)")
    args = parser.parse_args()
    audio = read_audio(args.audio)
    print(f"pushing {len(audio) / SPEECH_RATE:.2f} s to {args.url}", flush=True)
    print(push(args.url, audio, realtime=not args.fast))


if __name__ == "__main__":
    main()
