"""The playhead of an animation: play, pause, seek, loop, speed.

Two clocks drive it. Without audio the server's monotonic clock does. With audio the browser's
<audio> element is the master: it reports its currentTime, and between reports the playhead
runs on from the last one at the playback speed, so the frame shown follows the sound. At the
end of a loop the playhead waits for the audio to come round (a browser may take a moment to
restart it) rather than running ahead on its own.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

AUDIO_LOOP_WAIT = 1.5  # seconds a looping playhead holds at the end for the audio to wrap round


class Playback:
    def __init__(self, num_frames: int, fps: float, clock: Callable[[], float] = time.monotonic):
        self.num_frames, self.fps, self.clock = num_frames, fps, clock
        self.speed, self.loop, self.playing = 1.0, True, False
        self._anchor_time, self._anchor_clock = 0.0, clock()
        self._offset: float | None = None  # server clock - browser clock, least delay seen
        self._audio_at: float | None = None  # when the last audio report arrived
        self._lock = threading.Lock()

    @property
    def duration(self) -> float:
        return self.num_frames / self.fps

    def time(self) -> float:
        """The playhead in seconds, in [0, duration]."""
        with self._lock:
            t = self._anchor_time
            if self.playing:
                t += (self.clock() - self._anchor_clock) * self.speed
            if t >= self.duration:
                if self.loop and self._audio_at is not None and self.clock() - self._audio_at < AUDIO_LOOP_WAIT:
                    t = self.duration  # the audio restarts the loop: hold the last frame until it says so
                elif self.loop and self.duration > 0:
                    t %= self.duration
                else:
                    t = self.duration
                    self._anchor_time, self._anchor_clock, self.playing = t, self.clock(), False
            return t

    def frame(self) -> int:
        return min(int(self.time() * self.fps), self.num_frames - 1)

    def _set(self, t: float, playing: bool) -> None:
        self._anchor_time = min(max(t, 0.0), self.duration)
        self._anchor_clock, self.playing = self.clock(), playing

    def play(self) -> None:
        t = self.time()
        with self._lock:
            self._set(0.0 if t >= self.duration else t, True)

    def pause(self) -> None:
        t = self.time()
        with self._lock:
            self._set(t, False)

    def seek(self, t: float) -> None:
        with self._lock:
            self._set(t, self.playing)

    def set_speed(self, speed: float) -> None:
        t = self.time()
        with self._lock:
            self.speed = speed
            self._set(t, self.playing)

    def report(self, t: float, playing: bool, stamp: float | None = None) -> float | None:
        """The browser's audio clock: it read `t` at `stamp` (the browser's clock, seconds), playing or not.

        Reports arrive late by a varying delay. The smallest (server clock - stamp) seen so far
        estimates the clocks' offset plus the shortest delay, as in NTP; with it, each report is
        anchored at when it was read, not when it arrived. Returns how far the playhead was off
        the audio (seconds, + ahead) when both were playing, else None."""
        with self._lock:
            now = self.clock()
            read_at = now
            if stamp is not None:
                offset = now - stamp
                self._offset = offset if self._offset is None else min(self._offset, offset)
                read_at = stamp + self._offset
            error = None
            if self.playing and playing:
                predicted = self._anchor_time + (read_at - self._anchor_clock) * self.speed
                error = predicted - t
                if self.loop and self.duration > 0:  # across the loop point, the short way round
                    error = (error + self.duration / 2) % self.duration - self.duration / 2
            self._anchor_time = min(max(t, 0.0), self.duration)
            self._anchor_clock, self.playing = read_at, playing
            self._audio_at = now
            return error
