"""Streaming speech: push audio in 100 ms chunks as it would arrive, get back the frames that became final.

    python examples/03_stream_speech.py                 # streams examples/hello.wav
    python examples/03_stream_speech.py --audio talk.wav --chunk-ms 40

Each push returns only frames no later audio can change; the motion is `lookahead` behind the audio.
It stays close to the offline motion (`Speaker.motion`, printed beside it): the stream normalises the
sound by what it has heard so far, the offline path by the whole utterance.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

import numpy as np  # noqa: E402
import torch  # noqa: E402

from audio2mesh.speech import Speaker, load_speech  # noqa: E402
from avatar.checks import DEFAULT_FPS  # noqa: E402
from avatar.io.audio import SPEECH_RATE  # noqa: E402
from avatar.rig import load_rig  # noqa: E402

HELLO = Path(__file__).resolve().parent / "hello.wav"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--audio", default=str(HELLO), help="speech to stream (default: examples/hello.wav)")
    parser.add_argument("--chunk-ms", type=float, default=100.0, help="chunk length, milliseconds")
    args = parser.parse_args()

    rig = load_rig().data  # the built-in l2t-head
    speaker = Speaker.load()
    audio = load_speech(args.audio, min_seconds=1 / DEFAULT_FPS)
    stream = speaker.stream(DEFAULT_FPS, rig.expression_names, rig.name)
    chunk = max(1, int(SPEECH_RATE * args.chunk_ms / 1000))
    jaws, compute = [], []
    for start in range(0, len(audio), chunk):
        t = time.perf_counter()
        frames = stream.push(audio[start : start + chunk])
        compute.append(time.perf_counter() - t)
        jaws.append(frames.params["jaw"])
    jaws.append(stream.flush().params["jaw"])
    streamed = torch.cat(jaws)
    offline = speaker.motion(audio, DEFAULT_FPS, rig.expression_names, rig.name).params["jaw"]
    print(
        f"{len(compute)} chunks of {args.chunk_ms:g} ms: {1000 * np.median(compute):.1f} ms compute each (median), "
        f"look-ahead {1000 * stream.lookahead_seconds:.0f} ms"
    )
    diff = (streamed - offline)[:, 0].abs()
    print(
        f"{len(streamed)} frames streamed, {len(offline)} offline; jaw opening differs by {float(diff.mean()):.4f} rad "
        f"on average (largest {float(diff.max()):.4f}) of a {float(offline[:, 0].max()):.3f} rad peak"
    )


if __name__ == "__main__":
    main()
