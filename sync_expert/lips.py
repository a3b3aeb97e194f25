"""Lip motion of training clips as SyncNet3D and the lip reader read it: offsets / mouth width."""

from __future__ import annotations

import hashlib

import torch

from sync_expert.data.clips import Clip, ClipSet
from sync_expert.features import MEL_RATE
from sync_expert.model import AUDIO_FRAMES, LIP_FRAMES, normalised_rest
from sync_expert.targets import ParamSpace


class LipData:
    """Per clip: normalised lip offsets [T, V, 3] and features [F, 80] on a device."""

    def __init__(self, clipset: ClipSet, device, rig=None):
        self.clipset, self.device = clipset, device
        template = torch.as_tensor(clipset.template, dtype=torch.float32, device=device)
        self.rest = normalised_rest(template, clipset.mouth_width)
        space = ParamSpace(rig, clipset.region_indices).to(device) if clipset.kind == "corpus" else None
        self.offsets: list[torch.Tensor] = []
        with torch.no_grad():
            for c in clipset.clips:
                if space is not None:
                    off = space.lip_vertices(torch.as_tensor(c.params, device=device)) - template
                else:
                    off = torch.as_tensor(c.offsets, device=device).float()
                self.offsets.append(off / clipset.mouth_width)

    @property
    def clips(self) -> list[Clip]:
        return self.clipset.clips

    def packed(self) -> PackedClips:
        return PackedClips(self)


class PackedClips:
    """All clips' lip offsets and features concatenated on the device, for vectorised window sampling."""

    def __init__(self, data: LipData):
        from sync_expert.features import dequantise

        dev = data.device
        self.offsets = torch.cat(data.offsets)
        data.offsets = list(self.offsets.split([o.shape[0] for o in data.offsets]))  # views: one copy in memory
        self.features = torch.cat([dequantise(c.codes) for c in data.clips]).to(dev)
        counts = torch.tensor([o.shape[0] for o in data.offsets], device=dev)
        feat_counts = torch.tensor([len(c.codes) for c in data.clips], device=dev)
        self.frame_count, self.feat_count = counts, feat_counts
        self.frame_start = torch.cumsum(counts, 0) - counts
        self.feat_start = torch.cumsum(feat_counts, 0) - feat_counts
        self.fps = torch.tensor([c.fps for c in data.clips], device=dev, dtype=torch.float64)

    def lip_windows(self, clips: torch.Tensor, frames: torch.Tensor) -> torch.Tensor:
        """[N] clip and frame indices -> [N, 5, V, 3] (clamped at clip edges)."""
        return self._lip_frames(clips, frames[:, None] + torch.arange(-(LIP_FRAMES // 2), LIP_FRAMES // 2 + 1, device=frames.device)[None])

    def lip_runs(self, clips: torch.Tensor, starts: torch.Tensor, length: int) -> torch.Tensor:
        """[N] clip indices and first frames -> the frames [N, length + 4, V, 3] that the windows centred on
        starts .. starts + length - 1 read (for ``SyncNet3D.embed_lip_runs``; clamped at clip edges)."""
        half = LIP_FRAMES // 2
        return self._lip_frames(clips, starts[:, None] + torch.arange(-half, length + half, device=starts.device)[None])

    def _lip_frames(self, clips: torch.Tensor, rel: torch.Tensor) -> torch.Tensor:
        rel = torch.minimum(rel.clamp(min=0), (self.frame_count[clips] - 1)[:, None])
        return self.offsets[self.frame_start[clips][:, None] + rel]

    def audio_windows(self, clips: torch.Tensor, frames: torch.Tensor) -> torch.Tensor:
        """[N] clip and frame indices -> [N, 20, D] around each frame's time."""
        centres = torch.round(frames.double() / self.fps[clips] * MEL_RATE).long()
        rel = centres[:, None] + torch.arange(-AUDIO_FRAMES // 2, AUDIO_FRAMES // 2, device=frames.device)[None]
        rel = torch.minimum(rel.clamp(min=0), (self.feat_count[clips] - 1)[:, None])
        return self.features[self.feat_start[clips][:, None] + rel]


def in_half(clip_id: str, half: str) -> bool:
    """Deterministic halves of a split by clip id: 'a', 'b', or 'all'."""
    if half == "all":
        return True
    digit = hashlib.sha256(clip_id.encode()).digest()[0] % 2
    return digit == (0 if half == "a" else 1)


def shift_motion(offsets: torch.Tensor, shift: int) -> torch.Tensor:
    """Motion lagging the audio by ``shift`` frames (edge frames repeated): out[t] = offsets[t - shift]."""
    idx = (torch.arange(offsets.shape[0], device=offsets.device) - shift).clamp(0, offsets.shape[0] - 1)
    return offsets[idx]
