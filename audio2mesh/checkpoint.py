"""Loading any shipped or trained model by kind: Audio2Mesh here, the experts through
``sync_expert.checkpoint`` (which owns the file format)."""

from __future__ import annotations

from pathlib import Path

from torch import nn

from sync_expert.checkpoint import EXPERT_DEFAULTS, build_model, load_expert, read_checkpoint

DEFAULT_CHECKPOINT = Path(__file__).resolve().parent / "checkpoints" / "default.pt"
DEFAULTS = {"audio2mesh": DEFAULT_CHECKPOINT, **EXPERT_DEFAULTS}


def load_model(path: str | Path | None, kind: str = "audio2mesh", device="cpu") -> tuple[nn.Module, dict]:
    """(model in eval mode, meta). ``None`` loads the embedded default of that kind. L2TError on any problem."""
    if kind != "audio2mesh":
        return load_expert(path, kind, device)
    from audio2mesh.model import Audio2Mesh, ModelConfig

    return build_model(read_checkpoint(path if path is not None else DEFAULT_CHECKPOINT, kind), Audio2Mesh, ModelConfig, device)
