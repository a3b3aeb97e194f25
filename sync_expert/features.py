"""Audio front-end: 16 kHz mono speech -> normalised log-mel frames at 100 Hz.

Frame j is centred on j * 10 ms (torchaudio's centred STFT, 25 ms Hann window, 80 mel bands
from 40 Hz to 7.6 kHz). Per-utterance normalisation subtracts the utterance's mean log-mel and
divides by its standard deviation (two scalars over all bands and frames), so loudness and
microphone gain drop out while the spectral shape stays. Streaming uses running statistics
(``RunningNorm``) in place of the whole utterance's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from avatar.io.audio import SPEECH_RATE

MEL_RATE = 100  # feature frames per second
HOP = SPEECH_RATE // MEL_RATE
N_MELS = 80
N_FFT = 512
WIN = 400
LOG_FLOOR = 1e-5
MIN_STD = 0.5  # a near-silent utterance keeps a sane scale


@dataclass(frozen=True)
class NormStats:
    """Mean and standard deviation of an utterance's log-mel (scalars)."""

    mean: float
    std: float

    @classmethod
    def of(cls, logmel: torch.Tensor) -> NormStats:
        return cls(float(logmel.mean()), max(float(logmel.std()), MIN_STD) if logmel.numel() > 1 else 1.0)


_MEL_CACHE: dict[str, torch.nn.Module] = {}


def _mel_module(device: torch.device) -> torch.nn.Module:
    key = str(device)
    if key not in _MEL_CACHE:
        import torchaudio

        _MEL_CACHE[key] = torchaudio.transforms.MelSpectrogram(
            sample_rate=SPEECH_RATE,
            n_fft=N_FFT,
            win_length=WIN,
            hop_length=HOP,
            f_min=40.0,
            f_max=7600.0,
            n_mels=N_MELS,
            power=2.0,
            center=True,
            pad_mode="constant",
            norm="slaney",
            mel_scale="slaney",
        ).to(device)
    return _MEL_CACHE[key]


def num_mel_frames(num_samples: int) -> int:
    return num_samples // HOP + 1


def log_mel(audio: np.ndarray | torch.Tensor, device="cpu") -> torch.Tensor:
    """Raw log-mel [F, 80] (natural log of power, floored) of 16 kHz mono audio [N]."""
    wave = torch.as_tensor(np.asarray(audio, np.float32) if not torch.is_tensor(audio) else audio, dtype=torch.float32)
    wave = wave.to(device)
    with torch.no_grad():
        mel = _mel_module(wave.device)(wave)  # [80, F]
    return torch.log(mel + LOG_FLOOR).T.contiguous()


def normalise(logmel: torch.Tensor, stats: NormStats | None = None) -> torch.Tensor:
    """Per-utterance normalisation (the utterance's own statistics unless ``stats`` is given)."""
    stats = stats or NormStats.of(logmel)
    return (logmel - stats.mean) / stats.std


def speech_features(audio: np.ndarray | torch.Tensor, device="cpu") -> torch.Tensor:
    """Normalised log-mel [F, 80] of 16 kHz mono audio: the input of Audio2Mesh and SyncNet3D."""
    return normalise(log_mel(audio, device))


class RunningNorm:
    """Normalisation statistics accumulated over the log-mel frames seen so far (streaming)."""

    def __init__(self):
        self.count, self.total, self.total_sq = 0, 0.0, 0.0

    def update(self, logmel: torch.Tensor) -> NormStats:
        self.count += logmel.numel()
        self.total += float(logmel.sum())
        self.total_sq += float((logmel.double() ** 2).sum())
        mean = self.total / self.count
        var = max(self.total_sq / self.count - mean * mean, 0.0)
        return NormStats(mean, max(var**0.5, MIN_STD))


def quantise(features: torch.Tensor) -> np.ndarray:
    """Normalised features -> uint8 (range -4..3.97, step 1/32): a compact training cache."""
    return np.clip(np.round((features.numpy() + 4.0) * 32.0), 0, 255).astype(np.uint8)


def dequantise(codes: np.ndarray | torch.Tensor, noise: torch.Generator | None = None) -> torch.Tensor:
    """uint8 codes -> float features; with a generator, uniform noise of one step fills the grid.
    Float arrays (pretrained-encoder features) pass through unchanged."""
    if codes.dtype != np.uint8 and codes.dtype != torch.uint8:
        return torch.as_tensor(codes).float()
    x = torch.as_tensor(codes).float()
    if noise is not None:
        x = x + torch.rand(x.shape, generator=noise) - 0.5
    return x / 32.0 - 4.0
