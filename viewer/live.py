"""Live speech: audio that arrives while it is spoken drives the avatar within the live model's look-ahead.

``LiveVoice`` is one source of live audio (a tab's microphone, or a program pushing speech).
Chunks of 16 kHz audio go in as they arrive; every motion frame comes out as soon as no later
audio can change it (``audio2mesh`` streaming inference, normally with the "live" checkpoint:
72 ms look-ahead), and is kept in a short bounded buffer with the time its audio arrived.

Two ways to show a voice:
- as soon as possible (``delay=None``, the microphone): the newest final frame;
- in step with the page playing the same audio (``delay=D``, pushed speech): the page starts an
  utterance's audio D seconds after its first chunk, and so does the face. When audio comes
  slower than real time, both restart the clock at the late chunk (the page's player does the same).

``LiveLayer`` adds the idle layer to live frames: blinks and head sway always, and a listening
pose (mouth at rest, the head tilted a little) that fades in while the voice is silent.

Latency is measured per frame from the arrival of the audio at the frame's time to the
moment the tab sent that pose (``LiveVoice.shown``): look-ahead, waiting for the next
chunk, inference and posing together.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable

import numpy as np
import torch

from avatar.idle import BLINK_NAMES, add_idle
from avatar.io.audio import SPEECH_RATE

KEEP_SECONDS = 2.0  # motion kept per voice behind the frame shown
MAX_AHEAD_SECONDS = 120.0  # a delayed voice's audio not yet played; a pusher further ahead is refused
SILENCE_RMS = 0.01  # below this a 40 ms window is silence
LISTEN_AFTER = 0.6  # seconds of silence before the listening pose fades in
LISTEN_FADE = 0.4  # seconds the listening pose takes to fade in or out
LISTEN_TILT_DEGREES = (-3.0, 0.0, 4.0)  # pitch (down a little), yaw, roll of the listening pose
IDLE_LOOP_SECONDS = 60.0
LATENCY_WINDOW = 4000  # frames whose delay is kept for the figures


class LiveVoice:
    """Audio chunks in (any thread), final motion frames out, with per-frame arrival times.

    ``new_stream()`` gives a fresh ``audio2mesh.speech.SpeechStream`` (one per utterance)."""

    def __init__(
        self,
        new_stream: Callable[[], object],
        fps: float,
        delay: float | None = None,
        clock=time.monotonic,
        on_frames: Callable[[], None] | None = None,
    ):
        self.new_stream, self.fps, self.delay, self.clock = new_stream, float(fps), delay, clock
        self.on_frames = on_frames  # called when frames became final (a tab wakes its update loop)
        self.lock = threading.Lock()
        self.stream = None
        ahead = MAX_AHEAD_SECONDS + 1.0 if delay is not None else 0.0
        # (index, params, when its audio arrived), consecutive indices
        self.frames: deque[tuple[int, dict, float]] = deque(maxlen=int((KEEP_SECONDS + ahead) * fps) + 1)
        self.arrivals: deque[tuple[int, float]] = deque()  # (end sample of a chunk, when it arrived)
        self.received = 0  # samples of the current utterance
        self.start = 0.0  # server clock at which the utterance's sample 0 plays (delayed voices)
        self.utterance = 0
        self.last_voice = -math.inf  # server clock of the last chunk with voice in it
        self.last_audio = -math.inf
        self.latencies: deque[float] = deque(maxlen=LATENCY_WINDOW)  # audio arrived -> pose sent, per frame
        self.ready: deque[float] = deque(maxlen=LATENCY_WINDOW)  # audio arrived -> frame final, per frame
        self.shown_index = (-1, -1)  # (utterance, frame) last shown
        self.utterance_frames = 0
        self.last_utterance = (0, 0.0)  # (frames, seconds) of the utterance that ended last
        self.stopped = False  # its source was switched off (the tab's "Stop mic"): the socket is closed

    # ------------------------------------------------------------ audio in
    def push(self, audio: np.ndarray) -> int:
        """Add 16 kHz mono samples (arrived now); returns how many frames became final."""
        now = self.clock()
        audio = np.asarray(audio, np.float32)
        with self.lock:
            if self.stream is None:
                self.stream, self.received, self.utterance = self.new_stream(), 0, self.utterance + 1
                self.utterance_frames = 0
                self.frames.clear()
                self.arrivals.clear()
                self.start = now + (self.delay or 0.0)
            elif self.delay is not None and now > self.start + self.received / SPEECH_RATE:
                self.start = now + self.delay - self.received / SPEECH_RATE  # ran dry: the page restarts its clock too
            self.received += len(audio)
            self.arrivals.append((self.received, now))
            self.last_audio = now
            if len(audio) and float(np.sqrt(np.mean(audio.astype(np.float64) ** 2))) > SILENCE_RMS:
                # when the voice was last heard: now, or for a delayed voice when the page plays this chunk's end
                self.last_voice = now if self.delay is None else self.start + self.received / SPEECH_RATE
            stream = self.stream
        motion = stream.push(audio)  # outside the lock: inference while the tab keeps drawing
        return self._keep(motion, stream)

    def end(self) -> int:
        """The utterance is over: its last frames become final; the next audio starts a new one.
        Returns the utterance's frames (0: none was open)."""
        with self.lock:
            stream, self.stream = self.stream, None
        if stream is None:
            return 0
        self._keep(stream.flush(), stream, final=True)
        with self.lock:
            self.last_utterance = (self.utterance_frames, self.received / SPEECH_RATE)
            return self.utterance_frames

    def _keep(self, motion, stream, final: bool = False) -> int:
        count = motion.num_frames
        if count == 0:
            return 0
        with self.lock:
            if stream is not self.stream and not final:
                return 0  # the utterance ended meanwhile
            now = self.clock()
            first = self.utterance_frames
            for i in range(count):
                index = first + i
                arrived = self._arrival(int(index / self.fps * SPEECH_RATE))
                self.frames.append((index, {k: v[i] for k, v in motion.params.items()}, arrived))
                self.ready.append(now - arrived)
            self.utterance_frames += count
            while len(self.arrivals) > 1 and self.arrivals[1][0] <= self.frames[0][0] / self.fps * SPEECH_RATE:
                self.arrivals.popleft()
        if self.on_frames is not None:
            self.on_frames()
        return count

    def _arrival(self, sample: int) -> float:
        """When the chunk holding ``sample`` arrived."""
        for end, when in self.arrivals:
            if sample < end:
                return when
        return self.arrivals[-1][1] if self.arrivals else self.clock()

    # ------------------------------------------------------------ motion out
    def frame_now(self) -> tuple[tuple[int, int], dict] | None:
        """((utterance, frame index), jaw/expression) to show now, or None before any frame."""
        with self.lock:
            if not self.frames:
                return None
            index, params, _ = self.frames[-1]
            if self.delay is not None:  # the frame the page is playing, or the newest one when it is not final yet
                want = math.floor((self.clock() - self.start) * self.fps) - self.frames[0][0]
                index, params, _ = self.frames[min(max(want, 0), len(self.frames) - 1)]
            return (self.utterance, index), params

    def ahead_seconds(self) -> float:
        """Seconds of a delayed voice's audio that the page has not played yet (0 for immediate voices)."""
        with self.lock:
            if self.delay is None or self.stream is None:
                return 0.0
            return max(0.0, self.start + self.received / SPEECH_RATE - self.clock())

    def shown(self, key: tuple[int, int], when: float) -> None:
        """The tab sent frame ``key`` at ``when``: record its delay (once per frame, skipped frames too)."""
        with self.lock:
            if key[0] != self.utterance or key <= self.shown_index:
                return
            last = self.shown_index[1] if self.shown_index[0] == key[0] else -1
            for index, _, arrived in self.frames:
                if last < index <= key[1]:
                    self.latencies.append(when - arrived)
            self.shown_index = key

    def silent_for(self) -> float:
        """Seconds since the voice was last heard (negative: a delayed voice's voiced audio is still to play; inf: never)."""
        return self.clock() - self.last_voice

    def latency_ms(self, kind: str = "shown") -> dict[str, float] | None:
        """p50/p95 in ms of the recent frames' delays from their audio's arrival: to the pose sent
        (``shown``) or to the frame being final (``ready``)."""
        with self.lock:
            values = np.asarray(self.latencies if kind == "shown" else self.ready) * 1000.0
        if not len(values):
            return None
        return {"p50": float(np.percentile(values, 50)), "p95": float(np.percentile(values, 95)), "frames": int(len(values))}


class LiveLayer:
    """Blinks, head sway and the listening pose around live frames (closed-form in time, looped)."""

    def __init__(self, fps: float, expression_names: list[str], seed: int, clock=time.monotonic):
        frames = int(IDLE_LOOP_SECONDS * fps)
        rest = {"jaw": torch.zeros(frames, 3), "expression": torch.zeros(frames, len(expression_names))}
        idle = add_idle(rest, fps, expression_names, seed)
        self.rotation, self.blinks = idle["rotation"], idle["expression"]
        self.blink_index = [expression_names.index(n) for n in BLINK_NAMES if n in expression_names]
        self.fps, self.clock, self.t0 = fps, clock, clock()
        self.listening, self.last = 1.0, clock()
        self.tilt = torch.tensor([math.radians(d) for d in LISTEN_TILT_DEGREES])

    def compose(self, spoken: dict | None, silent_for: float, idle: bool) -> dict[str, torch.Tensor]:
        """The pose now: live jaw/expression (None: at rest), the idle layer and the listening pose."""
        now = self.clock()
        target = 1.0 if spoken is None or silent_for > LISTEN_AFTER else 0.0
        step = (now - self.last) / LISTEN_FADE
        self.listening = min(target, self.listening + step) if target > self.listening else max(target, self.listening - step)
        self.last = now
        w = 0.5 - 0.5 * math.cos(math.pi * self.listening)  # eased
        jaw = spoken["jaw"] * (1 - w) if spoken is not None else torch.zeros(3)
        expression = spoken["expression"] * (1 - w) if spoken is not None else torch.zeros(self.blinks.shape[1])
        rotation = self.tilt * w
        if idle:
            i = int((now - self.t0) * self.fps) % self.rotation.shape[0]
            rotation = rotation + self.rotation[i]
            expression = expression.clone()
            for k in self.blink_index:
                expression[k] = torch.maximum(expression[k], self.blinks[i, k])
        return {"jaw": jaw, "expression": expression, "rotation": rotation}


class LiveHub:
    """Pushed speech, shared by every tab: one voice per pushing connection (the latest to speak is
    shown), and the pages' players that get its audio."""

    ACTIVE_AFTER = 1.0  # seconds a pushed voice stays on screen after its audio has played

    def __init__(self, new_voice: Callable[[], LiveVoice]):
        self.new_voice = new_voice
        self.lock = threading.Lock()
        self.voices: list[LiveVoice] = []
        self.players: dict[int, Callable[[bytes | None], None]] = {}  # tab -> send(message; None: close)

    def open_push(self) -> LiveVoice:
        """A program starts pushing: its own voice (so closing it ends only its stream)."""
        voice = self.new_voice()
        with self.lock:
            self.voices.append(voice)
        return voice

    def close_push(self, voice: LiveVoice) -> None:
        with self.lock:
            if voice in self.voices:
                self.voices.remove(voice)

    def current(self) -> LiveVoice | None:
        """The pushed voice to show now: the latest to receive audio, while its audio still plays."""
        with self.lock:
            voices = list(self.voices)
        active = [v for v in voices if v.clock() < v.start + v.received / SPEECH_RATE + self.ACTIVE_AFTER]
        return max(active, key=lambda v: v.last_audio) if active else None

    def add_player(self, tab: int, send: Callable[[bytes | None], None]) -> None:
        with self.lock:
            old = self.players.get(tab)
            self.players[tab] = send
        if old is not None:
            old(None)

    def remove_player(self, tab: int, send=None) -> None:
        """Forget a tab's player (``send``: only if it is still that one) and close its socket."""
        with self.lock:
            if send is not None and self.players.get(tab) is not send:
                return
            old = self.players.pop(tab, None)
        if old is not None and send is None:
            old(None)

    def play(self, audio: np.ndarray, starts_utterance: bool) -> None:
        """Send 16 kHz audio to every page's player: 1 byte (1: an utterance starts) + int16 PCM."""
        pcm = (np.clip(audio, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()
        message = bytes([1 if starts_utterance else 0]) + pcm
        with self.lock:
            players = list(self.players.values())
        for send in players:
            send(message)
