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
from pathlib import Path

import torch

from avatar.avatar import Avatar
from avatar.errors import L2TError
from avatar.motion import DEFAULT_FPS
from viewer.security import AvatarFolderPolicy, ServerGuards, is_loopback, new_token, token_required
from viewer.session import ViewerSession
from viewer.speech import Speech, SpeechEngine
from viewer.splats import SplatPoser

DEFAULT_NAME = "default"


@dataclass
class AvatarEntry:
    name: str
    avatar: Avatar
    poser: SplatPoser
    framing: tuple[torch.Tensor, float]  # look-at target, distance for a 20 deg view
    rig_names: list[str] = field(default_factory=list)
    rig_label: str = ""


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


class ViewerApp:
    def __init__(self, opts: ViewOptions):
        from avatar.device import resolve_device

        self.opts = opts
        self.device = resolve_device(opts.device)
        self.cuda = self.device.type == "cuda"
        self.seed, self.max_rate = opts.seed, opts.max_rate
        self.token = opts.token or (None if is_loopback(opts.host) else new_token())
        self.folders = AvatarFolderPolicy(opts.avatars, opts.avatar_root)
        self.render_slots = threading.BoundedSemaphore(max(1, opts.max_renders))
        self.guards: ServerGuards | None = None
        self.avatars: dict[str, AvatarEntry] = {}  # by name, in the order loaded
        self._by_key: dict[str, AvatarEntry] = {}  # by resolved folder
        self.sessions: dict[int, ViewerSession] = {}
        self._avatar_lock = threading.Lock()
        for folder in opts.avatars or [None]:
            self.load_avatar(folder)
        self.engine = SpeechEngine(self.device, opts.checkpoint, opts.audio_encoder, opts.fps, opts.max_audio_seconds,
                                   int(opts.max_upload_mb * 2**20))
        self.engine.load()
        first = self.default_entry()
        self.speech: Speech | None = self.engine.from_file(opts.audio, first.rig_names, first.rig_label) if opts.audio else None
        self.server = None

    def default_entry(self) -> AvatarEntry:
        return next(iter(self.avatars.values()))

    def load_requested_avatar(self, text: str) -> AvatarEntry:
        """What a visitor's "Load avatar folder" opens: only a folder the policy allows."""
        if not text.strip():
            raise L2TError("give the path of an avatar folder")
        return self.load_avatar(self.folders.resolve(text.strip()))

    def load_avatar(self, folder: str | Path | None) -> AvatarEntry:
        """Load an avatar folder (None: the default avatar) once; L2TError for a bad folder."""
        from avatar.io.avatar_folder import load_avatar
        from avatar.render.animate import head_framing

        if folder == "":
            raise L2TError("give the path of an avatar folder")
        key = DEFAULT_NAME if folder is None else str(Path(folder).resolve())
        with self._avatar_lock:
            if key in self._by_key:
                return self._by_key[key]
            avatar = load_avatar(folder, rig_path=self.opts.rig, device=self.device)
            base = DEFAULT_NAME if folder is None else Path(key).name
            name, n = base, 2
            while name in self.avatars:
                name, n = f"{base} ({n})", n + 1
            entry = AvatarEntry(name, avatar, SplatPoser(avatar), head_framing(avatar), avatar.rig.data.expression_names, avatar.rig.data.name)
            self.avatars[name] = self._by_key[key] = entry
        for session in list(self.sessions.values()):
            session.refresh_avatar_menu()
        return entry

    # ------------------------------------------------------------ server
    def start(self) -> str:
        """Start serving; returns the page's URL."""
        import viser

        with token_required(self.token) if self.token else contextlib.nullcontext():
            self.server = viser.ViserServer(host=self.opts.host, port=self.opts.port, verbose=False)
        self.guards = ServerGuards(self.server, self.engine.max_upload_bytes, self._upload_refused)
        self.server.gui.configure_theme(control_width="large", dark_mode=False, show_logo=False)
        self.server.scene.set_up_direction("+y")  # the rig's up; set for all tabs before any connects
        self.server.on_client_connect(self._connected)
        self.server.on_client_disconnect(self._disconnected)
        host = "localhost" if self.opts.host in ("0.0.0.0", "127.0.0.1", "::", "::1") else self.opts.host
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.server.get_port()}" + (f"/?token={self.token}" if self.token else "")

    def _connected(self, client) -> None:
        self.sessions[client.client_id] = ViewerSession(self, client)

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
        for session in list(self.sessions.values()):
            session.close()
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
