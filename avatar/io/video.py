"""MP4 output: H.264 yuv420p through imageio-ffmpeg, frames streamed, optional audio track."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np

from avatar.errors import L2TError
from avatar.io.atomic import atomic_path
from avatar.io.audio import ffmpeg_exe, read_audio


class Mp4Writer:
    """Stream frames into an MP4 written atomically (the final name appears only on success).

    with Mp4Writer("out.mp4", width, height, fps=25, audio="speech.wav") as w:
        w.write(frame_uint8_hxwx3)
    """

    def __init__(self, path: str | Path, width: int, height: int, fps: float, audio: str | Path | None = None, quality: int = 7):
        if width % 2 or height % 2:
            raise L2TError(f"video size must be even for H.264 yuv420p, got {width}x{height}")
        if audio is not None and not Path(audio).is_file():
            raise L2TError(f"audio file not found: {audio}")
        self.path, self.width, self.height, self.fps, self.audio, self.quality = Path(path), width, height, fps, audio, quality
        self.frames = 0

    def __enter__(self) -> Mp4Writer:
        import imageio_ffmpeg

        self._atomic = atomic_path(self.path)
        tmp = self._tmp = self._atomic.__enter__()
        self._gen = imageio_ffmpeg.write_frames(
            str(tmp),
            (self.width, self.height),
            fps=self.fps,
            codec="libx264",
            pix_fmt_out="yuv420p",
            quality=self.quality,
            macro_block_size=1,
            audio_path=str(self.audio) if self.audio else None,
            audio_codec="aac" if self.audio else None,
            output_params=["-movflags", "+faststart"],
            ffmpeg_log_level="error",
        )
        try:
            self._gen.send(None)
        except BaseException:
            self._atomic.__exit__(*sys.exc_info())
            raise
        return self

    def write(self, frame: np.ndarray) -> None:
        """One frame [H, W, 3] uint8 (or float in [0, 1])."""
        if frame.dtype != np.uint8:
            frame = (np.clip(frame, 0, 1) * 255 + 0.5).astype(np.uint8)
        if frame.shape != (self.height, self.width, 3):
            raise ValueError(f"frame must be {(self.height, self.width, 3)}, got {frame.shape}")
        try:
            self._gen.send(np.ascontiguousarray(frame))
        except (OSError, RuntimeError) as exc:  # ffmpeg died: a full disk, an unwritable path...
            raise L2TError(f"ffmpeg could not write {self.path}: {_first_line(exc)}") from None
        self.frames += 1

    def __exit__(self, exc_type, exc, tb) -> None:
        error = None
        try:
            self._gen.close()
        except (OSError, RuntimeError) as close_error:  # the encoder failed at the end
            error = L2TError(f"ffmpeg could not write {self.path}: {_first_line(close_error)}")
        if exc_type is None and error is None and self.frames == 0:
            error = L2TError("no frames to write")
        if exc_type is None and error is None:
            error = self._check_written()
        if exc_type is None and error is not None:
            self._atomic.__exit__(L2TError, error, None)  # removes the temporary file
            raise error
        self._atomic.__exit__(exc_type, exc, tb)  # on another error: removes it, and that error goes on

    def _check_written(self) -> L2TError | None:
        """imageio-ffmpeg does not report ffmpeg's exit status, so read the result's header back:
        an empty file, or one without its video (or asked-for audio) stream, is ffmpeg's failure."""
        if not self._tmp.is_file() or self._tmp.stat().st_size == 0:
            return L2TError(f"ffmpeg could not write {self.path} (an empty file came out; was the audio readable?)")
        info = subprocess.run([ffmpeg_exe(), "-hide_banner", "-i", str(self._tmp)], capture_output=True, text=True).stderr
        if "Video:" not in info or (self.audio is not None and "Audio:" not in info):
            return L2TError(f"ffmpeg could not write {self.path} (its {'audio' if 'Video:' in info else 'video'} stream is missing)")
        return None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[-1][:200] if text else type(exc).__name__


def probe_video(path: str | Path) -> dict:
    """Frames, size and fps of a video, and the seconds of its audio track (0 if none)."""
    import imageio_ffmpeg

    frames, _ = imageio_ffmpeg.count_frames_and_secs(str(path))
    info = subprocess.run([ffmpeg_exe(), "-hide_banner", "-i", str(path)], capture_output=True, text=True).stderr
    size = re.search(r"Video:.*?(\d{2,5})x(\d{2,5})", info)
    fps = re.search(r"(\d+(?:\.\d+)?) fps", info)
    return {
        "frames": frames,
        "width": int(size.group(1)) if size else 0,
        "height": int(size.group(2)) if size else 0,
        "fps": float(fps.group(1)) if fps else 0.0,
        "audio_seconds": audio_seconds(path) if "Audio:" in info else 0.0,
    }


def audio_seconds(path: str | Path, rate: int = 16000) -> float:
    """Length of a file's audio track, by decoding it."""
    return len(read_audio(path, rate)) / rate
