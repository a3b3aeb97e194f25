"""The "Speech" folder: upload audio, play it in the page, and keep the playhead on the audio's clock.

The page's <audio> element is the clock while speech plays (see viewer.playback): it reports its
time through a hidden text field, and every play/pause/seek/loop/speed change here is sent to it
as a small command. Without speech, idle motion runs on the server's clock.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

from avatar.motion import Motion
from viewer.browser_audio import audio_html, command_html, parse_report
from viewer.playback import Playback

SPEEDS = ("0.25", "0.5", "0.75", "1", "1.25", "1.5", "2")
PLAY_FALLBACK_SECONDS = 1.0  # the server's clock takes over when the page's audio never reports playing
NO_SPEECH = "No speech loaded: upload audio."


class SpeechPanel:
    def __init__(
        self, gui, element_id: str, on_upload: Callable[[object], None], on_idle: Callable[[], None], on_change: Callable[[], None]
    ):
        self.element_id = element_id
        self.clock_label = f"clock {element_id}"  # the page's audio reports its time here (a hidden field)
        self._on_change = on_change
        self.playback: Playback | None = None
        self.has_speech = False
        self.nonce = 0
        self.audio_reports = 0  # clock reports heard from the page's <audio>
        self.sync_errors: deque[float] = deque(maxlen=200)  # playhead - audio at each report (s)
        self.play_requested = 0.0  # when Play was pressed, until the page's audio reports
        self.folder = gui.add_folder("Speech")
        with self.folder:
            self.upload = gui.add_upload_button(
                "Upload audio", mime_type="audio/*", hint="wav, flac, mp3, ogg... any speech; Audio2Mesh animates it"
            )
            self.upload.on_upload(lambda _: on_upload(self.upload.value))
            self.status = gui.add_markdown(NO_SPEECH)
            self.audio_block = gui.add_html("")
            self.command_block = gui.add_html("")
            self.clock = gui.add_text(self.clock_label, "", visible=False)
            self.clock.on_update(self._clock_report)
            self.play_button = gui.add_button("Play / pause")
            self.play_button.on_click(lambda _: self.toggle_play())
            self.timeline = gui.add_slider("time (s)", 0.0, 1.0, 0.01, 0.0)
            self.timeline.on_update(self._timeline_moved)
            self.loop = gui.add_checkbox("loop", True)
            self.loop.on_update(self._loop_changed)
            self.speed = gui.add_dropdown("speed", SPEEDS, initial_value="1")
            self.speed.on_update(self._speed_changed)
            self.idle = gui.add_checkbox("idle motion (blinks, sway)", True)
            self.idle.on_update(lambda _: on_idle())

    # ------------------------------------------------------------ what plays
    def show_speech(self, name: str, seconds: float, motion: Motion, wav_data_uri: str | None) -> None:
        """A new speech: its audio in the page (None: keep the page's audio) and its summary."""
        self.clock.visible = True
        if wav_data_uri is not None:
            self.audio_block.content = audio_html(self.element_id, self.clock_label, wav_data_uri)
        self.status.content = f"**{name}**: {seconds:.2f} s, {motion.num_frames} frames at {motion.fps:g} fps"

    def clear_speech(self) -> None:
        self.clock.visible = False
        self.audio_block.content = ""
        self.status.content = NO_SPEECH

    def set_motion(self, motion: Motion | None, has_speech: bool) -> None:
        """The animation to play: a new playhead when its length changed (idle motion starts by itself)."""
        self.has_speech = has_speech
        old = self.playback
        if motion is None:
            self.playback = None
        elif old is None or old.num_frames != motion.num_frames:
            self.playback = Playback(motion.num_frames, motion.fps)
            self.playback.loop = self.loop.value
            self.playback.speed = float(self.speed.value)
            if not has_speech:
                self.playback.play()
        self.timeline.max = max(self.playback.duration if self.playback else 1.0, 0.01)
        if self.playback is None:
            self.timeline.value = 0.0
        self.timeline.disabled = self.play_button.disabled = not has_speech

    def frame(self) -> int:
        """The frame the playhead is on (-1: nothing plays)."""
        return self.playback.frame() if self.playback is not None else -1

    # ------------------------------------------------------------ the page's audio
    def _command(self, **kw) -> None:
        if self.has_speech:
            self.nonce += 1
            self.command_block.content = command_html(self.element_id, self.nonce, **kw)

    def toggle_play(self) -> None:
        pb = self.playback
        if pb is None or not self.has_speech:
            return
        if pb.playing or self.play_requested:
            self.play_requested = 0.0
            pb.pause()
            self._command(play=False)
        else:
            # The page's audio starts the playhead when it reports playing; if it never does
            # (autoplay blocked, no audio device), the server's clock takes over after a second.
            self.play_requested = time.monotonic()
            self._command(seek=pb.time() if pb.time() < pb.duration else 0.0, speed=pb.speed, loop=pb.loop, play=True)
        self._on_change()

    def start_if_unheard(self) -> None:
        """Play on the server's clock when the page's audio has not answered Play in time."""
        if self.play_requested and time.monotonic() - self.play_requested > PLAY_FALLBACK_SECONDS and self.playback:
            self.play_requested = 0.0
            self.playback.play()

    def _clock_report(self, event) -> None:
        report = parse_report(self.clock.value)
        if event.client is None or report is None or self.playback is None or not self.has_speech:
            return
        error = self.playback.report(*report)
        if error is not None:
            self.sync_errors.append(error)
        self.play_requested = 0.0
        self.audio_reports += 1
        self._on_change()

    def _timeline_moved(self, event) -> None:
        if event.client is None or self.playback is None:
            return
        self.playback.seek(self.timeline.value)
        self._command(seek=self.timeline.value)
        self._on_change()

    def _loop_changed(self, _event) -> None:
        if self.playback is not None:
            self.playback.loop = self.loop.value
        self._command(loop=self.loop.value)

    def _speed_changed(self, _event) -> None:
        if self.playback is not None:
            self.playback.set_speed(float(self.speed.value))
        self._command(speed=float(self.speed.value))

    def sync_timeline(self) -> None:
        """Move the time slider to the playhead while it plays."""
        pb = self.playback
        if pb is not None and pb.playing:
            self.timeline.value = round(pb.time(), 2)
