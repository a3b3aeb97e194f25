"""One training utterance on disk: ``items/<id>.npz`` in a corpus folder.

Keys: ``audio`` int16 [N] at 16 kHz; ``phones`` str [P], ``phone_start``/``phone_end`` float32 [P]
seconds; ``fps``; ``expression`` [T, E] and ``jaw`` [T, 3] (rig parameters, T = round(seconds * fps));
``lip_template`` float32 [L, 3] and ``lip_offsets`` float16 [T, L, 3]: the rig's ``lips`` region in
metres without head pose is template + offsets (``CorpusItem.lip_vertices``); ``meta`` a
JSON string (id, speaker, voice, source, licence, split, text, synthetic, augmentation, seconds).
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from avatar.io.atomic import atomic_write_bytes
from avatar.io.audio import SPEECH_RATE, to_int16
from sync_expert.phones import PhoneAlignment


@dataclass
class CorpusItem:
    audio: np.ndarray  # float32 [N] at SPEECH_RATE
    alignment: PhoneAlignment
    fps: float
    expression: np.ndarray  # [T, E]
    jaw: np.ndarray  # [T, 3]
    lip_vertices: np.ndarray  # [T, L, 3]
    meta: dict
    lip_template: np.ndarray | None = None  # [L, 3] rest positions (default: the first frame)

    @property
    def seconds(self) -> float:
        return len(self.audio) / SPEECH_RATE

    def save(self, path: str | Path) -> None:
        template = (self.lip_template if self.lip_template is not None else self.lip_vertices[0]).astype(np.float32)
        buffer = io.BytesIO()
        np.savez_compressed(
            buffer,
            audio=to_int16(self.audio),
            phones=np.array(self.alignment.phones, dtype=str),
            phone_start=self.alignment.starts.astype(np.float32),
            phone_end=self.alignment.ends.astype(np.float32),
            fps=np.float32(self.fps),
            expression=self.expression.astype(np.float32),
            jaw=self.jaw.astype(np.float32),
            lip_template=template,
            lip_offsets=(self.lip_vertices - template).astype(np.float16),
            meta=np.array(json.dumps(self.meta)),
        )
        atomic_write_bytes(path, buffer.getvalue())

    @classmethod
    def load(cls, path: str | Path) -> CorpusItem:
        with np.load(path, allow_pickle=False) as d:
            alignment = PhoneAlignment([str(p) for p in d["phones"]], d["phone_start"], d["phone_end"])
            template = d["lip_template"]
            lips = template + d["lip_offsets"].astype(np.float32)
            return cls(
                d["audio"].astype(np.float32) / 32767.0,
                alignment,
                float(d["fps"]),
                d["expression"],
                d["jaw"],
                lips,
                json.loads(str(d["meta"])),
                template,
            )


def read_meta(path: str | Path) -> dict | None:
    """Only the meta of an item file (cheap: npz members load lazily); None if unreadable."""
    try:
        with np.load(path, allow_pickle=False) as d:
            return json.loads(str(d["meta"]))
    except Exception:  # a truncated or foreign file counts as not done
        return None
