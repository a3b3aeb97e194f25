"""Procedural vertex colours for a rig: skin, lips, hair, teeth, mouth, eyes with irises.

Used to look at the rig (contact sheet) and as the target the default Gaussian avatar
is fitted to. Rigs without named regions (e.g. FLAME without its masks) get plain skin.
"""

from __future__ import annotations

import numpy as np

from avatar.rig.data import RigData

SKIN = (0.86, 0.66, 0.55)
LIPS = (0.72, 0.36, 0.38)
HAIR = (0.23, 0.16, 0.11)
TEETH = (0.93, 0.91, 0.84)
TONGUE = (0.74, 0.33, 0.36)
MOUTH = (0.36, 0.12, 0.13)
SOCKET = (0.30, 0.18, 0.16)
SCLERA = (0.94, 0.93, 0.90)
IRIS = (0.30, 0.20, 0.12)
PUPIL = (0.03, 0.03, 0.03)
IRIS_ANGLE, PUPIL_ANGLE = 0.48, 0.2  # radians from the gaze axis


def rig_vertex_colors(rig: RigData) -> np.ndarray:
    """[V, 3] float32 colours in [0, 1]."""
    colors = np.tile(np.array(SKIN, np.float32), (rig.num_vertices, 1))
    r = rig.regions
    for name, color in (("scalp", HAIR), ("mouth_cavity", MOUTH), ("eye_sockets", SOCKET), ("teeth", TEETH), ("tongue", TONGUE)):
        if name in r:
            colors[r[name]] = color
    if "lips" in r:
        colors[r["lips"]] = LIPS
    if "scalp" in r and "face" in r:  # a soft hairline on the forehead's top edge
        v = rig.v_template
        top = v[r["face"], 1].max()
        fringe = np.clip((v[r["face"], 1] - (top - 0.012)) / 0.012, 0, 1)[:, None]
        colors[r["face"]] = colors[r["face"]] * (1 - fringe) + np.array(HAIR) * fringe
    if "face" in r:
        colors[r["face"]] = _smooth_on(rig.faces, colors, r["face"], iterations=1)[r["face"]]
    for side in ("left", "right"):
        eye, iris = f"{side}_eye", f"{side}_iris_center"
        if eye in r and iris in rig.named_landmarks:
            idx = r[eye]
            center = rig.v_template[idx].mean(0)
            gaze = rig.v_template[rig.named_landmarks[iris]] - center
            d = rig.v_template[idx] - center
            angle = np.arccos(np.clip((d @ gaze) / (np.linalg.norm(d, axis=1) * np.linalg.norm(gaze) + 1e-12), -1, 1))
            colors[idx] = np.where((angle < PUPIL_ANGLE)[:, None], PUPIL, np.where((angle < IRIS_ANGLE)[:, None], IRIS, SCLERA))
    return colors


def _smooth_on(faces: np.ndarray, values: np.ndarray, subset: np.ndarray, iterations: int) -> np.ndarray:
    """Average `values` [V, C] with mesh neighbours inside `subset` (softens region edges)."""
    inside = np.zeros(len(values), bool)
    inside[subset] = True
    edges = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    edges = edges[inside[edges].all(1)]
    out = values.copy()
    for _ in range(iterations):
        acc, count = out.copy(), np.ones(len(out))
        for a, b in ((0, 1), (1, 0)):
            np.add.at(acc, edges[:, a], out[edges[:, b]])
            np.add.at(count, edges[:, a], 1.0)
        out = np.where(inside[:, None], acc / count[:, None], out)
    return out
