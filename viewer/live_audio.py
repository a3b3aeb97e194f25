"""Audio as it arrives over a socket: 16-bit PCM chunks (or a WAV stream) at any rate -> 16 kHz float.

A program may push raw little-endian 16-bit mono PCM at the rate it names, or the bytes of a
WAV file (its header in the first message says rate, channels and sample width). Chunks may
split samples anywhere; ``PcmDecoder`` keeps the odd byte. ``StreamResampler`` turns any rate
into the 16 kHz Audio2Mesh hears, chunk by chunk, with the same result as one pass (a
windowed-sinc interpolator whose look-ahead is about 1 ms).
"""

from __future__ import annotations

import math
import struct

import numpy as np

from avatar.errors import L2TError
from avatar.io.audio import SPEECH_RATE

MIN_RATE, MAX_RATE = 8000, 96000


def check_rate(rate: int) -> int:
    if not MIN_RATE <= rate <= MAX_RATE:
        raise L2TError(f"sample rate {rate} Hz: give {MIN_RATE}..{MAX_RATE} Hz")
    return int(rate)


class StreamResampler:
    """Mono float chunks at ``rate_from`` in, 16 kHz out; outputs wait for ``HALF`` taps of future input."""

    HALF = 16  # filter taps on each side, counted at the lower of the two rates

    def __init__(self, rate_from: int, rate_to: int = SPEECH_RATE):
        self.step = rate_from / rate_to  # input samples per output sample
        self.cutoff = 0.95 * min(1.0, 1.0 / self.step)  # of the input's Nyquist frequency
        self.half = math.ceil(self.HALF / min(1.0, 1.0 / self.step))
        self.buffer = np.zeros(0, np.float32)
        self.buffer_start = 0  # input index of buffer[0]
        self.received = 0
        self.next_out = 0

    def _outputs_until(self, received: int) -> int:
        """Output samples whose every tap lies before input index ``received``."""
        return max(0, math.floor((received - self.half) / self.step) + 1)

    def push(self, audio: np.ndarray, final: bool = False) -> np.ndarray:
        """Add input samples; the 16 kHz samples that became final (all of them when ``final``)."""
        if self.step == 1.0:
            return np.asarray(audio, np.float32)
        self.buffer = np.concatenate([self.buffer, np.asarray(audio, np.float32)])
        self.received += len(audio)
        stop = math.ceil(self.received / self.step) if final else self._outputs_until(self.received)
        if stop <= self.next_out:
            return np.zeros(0, np.float32)
        pos = np.arange(self.next_out, stop) * self.step  # input positions of the outputs
        taps = np.floor(pos)[:, None].astype(np.int64) + np.arange(-self.half + 1, self.half + 1)[None]  # [N, 2H]
        dist = pos[:, None] - taps
        weights = self.cutoff * np.sinc(self.cutoff * dist) * (0.5 + 0.5 * np.cos(np.pi * dist / self.half))
        index = taps - self.buffer_start
        inside = (index >= 0) & (index < len(self.buffer))
        values = np.where(inside, self.buffer[np.clip(index, 0, max(0, len(self.buffer) - 1))], 0.0) if len(self.buffer) else 0.0
        out = (weights * values).sum(1).astype(np.float32)
        self.next_out = stop
        keep_from = max(self.buffer_start, math.floor(stop * self.step) - self.half)
        self.buffer = self.buffer[keep_from - self.buffer_start :]
        self.buffer_start = keep_from
        return out


class PcmDecoder:
    """Socket messages -> 16 kHz mono float32. ``rate``: that of raw PCM; a first message that is
    a WAV file's start brings its own. L2TError for anything else (8-bit, 24-bit, compressed...)."""

    def __init__(self, rate: int = SPEECH_RATE):
        self.rate, self.channels = check_rate(rate), 1
        self.resampler: StreamResampler | None = None
        self.pending = b""  # bytes of an incomplete sample frame
        self.started = False

    def _read_wav_header(self, data: bytes) -> bytes:
        if len(data) < 44 or data[8:12] != b"WAVE":
            raise L2TError("a WAV stream must start with its whole header (RIFF ... WAVE fmt ... data) in the first message")
        pos = 12
        while pos + 8 <= len(data):
            chunk, size = data[pos : pos + 4], struct.unpack("<I", data[pos + 4 : pos + 8])[0]
            if chunk == b"fmt ":
                fmt, channels, rate = struct.unpack("<HHI", data[pos + 8 : pos + 16])
                width = struct.unpack("<H", data[pos + 22 : pos + 24])[0]
                if fmt not in (1, 0xFFFE) or width != 16:
                    raise L2TError("WAV streams must be 16-bit PCM")
                self.rate, self.channels = check_rate(rate), max(1, channels)
            elif chunk == b"data":
                return data[pos + 8 :]
            pos += 8 + size + (size & 1)
        raise L2TError("the WAV header has no data chunk in the first message")

    def decode(self, data: bytes, final: bool = False) -> np.ndarray:
        """The 16 kHz samples of one message (``final``: the stream ends after it)."""
        if not self.started:
            self.started = True
            if data[:4] == b"RIFF":
                data = self._read_wav_header(data)
            if self.rate != SPEECH_RATE:
                self.resampler = StreamResampler(self.rate)
        data = self.pending + data
        frame = 2 * self.channels
        whole = len(data) - len(data) % frame
        self.pending = data[whole:]
        pcm = np.frombuffer(data[:whole], "<i2").astype(np.float32) / 32768.0
        if self.channels > 1:
            pcm = pcm.reshape(-1, self.channels).mean(1)
        return self.resampler.push(pcm, final) if self.resampler is not None else pcm
