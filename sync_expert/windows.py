"""Audio and lip windows around video frames, and SyncNet-style scoring over offsets.

Frame t (at ``fps``) pairs the 20 log-mel frames centred on t / fps with lip frames t-2 .. t+2.
Windows reaching outside a clip are clamped at its edges (edge frames repeated).

Scores (SyncNet's, on unit embeddings): for each offset o in [-max_offset, max_offset] the mean
over frames t of the distance ||a(t) - l(t + o)||; LSE-D is the minimum over offsets (lower:
better sync), LSE-C the median minus the minimum (higher: more confident), and the offset is the
argmin: the motion lags the audio by that many frames (negative: it leads).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from sync_expert.features import MEL_RATE
from sync_expert.model import AUDIO_FRAMES, LIP_FRAMES, SyncNet3D

MAX_OFFSET = 15


def audio_windows(features: torch.Tensor, frames: torch.Tensor, fps: float) -> torch.Tensor:
    """features [F, D], frame indices [N] -> [N, 20, D]."""
    centres = torch.round(frames.double() / fps * MEL_RATE).long()
    zeros = torch.zeros_like(centres)
    return batched_audio_windows(features[None], torch.tensor([features.shape[0]], device=features.device), zeros, centres)


def batched_audio_windows(features: torch.Tensor, lengths: torch.Tensor, rows: torch.Tensor, centres: torch.Tensor) -> torch.Tensor:
    """features [B, F, D] (valid up to lengths [B]); windows around feature frames ``centres`` [N] of ``rows`` [N]."""
    idx = centres[:, None] + torch.arange(-AUDIO_FRAMES // 2, AUDIO_FRAMES // 2, device=features.device)[None]
    idx = torch.minimum(idx.clamp(min=0), (lengths[rows] - 1)[:, None])
    return features[rows[:, None], idx]


def lip_windows(offsets: torch.Tensor, frames: torch.Tensor) -> torch.Tensor:
    """offsets [T, V, 3], frame indices [N] -> [N, 5, V, 3]."""
    counts = torch.tensor([offsets.shape[0]], device=offsets.device)
    return batched_lip_windows(offsets[None], counts, torch.zeros_like(frames), frames)


def batched_lip_windows(offsets: torch.Tensor, counts: torch.Tensor, rows: torch.Tensor, frames: torch.Tensor) -> torch.Tensor:
    """offsets [B, T, V, 3] (valid up to counts [B]); windows around ``frames`` [N] of ``rows`` [N] -> [N, 5, V, 3]."""
    half = LIP_FRAMES // 2
    idx = frames[:, None] + torch.arange(-half, half + 1, device=offsets.device)[None]
    idx = torch.minimum(idx.clamp(min=0), (counts[rows] - 1)[:, None])
    return offsets[rows[:, None], idx]


def lip_run(offsets: torch.Tensor, start: int, stop: int) -> torch.Tensor:
    """offsets [T, V, 3] -> the frames the windows centred on start .. stop - 1 read, [stop - start + 4, V, 3]
    (for ``SyncNet3D.embed_lip_runs``; clamped at the clip's edges as ``lip_windows`` is)."""
    half = LIP_FRAMES // 2
    idx = torch.arange(start - half, stop + half, device=offsets.device).clamp(0, offsets.shape[0] - 1)
    return offsets[idx]


@dataclass
class SyncScore:
    lse_d: float
    lse_c: float
    offset: int
    distances: list[float]  # mean distance per offset, -max_offset .. max_offset

    def as_dict(self) -> dict:
        return {"lse_d": self.lse_d, "lse_c": self.lse_c, "offset": self.offset}


@torch.no_grad()
def sync_score(
    expert: SyncNet3D,
    features: torch.Tensor,
    offsets: torch.Tensor,
    rest: torch.Tensor,
    fps: float,
    max_offset: int = MAX_OFFSET,
    batch: int = 1024,
) -> SyncScore:
    """LSE-D, LSE-C and offset of lip motion [T, V, 3] (normalised) against features [F, D] (same clip)."""
    num = offsets.shape[0]
    frames = torch.arange(num, device=offsets.device)
    a = torch.cat([expert.embed_audio(audio_windows(features, frames[i : i + batch], fps)) for i in range(0, num, batch)])
    lips = torch.cat([expert.embed_lip_runs(lip_run(offsets, i, min(i + batch, num))[None], rest)[0] for i in range(0, num, batch)])
    dists = []
    for o in range(-max_offset, max_offset + 1):
        lo, hi = max(0, -o), min(num, num - o)  # frames t with t + o inside the clip
        if hi - lo < 1:
            dists.append(float("inf"))
            continue
        dists.append(float((a[lo:hi] - lips[lo + o : hi + o]).norm(dim=-1).mean()))
    d = torch.tensor(dists)
    finite = d[torch.isfinite(d)]
    best = int(torch.argmin(d))
    return SyncScore(float(d[best]), float(finite.median() - d[best]), best - max_offset, dists)
