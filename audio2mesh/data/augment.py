"""Audio-side augmentation for training pairs; phone timings follow any change of speed.

Every draw comes from the generator passed in, so an item's augmentation is reproducible.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy.signal import fftconvolve, lfilter

from avatar.io.audio import SPEECH_RATE, resample
from sync_expert.phones import PhoneAlignment


@dataclass
class Augmentation:
    speed: float = 1.0  # > 1 is faster; timings are divided by it
    band_rate: int = SPEECH_RATE  # resampled through this rate (8 kHz = telephone band)
    reverb_rt60: float = 0.0  # seconds; 0 = dry
    reverb_wet: float = 0.0
    snr_db: float | None = None  # None = no added noise
    noise_colour: float = 0.0  # 0 white, 1 pink-ish, 2 brown-ish
    gain_db: float = 0.0

    def as_dict(self) -> dict:
        return asdict(self)


def draw_augmentation(rng: np.random.Generator, strength: float = 1.0) -> Augmentation:
    """A random augmentation; ``strength`` 0 gives the identity."""
    if strength <= 0:
        return Augmentation()
    aug = Augmentation()
    if rng.random() < 0.5 * strength:
        rate = round(SPEECH_RATE / rng.uniform(0.9, 1.1) / 50.0) * 50  # a rate with a short polyphase filter
        aug.speed = SPEECH_RATE / rate
    if rng.random() < 0.3 * strength:
        aug.band_rate = int(rng.choice([8000, 11000, 12000]))
    if rng.random() < 0.35 * strength:
        aug.reverb_rt60, aug.reverb_wet = float(rng.uniform(0.15, 0.7)), float(rng.uniform(0.15, 0.5))
    if rng.random() < 0.5 * strength:
        aug.snr_db, aug.noise_colour = float(rng.uniform(5.0, 35.0)), float(rng.uniform(0.0, 2.0))
    if rng.random() < 0.7 * strength:
        aug.gain_db = float(rng.uniform(-15.0, 4.0))
    return aug


def _coloured_noise(rng: np.random.Generator, n: int, colour: float) -> np.ndarray:
    """Noise whose power falls as 1/f^colour (a leaky integrator blended with white noise)."""
    white = rng.standard_normal(n)
    if colour <= 0:
        return white
    brown = lfilter([1.0], [1.0, -0.995], white)
    brown /= brown.std() + 1e-12
    mix = min(colour / 2.0, 1.0)
    return (1 - mix) * white + mix * brown


def _room_response(rng: np.random.Generator, rt60: float) -> np.ndarray:
    """An exponentially decaying noise tail with a direct path: a plain synthetic room."""
    n = int(rt60 * SPEECH_RATE)
    t = np.arange(n) / SPEECH_RATE
    tail = rng.standard_normal(n) * np.exp(-6.9078 * t / rt60)  # -60 dB at rt60
    tail[: int(0.002 * SPEECH_RATE)] = 0.0
    return tail / (np.sqrt((tail**2).sum()) + 1e-12)


def apply_augmentation(
    audio: np.ndarray, alignment: PhoneAlignment, aug: Augmentation, rng: np.random.Generator
) -> tuple[np.ndarray, PhoneAlignment]:
    """Augmented 16 kHz audio and the alignment moved with it."""
    x = audio.astype(np.float64)
    if abs(aug.speed - 1.0) > 1e-4:  # play faster: resample to fewer samples (pitch moves with it)
        target = int(round(SPEECH_RATE / aug.speed))
        x = resample(x.astype(np.float32), SPEECH_RATE, target).astype(np.float64)
        alignment = alignment.scaled(len(x) / max(len(audio), 1))
    if aug.band_rate < SPEECH_RATE:
        x = resample(resample(x.astype(np.float32), SPEECH_RATE, aug.band_rate), aug.band_rate, SPEECH_RATE).astype(np.float64)
    if aug.reverb_rt60 > 0:
        wet = fftconvolve(x, _room_response(rng, aug.reverb_rt60))[: len(x)]
        x = (1 - aug.reverb_wet) * x + aug.reverb_wet * wet * (np.abs(x).max() / (np.abs(wet).max() + 1e-12))
    if aug.snr_db is not None:
        noise = _coloured_noise(rng, len(x), aug.noise_colour)
        signal_power = (x**2).mean() + 1e-12
        x = x + noise * np.sqrt(signal_power / 10 ** (aug.snr_db / 10) / ((noise**2).mean() + 1e-12))
    x = x * 10 ** (aug.gain_db / 20)
    peak = np.abs(x).max()
    if peak > 0.99:  # no clipping: scale down instead
        x *= 0.99 / peak
    return x.astype(np.float32), alignment.fitted_to(len(x) / SPEECH_RATE)
