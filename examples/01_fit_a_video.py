"""Fit an avatar from a video, from Python.

    python examples/01_fit_a_video.py my_video.mp4 my_avatar
    python examples/01_fit_a_video.py --demo my_avatar     # fits a clip it renders of the default avatar

The result is an avatar folder that `l2t-avatar speak --avatar`, `render` and `view` open.
`l2t-avatar fit` does the same with checks, resume and progress bars; this shows the library calls.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from avatar.device import resolve_device  # noqa: E402
from avatar.fit.pipeline import FitOptions, fit_avatar  # noqa: E402
from avatar.fit.synthetic import render_synthetic_clip  # noqa: E402
from avatar.io.avatar_folder import load_avatar  # noqa: E402
from avatar.rig import load_rig  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("video", nargs="?", help="a video of one face (MP4, MOV...)")
    parser.add_argument("output", help="the avatar folder to write (must not exist)")
    parser.add_argument("--demo", action="store_true", help="fit a short clip rendered from the default avatar instead")
    parser.add_argument("--frames", type=int, default=32, help="frames of the --demo clip")
    parser.add_argument("--size", type=int, default=128, help="size of the --demo clip, pixels")
    parser.add_argument("--iterations", type=int, default=None, help="Gaussian iterations (default: 1500 on CUDA, 300 on CPU)")
    parser.add_argument("--device", default=None, help="cpu, cuda (default: cuda when there is one)")
    args = parser.parse_args()
    if (args.video is None) == (not args.demo):
        parser.error("give a video or --demo")

    device = resolve_device(args.device)
    with tempfile.TemporaryDirectory() as tmp:
        video = args.video
        if args.demo:
            video = Path(tmp) / "demo.mp4"
            render_synthetic_clip(load_avatar(), video, num_frames=args.frames, size=args.size)
        result = fit_avatar(video, args.output, load_rig(), FitOptions(iterations=args.iterations, preview=False), device=device)
    print(result.summary())


if __name__ == "__main__":
    main()
