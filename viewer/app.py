"""``l2t-avatar view``: a viser server with one ViewerSession per browser tab.

The server owns what tabs share: the loaded avatars (each posed by its own SplatPoser), the
Audio2Mesh engine, and the --audio speech. Everything per tab (camera, sliders, playback,
scene nodes) lives in its session, so several tabs work side by side.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from avatar.avatar import Avatar
from avatar.errors import L2TError
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
    fps: float = 25.0
    seed: int = 0
    max_rate: float = 30.0  # most updates per second a tab gets (bench/viewer_updates.py: what a 2-core server sustains)


class ViewerApp:
    def __init__(self, opts: ViewOptions):
        from avatar.device import resolve_device

        self.opts = opts
        self.device = resolve_device(opts.device)
        self.cuda = self.device.type == "cuda"
        self.seed, self.max_rate = opts.seed, opts.max_rate
        self.avatars: dict[str, AvatarEntry] = {}  # by name, in the order loaded
        self._by_key: dict[str, AvatarEntry] = {}  # by resolved folder
        self.sessions: dict[int, ViewerSession] = {}
        self._avatar_lock = threading.Lock()
        for folder in opts.avatars or [None]:
            self.load_avatar(folder)
        self.engine = SpeechEngine(self.device, opts.checkpoint, opts.audio_encoder, opts.fps)
        self.engine.load()
        first = self.default_entry()
        self.speech: Speech | None = self.engine.from_file(opts.audio, first.rig_names, first.rig_label) if opts.audio else None
        self.server = None

    def default_entry(self) -> AvatarEntry:
        return next(iter(self.avatars.values()))

    def load_avatar(self, folder: str | None) -> AvatarEntry:
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

        self.server = viser.ViserServer(host=self.opts.host, port=self.opts.port, verbose=False)
        self.server.gui.configure_theme(control_width="large", dark_mode=False, show_logo=False)
        self.server.scene.set_up_direction("+y")  # the rig's up; set for all tabs before any connects
        self.server.on_client_connect(self._connected)
        self.server.on_client_disconnect(self._disconnected)
        host = "localhost" if self.opts.host in ("0.0.0.0", "127.0.0.1") else self.opts.host
        return f"http://{host}:{self.server.get_port()}"

    def _connected(self, client) -> None:
        self.sessions[client.client_id] = ViewerSession(self, client)

    def _disconnected(self, client) -> None:
        session = self.sessions.pop(client.client_id, None)
        if session is not None:
            session.close()

    def stop(self) -> None:
        for session in list(self.sessions.values()):
            session.close()
        if self.server is not None:
            self.server.stop()
        self.engine.close()

    def serve_forever(self) -> None:
        try:
            while True:
                time.sleep(1.0)
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()
