"""One place for the limits of user-given values: frame sizes, frame rates, durations, outputs.

Every command checks its options here before it does any work, so a bad value gives the same
one-line L2TError (exit code 2) everywhere and nothing is written.
"""

from __future__ import annotations

import math
from pathlib import Path

from avatar.errors import L2TError

MIN_SIZE, MAX_SIZE = 16, 4096  # square frame size in pixels
DEFAULT_FPS = 25.0  # motion and video frame rate unless told otherwise
MAX_FPS = 120.0
MAX_AUDIO_SECONDS = 3600.0  # longest speech a command decodes (1 h is 230 MB of float32 at 16 kHz)
VIDEO_SUFFIXES = (".mp4", ".mov", ".m4v")  # containers our H.264 + AAC writer produces


def _number(value, option: str) -> float:
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise L2TError(f"{option} must be a number, got {value!r}") from None
    if not math.isfinite(x):
        raise L2TError(f"{option} must be a finite number, got {value}")
    return x


def check_size(value, option: str = "--size", minimum: int = MIN_SIZE, maximum: int = MAX_SIZE) -> int:
    """An even frame size in [minimum, maximum]."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise L2TError(f"{option} must be an even number of pixels, got {value!r}")
    try:
        size = int(value)
    except (TypeError, ValueError):
        raise L2TError(f"{option} must be an even number of pixels, got {value!r}") from None
    if size != float(value) or not minimum <= size <= maximum or size % 2:
        raise L2TError(f"{option} must be an even number of pixels in {minimum}..{maximum}, got {value}")
    return size


def check_fps(value, option: str = "--fps") -> float:
    """A frame rate in (0, MAX_FPS]."""
    fps = _number(value, option)
    if not 0 < fps <= MAX_FPS:
        raise L2TError(f"{option} must be in (0, {MAX_FPS:g}] frames per second, got {value}")
    return fps


def check_seconds(value, option: str, maximum: float) -> float:
    """A duration in (0, maximum] seconds."""
    seconds = _number(value, option)
    if not 0 < seconds <= maximum:
        raise L2TError(f"{option} must be in (0, {maximum:g}] seconds, got {value}")
    return seconds


def check_output_file(path, option: str = "-o", suffixes: tuple[str, ...] | None = None) -> Path:
    """A file to write: not a folder, in a folder that exists, with one of `suffixes` (any when None).

    Every command treats -o the same way: a missing parent folder is refused, not created."""
    p = Path(path)
    if str(path) == "" or p.is_dir():
        raise L2TError(f"{option} {p} is a folder; give a file name")
    if not p.parent.is_dir():
        raise L2TError(f"{option} {p}: folder {p.parent} does not exist")
    if suffixes is not None and p.suffix.lower() not in suffixes:
        raise L2TError(f"{option} {p}: give a file ending in {' or '.join(suffixes)}")
    return p


def check_output_folder(path, option: str = "-o") -> Path:
    """A folder to write: not an existing file, in a folder that exists."""
    p = Path(path)
    if str(path) == "" or p.is_file():
        raise L2TError(f"{option} {p} is a file; give a folder")
    if not p.parent.is_dir():
        raise L2TError(f"{option} {p}: folder {p.parent} does not exist")
    return p
