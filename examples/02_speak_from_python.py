"""Make an avatar speak a sound file, from Python: speech -> Audio2Mesh motion -> MP4 with the audio.

    python examples/02_speak_from_python.py                       # the default avatar says examples/hello.wav
    python examples/02_speak_from_python.py --audio talk.wav --avatar my_avatar -o talk.mp4

`l2t-avatar speak` is this plus checks and options.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from audio2mesh.speech import Speaker, load_speech  # noqa: E402
from avatar.checks import DEFAULT_FPS  # noqa: E402
from avatar.device import resolve_device  # noqa: E402
from avatar.idle import add_idle  # noqa: E402
from avatar.io.avatar_folder import load_avatar  # noqa: E402
from avatar.motion import Motion  # noqa: E402
from avatar.render.animate import render_motion_to_mp4  # noqa: E402

HELLO = Path(__file__).resolve().parent / "hello.wav"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--audio", default=str(HELLO), help="speech: wav, flac, mp3... (default: examples/hello.wav)")
    parser.add_argument("--avatar", default=None, help="an avatar folder (default: the built-in default avatar)")
    parser.add_argument("-o", "--output", default="hello.mp4", help="the MP4 to write")
    parser.add_argument("--size", type=int, default=512, help="video size, pixels")
    parser.add_argument("--device", default=None, help="cpu, cuda (default: cuda when there is one)")
    args = parser.parse_args()

    device = resolve_device(args.device)
    avatar = load_avatar(args.avatar, device=device)
    rig = avatar.rig.data
    speaker = Speaker.load(device=device)  # the shipped Audio2Mesh and its log-mel front-end
    audio = load_speech(args.audio, min_seconds=1 / DEFAULT_FPS)  # 16 kHz mono float32
    motion = speaker.motion(audio, DEFAULT_FPS, rig.expression_names, rig.name)  # jaw + expressions per frame
    motion = Motion(add_idle(motion.params, motion.fps, rig.expression_names), fps=motion.fps)  # blinks and head sway
    stats = render_motion_to_mp4(avatar, motion, args.output, size=args.size, audio=args.audio)
    print(f"wrote {args.output}: {stats.frames} frames at {motion.fps:g} fps, rendered at {stats.fps:.1f} frames/s")


if __name__ == "__main__":
    main()
