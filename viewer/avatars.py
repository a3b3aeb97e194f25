"""The avatars a viewer offers: each loaded once, posed by its own SplatPoser, shared by every tab."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from avatar.avatar import Avatar
from avatar.errors import L2TError
from avatar.speaking_style import SpeakingStyle
from viewer.security import AvatarFolderPolicy
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
    style: SpeakingStyle | None = None  # the person's speaking style (style.json), applied to every speech


class AvatarLibrary:
    """Loaded avatars by name, in the order loaded; folders a visitor asks for go through the policy."""

    def __init__(self, policy: AvatarFolderPolicy, rig_path: str | None, device: torch.device):
        self.policy, self.rig_path, self.device = policy, rig_path, device
        self.entries: dict[str, AvatarEntry] = {}
        self._by_key: dict[str, AvatarEntry] = {}  # by resolved folder
        self._lock = threading.Lock()
        self._listeners: list[Callable[[], None]] = []

    def __getitem__(self, name: str) -> AvatarEntry:
        return self.entries[name]

    def __contains__(self, name: str) -> bool:
        return name in self.entries

    def __iter__(self):
        return iter(self.entries)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.entries)

    def first(self) -> AvatarEntry:
        return next(iter(self.entries.values()))

    def subscribe(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Call ``listener`` whenever an avatar is added; returns the unsubscribe function."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def load_requested(self, text: str) -> AvatarEntry:
        """What a visitor's "Load avatar folder" opens: only a folder the policy allows."""
        if not text.strip():
            raise L2TError("give the path of an avatar folder")
        return self.load(self.policy.resolve(text.strip()))

    def load(self, folder: str | Path | None) -> AvatarEntry:
        """Load an avatar folder (None: the default avatar) once; L2TError for a bad folder."""
        from avatar.io.avatar_folder import load_avatar
        from avatar.render.animate import head_framing

        if folder == "":
            raise L2TError("give the path of an avatar folder")
        key = DEFAULT_NAME if folder is None else str(Path(folder).resolve())
        with self._lock:
            if key in self._by_key:
                return self._by_key[key]
            avatar = load_avatar(folder, rig_path=self.rig_path, device=self.device)
            base = DEFAULT_NAME if folder is None else Path(key).name
            name, n = base, 2
            while name in self.entries:
                name, n = f"{base} ({n})", n + 1
            data = avatar.rig.data
            style = SpeakingStyle.load(folder)
            entry = AvatarEntry(name, avatar, SplatPoser(avatar), head_framing(avatar), data.expression_names, data.name, style)
            self.entries[name] = self._by_key[key] = entry
        for listener in list(self._listeners):
            listener()
        return entry
