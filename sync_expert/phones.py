"""The phone set shared by the data engine, the teacher and the lip reader, and phone alignments.

Phones are the 39 ARPAbet phones of CMUdict plus ``SIL``. Every source (espeak-ng's IPA
events, festival/flite phone names, pocketsphinx's CMU phones) is normalised to this set.
"""

from __future__ import annotations

import math
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np

PHONES = (
    "SIL",
    "AA",
    "AE",
    "AH",
    "AO",
    "AW",
    "AY",
    "EH",
    "ER",
    "EY",
    "IH",
    "IY",
    "OW",
    "OY",
    "UH",
    "UW",
    "B",
    "CH",
    "D",
    "DH",
    "F",
    "G",
    "HH",
    "JH",
    "K",
    "L",
    "M",
    "N",
    "NG",
    "P",
    "R",
    "S",
    "SH",
    "T",
    "TH",
    "V",
    "W",
    "Y",
    "Z",
    "ZH",
)
PHONE_INDEX = {p: i for i, p in enumerate(PHONES)}
VOWELS = frozenset(("AA", "AE", "AH", "AO", "AW", "AY", "EH", "ER", "EY", "IH", "IY", "OW", "OY", "UH", "UW"))
BILABIALS = frozenset(("P", "B", "M"))
LABIODENTALS = frozenset(("F", "V"))
OPEN_VOWELS = frozenset(("AA", "AE", "AO", "AW", "AY"))
CLOSED_CONSONANTS = BILABIALS | LABIODENTALS

# ARPAbet spellings used by festival/flite (radio/cmu phone sets) and pocketsphinx beyond the 39.
_ARPABET_ALIASES = {
    "PAU": "SIL",
    "H#": "SIL",
    "SP": "SIL",
    "SIL": "SIL",
    "BRTH": "SIL",
    "SPN": "SIL",
    "NSN": "SIL",
    "AX": "AH",
    "AXR": "ER",
    "IX": "IH",
    "UX": "UW",
    "DX": "D",
    "NX": "N",
    "EL": "L",
    "EM": "M",
    "EN": "N",
    "HV": "HH",
    "Q": "T",
}

# IPA symbols (as espeak-ng writes its phoneme events) to ARPAbet; the longest match wins.
_IPA = {
    "ɑ": "AA",
    "ɒ": "AA",
    "ɑɹ": "AA",
    "æ": "AE",
    "a": "AE",
    "ʌ": "AH",
    "ə": "AH",
    "ɐ": "AH",
    "ɔ": "AO",
    "ɔɹ": "AO",
    "ɔɪ": "OY",
    "aʊ": "AW",
    "aɪ": "AY",
    "ɛ": "EH",
    "e": "EH",
    "eə": "EH",
    "ɛɹ": "EH",
    "ɜ": "ER",
    "ɚ": "ER",
    "ɝ": "ER",
    "əɹ": "ER",
    "eɪ": "EY",
    "ɪ": "IH",
    "ᵻ": "IH",
    "i": "IY",
    "iə": "IY",
    "ɪɹ": "IY",
    "ɪə": "IY",
    "oʊ": "OW",
    "əʊ": "OW",
    "o": "OW",
    "ʊ": "UH",
    "ʊə": "UH",
    "ʊɹ": "UH",
    "u": "UW",
    "ɵ": "UH",
    "ʉ": "UW",
    "y": "UW",
    "b": "B",
    "tʃ": "CH",
    "d": "D",
    "ð": "DH",
    "f": "F",
    "ɡ": "G",
    "g": "G",
    "h": "HH",
    "dʒ": "JH",
    "k": "K",
    "x": "K",
    "l": "L",
    "ɫ": "L",
    "m": "M",
    "n": "N",
    "ŋ": "NG",
    "p": "P",
    "ɹ": "R",
    "r": "R",
    "ɾ": "D",
    "s": "S",
    "ʃ": "SH",
    "t": "T",
    "ʔ": "T",
    "θ": "TH",
    "v": "V",
    "w": "W",
    "ʍ": "W",
    "j": "Y",
    "z": "Z",
    "ʒ": "ZH",
}
_IPA_MARKS = "ːˑˈˌ'-_.#"


def from_arpabet(name: str) -> str:
    """A festival/flite/pocketsphinx phone name (any case, stress digits, fillers) in our set."""
    base = name.strip().strip("+").upper().rstrip("012")
    if base in PHONE_INDEX:
        return base
    if base in _ARPABET_ALIASES:
        return _ARPABET_ALIASES[base]
    if base.startswith(("+", "<")) or base in ("", "NOISE", "GARBAGE"):
        return "SIL"
    raise ValueError(f"unknown ARPAbet phone {name!r}")


def ipa_to_phones(symbol: str) -> list[str]:
    """One espeak-ng IPA phoneme event (e.g. 'oʊ', 'dʒ', 'ɜː', '' for a pause) as our phones."""
    text = "".join(c for c in unicodedata.normalize("NFD", symbol) if not unicodedata.combining(c) and c not in _IPA_MARKS)
    if not text:
        return ["SIL"]
    phones, i = [], 0
    while i < len(text):
        for length in (2, 1):
            piece = text[i : i + length]
            if len(piece) == length and piece in _IPA:
                phones.append(_IPA[piece])
                i += length
                break
        else:
            i += 1  # a symbol outside English phonology (rare accents of some voices): skip it
    return phones or ["SIL"]


@dataclass
class PhoneAlignment:
    """Phones with start/end times in seconds, contiguous from 0 (gaps are filled with SIL)."""

    phones: list[str]
    starts: np.ndarray
    ends: np.ndarray

    def __post_init__(self):
        self.starts = np.asarray(self.starts, dtype=np.float64)
        self.ends = np.asarray(self.ends, dtype=np.float64)
        if not (len(self.phones) == len(self.starts) == len(self.ends)):
            raise ValueError("phones, starts and ends must have the same length")
        unknown = [p for p in self.phones if p not in PHONE_INDEX]
        if unknown:
            raise ValueError(f"phones outside the phone set: {sorted(set(unknown))}")

    def __len__(self) -> int:
        return len(self.phones)

    @property
    def duration(self) -> float:
        return float(self.ends[-1]) if len(self) else 0.0

    @classmethod
    def from_segments(cls, segments: list[tuple[str, float, float]], duration: float | None = None) -> PhoneAlignment:
        """Build from (phone, start, end) in any order; merge repeated SIL, fill gaps and the tail with SIL."""
        phones, starts, ends = [], [], []
        cursor = 0.0
        for phone, start, end in sorted(segments, key=lambda s: s[1]):
            start, end = max(float(start), cursor), float(end)
            if end <= start:
                continue
            if start > cursor + 1e-6:
                phones.append("SIL"), starts.append(cursor), ends.append(start)
            phones.append(phone), starts.append(start), ends.append(end)
            cursor = end
        if duration is not None and duration > cursor + 1e-6:
            phones.append("SIL"), starts.append(cursor), ends.append(duration)
        m_phones, m_starts, m_ends = [], [], []
        for p, s, e in zip(phones, starts, ends):
            if m_phones and p == "SIL" and m_phones[-1] == "SIL":
                m_ends[-1] = e
            else:
                m_phones.append(p), m_starts.append(s), m_ends.append(e)
        return cls(m_phones, m_starts, m_ends)

    @classmethod
    def from_end_times(cls, phones: list[str], ends: list[float], duration: float | None = None) -> PhoneAlignment:
        """Build from phone end times, as festival's segs and flite's -psdur give them."""
        starts = [0.0] + list(ends[:-1])
        return cls.from_segments(list(zip(phones, starts, ends)), duration)

    def scaled(self, factor: float) -> PhoneAlignment:
        """Times multiplied by ``factor`` (audio slowed down by it)."""
        return PhoneAlignment(list(self.phones), self.starts * factor, self.ends * factor)

    def fitted_to(self, duration: float) -> PhoneAlignment:
        """Cut at ``duration`` or pad the end with SIL so that the alignment spans it exactly."""
        keep = self.starts < duration - 1e-6
        phones = [p for p, k in zip(self.phones, keep) if k]
        ends = np.minimum(self.ends[keep], duration)
        return PhoneAlignment.from_segments(list(zip(phones, self.starts[keep], ends)), duration)

    def phone_ids(self) -> np.ndarray:
        return np.array([PHONE_INDEX[p] for p in self.phones], dtype=np.int64)

    def frame_labels(self, fps: float, num_frames: int) -> np.ndarray:
        """The phone id at each frame's time (frame i at i/fps), SIL past the end."""
        times = np.arange(num_frames) / fps
        idx = np.searchsorted(self.ends, times, side="right")
        ids = np.append(self.phone_ids(), PHONE_INDEX["SIL"])
        return ids[np.minimum(idx, len(self.phones))]


MAX_ALIGNMENT_BYTES = 1_000_000


def read_phone_file(path: str | Path) -> PhoneAlignment:
    """A phone alignment from a text file: one ``start end phone`` per line (seconds, ARPAbet with
    or without stress digits, festival/pocketsphinx spellings accepted; ``#`` starts a comment).
    L2TError with the file and line on anything else."""
    from avatar.errors import L2TError

    path = Path(path)
    if not path.is_file():
        raise L2TError(f"{path}: no such alignment file")
    if path.stat().st_size > MAX_ALIGNMENT_BYTES:
        raise L2TError(f"{path} is larger than {MAX_ALIGNMENT_BYTES // 1000} kB: not a phone alignment")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise L2TError(f"{path} is not UTF-8 text") from None
    segments = []
    for number, line in enumerate(text.splitlines(), 1):
        fields = line.split("#", 1)[0].split()
        if not fields:
            continue
        try:
            start, end, phone = float(fields[0]), float(fields[1]), from_arpabet(fields[2])
            if len(fields) != 3 or not (0 <= start < end) or not math.isfinite(end) or phone not in PHONE_INDEX:
                raise ValueError
        except (ValueError, IndexError):
            raise L2TError(f"{path} line {number}: expected 'start end phone' (seconds, ARPAbet), got {line.strip()[:60]!r}") from None
        segments.append((phone, start, end))
    if not segments:
        raise L2TError(f"{path} holds no phones")
    return PhoneAlignment.from_segments(segments)
