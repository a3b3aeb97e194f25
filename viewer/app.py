"""``l2t-avatar view``: a viser server with one ViewerSession per browser tab.

The server owns what tabs share: the loaded avatars (each posed by its own SplatPoser), the
Audio2Mesh engine, and the --audio speech. Everything per tab (camera, sliders, playback,
scene nodes) lives in its session, so several tabs work side by side.
"""

from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass, field

from avatar.motion import DEFAULT_FPS
from viewer.avatars import AvatarLibrary
from viewer.live import LiveHub, LiveVoice
from viewer.live_panel import PLAY_DELAY
from viewer.live_socket import LiveRoutes, extra_websockets
from viewer.security import AvatarFolderPolicy, ServerGuards, is_loopback, new_token, token_required
from viewer.session import TabSettings, ViewerSession
from viewer.speech import SpeechEngine


@dataclass
class ViewOptions:
    avatars: list[str] = field(default_factory=list)  # avatar folders; none: the default avatar
    audio: str | None = None
    host: str = "127.0.0.1"
    port: int = 8080
    device: str | None = None
    checkpoint: str | None = None
    audio_encoder: str | None = None
    rig: str | None = None
    fps: float = DEFAULT_FPS
    seed: int = 0
    max_rate: float = 30.0  # most updates per second a tab gets (bench/viewer_updates.py: what a 2-core server sustains)
    token: str | None = None  # access token; None: a new one when serving beyond loopback, none on loopback
    avatar_root: str | None = None  # "Load avatar folder" may also open folders inside this one
    max_audio_seconds: float = 600.0  # longest speech a tab may upload
    max_upload_mb: float = 64.0
    max_renders: int = 2  # "Render MP4" jobs at once, over all tabs
    listen: bool = False  # accept speech pushed by programs on /l2t/push
    live_checkpoint: str = "live"  # Audio2Mesh of the microphone and pushed speech ("live": the shipped 72 ms one)


class ViewerApp:
    def __init__(self, opts: ViewOptions):
        from avatar.device import resolve_device

        self.opts = opts
        self.device = resolve_device(opts.device)
        self.cuda = self.device.type == "cuda"
        self.token = opts.token or (None if is_loopback(opts.host) else new_token())
        self.library = AvatarLibrary(AvatarFolderPolicy(opts.avatars, opts.avatar_root), opts.rig, self.device)
        self.guards: ServerGuards | None = None
        self.sessions: dict[int, ViewerSession] = {}
        for folder in opts.avatars or [None]:
            self.library.load(folder)
        self.engine = SpeechEngine(
            self.device,
            opts.checkpoint,
            opts.audio_encoder,
            opts.fps,
            opts.max_audio_seconds,
            int(opts.max_upload_mb * 2**20),
            opts.live_checkpoint,
        )
        self.engine.load()
        first = self.library.first()
        speech = self.engine.from_file(opts.audio, first.rig_names, first.rig_label) if opts.audio else None
        self.hub = LiveHub(self._pushed_voice)
        self.settings = TabSettings(
            self.cuda, opts.seed, opts.max_rate, threading.BoundedSemaphore(max(1, opts.max_renders)), speech, self.hub
        )
        self.server = None

    def _pushed_voice(self) -> LiveVoice:
        """A voice for one pushing program, animating the first avatar's rig, in step with the pages' players."""
        first = self.library.first()
        return LiveVoice(
            lambda: self.engine.live_stream(first.rig_names, first.rig_label), self.engine.fps, delay=PLAY_DELAY, on_frames=self._wake_tabs
        )

    def _wake_tabs(self) -> None:
        for session in list(self.sessions.values()):
            session.wake.set()

    def _tab_voice(self, tab: int) -> LiveVoice | None:
        session = self.sessions.get(tab)
        return session.open_mic() if session is not None else None

    # ------------------------------------------------------------ server
    def start(self) -> str:
        """Start serving; returns the page's URL."""
        import viser

        routes = LiveRoutes(self._tab_voice, self.hub, self.opts.listen).routes()
        with extra_websockets(routes), token_required(self.token) if self.token else contextlib.nullcontext():
            self.server = viser.ViserServer(host=self.opts.host, port=self.opts.port, verbose=False)
        self.guards = ServerGuards(self.server, self.engine.max_upload_bytes, self._upload_refused)
        self.server.gui.configure_theme(control_width="large", dark_mode=False, show_logo=False)
        self.server.scene.set_up_direction("+y")  # the rig's up; set for all tabs before any connects
        self.server.on_client_connect(self._connected)
        self.server.on_client_disconnect(self._disconnected)
        host = "localhost" if self.opts.host in ("0.0.0.0", "127.0.0.1", "::", "::1") else self.opts.host
        host = f"[{host}]" if ":" in host else host
        if self.opts.listen:
            self.settings.listen_url = f"ws://{host}:{self.server.get_port()}/l2t/push" + (f"?token={self.token}" if self.token else "")
        return f"http://{host}:{self.server.get_port()}" + (f"/?token={self.token}" if self.token else "")

    def _connected(self, client) -> None:
        self.sessions[client.client_id] = ViewerSession(client, self.library, self.engine, self.settings)

    def _disconnected(self, client) -> None:
        session = self.sessions.pop(client.client_id, None)
        if session is not None:
            session.close()
        if self.guards is not None:
            self.guards.client_gone(client.client_id)

    def _upload_refused(self, client_id: int, name: str, reason: str) -> None:
        session = self.sessions.get(client_id)
        if session is not None:
            session.upload_refused(name, reason)

    def stop(self) -> None:
        """Close every tab's session, wait for their update loops to end, stop the server."""
        sessions = list(self.sessions.values())
        for session in sessions:
            session.close()
        for session in sessions:
            session.thread.join(timeout=10.0)
        if self.server is not None:
            self.server.stop()

    def serve_forever(self) -> None:
        try:
            while True:
                time.sleep(1.0)
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()
