"""Coarticulation: phone targets -> smooth articulation curves over time.

Blended channels follow Cohen & Massaro's dominance model: every phone (or diphthong half)
is a gesture with a target and a dominance that is flat over the gesture and falls off as a
Gaussian of the distance outside it, wider before the gesture (anticipation: lips round
before a rounded vowel) than after it (carry-over). A channel's value is the
dominance-weighted mean of the targets, so weak consonants take their neighbours' shapes.

Envelope channels (lip closure, labiodental tuck, press) are held instead of averaged: a
bilabial closes the lips fully over its duration (at least +-30 ms around its centre, so a
25 fps frame always sees it), with raised-cosine on/off ramps; silences longer than
0.2 s rest with lightly closed lips. Everything is finally smoothed with a zero-phase
Gaussian (no lag), computed on a 100 Hz grid and sampled at the requested frame times.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter1d

from audio2mesh.teacher.visemes import BLENDED, ENVELOPES, VISEMES
from sync_expert.phones import PhoneAlignment

GRID_HZ = 100.0
MIN_HOLD = 0.03  # seconds either side of an envelope phone's centre
REST_MIN_SILENCE = 0.2  # seconds of silence before the lips come to rest
MIN_RAMP, NEIGHBOUR_SHARE = 0.025, 0.6  # envelope ramps take at most 60% of a neighbouring phone (>= 25 ms)


@dataclass(frozen=True)
class Timing:
    """Temporal widths (seconds) of the dominance fall-off and the envelope ramps."""

    anticipation_lips: float = 0.09
    anticipation_jaw: float = 0.06
    carryover: float = 0.05
    ramp_in: float = 0.07
    ramp_out: float = 0.06
    smoothing: float = 0.012

    def scaled(self, factor: float) -> Timing:
        return Timing(
            self.anticipation_lips * factor,
            self.anticipation_jaw * factor,
            self.carryover * factor,
            self.ramp_in,
            self.ramp_out,
            self.smoothing,
        )


def _gestures(alignment: PhoneAlignment):
    """(start, end, targets, dominance) for every phone, diphthongs split at their key fractions."""
    for phone, start, end in zip(alignment.phones, alignment.starts, alignment.ends):
        viseme = VISEMES[phone]
        keys = viseme.keys
        for k, (fraction, targets) in enumerate(keys):
            g_end = start + (end - start) * (keys[k + 1][0] if k + 1 < len(keys) else 1.0)
            yield start + (end - start) * fraction, g_end, targets, viseme.dominance


def blended_curves(alignment: PhoneAlignment, times: np.ndarray, timing: Timing) -> dict[str, np.ndarray]:
    """Dominance-weighted channel values at ``times`` (seconds)."""
    rest_weight = 1e-3  # a faint pull to the rest pose where no gesture reaches
    num = {c: np.zeros_like(times) for c in BLENDED}
    den = {c: np.full_like(times, rest_weight) for c in BLENDED}
    for start, end, targets, dominance in _gestures(alignment):
        before = np.clip(start - times, 0, None)
        after = np.clip(times - end, 0, None)
        for channel in BLENDED:
            width_before = timing.anticipation_jaw if channel == "jaw" else timing.anticipation_lips
            d = dominance.get(channel, 0.5) * np.exp(-((before / width_before) ** 2) - (after / timing.carryover) ** 2)
            num[channel] += d * targets.get(channel, 0.0)
            den[channel] += d
    return {c: num[c] / den[c] for c in BLENDED}


def _ramp(x: np.ndarray) -> np.ndarray:
    """Raised cosine from 0 (x <= 0) to 1 (x >= 1)."""
    return 0.5 - 0.5 * np.cos(np.pi * np.clip(x, 0.0, 1.0))


def envelope_curves(alignment: PhoneAlignment, times: np.ndarray, timing: Timing) -> dict[str, np.ndarray]:
    """Held channels at ``times``: the maximum over the phones that carry them."""
    curves = {c: np.zeros_like(times) for c in ENVELOPES}
    durations = alignment.ends - alignment.starts
    for k, (phone, start, end) in enumerate(zip(alignment.phones, alignment.starts, alignment.ends)):
        amounts = VISEMES[phone].envelope
        if not amounts:
            continue
        if phone == "SIL":
            if end - start < REST_MIN_SILENCE:
                continue
            hold_from, hold_to, ramp_in, ramp_out = start + 0.08, end - 0.08, 0.12, 0.12
            if start <= 0.0:
                hold_from = start  # at rest from the very beginning
            if end >= alignment.duration - 1e-6:
                hold_to = end
        else:
            centre = 0.5 * (start + end)
            half = max(0.5 * (end - start), MIN_HOLD)
            # ramps no longer than most of the neighbouring phones: fast speech still opens between closures
            before = durations[k - 1] if k > 0 else np.inf
            after = durations[k + 1] if k + 1 < len(durations) else np.inf
            ramp_in = min(timing.ramp_in, max(MIN_RAMP, NEIGHBOUR_SHARE * before))
            ramp_out = min(timing.ramp_out, max(MIN_RAMP, NEIGHBOUR_SHARE * after))
            hold_from, hold_to = centre - half, centre + half
        shape = _ramp((times - (hold_from - ramp_in)) / ramp_in) * _ramp(((hold_to + ramp_out) - times) / ramp_out)
        for channel, amount in amounts.items():
            curves[channel] = np.maximum(curves[channel], amount * shape)
    return curves


def articulation(alignment: PhoneAlignment, frame_times: np.ndarray, timing: Timing = Timing()) -> dict[str, np.ndarray]:
    """All channels (see visemes.py) sampled at ``frame_times`` seconds."""
    end = max(float(frame_times.max(initial=0.0)), alignment.duration) + 0.05
    grid = np.arange(0.0, end + 1.0 / GRID_HZ, 1.0 / GRID_HZ)
    curves = blended_curves(alignment, grid, timing) | envelope_curves(alignment, grid, timing)
    sigma = timing.smoothing * GRID_HZ
    return {c: np.interp(frame_times, grid, gaussian_filter1d(v, sigma, mode="nearest")) for c, v in curves.items()}
