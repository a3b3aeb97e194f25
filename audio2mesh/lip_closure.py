"""Lips that meet: ``mouthClose`` solved on the rig, and the closure gate of Audio2Mesh's bilabial head.

A regression model that is unsure whether a frame is an M, B or P predicts a half-open mouth (the
mean of "closed" and "open"), and on a voice it never heard it is often unsure. Audio2Mesh
therefore also says *whether* a frame is bilabial (a per-frame probability from its closure head,
trained with binary cross-entropy on the corpus' phone timings), and the lips are closed on the
rig where that probability is high: the gate maps it to a closure amount in [0, 1] between two
thresholds calibrated on held-out speakers, and ``mouthClose`` is raised so the inner-lip gap
shrinks by that fraction towards ``CLOSED_GAP``, whatever the jaw does. The teacher closes its
bilabials with the same solve.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

CLOSE_EXPRESSION = "mouthClose"
CLOSED_GAP = 0.0003  # metres between the inner lips when closed
MAX_CLOSE = 1.6  # the most mouthClose the solve sets
CLOSURE_JAW = 0.03  # radians: the jaw's opening during a bilabial (the teacher's M/B/P target is 0.02)


def close_lips(
    params: torch.Tensor,
    amount: torch.Tensor,
    opening: Callable[[torch.Tensor], torch.Tensor],
    close_index: int,
    jaw_to: float | None = None,
) -> torch.Tensor:
    """Raise ``mouthClose`` (parameter ``close_index`` of params [T, P]) so that each frame's signed
    inner-lip opening (``opening``: params [T, P] -> metres [T]) becomes (1 - amount) * its opening +
    amount * CLOSED_GAP. ``amount`` [T] in [0, 1]; frames already closer stay as they are. With
    ``jaw_to`` the jaw's opening (parameter 0) first rises by ``amount`` towards at most that, as a
    jaw does on an M, B or P (mouthClose alone cannot close a jaw opened past ~0.1 rad)."""
    if jaw_to is not None:
        params = params.clone()
        params[:, 0] = params[:, 0] - amount * (params[:, 0] - jaw_to).clamp(min=0.0)
    raised = params.clone()
    raised[:, close_index] += 1.0
    now = opening(params)
    per_unit = (now - opening(raised)).clamp(min=1e-5)  # how much one unit of mouthClose closes here
    increment = (amount * (now - CLOSED_GAP) / per_unit).clamp(min=0.0)
    current = params[:, close_index]
    out = params.clone()
    out[:, close_index] = torch.minimum(current + increment, current.clamp(min=MAX_CLOSE))
    return out


@dataclass(frozen=True)
class ClosureGate:
    """Bilabial probability -> closure amount: 0 up to ``low``, 1 from ``high``, linear between."""

    low: float
    high: float

    def __post_init__(self):
        if not 0.0 <= self.low < self.high <= 1.0:
            raise ValueError(f"closure gate needs 0 <= low < high <= 1, got {self.low}, {self.high}")

    def __call__(self, probability: torch.Tensor) -> torch.Tensor:
        return ((probability - self.low) / (self.high - self.low)).clamp(0.0, 1.0)

    def to_dict(self) -> dict:
        return {"low": self.low, "high": self.high}

    @classmethod
    def from_meta(cls, meta: dict) -> ClosureGate | None:
        """The gate a checkpoint was calibrated with, or None (no closure head, or not calibrated)."""
        gate = meta.get("closure_gate")
        return cls(float(gate["low"]), float(gate["high"])) if gate else None


class LipCloser:
    """Closes the lips of Audio2Mesh's rig parameters where its closure head hears a bilabial.

    Works in the model's own parameter layout (jaw, then its expressions), posing only the two
    inner-lip landmarks of the rig the model was trained on, so it is cheap and per frame: the
    same in offline and streaming inference.
    """

    def __init__(self, rig, expression_names: list[str], gate: ClosureGate):
        from avatar.rig.region import RegionRig
        from sync_expert.targets import JAW_WIDTH, LIP_LANDMARKS

        self.gate = gate
        self.rig_index = torch.tensor([rig.expression_index(n) for n in expression_names])
        self.num_expressions = rig.num_expressions
        self.close_index = JAW_WIDTH + list(expression_names).index(CLOSE_EXPRESSION)
        self.inner_lips = RegionRig(rig, torch.tensor([rig.data.named_landmarks[n] for n in LIP_LANDMARKS]))

    def opening(self, params: torch.Tensor) -> torch.Tensor:
        """Signed inner-lip opening (metres, along the rig's up axis) of params [T, P]."""
        from sync_expert.targets import ParamSpace

        spoken, jaw = ParamSpace.split(params)
        expression = params.new_zeros(len(params), self.num_expressions)
        expression[:, self.rig_index.to(params.device)] = spoken
        lips = self.inner_lips.to(params.device)(expression, jaw)
        return lips[:, 0, 1] - lips[:, 1, 1]

    def __call__(self, params: torch.Tensor, closure_logits: torch.Tensor) -> torch.Tensor:
        """params [T, P] with the lips closed by the gated bilabial probability of logits [T]."""
        if not len(params):
            return params
        amount = self.gate(torch.sigmoid(closure_logits.float()))
        return close_lips(params.float(), amount, self.opening, self.close_index, jaw_to=CLOSURE_JAW)

    @classmethod
    def for_checkpoint(cls, model, meta: dict) -> LipCloser | None:
        """The closer of a checkpoint with a calibrated closure head, else None."""
        gate = ClosureGate.from_meta(meta)
        if gate is None or getattr(model, "closure_head", None) is None:
            return None
        from avatar.rig import L2T_HEAD_PATH, load_rig

        trained_on = meta.get("rig") or {}
        rig = load_rig(trained_on.get("path") or (L2T_HEAD_PATH if trained_on.get("name", "l2t-head") == "l2t-head" else None))
        return cls(rig, list(meta["expression_names"]), gate)
