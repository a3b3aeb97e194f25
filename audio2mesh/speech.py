"""The speech API: a speech file in, rig motion out, offline or streaming.

    speaker = Speaker.load()                        # the shipped checkpoint, on the CPU
    audio = load_speech("talk.wav", 1 / 25)         # 16 kHz mono; L2TError for bad files
    motion = speaker.motion(audio, 25.0, rig.data.expression_names, rig.data.name)
    stream = speaker.stream(25.0, rig.data.expression_names, rig.data.name)
    frames = stream.push(chunk)                     # a Motion of the frames that became final

`speak`, the viewer and the evaluation commands all come through here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from avatar.errors import L2TError
from avatar.io.audio import SPEECH_RATE
from avatar.motion import Motion
from sync_expert.targets import ParamSpace


def load_speech(path: str | Path, min_seconds: float, max_seconds: float | None = None) -> np.ndarray:
    """Audio of a speech file at 16 kHz, mono float32; L2TError if it is missing, unreadable,
    shorter than `min_seconds`, longer than `max_seconds` (default: avatar.checks.MAX_AUDIO_SECONDS) or silent."""
    from avatar.checks import MAX_AUDIO_SECONDS
    from avatar.io.audio import read_audio

    audio = read_audio(path, max_seconds=MAX_AUDIO_SECONDS if max_seconds is None else max_seconds)
    if len(audio) == 0:
        raise L2TError(f"{path} holds no audio")
    if len(audio) < min_seconds * SPEECH_RATE:
        raise L2TError(f"{path} is {len(audio) / SPEECH_RATE:.3f} s long, shorter than one frame ({min_seconds:.3f} s)")
    if float(np.abs(audio).max()) < 1e-4:
        raise L2TError(f"{path} is silent")
    return audio


def speech_alignment(audio: np.ndarray, transcript: str | None, log):
    """Phones for a clip: forced alignment of the transcript; without one (or when it does not
    align), the recognised words force-aligned, and phone recognition only when no word is heard
    (what happened is said in ``log``). Recognised words find real bilabials about twice as
    reliably as phone recognition (README, "How far to trust the reference")."""
    from audio2mesh.data import align

    if transcript:
        alignment = align.force_align(audio, transcript)
        if alignment is not None:
            return alignment
        unknown = align.unknown_words(align.normalise_transcript(transcript))
        reason = f"words not in the dictionary: {' '.join(unknown)}" if unknown else "the transcript did not align"
        log(f"note: {reason}; using speech recognition instead")
    else:
        log("note: no transcript; phones come from speech recognition (give --transcript for better timing)")
    alignment = align.word_alignment(audio)
    if alignment is not None:
        return alignment
    log("note: no words recognised; phones come from phone recognition")
    return align.recognize_phones(audio)


def expression_map(model_names: list[str], rig_names: list[str], rig_label: str) -> torch.Tensor:
    """Rig expression index of each model output; the model must speak the rig's expressions."""
    missing = [n for n in model_names if n not in rig_names]
    if missing:
        raise L2TError(
            f"this Audio2Mesh checkpoint drives expressions the rig {rig_label} lacks "
            f"({', '.join(missing[:4])}{'...' if len(missing) > 4 else ''}); train one on data of this rig"
        )
    return torch.tensor([rig_names.index(n) for n in model_names])


def _rig_motion(params: torch.Tensor, index: torch.Tensor, num_expressions: int, fps: float) -> Motion:
    """Model outputs [T, 3 + E'] (jaw axis-angle, then expressions) as a Motion of the rig."""
    spoken, jaw = ParamSpace.split(params.detach().float().cpu())
    expression = torch.zeros(len(spoken), num_expressions)
    expression[:, index] = spoken
    return Motion({"expression": expression, "jaw": jaw}, fps=fps)


@dataclass
class Speaker:
    """Audio2Mesh with its audio front-end (log-mel, or a local wav2vec2/HuBERT/WavLM folder) and,
    for a checkpoint with a calibrated closure head, the lip closer (``audio2mesh.lip_closure``)."""

    model: torch.nn.Module
    meta: dict
    front: object
    device: torch.device
    closer: object = None  # LipCloser | None; ``close_lips=False`` at load leaves it out

    @classmethod
    def load(
        cls, checkpoint: str | Path | None = None, audio_encoder: str | Path | None = None, device="cpu", close_lips: bool = True
    ) -> Speaker:
        """The checkpoint (None: the shipped one) and the front-end it was trained on; L2TError on any mismatch.
        ``close_lips=False`` gives the regression alone, without the closure head's gate."""
        from audio2mesh.checkpoint import load_model
        from audio2mesh.encoders import check_front_end, front_end
        from audio2mesh.lip_closure import LipCloser

        device = torch.device(device)
        model, meta = load_model(checkpoint, "audio2mesh", device)
        front = front_end(audio_encoder, device)
        check_front_end(meta, front)
        return cls(model, meta, front, device, LipCloser.for_checkpoint(model, meta) if close_lips else None)

    def _closed(self, out) -> torch.Tensor:
        """The model's params [T, P], with the lips closed where the closure head hears a bilabial."""
        if self.closer is None or out.closure is None:
            return out.params
        return self.closer(out.params, out.closure)

    @property
    def expression_names(self) -> list[str]:
        return list(self.meta["expression_names"])

    def motion(self, audio: np.ndarray, fps: float, rig_names: list[str], rig_label: str) -> Motion:
        """Jaw and expression for every frame of ``audio`` (16 kHz mono): duration x fps frames."""
        from audio2mesh.inference import predict
        from avatar.motion import frames_for

        index = expression_map(self.expression_names, rig_names, rig_label)
        num_frames = frames_for(len(audio) / SPEECH_RATE, fps)
        params = self._closed(predict(self.model, self.front(audio), fps, num_frames))
        return _rig_motion(params, index, len(rig_names), fps)

    def stream(self, fps: float, rig_names: list[str], rig_label: str) -> SpeechStream:
        """Streaming inference: push audio as it arrives, get the frames that became final."""
        from audio2mesh.inference import StreamingPredictor

        if self.front.name is not None:
            raise L2TError("streaming needs a log-mel checkpoint; this one reads a pretrained encoder's features")
        index = expression_map(self.expression_names, rig_names, rig_label)
        return SpeechStream(StreamingPredictor(self.model, fps, device=self.device), self._closed, index, len(rig_names), fps)


class SpeechStream:
    """Audio chunks in, rig motion out: each push returns the frames no later audio can change."""

    def __init__(self, predictor, finish, index: torch.Tensor, num_expressions: int, fps: float):
        self.predictor, self.finish, self.index, self.num_expressions, self.fps = predictor, finish, index, num_expressions, fps

    @property
    def lookahead_seconds(self) -> float:
        """How far behind the audio the motion is final."""
        return self.predictor.lookahead_seconds

    def push(self, audio: np.ndarray) -> Motion:
        """Add mono 16 kHz samples; a Motion of the frames that became final (possibly none)."""
        return _rig_motion(self.finish(self.predictor.push(audio)), self.index, self.num_expressions, self.fps)

    def flush(self) -> Motion:
        """The audio has ended: the remaining frames."""
        return _rig_motion(self.finish(self.predictor.flush()), self.index, self.num_expressions, self.fps)
