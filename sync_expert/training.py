"""Plumbing shared by the trainers (Audio2Mesh, SyncNet3D, the lip reader).

- ``Distributed``: single process, or ``torchrun`` (one process per GPU, or CPU processes with
  gloo); DistributedDataParallel wrapping, the rank's share of each batch list, barriers.
- ``TrainState``: everything ``--resume`` needs in ``CKPT_DIR/last.pt``, written atomically.
- ``LossLog``: ``CKPT_DIR/log.jsonl``, one JSON line per epoch (train and val losses).
"""

from __future__ import annotations

import gc
import io
import json
import os
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn

from avatar.errors import L2TError
from avatar.io.atomic import atomic_write_bytes
from avatar.io.torch_file import load_torch_file


class Distributed:
    def __init__(self, device: torch.device):
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.device = device
        if self.world > 1 and not dist.is_initialized():
            if device.type == "cuda":
                local = int(os.environ.get("LOCAL_RANK", "0"))
                torch.cuda.set_device(local)
                self.device = torch.device("cuda", local)
            dist.init_process_group("nccl" if device.type == "cuda" else "gloo")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def wrap(self, model: nn.Module) -> nn.Module:
        if self.world == 1:
            return model
        from torch.nn.parallel import DistributedDataParallel

        ids = [self.device.index] if self.device.type == "cuda" else None
        return DistributedDataParallel(model, device_ids=ids)

    def share(self, items: list) -> list:
        """This rank's items of a list every rank built identically (equal counts for every rank)."""
        if self.world == 1:
            return items
        per = len(items) // self.world
        return items[self.rank * per : (self.rank + 1) * per]

    def mean(self, value: float) -> float:
        if self.world == 1:
            return value
        t = torch.tensor([value], dtype=torch.float64, device=self.device)
        dist.all_reduce(t)
        return float(t) / self.world

    def barrier(self) -> None:
        if self.world > 1:
            dist.barrier()

    def close(self) -> None:
        """Leave the process group once every rank is done.

        Drop the DistributedDataParallel wrapper first: it holds the group, and a gloo group
        that outlives destroy_process_group can abort the process at interpreter exit.
        """
        if self.world > 1 and dist.is_initialized():
            gc.collect()
            dist.barrier()
            dist.destroy_process_group()


def unwrap(model: nn.Module) -> nn.Module:
    return model.module if hasattr(model, "module") else model


def save_state(path: Path, **state) -> None:
    """Write a resumable training state (tensors, state dicts, plain values) atomically."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def load_state(path: Path) -> dict:
    if not path.is_file():
        raise L2TError(f"--resume: no training state at {path}")
    return load_torch_file(path, "training state")


class LossLog:
    def __init__(self, path: Path, resume: bool):
        self.path = path
        if not resume and path.exists():
            path.unlink()

    def write(self, row: dict) -> None:
        with open(self.path, "a") as f:
            f.write(json.dumps(row) + "\n")


def prepare_out_dir(out: str | Path, resume: bool, create: bool = True) -> Path:
    """The checkpoint folder: refused if it is a file, or already holds a run and --resume is not given;
    created unless `create` is False (check before loading data, create once it loaded)."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise L2TError(f"--out {out} is a file; give a folder for checkpoints")
    if (out / "last.pt").exists() and not resume:
        raise L2TError(f"{out} already holds a training run; add --resume to continue it or choose another --out")
    if create:
        out.mkdir(parents=True, exist_ok=True)
    return out
