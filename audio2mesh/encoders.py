"""What Audio2Mesh hears: log-mel (built in) or a pretrained speech encoder the user has on disk.

``--audio-encoder PATH`` takes a local ``transformers`` folder of wav2vec2, HuBERT or WavLM
(``config.json`` + weights). Nothing is downloaded: a missing or foreign folder is an error.
Pretrained encoders attend over the whole input, so long audio goes through them in 20 s
windows overlapping by 2 s (each frame taken from the window where it is most central).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from avatar.errors import L2TError
from avatar.io.audio import SPEECH_RATE
from sync_expert.features import MEL_RATE, N_MELS, speech_features

ENCODER_RATE = 50  # frames per second of wav2vec2/HuBERT/WavLM (20 ms stride)
SUPPORTED = ("wav2vec2", "hubert", "wavlm")
WINDOW_SECONDS, OVERLAP_SECONDS = 20.0, 2.0


class MelFrontEnd:
    """Normalised log-mel at 100 Hz (sync_expert.features)."""

    rate, dim, name = float(MEL_RATE), N_MELS, None

    def __init__(self, device="cpu"):
        self.device = device

    def __call__(self, audio: np.ndarray) -> torch.Tensor:
        return speech_features(audio, self.device)


class PretrainedEncoder:
    """A local wav2vec2 / HuBERT / WavLM model's last hidden states at 50 Hz."""

    rate = float(ENCODER_RATE)

    def __init__(self, path: str | Path, device="cpu"):
        path = Path(path)
        if not (path / "config.json").is_file():
            raise L2TError(
                f"--audio-encoder {path}: not a local transformers model folder (no config.json); "
                f"download wav2vec2/HuBERT/WavLM weights yourself and give their folder"
            )
        from transformers import AutoConfig, AutoModel

        try:
            config = AutoConfig.from_pretrained(path, local_files_only=True)
            if config.model_type not in SUPPORTED:
                raise L2TError(f"--audio-encoder {path} is a {config.model_type} model; expected one of {', '.join(SUPPORTED)}")
            self.model = AutoModel.from_pretrained(path, local_files_only=True).to(device).eval()
        except L2TError:
            raise
        except Exception as exc:
            raise L2TError(f"cannot load the audio encoder in {path}: {str(exc).splitlines()[0][:200]}") from None
        self.path, self.device, self.dim, self.name = path, device, int(config.hidden_size), config.model_type

    @torch.no_grad()
    def _run(self, audio: np.ndarray) -> torch.Tensor:
        wave = torch.as_tensor(audio, dtype=torch.float32, device=self.device)
        wave = (wave - wave.mean()) / (wave.std() + 1e-7)
        return self.model(wave[None]).last_hidden_state[0].float()

    def __call__(self, audio: np.ndarray) -> torch.Tensor:
        """Hidden states [F, dim], frame j at j / 50 s."""
        total = len(audio) // (SPEECH_RATE // ENCODER_RATE)
        window, overlap = int(WINDOW_SECONDS * SPEECH_RATE), int(OVERLAP_SECONDS * SPEECH_RATE)
        if len(audio) <= window:
            return _fit_length(self._run(audio), total)
        parts, step, hop = [], window - overlap, SPEECH_RATE // ENCODER_RATE
        for start in range(0, len(audio), step):
            feats = self._run(audio[start : start + window])
            keep_from = 0 if start == 0 else (overlap // 2) // hop
            keep_to = feats.shape[0] if start + window >= len(audio) else (window - overlap // 2) // hop
            parts.append(feats[keep_from:keep_to])
            if start + window >= len(audio):
                break
        return _fit_length(torch.cat(parts), total)


def _fit_length(feats: torch.Tensor, total: int) -> torch.Tensor:
    if feats.shape[0] >= total:
        return feats[: max(total, 1)]
    return torch.cat([feats, feats[-1:].expand(total - feats.shape[0], -1)])


def front_end(encoder_path: str | Path | None, device="cpu"):
    """The feature extractor: log-mel, or the pretrained encoder in ``encoder_path``."""
    return PretrainedEncoder(encoder_path, device) if encoder_path else MelFrontEnd(device)


def check_front_end(meta: dict, front) -> None:
    """A checkpoint trained on one kind of features cannot run on another."""
    wanted = meta.get("audio_encoder")
    if wanted and front.name is None:
        raise L2TError(f"this checkpoint was trained on a {wanted} encoder; give its folder with --audio-encoder")
    if not wanted and front.name is not None:
        raise L2TError("this checkpoint was trained on log-mel features; drop --audio-encoder")
