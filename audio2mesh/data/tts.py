"""Synthetic speech with exact phone timings from three open TTS engines.

- espeak-ng through libespeak-ng (ctypes): phoneme events carry the sample where each
  phone starts; ~100 voice variants x 7 English accents, any speed and pitch.
- festival (kal diphone, slt HTS): phone end times from ``utt.save.segs``.
- flite (kal, kal16, awb, rms, slt): phone end times from ``-psdur``.

Each ``synthesize`` returns 16 kHz mono float32 audio and a PhoneAlignment in our phone set.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import io
import json
import shutil
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from avatar.io.audio import SPEECH_RATE, read_audio, resample
from sync_expert.phones import PhoneAlignment, from_arpabet, ipa_to_phones


class ToolMissing(RuntimeError):
    """An external program or library is not installed; the message names the package."""


@dataclass
class Speech:
    audio: np.ndarray  # float32 mono at SPEECH_RATE
    alignment: PhoneAlignment

    @property
    def seconds(self) -> float:
        return len(self.audio) / SPEECH_RATE


# ---------------------------------------------------------------- espeak-ng
ESPEAK_ACCENTS = ("en-us", "en", "en-gb-x-rp", "en-gb-scotland", "en-gb-x-gbclan", "en-gb-x-gbcwmd", "en-029")


class _EventId(ctypes.Union):
    _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p), ("string", ctypes.c_char * 8)]


class _Event(ctypes.Structure):  # espeak_EVENT from speak_lib.h
    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", _EventId),
    ]


_SYNTH_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event))
_EVENT_LIST_TERMINATED, _EVENT_PHONEME = 0, 7
_RATE, _PITCH, _RANGE = 1, 3, 4
_AUDIO_OUTPUT_SYNCHRONOUS, _INIT_PHONEME_EVENTS, _INIT_PHONEME_IPA = 2, 0x1, 0x2


class Espeak:
    """libespeak-ng, loaded once per process; calls are serialised (the library is not thread-safe)."""

    package = "espeak-ng (Debian/Ubuntu: apt install espeak-ng)"
    _lock = threading.Lock()
    _lib = None
    _rate = 0

    @classmethod
    def available(cls) -> bool:
        try:
            cls._library()
            return True
        except ToolMissing:
            return False

    @classmethod
    def _library(cls):
        if cls._lib is None:
            name = ctypes.util.find_library("espeak-ng") or "libespeak-ng.so.1"
            try:
                lib = ctypes.CDLL(name)
            except OSError as exc:
                raise ToolMissing(f"libespeak-ng not found; install {cls.package}") from exc
            rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, None, _INIT_PHONEME_EVENTS | _INIT_PHONEME_IPA)
            if rate <= 0:
                raise ToolMissing(f"libespeak-ng failed to initialise; reinstall {cls.package}")
            cls._lib, cls._rate = lib, rate
        return cls._lib

    @staticmethod
    def variants() -> list[str]:
        """Voice variants shipped with espeak-ng (m1..m7, f1..f5, klatt, whisper, ...)."""
        for root in (
            Path("/usr/lib/x86_64-linux-gnu/espeak-ng-data"),
            Path("/usr/lib/aarch64-linux-gnu/espeak-ng-data"),
            Path("/usr/share/espeak-ng-data"),
            Path("/usr/lib/espeak-ng-data"),
        ):
            folder = root / "voices" / "!v"
            if folder.is_dir():
                return sorted(p.name for p in folder.iterdir() if p.is_file())
        return ["m1", "m2", "m3", "f1", "f2", "f3"]

    def synthesize(self, text: str, voice: str, words_per_minute: int = 175, pitch: int = 50, pitch_range: int = 50) -> Speech:
        """``voice`` is 'accent+variant', e.g. 'en-us+f3'.

        libespeak-ng keeps synthesis state (wave generator phase, noise) from one call to the
        next, so the same input could sound slightly different depending on what came before.
        Each synthesis therefore runs in a fresh worker process (~0.1 s): identical inputs give
        identical audio, which a reproducible, resumable corpus needs.
        """
        self._library()  # fail here, with the package name, if espeak-ng is missing
        request = json.dumps({"text": text, "voice": voice, "wpm": int(words_per_minute), "pitch": int(pitch), "range": int(pitch_range)})
        proc = subprocess.run([sys.executable, "-m", "audio2mesh.data.tts"], input=request.encode(), capture_output=True, timeout=300)
        if proc.returncode != 0:
            raise RuntimeError(f"espeak-ng worker failed: {proc.stderr.decode(errors='replace').strip().splitlines()[-1:]}")
        with np.load(io.BytesIO(proc.stdout), allow_pickle=False) as reply:
            samples, rate, events = reply["audio"], int(reply["rate"]), json.loads(str(reply["events"]))
        if isinstance(events, dict):
            raise ValueError(events["error"])
        audio = samples.astype(np.float32) / 32768.0
        segments = []
        for k, (sample, symbol) in enumerate(events):
            end = events[k + 1][0] if k + 1 < len(events) else len(audio)
            phones = ipa_to_phones(symbol)
            step = (end - sample) / len(phones)
            segments += [(p, (sample + j * step) / rate, (sample + (j + 1) * step) / rate) for j, p in enumerate(phones)]
        return Speech(resample(audio, rate, SPEECH_RATE), PhoneAlignment.from_segments(segments, len(audio) / rate))

    @classmethod
    def synthesize_here(cls, text: str, voice: str, words_per_minute: int, pitch: int, pitch_range: int) -> tuple[np.ndarray, int, list]:
        """Synthesis in this process: int16 samples, their rate, and (sample, IPA phoneme) events."""
        lib = cls._library()
        chunks: list[np.ndarray] = []
        events: list[tuple[int, str]] = []

        def on_audio(wav, count, event_ptr):
            if count > 0:
                chunks.append(np.ctypeslib.as_array(wav, shape=(count,)).copy())
            i = 0
            while event_ptr[i].type != _EVENT_LIST_TERMINATED:
                if event_ptr[i].type == _EVENT_PHONEME:
                    events.append((event_ptr[i].sample, event_ptr[i].id.string.decode("utf-8", "replace")))
                i += 1
            return 0

        callback = _SYNTH_CALLBACK(on_audio)
        data = text.encode("utf-8") + b"\0"
        with cls._lock:
            lib.espeak_SetSynthCallback(callback)
            if lib.espeak_SetVoiceByName(voice.encode()) != 0:
                raise ValueError(f"espeak-ng has no voice {voice!r}")
            lib.espeak_SetParameter(_RATE, int(words_per_minute), 0)
            lib.espeak_SetParameter(_PITCH, int(pitch), 0)
            lib.espeak_SetParameter(_RANGE, int(pitch_range), 0)
            lib.espeak_Synth(data, len(data), 0, 1, 0, 0, None, None)
            lib.espeak_Synchronize()
        samples = np.concatenate(chunks) if chunks else np.zeros(0, np.int16)
        return samples.astype(np.int16), cls._rate, events


def _espeak_worker() -> None:
    """``python -m audio2mesh.data.tts``: one espeak-ng synthesis, JSON request on stdin, npz on stdout."""
    request = json.loads(sys.stdin.read())
    try:
        samples, rate, events = Espeak.synthesize_here(
            request["text"], request["voice"], request["wpm"], request["pitch"], request["range"]
        )
    except ValueError as exc:
        samples, rate, events = np.zeros(0, np.int16), 0, {"error": str(exc)}
    buffer = io.BytesIO()
    np.savez(buffer, audio=samples, rate=np.int64(rate), events=np.array(json.dumps(events)))
    sys.stdout.buffer.write(buffer.getvalue())


# ---------------------------------------------------------------- festival / flite
def _run(cmd: list[str], what: str) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        raise RuntimeError(f"{what} failed: {(proc.stderr or proc.stdout).strip().splitlines()[-1:]}")
    return proc


class Festival:
    package = "festival with festvox-kallpc16k and festvox-us-slt-hts (apt install festival festvox-kallpc16k festvox-us-slt-hts)"
    VOICES = {"kal": "voice_kal_diphone", "slt": "voice_cmu_us_slt_arctic_hts"}

    @staticmethod
    def available() -> bool:
        return shutil.which("festival") is not None

    def voices(self) -> list[str]:
        roots = [Path("/usr/share/festival/voices/english/kal_diphone"), Path("/usr/share/festival/voices/us/cmu_us_slt_arctic_hts")]
        return [v for v, root in zip(self.VOICES, roots) if root.is_dir()]

    def synthesize(self, text: str, voice: str, stretch: float = 1.0) -> Speech:
        if not self.available():
            raise ToolMissing(f"festival not found; install {self.package}")
        quoted = text.replace("\\", " ").replace('"', "")
        with tempfile.TemporaryDirectory(prefix="l2t-festival-") as tmp:
            wav, segs, script = Path(tmp, "out.wav"), Path(tmp, "segs.txt"), Path(tmp, "say.scm")
            script.write_text(
                f"({self.VOICES[voice]})\n(Parameter.set 'Duration_Stretch {stretch:.3f})\n"
                f'(set! utt (Utterance Text "{quoted}"))\n(utt.synth utt)\n'
                f'(utt.save.segs utt "{segs}")\n(utt.save.wave utt "{wav}" \'riff)\n'
            )
            _run(["festival", "-b", str(script)], "festival")
            audio = read_audio(wav)
            phones, ends = [], []
            for line in segs.read_text().splitlines():
                parts = line.split()
                if len(parts) == 3 and not line.startswith("#"):
                    ends.append(float(parts[0]))
                    phones.append(from_arpabet(parts[2]))
        return Speech(audio, PhoneAlignment.from_end_times(phones, ends, len(audio) / SPEECH_RATE).fitted_to(len(audio) / SPEECH_RATE))


class Flite:
    package = "flite (apt install flite)"

    @staticmethod
    def available() -> bool:
        return shutil.which("flite") is not None

    def voices(self) -> list[str]:
        if not self.available():
            return []
        listing = subprocess.run(["flite", "-lv"], capture_output=True, text=True).stdout
        names = listing.split(":", 1)[-1].split()
        return [v for v in ("kal", "kal16", "awb", "rms", "slt") if v in names]

    def synthesize(self, text: str, voice: str, stretch: float = 1.0, f0_mean: float | None = None) -> Speech:
        if not self.available():
            raise ToolMissing(f"flite not found; install {self.package}")
        with tempfile.TemporaryDirectory(prefix="l2t-flite-") as tmp:
            wav = Path(tmp, "out.wav")
            cmd = ["flite", "-voice", voice, "-t", text, "-psdur", "-o", str(wav), "--setf", f"duration_stretch={stretch:.3f}"]
            if f0_mean is not None:
                cmd += ["--setf", f"int_f0_target_mean={f0_mean:.1f}"]
            proc = _run(cmd, "flite")
            audio = read_audio(wav)
        phones, ends = [], []
        for token in proc.stdout.split():
            name, _, end = token.rpartition(":")
            if name:
                phones.append(from_arpabet(name))
                ends.append(float(end))
        return Speech(audio, PhoneAlignment.from_end_times(phones, ends, len(audio) / SPEECH_RATE).fitted_to(len(audio) / SPEECH_RATE))


if __name__ == "__main__":
    _espeak_worker()
