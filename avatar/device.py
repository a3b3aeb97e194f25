"""Choosing the torch device: CUDA when available, CPU otherwise."""

from __future__ import annotations

import torch

from avatar.errors import L2TError


def resolve_device(name: str | None = None) -> torch.device:
    """Map 'auto'/None, 'cpu', 'cuda' or 'cuda:N' to a usable torch.device."""
    if name in (None, "", "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise L2TError(f"--device {name} asked for, but CUDA is not available on this machine")
    try:
        return torch.device(name)
    except RuntimeError as exc:
        raise L2TError(f"unknown device {name!r} (use cpu, cuda or cuda:N)") from exc
