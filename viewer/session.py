"""One browser tab: its panels, scene, camera, animation and update loop.

The session composes the panels (view, avatar, rig, speech, render, stats), holds what the tab
shows (avatar, speech, motion, scene nodes) and runs the loop that sends each change to the page.
It knows the server only through what it is given: the avatar library, the speech engine and
the tab settings.
"""

from __future__ import annotations

import dataclasses
import math
import shutil
import tempfile
import threading
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

import torch

from avatar.errors import L2TError
from avatar.idle import add_idle
from avatar.motion import Motion
from avatar.render.cameras import CAMERA_PRESETS, orbit_eye
from viewer.avatar_panel import AvatarPanel
from viewer.avatars import AvatarEntry, AvatarLibrary
from viewer.live import LISTEN_AFTER, LiveHub, LiveLayer, LiveVoice
from viewer.live_panel import LivePanel
from viewer.render_panel import RenderPanel, RenderRequest
from viewer.rig_controls import RigControls
from viewer.speech import Speech, SpeechEngine
from viewer.speech_panel import SpeechPanel
from viewer.splats import SplatNodes
from viewer.stats_panel import StatsPanel, UpdateRecord
from viewer.view_panel import ViewPanel

FOV_DEGREES = 30.0
FRAMING_MARGIN = 1.35  # a little farther than speak's framing: the page's panel covers the right
IDLE_SECONDS = 60.0
STILL_SECONDS = 4.0
STATS_SECONDS = 0.5


@dataclass
class TabSettings:
    """What every tab of one server shares besides avatars and the speech engine."""

    cuda: bool
    seed: int
    max_rate: float  # most updates per second
    render_slots: threading.Semaphore  # "Render MP4" jobs at once, over all tabs
    speech: Speech | None = None  # the server's --audio, shown in every new tab
    live_hub: LiveHub | None = None  # pushed speech (view --listen) and the pages' players
    listen_url: str | None = None  # where programs push speech, shown in the Live folder


class ViewerSession:
    def __init__(self, client, library: AvatarLibrary, engine: SpeechEngine, settings: TabSettings):
        self.client, self.library, self.engine, self.settings = client, library, engine, settings
        self.gui, self.scene = client.gui, client.scene
        self.alive = True
        self.wake = threading.Event()
        self.lock = threading.RLock()
        self.entry: AvatarEntry = library.first()
        self.speech: Speech | None = None
        self.motion: Motion | None = None
        self.controls: RigControls | None = None
        self.nodes: SplatNodes | None = None
        self.last_key = None
        self.camera_version = 0
        self.updates = UpdateRecord()
        self.mic_voice: LiveVoice | None = None  # the page's microphone, while its socket is open
        self.live_layer = LiveLayer(engine.fps, self.entry.rig_names, settings.seed)
        self.upload_dir = Path(tempfile.mkdtemp(prefix="l2t-view-tab-"))  # this tab's uploads, removed when it closes

        self.view = ViewPanel(self.gui, settings.cuda, self.set_camera, self._redraw, self._toggle_server_render)
        self.avatar_panel = AvatarPanel(self.gui, library.names, self.entry.name, self._avatar_chosen, self._load_avatar_folder)
        self.speech_panel = SpeechPanel(self.gui, f"l2t-audio-{client.client_id}", self._uploaded, self._refresh_motion, self.wake.set)
        self.rig_order = (self.avatar_panel.folder.order + self.speech_panel.folder.order) / 2  # the Rig folder goes in between
        self.live_panel = LivePanel(
            self.gui, client.client_id, 1000 * engine.live_lookahead_seconds, settings.listen_url, self._mic_changed
        )
        self.render_panel = RenderPanel(self.gui, client, settings.cuda, settings.render_slots, self.render_request, lambda: self.alive)
        self.stats = StatsPanel(self.gui)
        self._unsubscribe = library.subscribe(lambda: self.avatar_panel.set_names(library.names))

        self._show_avatar(self.entry)
        if settings.speech is not None:
            self._set_speech(settings.speech)
        else:
            self._refresh_motion()
        self.set_camera("front")
        client.camera.on_update(self._camera_moved)
        self.thread = threading.Thread(target=self._run, name=f"l2t-view-{client.client_id}", daemon=True)
        self.thread.start()

    def notify(self, title: str, body: str, error: bool = False) -> None:
        self.client.add_notification(title, body, color="red" if error else None, auto_close_seconds=None if error else 6.0)

    # ------------------------------------------------------------ camera
    def set_camera(self, preset: str) -> None:
        """Point this tab's camera at the head from a named view."""
        target, distance = self.entry.framing
        distance *= FRAMING_MARGIN * math.tan(math.radians(10.0)) / math.tan(math.radians(FOV_DEGREES / 2))
        yaw, pitch = CAMERA_PRESETS[preset]
        eye = orbit_eye(target, distance, yaw, pitch).numpy()
        with self.client.atomic():
            self.client.camera.fov = math.radians(FOV_DEGREES)
            self.client.camera.up_direction = (0.0, 1.0, 0.0)
            self.client.camera.position = eye
            self.client.camera.look_at = target.numpy()

    # ------------------------------------------------------------ avatars
    def _avatar_chosen(self, name: str) -> None:
        if name != self.entry.name:
            self._switch_avatar(self.library[name])

    def _load_avatar_folder(self, text: str) -> None:
        try:
            entry = self.library.load_requested(text)
        except L2TError as exc:
            self.notify("Cannot load avatar", str(exc), error=True)
            return
        self.avatar_panel.show(entry.name)
        self._switch_avatar(entry)

    def _switch_avatar(self, entry: AvatarEntry) -> None:
        with self.lock:
            old = self.entry
            self.entry = entry
            self.live_layer = LiveLayer(self.engine.fps, entry.rig_names, self.settings.seed)
            if self.mic_voice is not None:
                self.mic_voice.end()  # the next audio starts a stream for the new rig
            self._show_avatar(entry)
            if self.speech is not None and entry.rig_names != old.rig_names:
                try:
                    self._set_speech(self.engine.from_file(self.speech.source, entry.rig_names, entry.rig_label), keep_audio=True)
                except L2TError as exc:
                    self.notify("Speech dropped", str(exc), error=True)
                    self.speech = None
                    self.speech_panel.clear_speech()
            self._refresh_motion()
        self.set_camera("front")

    def _show_avatar(self, entry: AvatarEntry) -> None:
        """(Re)build the scene nodes and rig sliders for an avatar."""
        if self.nodes is not None:
            self.nodes.remove()
        self.nodes = SplatNodes(self.scene, entry.poser, wireframe=self.view.wireframe.value)
        self.nodes.set_visible(not self.view.server_render.value)
        if self.controls is not None:
            self.controls.remove()
        self.controls = RigControls(self.gui, entry.avatar.rig, entry.avatar.shape, on_change=self._redraw, order=self.rig_order)
        self.last_key = None
        self._show_stats()

    # ------------------------------------------------------------ speech
    def _uploaded(self, upload) -> None:
        self.speech_panel.status.content = f"Animating **{upload.name}**…"
        try:
            speech = self.engine.from_upload(upload.name, upload.content, self.entry.rig_names, self.entry.rig_label, into=self.upload_dir)
        except L2TError as exc:
            self.speech_panel.status.content = f"Could not use {upload.name}: {exc}"
            self.notify("Upload refused", str(exc), error=True)
            return
        self._set_speech(speech)

    def upload_refused(self, name: str, reason: str) -> None:
        """The server stopped an upload while it arrived (see viewer.security)."""
        self.speech_panel.status.content = f"Could not use {name}: {reason}"
        self.notify("Upload refused", f"{name}: {reason}", error=True)

    def _set_speech(self, speech: Speech, keep_audio: bool = False) -> None:
        with self.lock:
            self.speech = speech
            self.speech_panel.playback = None
            self._refresh_motion()
            self.speech_panel.show_speech(speech.name, speech.seconds, self.motion, None if keep_audio else speech.wav_data_uri)

    def _refresh_motion(self) -> None:
        """The animation to play: speech (plus idle motion), idle motion alone, or none."""
        with self.lock:
            names, fps, seed = self.entry.rig_names, self.engine.fps, self.settings.seed
            idle = self.speech_panel.idle.value
            if self.speech is not None:
                spoken = self.speech.motion if self.entry.style is None else self.entry.style.apply(self.speech.motion, names)
                self.motion = Motion(add_idle(spoken.params, fps, names, seed), fps=fps) if idle else spoken
            elif idle:
                frames = int(IDLE_SECONDS * fps)
                self.motion = Motion(add_idle({"jaw": torch.zeros(frames, 3)}, fps, names, seed), fps=fps)
            else:
                self.motion = None
            self.speech_panel.set_motion(self.motion, self.speech is not None)
            self.last_key = None
        self.wake.set()

    # ------------------------------------------------------------ live speech
    def open_mic(self) -> LiveVoice | None:
        """The page's microphone socket opened: the voice it feeds (None when the tab did not ask)."""
        if not self.alive or not self.live_panel.mic_on:
            return None
        self.mic_voice = LiveVoice(  # each utterance's stream speaks the rig the tab shows then
            lambda: self.engine.live_stream(self.entry.rig_names, self.entry.rig_label), self.engine.fps, on_frames=self.wake.set
        )
        self.wake.set()
        return self.mic_voice

    def _mic_changed(self, on: bool, error: str) -> None:
        if error:
            self.notify("Microphone", error, error=True)
        if not on:
            if self.mic_voice is not None:
                self.mic_voice.stopped = True  # its socket closes at the next chunk
            self.mic_voice = None
        self._redraw()

    def live_voice(self) -> LiveVoice | None:
        """What drives the face live: this tab's microphone, else pushed speech that is playing."""
        if self.mic_voice is not None and self.live_panel.mic_on:
            return self.mic_voice
        return self.settings.live_hub.current() if self.settings.live_hub is not None else None

    # ------------------------------------------------------------ drawing
    def _redraw(self) -> None:
        self.last_key = None
        self.wake.set()

    def _camera_moved(self, _camera) -> None:
        self.camera_version += 1
        if self.view.server_render.value:
            self.wake.set()

    def _toggle_server_render(self) -> None:
        self.nodes.set_visible(not self.view.server_render.value)
        self.nodes.tracker.reset()  # splats are not sent while the server renders
        if not self.view.server_render.value:
            self.scene.set_background_image(None)
        self._redraw()

    def current_pose(self) -> tuple[dict[str, torch.Tensor], int]:
        """The rig pose shown now (animation frame + sliders) and the frame index (-1: none)."""
        frame = self.speech_panel.frame()
        params = {k: v[frame] for k, v in self.motion.params.items()} if frame >= 0 else None
        return self.controls.pose(params), frame

    def _live_pose(self, voice: LiveVoice):
        """(pose, frame key, key of the live frame or None) of a live voice now, idle layer included."""
        got = voice.frame_now()
        spoken = got[1] if got else None
        if spoken is not None and spoken["expression"].shape[-1] != len(self.entry.rig_names):
            spoken = None  # pushed speech animates the first avatar's rig; this tab shows another kind
        params = self.live_layer.compose(spoken, voice.silent_for(), self.speech_panel.idle.value)
        live_key = got[0] if got else None
        # a new frame triggers the update (no clock tick shortly before it holds it back); without frames, the clock does
        tick = live_key if live_key is not None else int(time.monotonic() * self.engine.fps)
        return self.controls.pose(params), ("live", id(voice), tick), live_key

    def update(self) -> bool:
        """Send what changed since the last update; True when something was sent."""
        with self.lock:
            voice = self.live_voice()
            live_key = None
            if voice is not None:
                params, frame, live_key = self._live_pose(voice)
            else:
                params, frame = self.current_pose()
            server_render = self.view.server_render.value
            key = (
                id(self.entry),
                frame,
                self.controls.version,
                id(self.motion),
                self.view.wireframe.value,
                server_render,
                self.camera_version if server_render else 0,
            )
            if key == self.last_key:
                return False
            start = time.perf_counter()
            entry, shape = self.entry, self.controls.shape()
            payload = 0
            if server_render and self.settings.cuda:  # full frames instead of splats: no splat posing
                from viewer.server_render import render_view

                image = render_view(entry.avatar, params, shape, self.client.camera, height=min(720, self.client.camera.image_height))
                self.scene.set_background_image(image, format="jpeg", jpeg_quality=90)
            else:
                posed = entry.poser.pose(params, shape)
                with self.client.atomic():
                    payload = self.nodes.show(posed, wireframe=self.view.wireframe.value)
            self.last_key = key
            if live_key is not None:
                voice.shown(live_key, time.monotonic())
            self.updates.add(start, payload, frame if isinstance(frame, int) else -1)
            return True

    def _show_stats(self) -> None:
        poser = self.entry.poser
        self.stats.show(self.updates, poser.num_gaussians, len(poser.chunks), self.view.server_render.value, self.speech_panel.sync_errors)

    def _run(self) -> None:
        """Update at most max_rate times a second: sooner than that the socket can't keep up, and
        viser would drop the older updates it still holds (bench/viewer_updates.py)."""
        period = 1.0 / self.settings.max_rate
        last_stats = last_update = 0.0
        while self.alive:
            self.wake.wait(timeout=period)
            self.wake.clear()
            time.sleep(max(0.0, last_update + period - time.monotonic()))
            if not self.alive:
                break
            self.speech_panel.start_if_unheard()
            try:
                if self.update():
                    last_update = time.monotonic()
                now = time.monotonic()
                if now - last_stats > STATS_SECONDS:
                    if self.mic_voice is not None:
                        self.live_panel.show_latency(self.mic_voice.latency_ms(), self.mic_voice.silent_for() > LISTEN_AFTER)
                    self.speech_panel.sync_timeline()
                    self._show_stats()
                    last_stats = now
            except Exception:
                if self.alive:  # a tab closing mid-update is expected; anything else is a bug worth printing
                    traceback.print_exc()
                    time.sleep(0.5)

    def close(self) -> None:
        self.alive = False
        if self.mic_voice is not None:
            self.mic_voice.stopped = True
        self.mic_voice = None
        if self.settings.live_hub is not None:
            self.settings.live_hub.remove_player(self.client.client_id)
        self._unsubscribe()
        self.wake.set()
        shutil.rmtree(self.upload_dir, ignore_errors=True)

    # ------------------------------------------------------------ render MP4
    def render_motion(self) -> Motion:
        """What "Render MP4" renders: the animation with the sliders applied, or the current pose held still."""
        with self.lock:
            fps = self.engine.fps
            if self.motion is not None and self.speech is not None:
                return Motion(self.controls.pose(self.motion.params), fps=fps)
            frames = int(STILL_SECONDS * fps)
            if self.motion is not None:
                return Motion(self.controls.pose({k: v[:frames] for k, v in self.motion.params.items()}), fps=fps)
            pose = self.controls.pose(None)
            return Motion({k: v.expand(frames, -1).clone() for k, v in pose.items()}, fps=fps)

    def render_request(self) -> RenderRequest:
        """The Render panel's job: this tab's avatar (with its identity sliders), motion and speech."""
        with self.lock:
            motion = self.render_motion()
            avatar = dataclasses.replace(self.entry.avatar, shape=self.controls.shape().to(self.entry.avatar.device))
            audio = self.speech.source if self.speech is not None else None
            name = f"{self.entry.name}-{Path(self.speech.name).stem if self.speech else 'pose'}.mp4"
        return RenderRequest(avatar, motion, audio, name)
