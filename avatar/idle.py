"""Idle motion layered on speech: blinks and a slight, slow head sway, seeded and reproducible.

Head sway is a sum of three slow sinusoids per axis (0.05-0.35 Hz; about ±1.5° pitch, ±2.5° yaw,
±1° roll); blinks come at gamma-distributed intervals (mean 3.8 s, at least 1.2 s apart), each a
0.18-0.26 s raised-cosine closing of both eyelids. Any frame is a closed-form function of time
and the seed, so long clips cost no more memory than their motion.
"""

from __future__ import annotations

import math

import numpy as np
import torch

BLINK_NAMES = ("eyeBlink_L", "eyeBlink_R")
SWAY_DEGREES = (1.5, 2.5, 1.0)  # pitch, yaw, roll amplitude


def head_sway(num_frames: int, fps: float, seed: int) -> torch.Tensor:
    """Axis-angle head rotation [T, 3]."""
    rng = np.random.default_rng([seed, 1])
    t = np.arange(num_frames) / fps
    rot = np.zeros((num_frames, 3))
    for axis, degrees in enumerate(SWAY_DEGREES):
        freqs = rng.uniform(0.05, 0.35, 3)
        phases = rng.uniform(0, 2 * math.pi, 3)
        weights = rng.dirichlet(np.ones(3))
        rot[:, axis] = math.radians(degrees) * sum(w * np.sin(2 * math.pi * f * t + p) for w, f, p in zip(weights, freqs, phases))
    return torch.from_numpy(rot.astype(np.float32))


def blink_curve(num_frames: int, fps: float, seed: int) -> torch.Tensor:
    """Eyelid closure in [0, 1] per frame [T]."""
    rng = np.random.default_rng([seed, 2])
    seconds = num_frames / fps
    t = np.arange(num_frames) / fps
    curve = np.zeros(num_frames)
    when = rng.uniform(0.5, 2.5)
    while when < seconds:
        length = rng.uniform(0.18, 0.26)
        inside = (t >= when) & (t < when + length)
        curve[inside] = np.maximum(curve[inside], 0.5 - 0.5 * np.cos(2 * math.pi * (t[inside] - when) / length))
        when += max(1.2, rng.gamma(4.0, 3.8 / 4.0))
    return torch.from_numpy(curve.astype(np.float32))


def add_idle(params: dict[str, torch.Tensor], fps: float, expression_names: list[str], seed: int = 0) -> dict[str, torch.Tensor]:
    """Speech motion parameters with head sway (added to any rotation) and blinks (where the rig has them)."""
    out = dict(params)
    num = next(iter(params.values())).shape[0]
    sway = head_sway(num, fps, seed)
    out["rotation"] = params["rotation"] + sway if "rotation" in params else sway
    names = {n: i for i, n in enumerate(expression_names)}
    if all(n in names for n in BLINK_NAMES) and "expression" in params:
        expr = params["expression"].clone()
        blink = blink_curve(num, fps, seed)
        for n in BLINK_NAMES:
            if names[n] < expr.shape[1]:
                expr[:, names[n]] = torch.maximum(expr[:, names[n]], blink)
        out["expression"] = expr
    return out
