"""Choosing the torch device: CUDA when available, CPU otherwise."""

from __future__ import annotations

import sys
import threading

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


class CudaWarmUp:
    """Creates the CUDA context and loads gsplat's kernels on a thread, so that a command's CPU
    work (decoding, loading files, a CPU model) overlaps them; wait() before the first CUDA use."""

    def __init__(self, device: torch.device):
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(device,), daemon=True) if device.type == "cuda" else None
        if self.thread is not None:
            self.thread.start()

    def _run(self, device: torch.device) -> None:
        try:
            from avatar.render.gsplat_kernels import ensure_kernels

            torch.empty(1, device=device)
            ensure_kernels(log=lambda note: print(note, file=sys.stderr, flush=True))
        except BaseException as exc:  # re-raised by wait() in the caller's thread
            self.error = exc

    def wait(self) -> None:
        if self.thread is not None:
            self.thread.join()
            self.thread = None
        if self.error is not None:
            raise self.error


def start_cuda_warm_up(device: torch.device) -> CudaWarmUp:
    """Start warming CUDA up for `device` (nothing to do on the CPU); see CudaWarmUp."""
    return CudaWarmUp(device)
