"""Running Audio2Mesh on clips of any length, offline in chunks or streaming.

Offline (``predict``): the clip's features are cut into chunks of hidden frames; each chunk is
run with enough context on both sides (the model's bounded receptive field) that its core
frames equal a single pass over the whole clip. Memory is bounded by the chunk, not the clip.

Streaming (``StreamingPredictor``): push audio as it arrives (e.g. 100 ms chunks) and get back
the frames whose inputs are complete. A frame at time t is emitted once audio up to
t + ``lookahead_seconds`` has arrived (the student: 0.29 s, the live model: 0.07 s); with the same normalisation
statistics the streamed frames equal the offline ones. Without given statistics the stream
normalises with running statistics of what it has heard so far.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from audio2mesh.model import Audio2Mesh, Audio2MeshOutput
from avatar.io.audio import SPEECH_RATE
from avatar.motion import frames_for
from sync_expert.features import HOP, MEL_RATE, NormStats, RunningNorm, log_mel, normalise

CHUNK_SECONDS = 20.0
WINDOW_HALF = 200  # samples each side of a mel frame's centre (25 ms Hann window)


@torch.no_grad()
def predict(
    model: Audio2Mesh,
    features: torch.Tensor,
    fps: float,
    num_frames: int,
    start_frame: int = 0,
    chunk_seconds: float = CHUNK_SECONDS,
    with_offsets: bool = False,
) -> Audio2MeshOutput:
    """Frames ``start_frame .. start_frame + num_frames`` at ``fps`` from features [F, D] of a whole clip.

    Returns unbatched tensors: params [T, P], offsets [T, V, 3] (if asked), hidden [T, C], and
    closure logits [T] when the model has a closure head.
    """
    cfg = model.cfg
    total_hidden = model.num_hidden(features.shape[0])
    positions = model.frame_positions(num_frames, fps, start_frame, device=features.device)
    base = positions.floor().long().clamp(0, total_hidden - 1)
    left, right = cfg.context
    chunk = max(1, int(chunk_seconds * cfg.hidden_rate))
    outs: list[Audio2MeshOutput] = []
    first, last = int(base[0]), int(base[-1])
    for a in range(first - first % chunk, last + 1, chunk):
        sel = (base >= a) & (base < a + chunk)
        if not bool(sel.any()):
            continue
        lo, hi = max(0, a - left), min(total_hidden, a + chunk + right)
        feats = features[lo * cfg.stride : min(features.shape[0], hi * cfg.stride)]
        hidden = model.encode(feats[None])
        outs.append(model.decode(hidden, positions[sel] - lo, with_offsets))
    return Audio2MeshOutput(
        torch.cat([o.params for o in outs], 1)[0],
        torch.cat([o.offsets for o in outs], 1)[0] if with_offsets else None,
        torch.cat([o.hidden for o in outs], 1)[0],
        torch.cat([o.closure for o in outs], 1)[0] if outs[0].closure is not None else None,
    )


class StreamingPredictor:
    """Audio chunks in, final rig-parameter frames out (log-mel models only)."""

    def __init__(self, model: Audio2Mesh, fps: float, stats: NormStats | None = None, device="cpu"):
        if model.cfg.input_rate != MEL_RATE:
            raise ValueError("streaming needs a log-mel model")
        self.model, self.fps, self.device = model, float(fps), device
        self.stats, self.running = stats, RunningNorm() if stats is None else None
        self.buffer = np.zeros(0, np.float32)
        self.buffer_start = 0  # global sample index of buffer[0]
        self.received = 0
        self.next_frame = 0
        self.normed_mel = 0  # mel frames already counted in the running statistics

    @property
    def lookahead_seconds(self) -> float:
        return self.model.cfg.lookahead_seconds(WINDOW_HALF / SPEECH_RATE)

    def _final_hidden(self) -> int:
        """Leading hidden frames that no future audio can change."""
        exact_mel = (self.received - WINDOW_HALF) // HOP + 1 if self.received >= WINDOW_HALF else 0
        conv_exact = (exact_mel - 3) // 2 + 1 if exact_mel >= 3 else 0
        return conv_exact - self.model.cfg.future_frames

    def push(self, audio: np.ndarray) -> Audio2MeshOutput:
        """Add mono 16 kHz samples; the outputs (unbatched, as ``predict``'s: params [n, P], hidden,
        closure logits) of the frames that became final (n may be 0)."""
        self.buffer = np.concatenate([self.buffer, np.asarray(audio, np.float32)])
        self.received += len(audio)
        final = self._final_hidden()
        scale = self.model.cfg.hidden_rate / self.fps
        stop = self.next_frame
        while math.floor(stop * scale) <= final - 2:
            stop += 1
        return self._emit(stop, at_end=False)

    def flush(self) -> Audio2MeshOutput:
        """The audio has ended: the remaining frames (duration x fps in all)."""
        return self._emit(frames_for(self.received / SPEECH_RATE, self.fps), at_end=True)

    def _emit(self, stop: int, at_end: bool) -> Audio2MeshOutput:
        cfg = self.model.cfg
        count = stop - self.next_frame
        if count <= 0:
            return Audio2MeshOutput(
                torch.zeros(0, cfg.num_params), None, torch.zeros(0, cfg.width), torch.zeros(0) if cfg.closure_head else None
            )
        first_hidden = math.floor(self.next_frame * cfg.hidden_rate / self.fps)
        lo = max(0, first_hidden - cfg.context[0])
        mel_from = min(2 * lo, self.normed_mel) if self.running is not None else 2 * lo
        start = max(0, (mel_from - 4) * HOP)  # whole windows for every mel frame kept
        raw = log_mel(self.buffer[start - self.buffer_start :], self.device)
        offset = start // HOP  # global index of raw[0]
        if self.running is not None:
            exact = raw.shape[0] if at_end else max(0, (self.received - WINDOW_HALF) // HOP + 1 - offset)
            new = raw[self.normed_mel - offset : exact]
            if new.numel():
                self.stats = self.running.update(new)
                self.normed_mel += new.shape[0]
        feats = normalise(raw[2 * lo - offset :], self.stats)
        hidden = self.model.encode(feats[None])
        positions = self.model.frame_positions(count, self.fps, self.next_frame, device=feats.device) - lo
        out = self.model.decode(hidden, positions, with_offsets=False)
        self.next_frame = stop
        keep_from = max(0, (2 * (math.floor(stop * cfg.hidden_rate / self.fps) - cfg.context[0]) - 4) * HOP)
        if self.running is not None:  # frames not yet in the running statistics are kept too
            keep_from = min(keep_from, max(0, (self.normed_mel - 4) * HOP))
        if keep_from > self.buffer_start:
            self.buffer = self.buffer[keep_from - self.buffer_start :]
            self.buffer_start = keep_from
        return Audio2MeshOutput(out.params[0], None, out.hidden[0], out.closure[0] if out.closure is not None else None)
