"""One browser tab: its own GUI, scene, camera, animation and update loop."""

from __future__ import annotations

import dataclasses
import math
import shutil
import tempfile
import threading
import time
import traceback
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from avatar.errors import L2TError
from avatar.idle import add_idle
from avatar.motion import Motion
from avatar.render.cameras import CAMERA_PRESETS, orbit_eye
from viewer.browser_audio import audio_html, command_html, parse_report
from viewer.playback import Playback
from viewer.rig_controls import RigControls
from viewer.splats import SplatNodes

if TYPE_CHECKING:
    from viewer.app import AvatarEntry, ViewerApp
    from viewer.speech import Speech

FOV_DEGREES = 30.0
FRAMING_MARGIN = 1.35  # a little farther than speak's framing: the page's panel covers the right
IDLE_SECONDS = 60.0
STILL_SECONDS = 4.0
PLAY_FALLBACK_SECONDS = 1.0
RENDER_SIZES = ("256", "512", "768", "1024")
SPEEDS = ("0.25", "0.5", "0.75", "1", "1.25", "1.5", "2")


class ViewerSession:
    def __init__(self, app: ViewerApp, client):
        self.app, self.client = app, client
        self.gui, self.scene = client.gui, client.scene
        self.alive = True
        self.wake = threading.Event()
        self.lock = threading.RLock()
        self.entry: AvatarEntry = app.default_entry()
        self.speech: Speech | None = None
        self.motion: Motion | None = None
        self.playback: Playback | None = None
        self.controls: RigControls | None = None
        self.nodes: SplatNodes | None = None
        self.nonce = 0
        self.last_key = None
        self.update_times: deque[float] = deque(maxlen=90)
        self.update_count = 0
        self.update_seconds: deque[float] = deque(maxlen=90)  # server time of each update
        self.last_payload = 0  # splat bytes of the last update
        self.shown_frame = -1
        self.rendering = False
        self.element_id = f"l2t-audio-{client.client_id}"
        self.camera_version = 0
        self.audio_reports = 0  # clock reports heard from the page's <audio>
        self.sync_errors: deque[float] = deque(maxlen=200)  # playhead - audio at each report (s)
        self.play_requested = 0.0  # when Play was pressed, until the page's audio reports
        self.clock_label = f"clock {self.element_id}"  # the page's audio reports its time here (a hidden field)
        self.upload_dir = Path(tempfile.mkdtemp(prefix="l2t-view-tab-"))  # this tab's uploads, removed when it closes

        self._build_gui()
        self._show_avatar(self.entry)
        if app.speech is not None:
            self._set_speech(app.speech)
        else:
            self._refresh_motion()
        self.set_camera("front")
        client.camera.on_update(self._camera_moved)
        self.thread = threading.Thread(target=self._run, name=f"l2t-view-{client.client_id}", daemon=True)
        self.thread.start()

    # ------------------------------------------------------------ GUI
    def _build_gui(self) -> None:
        gui = self.gui
        with gui.add_folder("View"):
            self.camera_buttons = gui.add_button_group("camera", ("front", "three-quarter", "profile"))
            self.camera_buttons.on_click(lambda e: self.set_camera(e.target.value))
            self.reset_camera = gui.add_button("Reset camera")
            self.reset_camera.on_click(lambda _: self.set_camera("front"))
            self.wireframe = gui.add_checkbox("mesh wireframe", False)
            self.wireframe.on_update(lambda _: self._redraw())
            self.server_render = gui.add_checkbox("server render (gsplat)", False, disabled=not self.app.cuda,
                                                  hint="Full-quality frames (spherical harmonics) rendered on the server's GPU"
                                                  if self.app.cuda else "Needs CUDA on the server")
            self.server_render.on_update(lambda _: self._toggle_server_render())
        with gui.add_folder("Avatar") as avatar_folder:
            self.avatar_menu = gui.add_dropdown("avatar", tuple(self.app.avatars), initial_value=self.entry.name)
            self.avatar_menu.on_update(self._avatar_chosen)
            self.avatar_path = gui.add_text("folder", "", hint="Path of an avatar folder on the server")
            self.avatar_load = gui.add_button("Load avatar folder")
            self.avatar_load.on_click(lambda _: self._load_avatar_folder())
        with gui.add_folder("Speech") as speech_folder:
            self.upload = gui.add_upload_button("Upload audio", mime_type="audio/*",
                                                hint="wav, flac, mp3, ogg... any speech; Audio2Mesh animates it")
            self.upload.on_upload(self._uploaded)
            self.speech_status = gui.add_markdown("No speech loaded: upload audio.")
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
            self.idle.on_update(lambda _: self._refresh_motion())
        self.rig_order = (avatar_folder.order + speech_folder.order) / 2  # the Rig folder goes in between
        with gui.add_folder("Render MP4"):
            self.render_size = gui.add_dropdown("size", RENDER_SIZES, initial_value="512" if self.app.cuda else "256")
            self.render_camera = gui.add_dropdown("camera", (*CAMERA_PRESETS, "orbit"), initial_value="front")
            self.render_button = gui.add_button("Render MP4")
            self.render_button.on_click(lambda _: self._start_render())
            self.render_progress = gui.add_progress_bar(0.0, visible=False)
            self.render_status = gui.add_markdown("")
        with gui.add_folder("Stats"):
            self.stats = gui.add_markdown("")

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
    def _avatar_chosen(self, event) -> None:
        if event.client is None or self.avatar_menu.value == self.entry.name:
            return
        self._switch_avatar(self.app.avatars[self.avatar_menu.value])

    def _load_avatar_folder(self) -> None:
        try:
            entry = self.app.load_requested_avatar(self.avatar_path.value)
        except L2TError as exc:
            self.notify("Cannot load avatar", str(exc), error=True)
            return
        self.avatar_menu.value = entry.name
        self._switch_avatar(entry)

    def refresh_avatar_menu(self) -> None:
        self.avatar_menu.options = tuple(self.app.avatars)

    def _switch_avatar(self, entry: AvatarEntry) -> None:
        with self.lock:
            old = self.entry
            self.entry = entry
            self._show_avatar(entry)
            if self.speech is not None and entry.rig_names != old.rig_names:
                try:
                    self._set_speech(self.app.engine.from_file(self.speech.source, entry.rig_names, entry.rig_label), keep_audio=True)
                except L2TError as exc:
                    self.notify("Speech dropped", str(exc), error=True)
                    self._clear_speech()
            self._refresh_motion()
        self.set_camera("front")

    def _show_avatar(self, entry: AvatarEntry) -> None:
        """(Re)build the scene nodes and rig sliders for an avatar."""
        if self.nodes is not None:
            self.nodes.remove()
        self.nodes = SplatNodes(self.scene, entry.poser, wireframe=self.wireframe.value)
        self.nodes.set_visible(not self.server_render.value)
        if self.controls is not None:
            self.controls.remove()
        self.controls = RigControls(self.gui, entry.avatar.rig, entry.avatar.shape, on_change=self._redraw, order=self.rig_order)
        self.last_key = None
        self._update_stats()

    # ------------------------------------------------------------ speech
    def _uploaded(self, event) -> None:
        upload = self.upload.value
        self.speech_status.content = f"Animating **{upload.name}**…"
        try:
            speech = self.app.engine.from_upload(upload.name, upload.content, self.entry.rig_names, self.entry.rig_label,
                                                 into=self.upload_dir)
        except L2TError as exc:
            self.speech_status.content = f"Could not use {upload.name}: {exc}"
            self.notify("Upload refused", str(exc), error=True)
            return
        self._set_speech(speech)

    def upload_refused(self, name: str, reason: str) -> None:
        """The server stopped an upload while it arrived (see viewer.security)."""
        self.speech_status.content = f"Could not use {name}: {reason}"
        self.notify("Upload refused", f"{name}: {reason}", error=True)

    def _set_speech(self, speech: Speech, keep_audio: bool = False) -> None:
        with self.lock:
            self.speech = speech
            self.playback = None
            self._refresh_motion()
            self.clock.visible = True
            if not keep_audio:
                self.audio_block.content = audio_html(self.element_id, self.clock_label, speech.wav_data_uri)
            self.speech_status.content = f"**{speech.name}**: {speech.seconds:.2f} s, {self.motion.num_frames} frames at {self.motion.fps:g} fps"

    def _clear_speech(self) -> None:
        self.speech = None
        self.clock.visible = False
        self.audio_block.content = ""
        self.speech_status.content = "No speech loaded: upload audio."

    def _refresh_motion(self) -> None:
        """The animation to play: speech (plus idle motion), idle motion alone, or none."""
        with self.lock:
            names = self.entry.rig_names
            fps = self.app.engine.fps
            if self.speech is not None:
                params = self.speech.motion.params
                self.motion = Motion(add_idle(params, fps, names, self.app.seed), fps=fps) if self.idle.value else self.speech.motion
            elif self.idle.value:
                frames = int(IDLE_SECONDS * fps)
                self.motion = Motion(add_idle({"jaw": torch.zeros(frames, 3)}, fps, names, self.app.seed), fps=fps)
            else:
                self.motion = None
            old = self.playback
            if self.motion is None:
                self.playback = None
            elif old is None or old.num_frames != self.motion.num_frames:
                self.playback = Playback(self.motion.num_frames, self.motion.fps)
                self.playback.loop = self.loop.value
                self.playback.speed = float(self.speed.value)
                if self.speech is None:
                    self.playback.play()  # idle motion runs by itself
            has_speech = self.speech is not None
            self.timeline.max = max(self.playback.duration if self.playback else 1.0, 0.01)
            if self.playback is None:
                self.timeline.value = 0.0
            self.timeline.disabled = self.play_button.disabled = not has_speech
            self.last_key = None
        self.wake.set()

    # ------------------------------------------------------------ playback
    def _command(self, **kw) -> None:
        if self.speech is not None:
            self.nonce += 1
            self.command_block.content = command_html(self.element_id, self.nonce, **kw)

    def toggle_play(self) -> None:
        pb = self.playback
        if pb is None or self.speech is None:
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
        self.wake.set()

    def _clock_report(self, event) -> None:
        report = parse_report(self.clock.value)
        if event.client is None or report is None or self.playback is None or self.speech is None:
            return
        error = self.playback.report(*report)
        if error is not None:
            self.sync_errors.append(error)
        self.play_requested = 0.0
        self.audio_reports += 1
        self.wake.set()

    def _timeline_moved(self, event) -> None:
        if event.client is None or self.playback is None:
            return
        self.playback.seek(self.timeline.value)
        self._command(seek=self.timeline.value)
        self.wake.set()

    def _loop_changed(self, event) -> None:
        if self.playback is not None:
            self.playback.loop = self.loop.value
        self._command(loop=self.loop.value)

    def _speed_changed(self, event) -> None:
        if self.playback is not None:
            self.playback.set_speed(float(self.speed.value))
        self._command(speed=float(self.speed.value))

    # ------------------------------------------------------------ drawing
    def _redraw(self) -> None:
        self.last_key = None
        self.wake.set()

    def _camera_moved(self, _camera) -> None:
        self.camera_version += 1
        if self.server_render.value:
            self.wake.set()

    def _toggle_server_render(self) -> None:
        self.nodes.set_visible(not self.server_render.value)
        self.nodes.tracker.reset()  # splats are not sent while the server renders
        if not self.server_render.value:
            self.scene.set_background_image(None)
        self._redraw()

    def current_pose(self) -> tuple[dict[str, torch.Tensor], int]:
        """The rig pose shown now (animation frame + sliders) and the frame index (-1: none)."""
        frame = self.playback.frame() if self.playback is not None else -1
        params = {k: v[frame] for k, v in self.motion.params.items()} if frame >= 0 else None
        return self.controls.pose(params), frame

    def update(self) -> bool:
        """Send what changed since the last update; True when something was sent."""
        with self.lock:
            params, frame = self.current_pose()
            key = (id(self.entry), frame, self.controls.version, id(self.motion), self.wireframe.value,
                   self.server_render.value, self.camera_version if self.server_render.value else 0)
            if key == self.last_key:
                return False
            start = time.perf_counter()
            entry, shape = self.entry, self.controls.shape()
            payload = 0
            if self.server_render.value and self.app.cuda:  # full frames instead of splats: no splat posing
                from viewer.server_render import render_view

                image = render_view(entry.avatar, params, shape, self.client.camera, height=min(720, self.client.camera.image_height))
                self.scene.set_background_image(image, format="jpeg", jpeg_quality=90)
            else:
                posed = entry.poser.pose(params, shape)
                with self.client.atomic():
                    payload = self.nodes.show(posed, wireframe=self.wireframe.value)
            self.last_key = key
            self.shown_frame = frame
            self.last_payload = payload
            self.update_times.append(time.perf_counter())
            self.update_count += 1
            self.update_seconds.append(time.perf_counter() - start)
            return True

    def _sync_timeline(self) -> None:
        pb = self.playback
        if pb is not None and pb.playing:
            self.timeline.value = round(pb.time(), 2)

    def _update_stats(self) -> None:
        times = self.update_times
        rate = (len(times) - 1) / (times[-1] - times[0]) if len(times) > 2 and times[-1] > times[0] else 0.0
        poser = self.entry.poser
        mode = "server gsplat frames" if self.server_render.value else "browser splats"
        self.stats.content = (f"Gaussians: **{poser.num_gaussians:,}** in {len(poser.chunks)} chunks  \n"
                              f"updates/s: **{rate:.1f}**"
                              + (f", {1000 * float(np.median(self.update_seconds)):.1f} ms each on the server" if self.update_seconds else "")
                              + "  \n"
                              f"last update: {self.last_payload / 1024:.0f} KB of splats  \n"
                              f"frame: {self.shown_frame if self.shown_frame >= 0 else '-'}  \n"
                              + (f"audio sync: {1000 * float(np.median(np.abs(self.sync_errors))):.0f} ms median over "
                                 f"{len(self.sync_errors)} reports  \n" if self.sync_errors else "") +
                              f"view: {mode}")

    def _run(self) -> None:
        """Update at most max_rate times a second: sooner than that the socket can't keep up, and
        viser would drop the older updates it still holds (bench/viewer_updates.py)."""
        period = 1.0 / self.app.max_rate
        last_stats = last_update = 0.0
        while self.alive:
            self.wake.wait(timeout=period)
            self.wake.clear()
            time.sleep(max(0.0, last_update + period - time.monotonic()))
            if not self.alive:
                break
            if self.play_requested and time.monotonic() - self.play_requested > PLAY_FALLBACK_SECONDS and self.playback:
                self.play_requested = 0.0
                self.playback.play()
            try:
                if self.update():
                    last_update = time.monotonic()
                now = time.monotonic()
                if now - last_stats > 0.5:
                    self._sync_timeline()
                    self._update_stats()
                    last_stats = now
            except Exception:
                if self.alive:  # a tab closing mid-update is expected; anything else is a bug worth printing
                    traceback.print_exc()
                    time.sleep(0.5)

    def close(self) -> None:
        self.alive = False
        self.wake.set()
        shutil.rmtree(self.upload_dir, ignore_errors=True)

    # ------------------------------------------------------------ render MP4
    def _start_render(self) -> None:
        if self.rendering:
            return
        if not self.app.render_slots.acquire(blocking=False):  # a cap over all tabs
            self.render_status.content = "The server is busy with other renders; try again in a moment."
            return
        self.rendering = True
        self.render_button.disabled = True
        self.render_progress.value, self.render_progress.visible = 0.0, True
        self.render_status.content = "Rendering…"
        threading.Thread(target=self._render_mp4, daemon=True).start()

    def render_motion(self) -> Motion:
        """What "Render MP4" renders: the animation with the sliders applied, or the current pose held still."""
        with self.lock:
            fps = self.app.engine.fps
            if self.motion is not None and self.speech is not None:
                return Motion(self.controls.pose(self.motion.params), fps=fps)
            frames = int(STILL_SECONDS * fps)
            if self.motion is not None:
                return Motion(self.controls.pose({k: v[:frames] for k, v in self.motion.params.items()}), fps=fps)
            pose = self.controls.pose(None)
            return Motion({k: v.expand(frames, -1).clone() for k, v in pose.items()}, fps=fps)

    def _render_mp4(self) -> None:
        from avatar.render.animate import render_motion_to_mp4

        try:
            motion = self.render_motion()
            avatar = dataclasses.replace(self.entry.avatar, shape=self.controls.shape().to(self.entry.avatar.device))
            size = int(self.render_size.value)
            audio = self.speech.source if self.speech is not None else None
            name = f"{self.entry.name}-{Path(self.speech.name).stem if self.speech else 'pose'}.mp4"

            def progress(done: int, total: int) -> None:
                self.render_progress.value = round(100.0 * done / total, 1)

            with tempfile.TemporaryDirectory(prefix="l2t-render-") as folder:
                out = Path(folder) / "render.mp4"
                stats = render_motion_to_mp4(avatar, motion, out, size=size, camera=self.render_camera.value, audio=audio,
                                             progress=False, on_frame=progress)
                content = out.read_bytes()
            self.client.send_file_download(name, content, save_immediately=False)
            self.render_status.content = (f"**{name}**: {stats.frames} frames, {size}x{size}, {len(content) / 2**20:.1f} MB, "
                                          f"{stats.fps:.1f} frames/s; the download link is in the notification")
        except L2TError as exc:
            self.render_status.content = f"Render failed: {exc}"
        except Exception as exc:  # the tab may have closed meanwhile
            if self.alive:
                traceback.print_exc()
                self.render_status.content = f"Render failed: {exc}"
        finally:
            self.rendering = False
            self.app.render_slots.release()
            if self.alive:
                self.render_button.disabled = False
                self.render_progress.visible = False
