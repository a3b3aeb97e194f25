"""The corpus' speech sources: each yields utterances with audio and phone timings.

Synthetic engines make a new utterance for every draw; real sources walk a fixed list of
clips (repeated, with fresh augmentation, once exhausted where allowed). Every source says
whether it is available and, if not, which package to install.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np

from audio2mesh.data import align
from audio2mesh.data.real_speech import ALLISON_PACKAGES, CODEC2_PACKAGE, RealClip, allison_prompts, codec2_recordings, split_at_pauses
from audio2mesh.data.text import SentenceGenerator
from audio2mesh.data.tts import ESPEAK_ACCENTS, Espeak, Festival, Flite
from avatar.io.audio import SPEECH_RATE, read_audio
from sync_expert.phones import PhoneAlignment

SYNTHETIC_LICENCE = "synthetic speech made on this machine with {engine} from l2t-avatar's own generated text"


@dataclass
class Utterance:
    audio: np.ndarray
    alignment: PhoneAlignment
    voice: str  # the voice or speaker id splits are made by
    source: str
    licence: str
    synthetic: bool
    text: str | None = None
    unit: int = -1  # position in a real source's clip list (resuming replays it)
    extra: dict = field(default_factory=dict)


def stable_fraction(key: str) -> float:
    """A number in [0, 1) fixed by ``key`` alone (not by the seed): splits stay put across builds."""
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "little") / 2**64


class EspeakSource:
    name, synthetic = "espeak", True

    def __init__(self):
        self.engine = Espeak()
        self.variants = Espeak.variants()

    def missing(self) -> str | None:
        return None if Espeak.available() else Espeak.package

    def draw(self, rng: np.random.Generator) -> Utterance:
        voice = f"{ESPEAK_ACCENTS[rng.integers(len(ESPEAK_ACCENTS))]}+{self.variants[rng.integers(len(self.variants))]}"
        text = SentenceGenerator(int(rng.integers(2**31))).utterance()
        wpm, pitch, spread = int(rng.integers(130, 231)), int(rng.integers(25, 76)), int(rng.integers(30, 81))
        speech = self.engine.synthesize(text, voice, wpm, pitch, spread)
        return Utterance(
            speech.audio,
            speech.alignment,
            f"espeak:{voice}",
            self.name,
            SYNTHETIC_LICENCE.format(engine="espeak-ng"),
            True,
            text,
            extra={"words_per_minute": wpm, "pitch": pitch, "pitch_range": spread},
        )


class _VoiceListSource:
    """festival and flite: one of the engine's installed voices, with random prosody settings."""

    synthetic = True
    name: str
    engine: Festival | Flite

    def missing(self) -> str | None:
        return None if self.engine.available() and self.engine.voices() else self.engine.package

    def settings(self, rng: np.random.Generator) -> dict:
        raise NotImplementedError

    def draw(self, rng: np.random.Generator) -> Utterance:
        voices = self.engine.voices()
        voice = voices[rng.integers(len(voices))]
        text = SentenceGenerator(int(rng.integers(2**31))).utterance()
        settings = self.settings(rng)
        speech = self.engine.synthesize(text, voice, **settings)
        return Utterance(
            speech.audio,
            speech.alignment,
            f"{self.name}:{voice}",
            self.name,
            SYNTHETIC_LICENCE.format(engine=self.name),
            True,
            text,
            extra=settings,
        )


class FestivalSource(_VoiceListSource):
    name = "festival"

    def __init__(self):
        self.engine = Festival()

    def settings(self, rng: np.random.Generator) -> dict:
        return {"stretch": float(rng.uniform(0.85, 1.25))}


class FliteSource(_VoiceListSource):
    name = "flite"

    def __init__(self):
        self.engine = Flite()

    def settings(self, rng: np.random.Generator) -> dict:
        return {"stretch": float(rng.uniform(0.85, 1.25)), "f0_mean": float(rng.uniform(80, 200))}


@dataclass(frozen=True)
class _Unit:
    clip: RealClip
    start: int  # sample range of the clip (long recordings are cut at pauses)
    stop: int
    repeat: int


class RealSource:
    """Walks a list of clip pieces in a seeded order; ``max_repeats`` passes over it at most."""

    synthetic = False

    def __init__(self, name: str, clips: list[RealClip], package: str, seed: int, max_repeats: int):
        self.name, self.clips, self.package, self.max_repeats = name, clips, package, max_repeats
        self.seed = seed
        self._units: list[_Unit] | None = None
        self._recordings: dict[str, np.ndarray] = {}  # untranscribed recordings, decoded once and cut into many units

    def missing(self) -> str | None:
        if not self.clips:
            return self.package
        return None if align.available() else align.PACKAGE

    def units(self) -> list[_Unit]:
        if self._units is None:
            pieces = []
            for clip in self.clips:
                if clip.transcript is not None:
                    pieces.append((clip, 0, -1))
                else:  # untranscribed recordings may be long: cut them at pauses
                    audio = self._recordings[clip.clip_id] = read_audio(clip.path, raw_pcm_rate=clip.raw_pcm_rate)
                    pieces += [(clip, a, b) for a, b in split_at_pauses(audio)]
            order = np.random.default_rng([self.seed, 7]).permutation(len(pieces))
            self._units = [_Unit(*pieces[i], repeat) for repeat in range(self.max_repeats) for i in order]
        return self._units

    def utterance(self, unit_index: int) -> Utterance | None:
        """The utterance of one unit, or None if it cannot be aligned (out-of-vocabulary words)."""
        unit = self.units()[unit_index]
        clip = unit.clip
        audio = self._recordings.get(clip.clip_id)
        if audio is None:
            audio = read_audio(clip.path, raw_pcm_rate=clip.raw_pcm_rate)
        audio = audio[unit.start : unit.stop if unit.stop >= 0 else len(audio)]
        if len(audio) < SPEECH_RATE // 4:
            return None
        alignment = align.force_align(audio, clip.transcript) if clip.transcript else align.recognize_phones(audio)
        if alignment is None:
            return None
        return Utterance(
            audio,
            alignment,
            clip.speaker,
            self.name,
            clip.licence,
            False,
            clip.transcript,
            unit_index,
            extra={"clip": clip.clip_id, "piece": [unit.start, unit.stop], "repeat": unit.repeat},
        )


def all_sources(seed: int) -> list:
    """Every source the builder knows, available or not."""
    return [
        EspeakSource(),
        FestivalSource(),
        FliteSource(),
        RealSource("allison", allison_prompts(), ALLISON_PACKAGES, seed, max_repeats=4),
        RealSource("codec2", codec2_recordings(), CODEC2_PACKAGE, seed, max_repeats=1),
    ]
