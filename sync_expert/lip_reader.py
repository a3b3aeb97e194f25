"""A 3D lip reader: lip-vertex sequence -> per-frame phone posteriors, trained with CTC.

Frames go through the same point encoder as SyncNet3D, then temporal convolutions (±0.4 s of
context at 25 fps). Class 0 is the CTC blank (it takes the place of SIL: silences are not
read); classes 1.. are the phones of ``sync_expert.phones.PHONES``. Its phone error rate on
motion is a readable lip-sync measure, and its CTC loss on predicted motion is the SelfTalk-
style lip-reading consistency term of Audio2Mesh training.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from sync_expert.model import LipFrameEncoder
from sync_expert.phones import PHONES

BLANK = 0
NUM_CLASSES = len(PHONES)  # SIL's index 0 is the blank


@dataclass
class LipReaderConfig:
    width: int = 192
    point_width: int = 64
    layers: int = 4
    kernel: int = 5

    def to_dict(self) -> dict:
        return asdict(self)


class LipReader(nn.Module):
    def __init__(self, cfg: LipReaderConfig):
        super().__init__()
        self.cfg = cfg
        self.frames = LipFrameEncoder(cfg.point_width, cfg.width)
        self.temporal = nn.ModuleList(nn.Conv1d(cfg.width, cfg.width, cfg.kernel, padding=cfg.kernel // 2) for _ in range(cfg.layers))
        self.norms = nn.ModuleList(nn.LayerNorm(cfg.width) for _ in range(cfg.layers))
        self.head = nn.Linear(cfg.width, NUM_CLASSES)

    def forward(self, offsets: torch.Tensor, rest: torch.Tensor) -> torch.Tensor:
        """[B, T, V, 3] normalised lip offsets -> log-probabilities [B, T, classes]."""
        x = self.frames(offsets, rest)
        for conv, norm in zip(self.temporal, self.norms):
            x = x + F.gelu(conv(norm(x).transpose(1, 2)).transpose(1, 2))
        return self.head(x).log_softmax(-1)


def phone_targets(frame_phones: np.ndarray | torch.Tensor) -> list[int]:
    """Per-frame phone indices -> the spoken phone sequence (repeats merged, silences dropped)."""
    seq, prev = [], -1
    for p in frame_phones.tolist() if hasattr(frame_phones, "tolist") else frame_phones:
        if p != prev and p != BLANK:
            seq.append(int(p))
        prev = p
    return seq


def ctc_loss(log_probs: torch.Tensor, lengths: torch.Tensor, targets: list[list[int]]) -> torch.Tensor:
    """Mean CTC loss per target phone; log_probs [B, T, C]."""
    flat = torch.tensor([p for t in targets for p in t], dtype=torch.long, device=log_probs.device)
    target_lengths = torch.tensor([len(t) for t in targets], dtype=torch.long, device=log_probs.device)
    return F.ctc_loss(log_probs.transpose(0, 1).float(), flat, lengths, target_lengths, blank=BLANK, reduction="mean", zero_infinity=True)


def greedy_decode(log_probs: torch.Tensor) -> list[int]:
    """Best path of one sequence [T, C]: repeats merged, blanks dropped."""
    best = log_probs.argmax(-1).tolist()
    out, prev = [], BLANK
    for p in best:
        if p != prev and p != BLANK:
            out.append(p)
        prev = p
    return out


def edit_distance(a: list[int], b: list[int]) -> int:
    prev = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        cur = [i] + [0] * len(b)
        for j, y in enumerate(b, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x != y))
        prev = cur
    return prev[-1]
