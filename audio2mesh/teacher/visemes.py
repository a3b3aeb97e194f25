"""Phone -> articulation targets: what each phone does with the jaw and the lips.

Channels (all but ``jaw`` are 0..1 amounts; ``jaw`` is the jaw's opening rotation in radians):
  jaw        jaw opening
  round      lip protrusion with a small opening (UW, W, OW's end)
  funnel     flared, protruded lips (SH, CH, ER, R)
  spread     lips stretched sideways (IY, IH, EY, S)
  upper      upper lip raised (AE, IY)
  lower      lower lip pulled down (AA, AE, TH)
Envelope channels (held, not averaged; see coarticulation.py):
  closure    lips closed (P, B, M; lightly in silence)
  tuck       lower lip tucked under the upper teeth (F, V)
  press      lips pressed together (P more than B, B more than M)

Diphthongs move between two targets: a phone may have several (fraction, targets) keys.
Dominance says how strongly a phone holds a channel against its neighbours: consonants
other than the lip consonants barely hold the lips, so they take the lip shape of nearby
vowels (the 's' of 'soon' is rounded before the vowel starts).
"""

from __future__ import annotations

from dataclasses import dataclass, field

BLENDED = ("jaw", "round", "funnel", "spread", "upper", "lower")
ENVELOPES = ("closure", "tuck", "press")


@dataclass(frozen=True)
class Viseme:
    keys: tuple[tuple[float, dict], ...]  # (fraction of the phone where this target applies, targets)
    dominance: dict = field(default_factory=dict)  # channel -> dominance (default by phone class)
    envelope: dict = field(default_factory=dict)  # envelope channel -> amount


def _v(*keys, dominance=None, **envelope) -> Viseme:
    if keys and not isinstance(keys[0], tuple):
        keys = ((0.0, keys[0]),)
    return Viseme(tuple(keys), dominance or {}, envelope)


_VOWEL = {c: 1.0 for c in BLENDED}
_LIP_FREE = {"jaw": 0.6, "round": 0.15, "funnel": 0.15, "spread": 0.15, "upper": 0.3, "lower": 0.3}
_ROUNDED_CONSONANT = {"jaw": 0.6, "round": 1.5, "funnel": 1.5, "spread": 1.0, "upper": 0.3, "lower": 0.3}
_LIP_CONSONANT = {"jaw": 1.2, "round": 0.3, "funnel": 0.3, "spread": 0.3, "upper": 0.5, "lower": 0.5}
SILENCE_DOMINANCE = {c: 0.35 for c in BLENDED}

VISEMES: dict[str, Viseme] = {
    "SIL": _v({}, dominance=SILENCE_DOMINANCE, closure=0.75),
    "AA": _v({"jaw": 0.16, "lower": 0.25}, dominance=_VOWEL),
    "AE": _v({"jaw": 0.14, "spread": 0.35, "upper": 0.2, "lower": 0.2}, dominance=_VOWEL),
    "AH": _v({"jaw": 0.11, "lower": 0.1}, dominance=_VOWEL),
    "AO": _v({"jaw": 0.13, "round": 0.35, "funnel": 0.3}, dominance=_VOWEL),
    "AW": _v((0.0, {"jaw": 0.15, "lower": 0.2}), (0.55, {"jaw": 0.06, "round": 0.7}), dominance=_VOWEL),
    "AY": _v((0.0, {"jaw": 0.15, "lower": 0.2}), (0.55, {"jaw": 0.05, "spread": 0.5}), dominance=_VOWEL),
    "EH": _v({"jaw": 0.10, "spread": 0.35, "lower": 0.1}, dominance=_VOWEL),
    "ER": _v({"jaw": 0.06, "funnel": 0.45, "round": 0.2}, dominance=_VOWEL),
    "EY": _v((0.0, {"jaw": 0.09, "spread": 0.4}), (0.6, {"jaw": 0.05, "spread": 0.55}), dominance=_VOWEL),
    "IH": _v({"jaw": 0.06, "spread": 0.45}, dominance=_VOWEL),
    "IY": _v({"jaw": 0.04, "spread": 0.7, "upper": 0.15}, dominance=_VOWEL),
    "OW": _v((0.0, {"jaw": 0.10, "round": 0.45, "funnel": 0.3}), (0.55, {"jaw": 0.05, "round": 0.8}), dominance=_VOWEL),
    "OY": _v((0.0, {"jaw": 0.11, "round": 0.55}), (0.55, {"jaw": 0.05, "spread": 0.5}), dominance=_VOWEL),
    "UH": _v({"jaw": 0.06, "round": 0.5, "funnel": 0.2}, dominance=_VOWEL),
    "UW": _v({"jaw": 0.04, "round": 0.9}, dominance=_VOWEL),
    "P": _v({"jaw": 0.02}, dominance=_LIP_CONSONANT, closure=1.0, press=0.45),
    "B": _v({"jaw": 0.02}, dominance=_LIP_CONSONANT, closure=1.0, press=0.25),
    "M": _v({"jaw": 0.02}, dominance=_LIP_CONSONANT, closure=1.0, press=0.1),
    "F": _v({"jaw": 0.02, "upper": 0.3}, dominance=_LIP_CONSONANT, tuck=1.0),
    "V": _v({"jaw": 0.02, "upper": 0.25}, dominance=_LIP_CONSONANT, tuck=0.9),
    "TH": _v({"jaw": 0.05, "lower": 0.15}, dominance=_LIP_FREE),
    "DH": _v({"jaw": 0.05, "lower": 0.15}, dominance=_LIP_FREE),
    "T": _v({"jaw": 0.04}, dominance=_LIP_FREE),
    "D": _v({"jaw": 0.04}, dominance=_LIP_FREE),
    "N": _v({"jaw": 0.04}, dominance=_LIP_FREE),
    "L": _v({"jaw": 0.06}, dominance=_LIP_FREE),
    "S": _v({"jaw": 0.02, "spread": 0.3}, dominance=_LIP_FREE),
    "Z": _v({"jaw": 0.02, "spread": 0.3}, dominance=_LIP_FREE),
    "SH": _v({"jaw": 0.03, "funnel": 0.7, "round": 0.2}, dominance=_ROUNDED_CONSONANT),
    "ZH": _v({"jaw": 0.03, "funnel": 0.7, "round": 0.2}, dominance=_ROUNDED_CONSONANT),
    "CH": _v({"jaw": 0.03, "funnel": 0.65, "round": 0.2}, dominance=_ROUNDED_CONSONANT),
    "JH": _v({"jaw": 0.03, "funnel": 0.65, "round": 0.2}, dominance=_ROUNDED_CONSONANT),
    "K": _v({"jaw": 0.06}, dominance=_LIP_FREE),
    "G": _v({"jaw": 0.06}, dominance=_LIP_FREE),
    "NG": _v({"jaw": 0.05}, dominance=_LIP_FREE),
    "HH": _v({"jaw": 0.08}, dominance={c: 0.1 for c in BLENDED}),
    "R": _v({"jaw": 0.04, "funnel": 0.4, "round": 0.3}, dominance=_ROUNDED_CONSONANT),
    "W": _v({"jaw": 0.02, "round": 1.0}, dominance=_ROUNDED_CONSONANT),
    "Y": _v({"jaw": 0.03, "spread": 0.5}, dominance=_LIP_FREE),
}
