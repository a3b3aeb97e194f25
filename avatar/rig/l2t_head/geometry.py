"""l2t-head geometry: the MediaPipe face, cut open, refined and closed into a whole head.

All lengths here are centimetres (the canonical mesh's unit); build.py converts to metres.
Parts: the skin (face + scalp/back/ears/neck + mouth cavity + eye sockets, one closed
manifold), two eyeballs, upper and lower teeth, a tongue.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from avatar.rig import mediapipe_topology as mp
from avatar.rig.l2t_head.mesh_ops import (
    boundary_loops,
    loft_to_pole,
    read_obj,
    smoothstep,
    subdivide,
    uv_sphere,
)

CANONICAL_OBJ = Path(__file__).resolve().parents[1] / "assets" / "canonical_face_model.obj"

# Head proportions (cm), around the canonical face (nose tip z = 7.6, chin y = -9.4).
HEAD_CENTER = np.array([0.0, 1.5, -2.5])
CRANIUM_CENTER, CRANIUM_AXES, CRANIUM_POWER = np.array([0.0, 2.0, -3.2]), np.array([7.8, 11.3, 9.8]), 2.5
NECK_AXIS_XZ, NECK_RADII, NECK_BOTTOM = np.array([0.0, -3.6]), np.array([5.5, 5.3]), -21.0
EAR_CENTER, EAR_SIGMA, EAR_HEIGHT = np.array([7.9, 0.3, -4.6]), np.array([2.9, 1.6]), 1.3
MOUTH_CAVITY_CENTER, MOUTH_CAVITY_AXES = np.array([0.0, -4.4, 1.8]), np.array([2.8, 2.2, 3.6])
EYEBALL_RADIUS, IRIS_RADIUS = 1.2, 0.59
SOCKET_GAP = 0.08
BACK_RINGS, MOUTH_RINGS, SOCKET_RINGS = 22, 8, 5


def _ray_ellipsoid(origin: np.ndarray, dirs: np.ndarray, center: np.ndarray, axes: np.ndarray) -> np.ndarray:
    """Distance along each unit direction from an inside `origin` to the ellipsoid."""
    o, d = (origin - center) / axes, dirs / axes
    a = (d * d).sum(1)
    b = 2 * (d @ o)
    c = o @ o - 1.0
    return (-b + np.sqrt(b * b - 4 * a * c)) / (2 * a)


def _ray_superellipsoid(origin: np.ndarray, dirs: np.ndarray, center: np.ndarray, axes: np.ndarray, power: float) -> np.ndarray:
    """Distance from an inside `origin` to |x/a|^p + |y/b|^p + |z/c|^p = 1 (bisection)."""
    lo, hi = np.zeros(len(dirs)), np.full(len(dirs), 4.0 * axes.max())
    for _ in range(48):
        mid = 0.5 * (lo + hi)
        inside = (np.abs((origin + dirs * mid[:, None] - center) / axes) ** power).sum(1) < 1.0
        lo, hi = np.where(inside, mid, lo), np.where(inside, hi, mid)
    return 0.5 * (lo + hi)


def _ray_neck(origin: np.ndarray, dirs: np.ndarray) -> np.ndarray:
    """Distance to a vertical elliptic cylinder (the neck) from y = NECK_BOTTOM up to origin's height."""
    o = (origin[[0, 2]] - NECK_AXIS_XZ) / NECK_RADII
    d = dirs[:, [0, 2]] / NECK_RADII
    a = np.maximum((d * d).sum(1), 1e-12)
    b = 2 * (d @ o)
    c = o @ o - 1.0
    side = (-b + np.sqrt(np.maximum(b * b - 4 * a * c, 0))) / (2 * a)
    dy = dirs[:, 1]
    cap = np.where(dy < -1e-9, (NECK_BOTTOM - origin[1]) / np.minimum(dy, -1e-9), 0.0)
    return np.minimum(side, cap)


def head_radius(dirs: np.ndarray) -> np.ndarray:
    """Radius of the head surface (cranium ∪ neck, plus ears) seen from HEAD_CENTER."""
    r = np.maximum(_ray_superellipsoid(HEAD_CENTER, dirs, CRANIUM_CENTER, CRANIUM_AXES, CRANIUM_POWER), _ray_neck(HEAD_CENTER, dirs))
    return r + EAR_HEIGHT * ear_weight(HEAD_CENTER + dirs * r[:, None])


def ear_weight(points: np.ndarray) -> np.ndarray:
    """Bump profile of the ears (0..1) at points on the head surface."""
    dy = (points[:, 1] - EAR_CENTER[1]) / EAR_SIGMA[0]
    dz = (points[:, 2] - EAR_CENTER[2]) / EAR_SIGMA[1]
    r2 = dy * dy + dz * dz
    return np.exp(-0.5 * r2 * r2) * smoothstep(5.0, 7.0, np.abs(points[:, 0]))  # flat top, sharp rim


@dataclass
class HeadGeometry:
    """Vertices (cm), faces and bookkeeping that the sculpting and skinning steps need."""

    verts: np.ndarray
    faces: np.ndarray
    num_face_verts: int  # vertices [0, num_face_verts) are the refined face (first 468 = MediaPipe)
    parents: np.ndarray  # [num_face_verts, 2] the edge each refined face vertex came from
    loft_source: np.ndarray  # [V] the ring vertex a swept vertex came from, else -1
    loft_t: np.ndarray  # [V] its sweep parameter, else 0
    parts: dict[str, np.ndarray] = field(default_factory=dict)  # vertex indices per part
    rings: dict[str, np.ndarray] = field(default_factory=dict)  # ordered contour vertices
    eye_centers: dict[str, np.ndarray] = field(default_factory=dict)
    eye_poles: dict[str, tuple[int, int]] = field(default_factory=dict)  # (front, back) vertex
    iris_points: dict[str, list[int]] = field(default_factory=dict)  # centre + 4 contour vertices


def _on_contour(parents: np.ndarray, contour: tuple[int, ...]) -> np.ndarray:
    """Mask of refined vertices lying on a MediaPipe contour (both parents on it)."""
    s = np.array(sorted(set(contour)))
    return np.isin(parents[:, 0], s) & np.isin(parents[:, 1], s)


class _Builder:
    def __init__(self):
        self.verts: list[np.ndarray] = []
        self.faces: list[np.ndarray] = []
        self.count = 0
        self.source: list[np.ndarray] = []
        self.t: list[np.ndarray] = []

    def add(self, verts: np.ndarray, faces: np.ndarray, source=None, t=None, local_faces=True) -> np.ndarray:
        start = self.count
        self.verts.append(verts)
        self.faces.append(faces + start if local_faces else faces)
        self.source.append(np.full(len(verts), -1) if source is None else source)
        self.t.append(np.zeros(len(verts)) if t is None else t)
        self.count += len(verts)
        return np.arange(start, self.count)

    def add_loft(self, loft) -> np.ndarray:
        return self.add(loft.verts, loft.faces, loft.source, loft.t, local_faces=False)


def _closed_part(verts: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Flip a closed part's faces if its signed volume is negative (make normals point out)."""
    a, b, c = (verts[faces[:, k]] - verts.mean(0) for k in range(3))
    volume = np.einsum("ij,ij->i", a, np.cross(b, c)).sum()
    return verts, (faces if volume > 0 else faces[:, ::-1].copy())


def _teeth_arch(front_z: float, half_width: float, bend: float, y_top: float, y_bottom: float, thickness: float, n: int = 17):
    """A closed rectangular tube swept along a parabolic dental arch."""
    xs = np.linspace(-half_width, half_width, n)
    zs = front_z - bend * xs**2
    out = np.stack([2 * bend * xs, np.ones(n)], 1)
    out /= np.linalg.norm(out, axis=1, keepdims=True)
    corners = [(y_top, 0.5), (y_bottom, 0.5), (y_bottom, -0.5), (y_top, -0.5)]
    verts = []
    for x, z, (ox, oz) in zip(xs, zs, out):
        for y, s in corners:
            verts.append([x + ox * s * thickness, y, z + oz * s * thickness])
    verts = np.array(verts)
    faces = []
    for i in range(n - 1):
        for k in range(4):
            a, b = 4 * i + k, 4 * i + (k + 1) % 4
            faces += [(a, b, b + 4), (a, b + 4, a + 4)]
    last = 4 * (n - 1)
    faces += [(0, 2, 1), (0, 3, 2), (last, last + 1, last + 2), (last, last + 2, last + 3)]
    return _closed_part(verts, np.array(faces, np.int64))


def build_geometry(obj_path: Path = CANONICAL_OBJ) -> HeadGeometry:
    """Cut the canonical face open at the mouth and eyes, refine it, and close the head."""
    verts0, faces0, _, _ = read_obj(obj_path)
    holes = [
        set(mp.LIPS_INNER_UPPER + mp.LIPS_INNER_LOWER),
        set(mp.LEFT_EYE_UPPER + mp.LEFT_EYE_LOWER),
        set(mp.RIGHT_EYE_UPPER + mp.RIGHT_EYE_LOWER),
    ]
    keep = np.array([not any(set(f.tolist()) <= h for h in holes) for f in faces0])
    sub = subdivide(verts0, faces0[keep])
    num_face = len(sub.verts)

    loops = boundary_loops(sub.faces)

    def loop_with(v: int) -> np.ndarray:
        return next(loop for loop in loops if v in set(loop.tolist()))

    oval, mouth = loop_with(mp.FOREHEAD), loop_with(mp.UPPER_LIP_INNER)
    eye_rings = {"left": loop_with(mp.LEFT_EYE_UPPER[1]), "right": loop_with(mp.RIGHT_EYE_UPPER[1])}

    b = _Builder()
    b.add(sub.verts, sub.faces)
    # Scalp, back of the head, ears and neck: sweep the face oval round the head.
    oval_dirs = sub.verts[oval] - HEAD_CENTER
    pole = -(oval_dirs / np.linalg.norm(oval_dirs, axis=1, keepdims=True)).mean(0)
    back = b.add_loft(loft_to_pole(sub.verts, oval, HEAD_CENTER, pole, head_radius, BACK_RINGS, blend=0.35, offset=b.count))
    # Mouth cavity behind the lips.
    cavity = lambda d: _ray_ellipsoid(MOUTH_CAVITY_CENTER, d, MOUTH_CAVITY_CENTER, MOUTH_CAVITY_AXES)  # noqa: E731
    bag = b.add_loft(
        loft_to_pole(sub.verts, mouth, MOUTH_CAVITY_CENTER, np.array([0, 0, -1.0]), cavity, MOUTH_RINGS, blend=0.4, offset=b.count)
    )

    geo_parts: dict[str, np.ndarray] = {"face": np.arange(num_face), "back": back, "mouth_cavity": bag}
    eye_centers, eye_poles, iris = {}, {}, {}
    sockets = []
    for side, ring in eye_rings.items():
        ring_pts = sub.verts[ring]
        center = ring_pts.mean(0) + np.array([0.0, 0.0, 0.3 - EYEBALL_RADIUS])
        while np.linalg.norm(ring_pts - center, axis=1).min() < EYEBALL_RADIUS + 0.04:
            center[2] -= 0.02
        eye_centers[side] = center
        socket_r = lambda d: np.full(len(d), EYEBALL_RADIUS + SOCKET_GAP)  # noqa: E731
        sockets.append(
            b.add_loft(loft_to_pole(sub.verts, ring, center, np.array([0, 0, -1.0]), socket_r, SOCKET_RINGS, blend=0.4, offset=b.count))
        )
    geo_parts["eye_sockets"] = np.concatenate(sockets)
    num_skin = b.count

    iris_angle = np.arcsin(IRIS_RADIUS / EYEBALL_RADIUS)
    polar = np.array([0.18, 0.34, iris_angle, 0.75, 1.05, 1.4, 1.75, 2.1, 2.5, 2.85])
    segments = 24
    for side in ("left", "right"):
        ev, ef = uv_sphere(eye_centers[side], np.full(3, EYEBALL_RADIUS), polar, segments)
        idx = b.add(ev, ef)
        geo_parts[f"{side}_eyeball"] = idx
        eye_poles[side] = (int(idx[0]), int(idx[1]))
        iris_ring = idx[2 + 2 * segments + np.arange(segments)]
        # Contour points at +x, +y, -x, -y around the iris centre (MediaPipe order assumed).
        iris[side] = [int(idx[0])] + [int(iris_ring[k]) for k in (0, 6, 12, 18)]

    mouth_line = 0.5 * (sub.verts[mp.UPPER_LIP_INNER, 1] + sub.verts[mp.LOWER_LIP_INNER, 1])
    lip_z = sub.verts[mp.UPPER_LIP_INNER, 2]
    geo_parts["upper_teeth"] = b.add(*_teeth_arch(lip_z - 0.8, 1.8, 0.5, mouth_line + 0.85, mouth_line - 0.02, 0.3))
    geo_parts["lower_teeth"] = b.add(*_teeth_arch(lip_z - 0.95, 1.65, 0.5, mouth_line - 0.06, mouth_line - 0.8, 0.28))
    tv, tf = uv_sphere(np.array([0.0, mouth_line - 0.95, lip_z - 3.2]), np.array([1.6, 0.5, 2.0]), np.linspace(0.3, np.pi - 0.3, 8), 16)
    geo_parts["tongue"] = b.add(*_closed_part(tv, tf))

    verts = np.concatenate(b.verts)
    faces = np.concatenate(b.faces)
    geo_parts["skin"] = np.arange(num_skin)
    rings = {
        "oval": oval,
        "mouth": mouth,
        "mouth_upper": mouth[_on_contour(sub.parents, mp.LIPS_INNER_UPPER)[mouth]],
        "mouth_lower": mouth[_on_contour(sub.parents, mp.LIPS_INNER_LOWER)[mouth]],
    }
    for side, (upper, lower) in {"left": (mp.LEFT_EYE_UPPER, mp.LEFT_EYE_LOWER), "right": (mp.RIGHT_EYE_UPPER, mp.RIGHT_EYE_LOWER)}.items():
        ring = eye_rings[side]
        rings[f"{side}_eye"] = ring
        rings[f"{side}_lid_upper"] = ring[_on_contour(sub.parents, upper)[ring]]
        rings[f"{side}_lid_lower"] = ring[_on_contour(sub.parents, lower)[ring]]
    return HeadGeometry(
        verts=verts,
        faces=faces,
        num_face_verts=num_face,
        parents=sub.parents,
        loft_source=np.concatenate(b.source),
        loft_t=np.concatenate(b.t),
        parts=geo_parts,
        rings=rings,
        eye_centers=eye_centers,
        eye_poles=eye_poles,
        iris_points=iris,
    )
