"""The numbered examples are the API's documentation: each one runs, on CPU, with small inputs."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np

from avatar.io.audio import SPEECH_RATE, write_wav

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def run_example(name: str, *args: str, timeout: float = 600) -> str:
    done = subprocess.run([sys.executable, str(EXAMPLES / name), *args], capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_examples_are_numbered_and_documented():
    scripts = sorted(p.name for p in EXAMPLES.glob("*.py"))
    assert scripts == [
        "01_fit_a_video.py",
        "02_speak_from_python.py",
        "03_stream_speech.py",
        "04_drive_the_viewer.py",
        "05_push_speech.py",
    ]
    for name in scripts:
        assert (EXAMPLES / name).read_text().startswith('"""'), f"{name} opens with its documentation"


def test_fit_example(tmp_path):
    out = run_example(
        "01_fit_a_video.py", "--demo", str(tmp_path / "me"), "--frames", "16", "--size", "64", "--iterations", "20", "--device", "cpu"
    )
    assert (tmp_path / "me" / "gaussians.npz").is_file() and "PSNR" in out


def test_speak_example(tmp_path):
    t = np.arange(int(0.4 * SPEECH_RATE)) / SPEECH_RATE
    write_wav(tmp_path / "a.wav", (0.3 * np.sin(2 * np.pi * 180 * t) * (1 + np.sin(2 * np.pi * 4 * t))).astype(np.float32))
    out = run_example(
        "02_speak_from_python.py", "--audio", str(tmp_path / "a.wav"), "-o", str(tmp_path / "a.mp4"), "--size", "32", "--device", "cpu"
    )
    assert "10 frames at 25 fps" in out
    import imageio.v3 as iio

    assert iio.imread(tmp_path / "a.mp4").shape == (10, 32, 32, 3)


def test_stream_example():
    out = run_example("03_stream_speech.py")
    streamed, offline = map(int, re.search(r"(\d+) frames streamed, (\d+) offline", out).groups())
    assert streamed == offline == 101  # hello.wav: 4.04 s at 25 fps
    mean, peak = map(float, re.search(r"differs by ([\d.]+) rad on average .* of a ([\d.]+) rad peak", out).groups())
    assert mean < 0.1 * peak


def test_viewer_example_serves_and_stops():
    out = run_example("04_drive_the_viewer.py", "--port", "0", "--seconds", "1")
    assert re.search(r"open http://localhost:\d+ +\(avatars: default\)", out)


def test_push_example_speaks_through_a_listening_viewer():
    from viewer.app import ViewerApp, ViewOptions

    app = ViewerApp(ViewOptions(port=0, listen=True))
    app.start()
    try:
        url = f"ws://127.0.0.1:{app.server.get_port()}/l2t/push"
        out = run_example("05_push_speech.py", str(EXAMPLES / "hello.wav"), "--url", url, "--fast")
    finally:
        app.stop()
    assert "'frames': 101" in out and "'seconds': 4.047" in out  # hello.wav: 4.05 s at 25 fps
