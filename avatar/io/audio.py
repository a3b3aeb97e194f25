"""Audio in and out: any format ffmpeg reads (wav, flac, mp3, ogg, a video's audio track, raw PCM)
decoded to mono float32 at the rate asked for; 16-bit WAV written atomically."""

from __future__ import annotations

import math
import subprocess
import wave
from pathlib import Path

import numpy as np

from avatar.errors import L2TError
from avatar.io.atomic import atomic_path

SPEECH_RATE = 16000


def ffmpeg_exe() -> str:
    """The ffmpeg binary that imageio-ffmpeg ships."""
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def read_audio(
    path: str | Path, sample_rate: int = SPEECH_RATE, raw_pcm_rate: int | None = None, max_seconds: float | None = None
) -> np.ndarray:
    """Decode a file's (first) audio track to mono float32 in [-1, 1] at ``sample_rate``.

    Channels are averaged. ``raw_pcm_rate`` reads headerless signed 16-bit mono PCM at that rate
    (codec2's ``.raw`` files). With ``max_seconds``, ffmpeg stops decoding just past it and a longer
    file is refused, so memory stays bounded whatever the file claims. Raises L2TError with one
    line when the file is missing, unreadable or too long.
    """
    path = Path(path)
    if not path.is_file():
        raise L2TError(f"audio file not found: {path}")
    source = ["-f", "s16le", "-ar", str(raw_pcm_rate), "-ac", "1"] if raw_pcm_rate else []
    limit = ["-t", f"{max_seconds + 1.0:.3f}"] if max_seconds is not None else []
    cmd = [
        ffmpeg_exe(),
        "-v",
        "error",
        "-nostdin",
        *source,
        "-i",
        str(path),
        "-vn",
        "-map",
        "0:a:0?",
        *limit,
        "-f",
        "f32le",
        "-ac",
        "1",
        "-ar",
        str(sample_rate),
        "-",
    ]
    proc = subprocess.run(cmd, capture_output=True)
    if proc.returncode != 0:
        lines = proc.stderr.decode(errors="replace").strip().splitlines()
        reason = lines[-1].split(": ", 1)[-1] if lines else f"ffmpeg exit code {proc.returncode}"
        raise L2TError(f"cannot read audio from {path}: {reason}")
    audio = np.frombuffer(proc.stdout, dtype=np.float32).copy()
    if max_seconds is not None and len(audio) > max_seconds * sample_rate:
        raise L2TError(f"{path} is longer than {max_seconds:g} s, the most this takes")
    return audio


def has_audio_track(path: str | Path) -> bool:
    """Whether ffmpeg finds an audio stream in the file (a video may have none)."""
    proc = subprocess.run([ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", str(path)], capture_output=True)
    return any(": Audio: " in line for line in proc.stderr.decode(errors="replace").splitlines() if line.strip().startswith("Stream #"))


def resample(audio: np.ndarray, rate_from: int, rate_to: int) -> np.ndarray:
    """Band-limited polyphase resampling (scipy's Kaiser-windowed FIR) of a mono float signal."""
    if rate_from == rate_to:
        return audio.astype(np.float32, copy=False)
    from scipy.signal import resample_poly

    g = math.gcd(int(rate_from), int(rate_to))
    return resample_poly(audio.astype(np.float32, copy=False), int(rate_to) // g, int(rate_from) // g).astype(np.float32)


def to_int16(audio: np.ndarray) -> np.ndarray:
    return (np.clip(audio, -1.0, 1.0) * 32767.0).round().astype(np.int16)


def write_wav(path: str | Path, audio: np.ndarray, sample_rate: int = SPEECH_RATE) -> Path:
    """Write mono audio (float in [-1, 1] or int16) as a 16-bit PCM WAV, atomically."""
    samples = audio if audio.dtype == np.int16 else to_int16(audio)
    with atomic_path(path) as tmp, wave.open(str(tmp), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(int(sample_rate))
        out.writeframes(samples.tobytes())
    return Path(path)
