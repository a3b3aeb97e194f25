"""Rig sliders: jaw, neck, eyes, every named expression and the identity shape.

The sliders are offsets laid over whatever animation plays, so a user can, say, raise the brows
of a talking avatar. ``pose()`` combines them with an animation frame.
"""

from __future__ import annotations

import threading

import torch

from avatar.rig.model import Rig

NECK_LIMIT, EYE_LIMIT, SHAPE_LIMIT = 0.6, 0.5, 3.0


class RigControls:
    def __init__(self, gui, rig: Rig, shape: torch.Tensor, on_change, order: float | None = None):
        self.rig, self.base_shape = rig, shape
        self.version = 0  # bumped on every change, so the update loop knows to redraw
        self._lock = threading.Lock()
        self._on_change = on_change
        self.folder = gui.add_folder("Rig", expand_by_default=False, order=order)
        with self.folder:
            self.reset_button = gui.add_button("Reset rig")
            self.jaw_open = gui.add_slider("jaw open", 0.0, 0.5, 0.005, 0.0)
            self.jaw_side = gui.add_slider("jaw side", -0.15, 0.15, 0.005, 0.0)
            self.neck = [gui.add_slider(f"neck {axis}", -NECK_LIMIT, NECK_LIMIT, 0.01, 0.0) for axis in ("pitch", "yaw", "roll")]
            self.eyes = [gui.add_slider(f"eyes {axis}", -EYE_LIMIT, EYE_LIMIT, 0.01, 0.0) for axis in ("pitch", "yaw")]
            with gui.add_folder("Expressions", expand_by_default=False):
                self.expressions = [gui.add_slider(name, -1.0, 1.0, 0.01, 0.0) for name in rig.data.expression_names]
            with gui.add_folder("Identity", expand_by_default=False):
                names = rig.data.shape_names or [f"shape {i}" for i in range(rig.num_shapes)]
                start = self._start_shape()
                self.shapes = [gui.add_slider(name, -SHAPE_LIMIT, SHAPE_LIMIT, 0.05, float(start[i])) for i, name in enumerate(names)]
        for slider in self.sliders:
            slider.on_update(self._changed)
        self.reset_button.on_click(lambda _: self.reset())

    @property
    def sliders(self) -> list:
        return [self.jaw_open, self.jaw_side, *self.neck, *self.eyes, *self.expressions, *self.shapes]

    def _start_shape(self) -> torch.Tensor:
        shape = torch.zeros(self.rig.num_shapes)
        if self.base_shape.numel():
            shape[: self.base_shape.numel()] = self.base_shape.detach().float().cpu()[: self.rig.num_shapes]
        return shape

    def _changed(self, _event) -> None:
        with self._lock:
            self.version += 1
        self._on_change()

    def reset(self) -> None:
        """Every slider back to the avatar's rest pose and own identity."""
        start = self._start_shape()
        for slider in self.sliders:
            slider.value = 0.0
        for slider, value in zip(self.shapes, start.tolist()):
            slider.value = value

    def shape(self) -> torch.Tensor:
        return torch.tensor([s.value for s in self.shapes], dtype=torch.float32)

    def pose(self, frame: dict[str, torch.Tensor] | None) -> dict[str, torch.Tensor]:
        """Animation frame(s) (name -> [D] or [T, D], axis-angle rotations; or None) plus the
        slider offsets."""
        frame = {k: v.float() for k, v in (frame or {}).items()}
        lead = next(iter(frame.values())).shape[:-1] if frame else torch.Size()
        frame["jaw"] = frame.get("jaw", torch.zeros(*lead, 3)) + torch.tensor([self.jaw_open.value, self.jaw_side.value, 0.0])
        neck = torch.tensor([s.value for s in self.neck])
        if neck.any():
            frame["neck"] = frame.get("neck", torch.zeros(*lead, 3)) + neck
        pitch, yaw = (s.value for s in self.eyes)
        if (pitch or yaw) and self.rig.num_joints >= 5:
            frame["eyes"] = torch.tensor([pitch, yaw, 0.0, pitch, yaw, 0.0]).expand(*lead, 6)
        expression = torch.tensor([s.value for s in self.expressions])
        if "expression" in frame:
            given = frame["expression"]
            expression = expression + torch.nn.functional.pad(given, (0, expression.shape[-1] - given.shape[-1]))
        frame["expression"] = expression.expand(*lead, expression.shape[-1])
        return frame

    def remove(self) -> None:
        self.folder.remove()
