"""Scoring one clip's lip sync: a Motion and the audio it should match, through SyncNet3D."""

from __future__ import annotations

import numpy as np
import torch

from avatar.errors import L2TError
from avatar.io.audio import SPEECH_RATE
from avatar.motion import Motion, frames_for
from avatar.rig.model import Rig
from sync_expert.features import speech_features
from sync_expert.model import SyncNet3D, normalised_rest
from sync_expert.targets import ParamSpace
from sync_expert.windows import MAX_OFFSET, SyncScore, sync_score


def lip_offsets(motion: Motion, rig: Rig, lips: torch.Tensor, template: torch.Tensor) -> torch.Tensor:
    """Lip vertices of every frame minus their rest positions [T, L, 3] (metres), from the
    motion's vertices when it has them, else by posing the rig with its jaw and expressions."""
    device = template.device
    if motion.vertices is not None:
        return motion.vertices.to(device)[:, lips] - template
    p = motion.params
    if "jaw" in p and p["jaw"].shape[1] != 3:
        raise L2TError("sync scoring reads axis-angle jaw [T, 3]")
    jaw = p.get("jaw", torch.zeros(motion.num_frames, 3))
    expression = p.get("expression", torch.zeros(motion.num_frames, 0))
    space = ParamSpace(rig.to(device), lips.cpu()).to(device)
    return space.lip_vertices(ParamSpace.join(expression, jaw).float().to(device)) - template


def score_clip(
    expert: SyncNet3D, meta: dict, rig: Rig, motion: Motion, audio: np.ndarray, device="cpu", max_offset: int = MAX_OFFSET
) -> SyncScore:
    """LSE-D, LSE-C and the best offset (within +-max_offset frames) of ``motion`` against ``audio`` (mono at SPEECH_RATE).
    L2TError when the two are not the same length or the expert was trained on other lips."""
    seconds = len(audio) / SPEECH_RATE
    expected = frames_for(seconds, motion.fps)
    if abs(motion.num_frames - expected) > 1:
        raise L2TError(
            f"the motion has {motion.num_frames} frames at {motion.fps:g} fps but the audio lasts "
            f"{seconds:.2f} s ({expected} frames): they are not the same clip"
        )
    if meta.get("region_indices") is None or max(meta["region_indices"]) >= rig.num_vertices:
        raise L2TError("this SyncNet3D was not trained on lips of this rig")
    template = torch.as_tensor(meta["template"], dtype=torch.float32, device=device)
    lips = torch.as_tensor(meta["region_indices"], device=device)
    offsets = lip_offsets(motion, rig, lips, template)
    width = meta["mouth_width"]
    return sync_score(expert, speech_features(audio, device), offsets / width, normalised_rest(template, width), motion.fps, max_offset)
