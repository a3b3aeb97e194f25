"""`l2t-avatar serve`: a resident worker that runs `speak` calls (l2t_avatar/worker.py). The worker runs
as a real process on a socket in the test's folder; callers are real `l2t-avatar` processes."""

from __future__ import annotations

import math
import os
import select
import signal
import struct
import subprocess
import sys
import time
import wave
from pathlib import Path

import pytest

from l2t_avatar import worker

CLIENT = (
    "import sys; from l2t_avatar.cli import main; code = main(sys.argv[1:]); "
    "print('torch imported:', 'torch' in sys.modules); sys.exit(code)"
)
SERVE = [sys.executable, "-m", "l2t_avatar", "serve"]


def _speech(path: Path, seconds: float) -> Path:
    """A voiced-sounding test signal: a 140 Hz buzz whose loudness rises and falls like syllables."""
    rate = 16000
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        samples = (
            8000 * math.sin(2 * math.pi * 4 * i / rate) ** 2 * math.copysign(1, math.sin(2 * math.pi * 140 * i / rate))
            for i in range(int(rate * seconds))
        )
        w.writeframes(b"".join(struct.pack("<h", int(v)) for v in samples))
    return path


def _env(tmp_path: Path) -> dict:
    root = str(Path(__file__).resolve().parents[1])
    return {**os.environ, "L2T_WORKER_SOCKET": str(tmp_path / "w.sock"), "PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", "")}


def _call(args: list[str], env: dict, cwd: Path, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", CLIENT, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=300, **kw)


@pytest.fixture()
def running(tmp_path):
    """A worker listening on a socket in tmp_path (no warm-up: the first call pays it); its log file."""
    env = _env(tmp_path)
    log = tmp_path / "serve.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([*SERVE, "--device", "cpu", "--no-warm-up"], env=env, stderr=out, stdout=out)
    deadline = time.monotonic() + 60
    while not (tmp_path / "w.sock").exists():
        assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
        time.sleep(0.1)
    yield env, log, proc
    if proc.poll() is None:
        proc.terminate()
        proc.wait(timeout=30)


def test_speak_runs_in_the_worker_with_the_callers_folder_and_exit_codes(running, tmp_path):
    env, log, proc = running
    audio = _speech(tmp_path / "talk.wav", 0.6)
    here = tmp_path / "caller"
    here.mkdir()
    done = _call(["speak", "--audio", str(audio), "-o", "rel.mp4", "--size", "32", "--device", "cpu", "--quiet"], env, here)
    assert done.returncode == 0, done.stderr
    assert "wrote rel.mp4: 15 frames at 25 fps, 32x32" in done.stdout
    assert "torch imported: False" in done.stdout  # the caller itself never loaded torch
    assert (here / "rel.mp4").stat().st_size > 0  # relative to the caller's folder, not the worker's
    assert "speak: exit 0" in log.read_text()
    # a user error: one line, exit 2, nothing written, and the worker goes on
    bad = _call(["speak", "--audio", "missing.wav", "-o", "x.mp4", "--device", "cpu"], env, here)
    assert bad.returncode == 2 and bad.stderr.strip().splitlines() == ["l2t-avatar speak: error: audio file not found: missing.wav"]
    assert not (here / "x.mp4").exists() and proc.poll() is None
    assert "speak: exit 2" in log.read_text()
    # --no-worker runs in the caller's own process
    own = _call(["speak", "--audio", str(audio), "-o", "own.mp4", "--size", "32", "--device", "cpu", "--quiet", "--no-worker"], env, here)
    assert own.returncode == 0 and "torch imported: True" in own.stdout
    assert log.read_text().count("speak: exit") == 2


def test_a_caller_that_hangs_up_interrupts_its_job_and_nothing_is_written(running, tmp_path):
    env, log, proc = running
    short = _speech(tmp_path / "short.wav", 0.3)
    warm = _call(["speak", "--audio", str(short), "-o", "warm.mp4", "--size", "32", "--device", "cpu", "--quiet"], env, tmp_path)
    assert warm.returncode == 0, warm.stderr  # the worker has its imports now
    audio = _speech(tmp_path / "long.wav", 30.0)
    caller = subprocess.Popen(
        [sys.executable, "-c", CLIENT, "speak", "--audio", str(audio), "-o", "long.mp4", "--size", "64", "--device", "cpu"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    seen, deadline = b"", time.monotonic() + 120
    while b"render:" not in seen:  # the worker's progress bar, relayed: the job is rendering
        assert caller.poll() is None and time.monotonic() < deadline, seen
        if select.select([caller.stderr], [], [], 0.5)[0]:
            seen += os.read(caller.stderr.fileno(), 4096)
    caller.send_signal(signal.SIGINT)
    _, err = caller.communicate(timeout=60)
    assert caller.returncode == 130 and b"interrupted" in err
    deadline = time.monotonic() + 60
    while "speak: exit 130" not in log.read_text():
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.2)
    assert not (tmp_path / "long.mp4").exists() and sorted(p.name for p in tmp_path.glob("*.mp4*")) == ["warm.mp4"]
    assert proc.poll() is None  # still serving


def test_stop_a_second_worker_and_a_stale_socket(running, tmp_path):
    env, log, proc = running
    second = subprocess.run([*SERVE, "--no-warm-up"], env=env, capture_output=True, text=True, timeout=60)
    assert second.returncode == 2 and "a worker already listens at" in second.stderr
    stop = subprocess.run([*SERVE, "--stop"], env=env, capture_output=True, text=True, timeout=60)
    assert stop.returncode == 0 and "stopped the worker" in stop.stdout
    assert proc.wait(timeout=30) == 0 and not (tmp_path / "w.sock").exists()
    assert "asked to stop" in log.read_text()
    # a file where the socket was (a worker that was killed): callers run the command themselves
    (tmp_path / "w.sock").write_text("")
    assert worker.forward(["speak", "--audio", "x.wav"], tmp_path / "w.sock") is None
    assert worker.forward(["speak", "--audio", "x.wav"], tmp_path / "none.sock") is None


def test_the_worker_declines_other_versions_and_other_commands(running, tmp_path):
    import json
    import socket

    from avatar import __version__

    env, log, proc = running

    def ask(request: dict) -> list[tuple[bytes, bytes]]:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.connect(str(tmp_path / "w.sock"))
            worker.send_frame(conn, worker.REQUEST, json.dumps(request).encode())
            frames = []
            while (frame := worker.recv_frame(conn)) is not None:
                frames.append(frame)
        return frames

    base = {"protocol": worker.PROTOCOL, "version": __version__, "cwd": str(tmp_path)}
    assert ask({**base, "version": "0.0.0", "argv": ["speak"]}) == [(worker.DECLINED, b"")]  # the caller runs it itself
    frames = ask({**base, "argv": ["fit", "video.mp4"]})
    assert frames[-1] == (worker.EXIT, b"2") and b"runs speak only" in frames[0][1]
    assert oct((tmp_path / "w.sock").stat().st_mode & 0o777) == oct(0o600)


def test_a_bug_in_a_job_reaches_the_caller_as_a_traceback_and_the_worker_goes_on(tmp_path):
    import socket

    from avatar import __version__

    def buggy(argv: list[str]) -> int:
        print("starting")
        raise ValueError("a bug in the command")

    request = {"protocol": worker.PROTOCOL, "version": __version__, "cwd": str(tmp_path), "argv": ["speak", "--audio", "a.wav"]}
    streams, cwd = (sys.stdout, sys.stderr), os.getcwd()
    worker_end, caller_end = socket.socketpair()
    with worker_end, caller_end:
        assert worker._run_job(worker_end, request, buggy) == 1  # returns: the worker goes on
        worker_end.shutdown(socket.SHUT_WR)
        frames = []
        while (frame := worker.recv_frame(caller_end)) is not None:
            frames.append(frame)
    out = b"".join(payload for kind, payload in frames if kind == worker.STDOUT).decode()
    err = b"".join(payload for kind, payload in frames if kind == worker.STDERR).decode()
    assert out == "starting\n"
    assert "Traceback" in err and "ValueError: a bug in the command" in err
    assert (sys.stdout, sys.stderr) == streams and os.getcwd() == cwd  # the worker's own streams and folder are back
