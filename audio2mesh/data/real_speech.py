"""Real human speech available from Debian packages, found where the packages install it.

- Allison (``asterisk-core-sounds-en-wav``, transcripts in ``asterisk-core-sounds-en``): one
  studio speaker, ~560 prompts at 8 kHz, CC-BY-SA-3.0. Force-aligned to phones.
- codec2 examples (``codec2-examples``): short recordings of a dozen different speakers,
  LGPL-2.1, no transcripts; phones come from phone recognition.

The corpus is built on the user's machine from these; nothing of them ships with l2t-avatar.
"""

from __future__ import annotations

import gzip
import re
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from avatar.io.audio import SPEECH_RATE, read_audio

ALLISON_DIR = Path("/usr/share/asterisk/sounds/en_US_f_Allison")
ALLISON_TRANSCRIPTS = Path("/usr/share/doc/asterisk-core-sounds-en/core-sounds-en.txt.gz")
ALLISON_PACKAGES = (
    "asterisk-core-sounds-en-wav and asterisk-core-sounds-en (apt install asterisk-core-sounds-en-wav asterisk-core-sounds-en)"
)
ALLISON_LICENCE = "CC-BY-SA-3.0, Allison Smith (Debian asterisk-core-sounds-en-wav)"
CODEC2_DIR = Path("/usr/share/codec2")
CODEC2_PACKAGE = "codec2-examples (apt install codec2-examples)"
CODEC2_LICENCE = "LGPL-2.1, codec2 examples by David Rowe et al. (Debian codec2-examples)"

# codec2's example speech, one entry per recording (duplicates and decoded copies left out),
# with the speaker it is filed under: callsigns and initials are distinct people.
CODEC2_RECORDINGS = {
    "wav/big_dog.wav": "big_dog",
    "wav/cross.wav": "cross",
    "wav/david4.wav": "david",
    "wav/forig.wav": "forig",
    "wav/hts1a.wav": "hts1",
    "wav/hts2a.wav": "hts2",
    "wav/mmt1.wav": "mmt",
    "wav/morig.wav": "morig",
    "wav/ve9qrp.wav": "ve9qrp",
    "wav/vk2tpm_004.wav": "vk2tpm",
    "wav/vk5qi.wav": "vk5qi",
    "raw/kristoff.raw": "kristoff",
    "raw/g3plx.raw": "g3plx",
    "raw/cq_ref.raw": "cq_ref",
    "raw/speech_orig_16k.wav": "speech_orig",
}


@dataclass(frozen=True)
class RealClip:
    clip_id: str
    path: Path
    speaker: str
    source: str
    licence: str
    transcript: str | None = None
    raw_pcm_rate: int | None = None  # headerless 16-bit PCM at this rate

    def seconds(self) -> float:
        if self.raw_pcm_rate:
            return self.path.stat().st_size / 2 / self.raw_pcm_rate
        try:
            with wave.open(str(self.path)) as w:
                return w.getnframes() / w.getframerate()
        except wave.Error:  # mu-law and other codecs the wave module does not parse
            return len(read_audio(self.path)) / SPEECH_RATE


def allison_prompts() -> list[RealClip]:
    """Allison prompts that have a spoken transcript (tones and silences left out), sorted by name."""
    if not (ALLISON_DIR.is_dir() and ALLISON_TRANSCRIPTS.is_file()):
        return []
    clips = []
    with gzip.open(ALLISON_TRANSCRIPTS, "rt", encoding="utf-8", errors="replace") as f:
        for line in f:
            name, sep, text = line.partition(":")
            text = text.strip()
            if not sep or line.startswith(";") or not text or "[" in text or not re.search(r"[A-Za-z]", text):
                continue
            path = ALLISON_DIR / f"{name.strip()}.wav"
            if path.is_file():
                clips.append(RealClip(f"allison-{name.strip().replace('/', '-')}", path, "allison", "allison", ALLISON_LICENCE, text))
    return sorted(clips, key=lambda c: c.clip_id)


def codec2_recordings() -> list[RealClip]:
    """codec2's example speech recordings that are installed."""
    clips = []
    for rel, speaker in CODEC2_RECORDINGS.items():
        path = CODEC2_DIR / rel
        if path.is_file():
            rate = 8000 if path.suffix == ".raw" else None
            clips.append(RealClip(f"codec2-{path.stem}", path, f"codec2-{speaker}", "codec2", CODEC2_LICENCE, None, rate))
    return clips


def split_at_pauses(audio: np.ndarray, max_seconds: float = 8.0, min_seconds: float = 1.0) -> list[tuple[int, int]]:
    """Cut a long recording into pieces of at most ``max_seconds``, each cut at the quietest
    20 ms in the second half of the window; returns (start, stop) sample ranges."""
    hop = SPEECH_RATE // 50
    limit = int(max_seconds * SPEECH_RATE)
    pieces, start = [], 0
    while len(audio) - start > limit:
        window = audio[start : start + limit]
        frames = window[: len(window) // hop * hop].reshape(-1, hop)
        energy = (frames.astype(np.float64) ** 2).mean(1)
        half = len(energy) // 2
        cut = start + (half + int(np.argmin(energy[half:]))) * hop + hop // 2
        pieces.append((start, cut))
        start = cut
    if len(audio) - start >= min_seconds * SPEECH_RATE or not pieces:
        pieces.append((start, len(audio)))
    return pieces
