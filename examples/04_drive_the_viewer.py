"""Serve the web viewer from Python with a speech loaded, and watch who connects.

    python examples/04_drive_the_viewer.py                      # the default avatar with examples/hello.wav
    python examples/04_drive_the_viewer.py --avatar my_avatar --audio talk.wav --port 8080

Open the printed address; every tab gets its own camera, sliders and playback.
`l2t-avatar view` is this plus checks and options.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from viewer.app import ViewerApp, ViewOptions  # noqa: E402

HELLO = Path(__file__).resolve().parent / "hello.wav"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--avatar", action="append", default=[], help="an avatar folder (repeatable; default: the default avatar)")
    parser.add_argument("--audio", default=str(HELLO), help="speech every tab starts with (default: examples/hello.wav)")
    parser.add_argument("--port", type=int, default=8080, help="port (0: any free one)")
    parser.add_argument("--seconds", type=float, default=None, help="stop after this long (default: until Ctrl+C)")
    args = parser.parse_args()

    app = ViewerApp(ViewOptions(avatars=args.avatar, audio=args.audio, port=args.port))
    print(f"open {app.start()}  (avatars: {', '.join(app.library.names)})", flush=True)
    end = time.monotonic() + args.seconds if args.seconds is not None else float("inf")
    seen = 0
    try:
        while time.monotonic() < end:
            if len(app.sessions) != seen:
                seen = len(app.sessions)
                print(f"{seen} tab(s) open", flush=True)
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass
    finally:
        app.stop()


if __name__ == "__main__":
    main()
