"""How many frames a talking video's picture lags its sound (positive: the picture comes late).

SyncNet3D, the lip-sync expert, judges it as Learn2Talk and SyncNet do: the tracked lips,
resampled to the expert's 25 fps, are scored against the sound at every offset within +-15 of the
video's frames, and the offset of the smallest audio-lip distance wins. Where the shipped expert
cannot judge (a rig whose lips it was not trained on, such as FLAME), the offset is the lag at
which Audio2Mesh's jaw on the sound best correlates with the tracked jaw.
"""

from __future__ import annotations

import numpy as np
import torch

from avatar.io.audio import SPEECH_RATE
from avatar.motion import Motion, frames_for

MAX_LAG = 15  # video frames of offset searched, each way
EXPERT_FPS = 25.0  # the frame rate SyncNet3D is trained at (its checkpoint says)


def best_lag(generic: np.ndarray, tracked: np.ndarray, frames: np.ndarray, max_lag: int = MAX_LAG) -> int:
    """The offset (frames) at which the generic jaw opening [T_audio] correlates best with the
    tracked one [N] at video ``frames`` [N]."""
    scores = {}
    for lag in range(-max_lag, max_lag + 1):
        idx = frames - lag
        ok = (idx >= 0) & (idx < len(generic))
        if ok.sum() < 10 or generic[idx[ok]].std() < 1e-9 or tracked[ok].std() < 1e-9:
            continue
        scores[lag] = float(np.corrcoef(generic[idx[ok]], tracked[ok])[0, 1])
    return max(scores, key=lambda k: (scores[k], -abs(k))) if scores else 0


def resampled(params: dict[str, torch.Tensor], frames: np.ndarray, fps: float, out_fps: float, out_frames: int) -> Motion:
    """Jaw and expressions tracked at video ``frames`` (at ``fps``) as a Motion of ``out_frames``
    frames at ``out_fps`` (linear in time; held at the ends and across frames without a face)."""
    src = frames / fps
    dst = np.arange(out_frames) / out_fps
    out = {}
    for name in ("jaw", "expression"):
        values = params[name].double().numpy()
        out[name] = torch.from_numpy(np.stack([np.interp(dst, src, values[:, j]) for j in range(values.shape[1])], 1)).float()
    return Motion(out, fps=out_fps)


def expert_lag(
    audio: np.ndarray, params: dict[str, torch.Tensor], frames: np.ndarray, fps: float, rig, max_lag: int = MAX_LAG
) -> int | None:
    """SyncNet3D's offset (video frames) of the tracked jaw and expressions (at video ``frames``, at
    ``fps``) against ``audio``; None where the shipped expert was trained on other lips than ``rig``'s."""
    from sync_expert.checkpoint import load_expert
    from sync_expert.score import score_clip

    expert, meta = load_expert(None)
    lips = meta.get("region_indices")
    trained_on = (meta.get("rig") or {}).get("name")
    if lips is None or max(lips) >= rig.num_vertices or trained_on not in (None, rig.data.name):
        return None
    expert_fps = float(meta.get("fps", EXPERT_FPS))
    motion = resampled(params, frames, fps, expert_fps, frames_for(len(audio) / SPEECH_RATE, expert_fps))
    reach = int(np.ceil(max_lag * expert_fps / fps))
    with torch.no_grad():
        score = score_clip(expert.eval(), meta, rig, motion, audio, max_offset=reach)
    return int(np.clip(round(score.offset * fps / expert_fps), -max_lag, max_lag))


def video_lag(
    audio: np.ndarray, params: dict[str, torch.Tensor], frames: np.ndarray, fps: float, rig, generic_jaw: np.ndarray
) -> tuple[int, str]:
    """(offset in video frames, what found it: "syncnet3d" or "jaw correlation"); ``generic_jaw`` is
    Audio2Mesh's jaw opening on ``audio`` at ``fps``, for the fallback."""
    lag = expert_lag(audio, params, frames, fps, rig)
    if lag is not None:
        return lag, "syncnet3d"
    return best_lag(generic_jaw, params["jaw"][:, 0].numpy(), frames), "jaw correlation"
