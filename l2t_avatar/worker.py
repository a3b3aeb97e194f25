"""A resident worker for `speak`: the command's start-up paid once, not on every call.

A new Python process that renders on the GPU spends seconds before its first frame: importing
torch, creating the CUDA context, loading gsplat's kernels and the models. `l2t-avatar serve`
pays that once and then listens on a Unix socket; while it runs, `l2t-avatar speak` (which imports
no torch until it has to) hands its arguments and working folder to the worker, relays the
worker's output and exits with the worker's exit code. Without a worker, or with `--no-worker`,
`speak` runs in its own process as always: same arguments, same files, same messages.

The socket ($XDG_RUNTIME_DIR/l2t-avatar/worker.sock, else under ~/.cache/l2t-avatar;
$L2T_WORKER_SOCKET overrides, for both sides) can be opened by its owner alone, in a folder
closed to others when the worker makes it, and the worker also checks that a caller runs as
the same user. It serves `speak` alone, one call at a time (others wait their turn).
A caller that hangs up (Ctrl-C) interrupts its job, which then cleans up as an interrupted
`speak` does: nothing is left under the output's name. The worker stops after `--idle-minutes`
without a call, on Ctrl-C or SIGTERM, or by `l2t-avatar serve --stop`.

Messages are frames: one byte of kind, four of length, then the payload (UTF-8 text or JSON).
"""

from __future__ import annotations

import _thread
import contextlib
import io
import json
import os
import select
import socket
import struct
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from avatar import __version__
from avatar.errors import L2TError

SERVED = ("speak",)  # the commands a worker runs
PROTOCOL = 1
_HEADER = struct.Struct(">cI")
# kinds of frame
REQUEST, STDOUT, STDERR, EXIT, DECLINED = b"q", b"o", b"e", b"x", b"n"


def socket_path() -> Path:
    """Where the worker listens: $L2T_WORKER_SOCKET, else l2t-avatar/worker.sock in $XDG_RUNTIME_DIR or ~/.cache."""
    if os.environ.get("L2T_WORKER_SOCKET"):
        return Path(os.environ["L2T_WORKER_SOCKET"])
    base = os.environ.get("XDG_RUNTIME_DIR") or Path.home() / ".cache"
    return Path(base) / "l2t-avatar" / "worker.sock"


def send_frame(conn: socket.socket, kind: bytes, payload: bytes) -> None:
    conn.sendall(_HEADER.pack(kind, len(payload)) + payload)


def recv_frame(conn: socket.socket) -> tuple[bytes, bytes] | None:
    """The next frame, or None when the other side has closed."""
    header = _recv_exactly(conn, _HEADER.size)
    if header is None:
        return None
    kind, length = _HEADER.unpack(header)
    payload = _recv_exactly(conn, length)
    return None if payload is None else (kind, payload)


def _recv_exactly(conn: socket.socket, size: int) -> bytes | None:
    chunks, left = [], size
    while left:
        chunk = conn.recv(min(left, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _connect(path: Path, timeout: float | None = 2.0) -> socket.socket | None:
    if not path.exists():
        return None
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    conn.settimeout(timeout)
    try:
        conn.connect(str(path))
    except OSError:  # a file left by a worker that is gone, or not ours to open
        conn.close()
        return None
    conn.settimeout(None)
    return conn


# ------------------------------------------------------------------ the caller's side
def forward(argv: list[str], path: Path | None = None) -> int | None:
    """Run the command `argv` in a listening worker and relay its output: its exit code, or None when
    no worker takes it (none listens, or one of another version): then run it in this process."""
    conn = _connect(path or socket_path())
    if conn is None:
        return None
    with conn:
        request = {"protocol": PROTOCOL, "version": __version__, "cwd": os.getcwd(), "argv": argv}
        try:
            send_frame(conn, REQUEST, json.dumps(request).encode())
            while (frame := recv_frame(conn)) is not None:
                kind, payload = frame
                if kind in (STDOUT, STDERR):
                    stream = sys.stdout if kind == STDOUT else sys.stderr
                    stream.write(payload.decode("utf-8", "replace"))
                    stream.flush()
                elif kind == EXIT:
                    return int(payload)
                elif kind == DECLINED:
                    return None
        except KeyboardInterrupt:  # hanging up interrupts the job there
            print("interrupted", file=sys.stderr)
            return 130
        except OSError:
            pass
    print("l2t-avatar: the worker stopped in the middle of this call", file=sys.stderr)
    return 1


def stop(path: Path | None = None) -> bool:
    """Ask a listening worker to stop; whether one did."""
    conn = _connect(path or socket_path())
    if conn is None:
        return False
    with conn:
        send_frame(conn, REQUEST, json.dumps({"protocol": PROTOCOL, "version": __version__, "stop": True}).encode())
        frame = recv_frame(conn)
    return frame is not None and frame[0] == EXIT


# ------------------------------------------------------------------ the worker's side
class _FrameWriter(io.TextIOBase):
    """A text stream whose writes go to the caller as frames of one kind (dropped once it has hung up)."""

    def __init__(self, conn: socket.socket, kind: bytes):
        self.conn, self.kind, self.gone = conn, kind, False

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return False

    def write(self, text: str) -> int:
        if text and not self.gone:
            try:
                send_frame(self.conn, self.kind, text.encode("utf-8", "replace"))
            except OSError:
                self.gone = True
        return len(text)


class _HangUpWatch:
    """While a job runs, interrupts it (KeyboardInterrupt in the main thread) if the caller hangs up."""

    def __init__(self, conn: socket.socket):
        self.conn, self.done, self.fired = conn, threading.Event(), False
        self.thread = threading.Thread(target=self._watch, daemon=True)

    def _watch(self) -> None:
        while not self.done.is_set():
            readable, _, _ = select.select([self.conn], [], [], 0.1)
            if readable and not self.done.is_set():
                try:
                    data = self.conn.recv(1, socket.MSG_PEEK)
                except OSError:
                    data = b""
                if not data:
                    self.fired = True
                    _thread.interrupt_main()
                    return
                time.sleep(0.1)  # unexpected bytes from the caller: ignore them

    def __enter__(self) -> _HangUpWatch:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.done.set()
        self.thread.join()


def _same_user(conn: socket.socket) -> bool:
    if not hasattr(socket, "SO_PEERCRED"):  # not Linux: the folder's permissions alone keep others out
        return True
    _, uid, _ = struct.unpack("3i", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i")))
    return uid == os.getuid()


def _run_job(conn: socket.socket, request: dict, run: Callable[[list[str]], int]) -> int:
    argv = request.get("argv") or []
    if not argv or argv[0] not in SERVED:
        return _job_error(conn, f"l2t-avatar serve: error: the worker runs {', '.join(SERVED)} only, not {argv[:1]}")
    previous_cwd, streams = os.getcwd(), (sys.stdout, sys.stderr)
    out, err = _FrameWriter(conn, STDOUT), _FrameWriter(conn, STDERR)
    watch = _HangUpWatch(conn)
    try:
        os.chdir(request["cwd"])
        sys.stdout, sys.stderr = out, err
        try:
            with watch:
                return run(argv)
        except KeyboardInterrupt:
            if not watch.fired:  # Ctrl-C at the worker itself: it stops
                raise
            return 130  # the caller hung up just as the command finished
        except Exception:  # a bug: the caller gets the traceback, as in its own process; the worker goes on
            traceback.print_exc()
            return 1
    except OSError as exc:
        return _job_error(conn, f"l2t-avatar {argv[0]}: error: {exc}")
    finally:
        sys.stdout, sys.stderr = streams
        os.chdir(previous_cwd)


def _job_error(conn: socket.socket, line: str) -> int:
    with contextlib.suppress(OSError):
        send_frame(conn, STDERR, (line + "\n").encode())
    return 2


def serve(
    run: Callable[[list[str]], int],
    path: Path | None = None,
    idle_seconds: float = 1800.0,
    warm_up: Callable[[], None] | None = None,
    log: Callable[[str], None] = print,
) -> None:
    """Warm up, then run callers' commands with `run(argv) -> exit code` until idle for `idle_seconds`,
    asked to stop, or interrupted here. The socket appears when the worker is ready and goes when it stops."""
    path = path or socket_path()
    if _connect(path) is not None:
        raise L2TError(f"a worker already listens at {path} (stop it with: l2t-avatar serve --stop)")
    if not path.parent.exists() or path.parent.name == "l2t-avatar":  # a folder of ours: closed to others
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(path.parent, 0o700)
    if warm_up is not None:
        started = time.perf_counter()
        warm_up()
        log(f"warmed up in {time.perf_counter() - started:.1f} s")
    path.unlink(missing_ok=True)  # a socket file left by a worker that died
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    mask = os.umask(0o177)
    try:
        listener.bind(str(path))
    finally:
        os.umask(mask)
    listener.listen(16)
    listener.settimeout(idle_seconds)
    log(f"listening at {path}: 'l2t-avatar speak' runs here now (stops after {idle_seconds / 60:g} idle minutes)")
    try:
        while True:
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                log(f"no call for {idle_seconds / 60:g} minutes: stopping")
                return
            with conn:
                if _serve_one(conn, run, log) == "stop":
                    log("asked to stop: stopping")
                    return
    finally:
        listener.close()
        path.unlink(missing_ok=True)


def _serve_one(conn: socket.socket, run: Callable[[list[str]], int], log: Callable[[str], None]) -> str | None:
    conn.settimeout(10.0)  # the request comes at once; a caller that sends nothing is dropped
    try:
        if not _same_user(conn):
            return None
        frame = recv_frame(conn)
        if frame is None or frame[0] != REQUEST:
            return None
        request = json.loads(frame[1])
    except (OSError, ValueError):
        return None
    conn.settimeout(None)
    if request.get("protocol") != PROTOCOL or request.get("version") != __version__:
        with contextlib.suppress(OSError):
            send_frame(conn, DECLINED, b"")  # another version: the caller runs the command itself
        return None
    if request.get("stop"):
        with contextlib.suppress(OSError):
            send_frame(conn, EXIT, b"0")
        return "stop"
    started = time.perf_counter()
    code = _run_job(conn, request, run)
    with contextlib.suppress(OSError):
        send_frame(conn, EXIT, str(code).encode())
    log(f"{' '.join(request.get('argv', [])[:1])}: exit {code} in {time.perf_counter() - started:.2f} s")
    return None


def warm_up_speak(run: Callable[[list[str]], int], device: str, seconds: float = 1.0) -> None:
    """One short `speak` of a quiet tone in a scratch folder: imports, CUDA context, kernels and models
    loaded before the first caller comes."""
    with tempfile.TemporaryDirectory(prefix="l2t-worker-") as tmp:
        import numpy as np

        from avatar.io.audio import SPEECH_RATE, write_wav

        audio = write_wav(Path(tmp) / "warm.wav", 0.01 * np.sign(np.sin(np.arange(int(SPEECH_RATE * seconds)) * 0.04)))
        with contextlib.redirect_stdout(io.StringIO()):
            code = run(["speak", "--audio", str(audio), "-o", str(Path(tmp) / "warm.mp4"), "--device", device, "--quiet"])
        if code != 0:
            raise L2TError(f"the worker's warm-up speak failed (exit {code})")
