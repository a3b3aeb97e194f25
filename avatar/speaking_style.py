"""A person's speaking style as the rig plays it: a gain and an offset on the jaw's opening and
on mouth expressions, applied to any speech motion (``style.json`` in an avatar folder).

``l2t_avatar.style`` learns it at fit time from the video's own sound; ``speak`` and the viewer
apply it to the motion of every speech the avatar says.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from avatar.motion import Motion

STYLE_FILE = "style.json"
JAW = "jaw"


@dataclass
class SpeakingStyle:
    """Gain and offset per adapted parameter (``jaw``: the jaw's opening; else an expression name)."""

    names: list[str]
    gain: list[float]
    offset: list[float]
    lag_frames: int = 0
    metrics: dict = field(default_factory=dict)

    def apply(self, motion: Motion, rig_names: list[str]) -> Motion:
        """The motion with each adapted parameter mapped through its gain and offset."""
        params = {k: v.clone() for k, v in motion.params.items()}
        for name, g, o in zip(self.names, self.gain, self.offset):
            if name == JAW:
                params["jaw"][:, 0] = g * params["jaw"][:, 0] + o
            elif name in rig_names:
                column = rig_names.index(name)
                params["expression"][:, column] = g * params["expression"][:, column] + o
        return Motion(params, fps=motion.fps, vertices=motion.vertices)

    def folder_note(self) -> str:
        """One line on what was learned: the jaw's gain and the audio-video offset."""
        jaw = self.names.index(JAW) if JAW in self.names else None
        gain = f"jaw gain {self.gain[jaw]:.2f}, " if jaw is not None else ""
        return f"{gain}{len(self.names)} parameters, audio-video offset {self.lag_frames:+d} frames"

    def save(self, folder: str | Path) -> Path:
        from avatar.io.atomic import atomic_write_bytes

        path = Path(folder) / STYLE_FILE
        atomic_write_bytes(path, (json.dumps(asdict(self), indent=1) + "\n").encode())
        return path

    @classmethod
    def load(cls, folder: str | Path | None) -> SpeakingStyle | None:
        """The style of an avatar folder, or None when it has none."""
        path = Path(folder) / STYLE_FILE if folder is not None else None
        if path is None or not path.is_file():
            return None
        from avatar.errors import L2TError

        try:
            raw = json.loads(path.read_text())
            style = cls(list(raw["names"]), [float(x) for x in raw["gain"]], [float(x) for x in raw["offset"]], int(raw["lag_frames"]))
        except (ValueError, KeyError, TypeError) as exc:
            raise L2TError(f"{path} is not a speaking style ({type(exc).__name__}); delete it or refit") from None
        if not (len(style.names) == len(style.gain) == len(style.offset)) or not np.isfinite(style.gain + style.offset).all():
            raise L2TError(f"{path} is not a speaking style (lengths or values); delete it or refit")
        return style
