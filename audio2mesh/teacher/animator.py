"""The teacher: timed phones -> per-frame jaw and mouth expressions on a rig.

It needs a rig with ARKit-named mouth expressions and named inner-lip landmarks (l2t-head).
FLAME's expressions are PCA components without names, so on FLAME the teacher is not used:
FLAME users train Audio2Mesh on their own 3D data (VOCASET), see sync_expert/data/datasets.py.

Lip closure is solved on the rig itself: after the other shapes are set, ``mouthClose`` is
chosen per frame so that the inner lips meet exactly as far as the closure curve asks,
whatever the jaw is doing (a bilabial after an open vowel still closes).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import torch

from audio2mesh.lip_closure import CLOSE_EXPRESSION, close_lips
from audio2mesh.teacher.coarticulation import Timing, articulation
from avatar.errors import L2TError
from avatar.motion import DEFAULT_FPS, Motion
from avatar.rig.model import Rig
from sync_expert.phones import PhoneAlignment
from sync_expert.targets import JAW_WIDTH, LIP_LANDMARKS, ParamSpace

# channel -> {expression name: amount}
CHANNEL_EXPRESSIONS = {
    "round": {"mouthPucker": 1.0},
    "funnel": {"mouthFunnel": 1.0},
    "spread": {"mouthStretch_L": 0.6, "mouthStretch_R": 0.6, "mouthSmile_L": 0.2, "mouthSmile_R": 0.2},
    "upper": {"mouthUpperUp_L": 0.8, "mouthUpperUp_R": 0.8},
    "lower": {"mouthLowerDown_L": 0.8, "mouthLowerDown_R": 0.8},
    "tuck": {"mouthRollLower": 0.9, "mouthUpperUp_L": 0.3, "mouthUpperUp_R": 0.3},
    "press": {"mouthPress_L": 1.0, "mouthPress_R": 1.0},
}
TUCK_CLOSURE = 0.6  # how far a labiodental closes the lip gap (lower lip up against the teeth)


@dataclass(frozen=True)
class TeacherStyle:
    """How a speaker articulates: jaw and lip amplitude, how early lips anticipate."""

    jaw_scale: float = 1.0
    lip_scale: float = 1.0
    anticipation: float = 1.0

    @classmethod
    def for_voice(cls, voice_id: str) -> TeacherStyle:
        """A fixed, voice-specific style (the same voice always articulates the same way)."""
        seed = int.from_bytes(hashlib.sha256(voice_id.encode()).digest()[:8], "little")
        rng = np.random.default_rng(seed)
        return cls(float(rng.uniform(0.75, 1.3)), float(rng.uniform(0.7, 1.3)), float(rng.uniform(0.8, 1.3)))


def required_expressions() -> list[str]:
    names = {CLOSE_EXPRESSION}
    for mapping in CHANNEL_EXPRESSIONS.values():
        names |= set(mapping)
    return sorted(names)


def inner_lip_gap(rig: Rig, vertices: torch.Tensor) -> torch.Tensor:
    """Signed distance (metres) along the rig's up axis between the inner lips: [T, V, 3] -> [T]."""
    upper, lower = (rig.data.named_landmarks[name] for name in LIP_LANDMARKS)
    return vertices[:, upper, 1] - vertices[:, lower, 1]


class TeacherAnimator:
    """``animate(alignment)`` -> Motion with ``expression`` [T, E] and ``jaw`` [T, 3]."""

    def __init__(self, rig: Rig, fps: float = DEFAULT_FPS, timing: Timing = Timing()):
        missing = [n for n in required_expressions() if n not in rig.data.expression_names]
        missing += [n for n in LIP_LANDMARKS if n not in rig.data.named_landmarks]
        if missing:
            raise L2TError(
                f"the teacher needs a rig with ARKit-named mouth expressions and inner-lip landmarks "
                f"(l2t-head); this rig lacks {', '.join(missing)}"
            )
        self.rig, self.fps, self.timing = rig, float(fps), timing

    def num_frames(self, seconds: float) -> int:
        return max(1, int(round(seconds * self.fps)))

    @torch.no_grad()
    def animate(self, alignment: PhoneAlignment, num_frames: int | None = None, style: TeacherStyle = TeacherStyle()) -> Motion:
        rig = self.rig
        frames = num_frames or self.num_frames(alignment.duration)
        times = np.arange(frames) / self.fps
        curves = articulation(alignment, times, self.timing.scaled(style.anticipation))
        expression = np.zeros((frames, rig.num_expressions), np.float32)
        for channel, mapping in CHANNEL_EXPRESSIONS.items():
            scale = 1.0 if channel == "tuck" or channel == "press" else style.lip_scale
            for name, amount in mapping.items():
                expression[:, rig.expression_index(name)] += amount * scale * curves[channel]
        jaw = np.zeros((frames, 3), np.float32)
        jaw[:, 0] = np.clip(curves["jaw"] * style.jaw_scale, 0.0, 0.35)
        closure = np.maximum(curves["closure"], TUCK_CLOSURE * curves["tuck"])
        expression[:, rig.expression_index(CLOSE_EXPRESSION)] = self._solve_close(expression, jaw, closure)
        return Motion({"expression": torch.from_numpy(expression), "jaw": torch.from_numpy(jaw)}, fps=self.fps)

    def _solve_close(self, expression: np.ndarray, jaw: np.ndarray, closure: np.ndarray) -> np.ndarray:
        """mouthClose per frame so that the lip gap becomes (1 - closure) * open gap + closure * closed gap."""
        rig, device = self.rig, self.rig.v_template.device
        params = ParamSpace.join(torch.from_numpy(expression), torch.from_numpy(jaw)).to(device)
        close = JAW_WIDTH + rig.expression_index(CLOSE_EXPRESSION)

        def opening(p: torch.Tensor) -> torch.Tensor:
            expression, jaw = ParamSpace.split(p)
            return inner_lip_gap(rig, rig(expression=expression, jaw=jaw, batch_size=len(p)).vertices)

        closed = close_lips(params, torch.from_numpy(closure).to(device), opening, close)
        return closed[:, close].cpu().numpy().astype(np.float32)
