"""Painted detail that makes the procedural head read as a person: brows, lash lines, warm cheeks,
darker under-eyes, a shaved beard's shadow, a lip line, creases and cavities in shadow, and a little
unevenness in skin and hair.

Everything is placed by MediaPipe's canonical face landmarks (l2t-head's first 468 vertices are
them) or by the mesh's own shape (concave places are darker, as ambient occlusion makes them), so
it needs a rig in MediaPipe's layout; other rigs are returned unchanged. Distances are in metres.
"""

from __future__ import annotations

import numpy as np

from avatar.rig import mediapipe_topology as mp
from avatar.rig.data import RigData

BROW = (0.20, 0.14, 0.10)
LASH = (0.10, 0.07, 0.06)
BLUSH = (0.88, 0.50, 0.46)
UNDER_EYE = (0.62, 0.46, 0.44)
STUBBLE = (0.52, 0.44, 0.40)
LIP_LINE = (0.45, 0.20, 0.22)
# Rows of MediaPipe landmarks (the upper edge of each brow above its lower edge; cheek centres)
RIGHT_BROW_LOWER = (46, 53, 52, 65, 55)
LEFT_BROW_LOWER = (276, 283, 282, 295, 285)
CHEEKS = (50, 280)
CHIN_AND_JAW = (152, 148, 377, 176, 400, 149, 378, 136, 365, 150, 379, 172, 397, 58, 288)
UPPER_LIP_SKIN = (164, 167, 393, 165, 391, 92, 322, 186, 410)


def paint_face_detail(rig: RigData, colors: np.ndarray, seed: int = 0) -> np.ndarray:
    """``colors`` [V, 3] with the face's painted detail (unchanged for rigs not in MediaPipe's layout)."""
    r = rig.regions
    if rig.num_vertices < mp.NUM_MESH_LANDMARKS or "face" not in r or "lips" not in r:
        return colors
    v = rig.v_template.astype(np.float64)
    out = colors.astype(np.float64).copy()
    face = np.zeros(len(v), bool)
    face[r["face"]] = True
    skin = face.copy()
    skin[r["lips"]] = False

    def paint(weight: np.ndarray, color, where: np.ndarray) -> None:
        w = np.where(where, np.clip(weight, 0, 1), 0.0)[:, None]
        out[:] = out * (1 - w) + np.asarray(color) * w

    # a shaved beard's shadow on the chin, jaw and upper lip; warm cheeks; darker under the eyes
    beard = np.maximum(_near_points(v, v[list(CHIN_AND_JAW)], 0.028), 0.8 * _near_points(v, v[list(UPPER_LIP_SKIN)], 0.012))
    paint(0.28 * beard, STUBBLE, skin)
    paint(0.30 * _near_points(v, v[list(CHEEKS)], 0.030), BLUSH, skin)
    for lower_lid in (mp.RIGHT_EYE_LOWER, mp.LEFT_EYE_LOWER):
        under = v[list(lower_lid)] - np.array([0.0, 0.006, -0.002])
        paint(0.25 * _near_polyline(v, under, 0.007), UNDER_EYE, skin)
    # brows: a band between each brow's lower and upper edge, thinning towards the temple
    for upper, lower in ((mp.RIGHT_BROW, RIGHT_BROW_LOWER), (mp.LEFT_BROW, LEFT_BROW_LOWER)):
        middle = 0.5 * (v[list(upper)] + v[list(lower)])
        taper = np.linspace(1.0, 0.55, len(middle))[::-1]  # MediaPipe lists each brow from the temple inwards
        paint(0.75 * _near_polyline(v, middle, 0.009, taper), BROW, skin)
    # lash lines on the upper lids, a darker line where the lips meet
    for lid in (mp.RIGHT_EYE_UPPER, mp.LEFT_EYE_UPPER):
        paint(0.8 * _near_polyline(v, v[list(lid)], 0.0018), LASH, face)
    inner = list(mp.LIPS_INNER_UPPER) + list(mp.LIPS_INNER_LOWER)
    paint(0.5 * _near_points(v, v[inner], 0.0025), LIP_LINE, np.isin(np.arange(len(v)), r["lips"]))
    # creases and cavities (nostrils, eye corners, the fold beside the nose, under the lower lip) in shadow
    outside = np.zeros(len(v), bool)
    outside[r.get("skin", r["face"])] = True  # not the mouth's or eyes' insides
    out[outside] *= (1 - 0.25 * _concavity(v, rig.faces)[outside])[:, None]
    # unevenness: skin a little blotchy, hair in strands
    rng = np.random.default_rng(seed)
    noise = _smooth(rig.faces, rng.normal(0, 1, len(v)), 2)
    out[skin] *= (1 + 0.035 * noise[skin])[:, None]
    if "scalp" in r:
        out[r["scalp"]] *= (1 + 0.18 * _smooth(rig.faces, rng.normal(0, 1, len(v)), 1)[r["scalp"]])[:, None]
    return np.clip(out, 0, 1).astype(np.float32)


def _falloff(distance: np.ndarray, radius: float) -> np.ndarray:
    """1 at distance 0, 0 from ``radius`` on, smooth in between."""
    x = np.clip(1 - distance / radius, 0, 1)
    return x * x * (3 - 2 * x)


def _near_points(v: np.ndarray, points: np.ndarray, radius: float) -> np.ndarray:
    return _falloff(np.linalg.norm(v[:, None] - points[None], axis=-1).min(1), radius)


def _near_polyline(v: np.ndarray, points: np.ndarray, radius: float, scale: np.ndarray | None = None) -> np.ndarray:
    """Falloff from a polyline through ``points``; ``scale`` [len(points)] widens/narrows it along its length."""
    t = np.linspace(0, len(points) - 1, 20 * len(points))
    dense = np.stack([np.interp(t, np.arange(len(points)), points[:, k]) for k in range(3)], 1)
    widths = radius * (np.interp(t, np.arange(len(points)), scale) if scale is not None else np.ones(len(t)))
    d = np.linalg.norm(v[:, None] - dense[None], axis=-1)
    return _falloff(d / widths[None], 1.0).max(1)


def _neighbour_mean(faces: np.ndarray, values: np.ndarray) -> np.ndarray:
    edges = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    edges = np.concatenate([edges, edges[:, ::-1]])
    acc = np.zeros_like(values, dtype=np.float64)
    count = np.zeros(len(values))
    np.add.at(acc, edges[:, 0], values[edges[:, 1]])
    np.add.at(count, edges[:, 0], 1.0)
    return acc / np.maximum(count, 1)[(...,) + (None,) * (values.ndim - 1)]


def _smooth(faces: np.ndarray, values: np.ndarray, iterations: int) -> np.ndarray:
    for _ in range(iterations):
        values = 0.5 * (values + _neighbour_mean(faces, values))
    return values / max(values.std(), 1e-12)


def _concavity(v: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """[V] in [0, 1]: how far each vertex sits below its neighbours' mean along its normal
    (scale-free: over the neighbourhood's size), smoothed, 0 on convex and flat places."""
    tri = v[faces]
    face_normals = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    normals = np.zeros_like(v)
    for k in range(3):
        np.add.at(normals, faces[:, k], face_normals)
    normals /= np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-12)
    offset = _neighbour_mean(faces, v) - v
    spread = np.linalg.norm(offset, axis=1) + 1e-9
    depth = np.clip((offset * normals).sum(1) / (spread + np.median(spread)), 0, None)
    for _ in range(4):
        depth = 0.5 * (depth + _neighbour_mean(faces, depth))
    return np.clip(depth / 0.25, 0, 1)
