"""Loading any shipped or trained model by kind: Audio2Mesh here, the experts through
``sync_expert.checkpoint`` (which owns the file format)."""

from __future__ import annotations

from pathlib import Path

from torch import nn

from sync_expert.checkpoint import EXPERT_DEFAULTS, build_model, load_expert, read_checkpoint

CHECKPOINTS = Path(__file__).resolve().parent / "checkpoints"
DEFAULT_CHECKPOINT = CHECKPOINTS / "default.pt"
LIVE_CHECKPOINT = CHECKPOINTS / "live.pt"  # 72 ms look-ahead, for microphones and pushed audio
SHIPPED = {"default": DEFAULT_CHECKPOINT, "live": LIVE_CHECKPOINT}
DEFAULTS = {"audio2mesh": DEFAULT_CHECKPOINT, **EXPERT_DEFAULTS}


def load_model(path: str | Path | None, kind: str = "audio2mesh", device="cpu") -> tuple[nn.Module, dict]:
    """(model in eval mode, meta). ``None`` loads the embedded default of that kind, and for Audio2Mesh
    the names "default" and "live" the shipped checkpoints. L2TError on any problem."""
    if kind != "audio2mesh":
        return load_expert(path, kind, device)
    from audio2mesh.model import Audio2Mesh, ModelConfig

    path = SHIPPED.get(str(path), path) if path is not None else DEFAULT_CHECKPOINT
    return build_model(read_checkpoint(path, kind), Audio2Mesh, ModelConfig, device)
