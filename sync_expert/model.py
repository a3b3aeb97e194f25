"""SyncNet3D: does this 3D lip motion belong to this speech, here and now?

Two encoders map into one 128-d embedding space, compared by cosine similarity:

- audio: 0.2 s of normalised log-mel (20 frames at 100 Hz) centred on a video frame's time;
- lips: 5 video frames (centred on the same frame) of lip-region vertex offsets from the rest
  shape, divided by the mouth width. Each frame's vertices go through a shared point encoder
  (per-vertex MLP on [rest position, offset], max-pooled), so the same code serves any lip
  vertex set (l2t-head's 268 lips, FLAME/VOCASET or BIWI lips); weights are per topology.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.nn import functional as F

AUDIO_FRAMES = 20  # 0.2 s of 100 Hz log-mel
LIP_FRAMES = 5


@dataclass
class SyncConfig:
    n_mels: int = 80
    width: int = 128
    embed: int = 128
    point_width: int = 64

    def to_dict(self) -> dict:
        return asdict(self)


class LipFrameEncoder(nn.Module):
    """Per-frame point encoder: [B, T, V, 3] normalised offsets (+ rest positions [V, 3]) -> [B, T, width]."""

    def __init__(self, point_width: int, width: int):
        super().__init__()
        self.point = nn.Sequential(nn.Linear(6, point_width), nn.GELU(), nn.Linear(point_width, width), nn.GELU(), nn.Linear(width, width))

    def forward(self, offsets: torch.Tensor, rest: torch.Tensor) -> torch.Tensor:
        rest = rest.to(offsets.dtype).expand(*offsets.shape[:-2], -1, -1)
        return self.point(torch.cat([rest, offsets * 10.0], -1)).amax(-2)


class SyncNet3D(nn.Module):
    def __init__(self, cfg: SyncConfig):
        super().__init__()
        self.cfg = cfg
        w = cfg.width
        self.audio = nn.Sequential(
            nn.Conv1d(cfg.n_mels, w, 3, padding=1),
            nn.GELU(),
            nn.Conv1d(w, w, 3, stride=2, padding=1),
            nn.GELU(),
            nn.Conv1d(w, 2 * w, 3, stride=2, padding=1),
            nn.GELU(),
            nn.Flatten(),
            nn.Linear(2 * w * math.ceil(AUDIO_FRAMES / 4), 2 * w),
            nn.GELU(),
            nn.Linear(2 * w, cfg.embed),
        )
        self.lip_frames = LipFrameEncoder(cfg.point_width, w)
        self.lips = nn.Sequential(nn.Flatten(), nn.Linear(LIP_FRAMES * w, 2 * w), nn.GELU(), nn.Linear(2 * w, cfg.embed))
        self.log_scale = nn.Parameter(torch.tensor(math.log(10.0)))  # inverse temperature of InfoNCE

    def embed_audio(self, mel: torch.Tensor) -> torch.Tensor:
        """[B, 20, n_mels] -> unit vectors [B, embed]."""
        return F.normalize(self.audio(mel.transpose(1, 2)), dim=-1)

    def embed_lips(self, offsets: torch.Tensor, rest: torch.Tensor) -> torch.Tensor:
        """[B, 5, V, 3] offsets / mouth width, rest [V, 3] (centred, / mouth width) -> unit vectors [B, embed]."""
        return F.normalize(self.lips(self.lip_frames(offsets, rest)), dim=-1)

    def embed_lip_runs(self, offsets: torch.Tensor, rest: torch.Tensor) -> torch.Tensor:
        """Runs of consecutive frames [B, T + 4, V, 3] -> unit vectors [B, T, embed] of the windows centred on
        frames 2 .. T + 1: the same as ``embed_lips`` of each window, with every frame encoded once, not five times."""
        per_frame = self.lip_frames(offsets, rest)  # [B, T + 4, width]
        windows = per_frame.unfold(1, LIP_FRAMES, 1).transpose(-1, -2)  # [B, T, 5, width]
        return F.normalize(self.lips(windows.flatten(0, 1)), dim=-1).unflatten(0, windows.shape[:2])


def normalised_rest(template: torch.Tensor, mouth_width: float) -> torch.Tensor:
    """Lip rest positions, centred and divided by the mouth width."""
    return (template - template.mean(0)) / mouth_width
