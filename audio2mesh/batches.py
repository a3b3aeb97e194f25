"""Random training crops of clips, padded into batches (features, target frames, phones)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from sync_expert.data.clips import Clip
from sync_expert.features import MEL_RATE, dequantise

CONTEXT_SECONDS = 1.0  # extra audio each side of the target frames, where the clip has it


@dataclass
class Batch:
    features: torch.Tensor  # [B, F, D]
    lengths: torch.Tensor  # [B] valid feature frames
    positions: torch.Tensor  # [B, T] hidden-frame positions of the target frames
    mel_centres: torch.Tensor  # [B, T] feature-frame index of each target frame's time
    mask: torch.Tensor  # [B, T] bool, valid target frames
    params: torch.Tensor | None  # [B, T, P]
    offsets: torch.Tensor | None  # [B, T, V, 3]
    phones: torch.Tensor | None  # [B, T] (0 on padding)

    def to(self, device) -> Batch:
        move = lambda t: None if t is None else t.to(device, non_blocking=True)  # noqa: E731
        return Batch(*(move(getattr(self, f)) for f in self.__dataclass_fields__))


def make_batch(
    clips: list[Clip],
    crop_frames: int,
    stride: int,
    rng: np.random.Generator,
    noise: torch.Generator | None = None,
    feature_rate: float = MEL_RATE,
) -> Batch:
    """A batch of random crops of at most ``crop_frames`` frames (whole clips when shorter); features at ``feature_rate`` Hz."""
    feats, starts, counts, mel_starts = [], [], [], []
    for c in clips:
        n = min(crop_frames, c.num_frames)
        s = int(rng.integers(0, c.num_frames - n + 1))
        m0 = max(0, math.floor((s / c.fps - CONTEXT_SECONDS) * feature_rate))
        m0 -= m0 % stride
        m1 = min(len(c.codes), math.ceil(((s + n) / c.fps + CONTEXT_SECONDS) * feature_rate) + 1)
        feats.append(dequantise(c.codes[m0:m1], noise))
        starts.append(s)
        counts.append(n)
        mel_starts.append(m0)
    b, t_max, f_max = len(clips), max(counts), max(len(f) for f in feats)
    features = torch.zeros(b, f_max, feats[0].shape[1])
    positions = torch.zeros(b, t_max)
    centres = torch.zeros(b, t_max, dtype=torch.long)
    mask = torch.zeros(b, t_max, dtype=torch.bool)
    has_params = clips[0].params is not None
    params = torch.zeros(b, t_max, clips[0].params.shape[1]) if has_params else None
    offsets = None if has_params else torch.zeros(b, t_max, *clips[0].offsets.shape[1:])
    phones = torch.zeros(b, t_max, dtype=torch.long) if clips[0].phones is not None else None
    for i, (c, f, s, n, m0) in enumerate(zip(clips, feats, starts, counts, mel_starts)):
        features[i, : len(f)] = f
        times = (s + torch.arange(n, dtype=torch.float64)) / c.fps
        positions[i, :n] = ((times * feature_rate - m0) / stride).float()
        centres[i, :n] = torch.round(times * feature_rate).long() - m0
        mask[i, :n] = True
        if has_params:
            params[i, :n] = torch.from_numpy(c.params[s : s + n])
        else:
            offsets[i, :n] = torch.from_numpy(c.offsets[s : s + n].astype(np.float32))
        if phones is not None:
            phones[i, :n] = torch.from_numpy(c.phones[s : s + n])
    lengths = torch.tensor([len(f) for f in feats])
    return Batch(features, lengths, positions, centres, mask, params, offsets, phones)


def epoch_batches(clips: list[Clip], batch_size: int, rng: np.random.Generator) -> list[list[Clip]]:
    """The clips shuffled into batches of similar length (less padding), batch order shuffled."""
    order = rng.permutation(len(clips))
    groups = [order[i : i + batch_size * 8] for i in range(0, len(order), batch_size * 8)]
    batches = []
    for g in groups:
        g = sorted(g, key=lambda i: clips[i].num_frames)
        batches += [[clips[i] for i in g[j : j + batch_size]] for j in range(0, len(g), batch_size)]
    rng.shuffle(batches)
    return batches


def warp_mel(features: torch.Tensor, factors) -> torch.Tensor:
    """Log-mel [B, F, D] with each row's mel axis stretched by its factor (> 1 moves formants up,
    as a shorter vocal tract does; a VTLP-style speaker perturbation), linearly interpolated;
    bins beyond the top repeat the last one."""
    bins = features.shape[-1]
    factors = torch.as_tensor(np.asarray(factors), dtype=features.dtype)
    source = (torch.arange(bins, dtype=features.dtype)[None] / factors[:, None]).clamp(0, bins - 1)  # [B, D]
    lo = source.floor().long()
    hi = (lo + 1).clamp(max=bins - 1)
    frac = (source - lo)[:, None, :]
    take = lambda idx: features.gather(2, idx[:, None, :].expand(-1, features.shape[1], -1))  # noqa: E731
    return take(lo) * (1 - frac) + take(hi) * frac
