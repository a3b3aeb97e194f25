"""Model checkpoints: one ``.pt`` file holding the kind, config, float16 weights and meta.

Kinds: ``audio2mesh`` (``meta``: expression names, offsets region, fps, the audio encoder it
expects or ``None`` for log-mel, how it was trained, held-out metrics), ``syncnet3d`` and
``lipreader`` (``meta``: the lip rest shape and mouth width they were trained on). Loaded with
``weights_only=True``: no code runs on load. A folder stands for its ``best.pt``.

The file format and the experts' kinds live here; ``audio2mesh.checkpoint`` builds Audio2Mesh
from the same format.
"""

from __future__ import annotations

import io
from pathlib import Path

import torch
from torch import nn

from avatar.errors import L2TError
from avatar.io.atomic import atomic_write_bytes
from avatar.io.torch_file import load_torch_file

FORMAT = "l2t-avatar model 1"
CHECKPOINTS = Path(__file__).resolve().parent / "checkpoints"
EXPERT_DEFAULTS = {  # what ships: the expert used as a training loss, the lip reader
    "syncnet3d": CHECKPOINTS / "syncnet3d_train.pt",
    "lipreader": CHECKPOINTS / "lipreader.pt",
}
EVAL_EXPERT = CHECKPOINTS / "syncnet3d_eval.pt"  # judges, never trains
NAMES = {"audio2mesh": "Audio2Mesh", "syncnet3d": "SyncNet3D", "lipreader": "lip reader"}


def save_model(path: str | Path, kind: str, model: nn.Module, meta: dict, half: bool = True) -> Path:
    """Write weights (float16 unless ``half`` is False), config and meta atomically."""
    state = {k: (v.half() if half and v.is_floating_point() else v).detach().cpu() for k, v in model.state_dict().items()}
    buffer = io.BytesIO()
    torch.save({"format": FORMAT, "kind": kind, "config": model.cfg.to_dict(), "state": state, "meta": meta}, buffer)
    atomic_write_bytes(path, buffer.getvalue())
    return Path(path)


def read_checkpoint(path: str | Path, kind: str) -> dict:
    """The checkpoint's contents (format, kind, config, state, meta); L2TError if it is not one of ``kind``."""
    name = NAMES[kind]
    path = Path(path)
    if path.is_dir():
        path = path / "best.pt"
    blob = load_torch_file(path, f"{name} checkpoint")
    if not isinstance(blob, dict) or blob.get("format") != FORMAT or blob.get("kind") != kind:
        found = blob.get("kind") if isinstance(blob, dict) else None
        raise L2TError(f"{path} is not a {name} checkpoint" + (f" (it is a {NAMES.get(found, found)} one)" if found else ""))
    return blob


def build_model(blob: dict, model_class, config_class, device="cpu") -> tuple[nn.Module, dict]:
    """(model in eval mode, meta) from a checkpoint's contents."""
    model = model_class(config_class(**blob["config"]))
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in blob["state"].items()})
    return model.to(device).eval(), blob["meta"]


def load_expert(path: str | Path | None, kind: str = "syncnet3d", device="cpu") -> tuple[nn.Module, dict]:
    """A SyncNet3D (``syncnet3d``) or lip reader (``lipreader``); ``None`` loads the embedded default."""
    if kind == "syncnet3d":
        from sync_expert.model import SyncConfig, SyncNet3D

        classes = SyncNet3D, SyncConfig
    elif kind == "lipreader":
        from sync_expert.lip_reader import LipReader, LipReaderConfig

        classes = LipReader, LipReaderConfig
    else:
        raise ValueError(f"not an expert kind: {kind}")
    return build_model(read_checkpoint(path if path is not None else EXPERT_DEFAULTS[kind], kind), *classes, device=device)
