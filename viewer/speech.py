"""Speech for the viewer: an audio file (path or upload) -> Audio2Mesh motion + audio the browser plays.

Audio2Mesh loads once per server and is shared by every tab (calls are serialised by a lock).
The browser gets the audio as the model heard it (16 kHz mono WAV), so whatever format
ffmpeg reads plays in any browser.
"""

from __future__ import annotations

import base64
import functools
import io
import shutil
import tempfile
import threading
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from avatar.errors import L2TError
from avatar.io.audio import SPEECH_RATE
from avatar.motion import DEFAULT_FPS, Motion
from sync_expert.features import MEL_RATE

UPLOAD_SUFFIXES = (".wav", ".flac", ".mp3", ".ogg", ".oga", ".opus", ".m4a", ".aac", ".webm")
MAX_UPLOAD_BYTES = 64 * 1024 * 1024
MAX_AUDIO_SECONDS = 600.0


@dataclass
class Speech:
    name: str
    motion: Motion  # jaw + expression per frame, no idle motion
    audio: np.ndarray  # 16 kHz mono float32
    source: Path  # a file ffmpeg reads (for the MP4's audio track)

    @property
    def seconds(self) -> float:
        return len(self.audio) / SPEECH_RATE

    @functools.cached_property
    def wav_data_uri(self) -> str:
        """The audio as the page's <audio> element takes it (encoded once, shared by every tab)."""
        return "data:audio/wav;base64," + base64.b64encode(wav_bytes(self.audio)).decode("ascii")


def wav_bytes(audio: np.ndarray, rate: int = SPEECH_RATE) -> bytes:
    """16-bit PCM WAV of mono float audio in [-1, 1]."""
    pcm = (np.clip(audio, -1.0, 1.0) * 32767.0).astype("<i2")
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm.tobytes())
    return buffer.getvalue()


class SpeechEngine:
    """Audio2Mesh and its front-end, loaded on first use; turns speech files into motion."""

    def __init__(
        self,
        device,
        checkpoint: str | None = None,
        audio_encoder: str | None = None,
        fps: float = DEFAULT_FPS,
        max_audio_seconds: float = MAX_AUDIO_SECONDS,
        max_upload_bytes: int = MAX_UPLOAD_BYTES,
        live_checkpoint: str = "live",
    ):
        self.device, self.checkpoint, self.audio_encoder, self.fps = device, checkpoint, audio_encoder, fps
        self.max_audio_seconds, self.max_upload_bytes = max_audio_seconds, max_upload_bytes
        self.live_checkpoint = live_checkpoint
        self._speaker = None
        self._live_speaker = None
        self._lock = threading.Lock()

    def load(self) -> None:
        """Load the checkpoints now (so a bad one fails at start-up, not at the first upload)."""
        from audio2mesh.speech import Speaker

        with self._lock:
            if self._speaker is None:
                self._speaker = Speaker.load(self.checkpoint, self.audio_encoder, self.device)
            if self._live_speaker is None:
                live = Speaker.load(self.live_checkpoint, None, self.device)
                if live.model.cfg.input_rate != MEL_RATE:
                    name = self.live_checkpoint
                    raise L2TError(f"--live-ckpt {name} reads a pretrained encoder's features; live speech needs a log-mel one")
                self._live_speaker = live

    @property
    def live_lookahead_seconds(self) -> float:
        """How far behind live audio its motion is final (the live checkpoint's look-ahead)."""
        self.load()
        from audio2mesh.inference import WINDOW_HALF

        return self._live_speaker.model.cfg.lookahead_seconds(WINDOW_HALF / SPEECH_RATE)

    def live_stream(self, rig_names: list[str], rig_label: str):
        """A new streaming Audio2Mesh (``audio2mesh.speech.SpeechStream``) of the live checkpoint for this rig."""
        self.load()
        return self._live_speaker.stream(self.fps, rig_names, rig_label)

    def from_file(self, path: str | Path, rig_names: list[str], rig_label: str) -> Speech:
        """Speech of an audio file; L2TError when it is missing, not audio, too short, too long or silent."""
        from audio2mesh.speech import load_speech

        audio = load_speech(str(path), 1.0 / self.fps, self.max_audio_seconds)
        self.load()
        with self._lock:
            motion = self._speaker.motion(audio, self.fps, rig_names, rig_label)
        return Speech(Path(path).name, motion, audio, Path(path))

    def from_upload(self, name: str, content: bytes, rig_names: list[str], rig_label: str, into: Path) -> Speech:
        """Speech of uploaded bytes, kept in a new folder inside `into` (the tab's, removed when it closes)."""
        suffix = Path(name).suffix.lower()
        if suffix not in UPLOAD_SUFFIXES:
            raise L2TError(f"{name}: not an audio file (expected {', '.join(UPLOAD_SUFFIXES)})")
        if not content:
            raise L2TError(f"{name} is empty")
        if len(content) > self.max_upload_bytes:
            raise L2TError(f"{name} is {len(content) / 2**20:.0f} MB; the viewer takes up to {self.max_upload_bytes / 2**20:.0f} MB")
        folder = Path(tempfile.mkdtemp(dir=into))
        path = folder / ("upload" + suffix)
        path.write_bytes(content)
        try:
            speech = self.from_file(path, rig_names, rig_label)
        except L2TError as exc:
            shutil.rmtree(folder, ignore_errors=True)
            raise L2TError(str(exc).replace(str(path), name)) from None
        speech.name = name
        return speech
