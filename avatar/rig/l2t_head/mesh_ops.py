"""Mesh operations for building l2t-head (numpy, build time only)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np


def read_obj(path: str | Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Read a triangle OBJ: (vertices [V,3], faces [F,3], uvs [T,2], uv_faces [F,3])."""
    verts, uvs, faces, uv_faces = [], [], [], []
    for line in Path(path).read_text().splitlines():
        parts = line.split()
        if not parts:
            continue
        if parts[0] == "v":
            verts.append([float(x) for x in parts[1:4]])
        elif parts[0] == "vt":
            uvs.append([float(x) for x in parts[1:3]])
        elif parts[0] == "f":
            corners = [p.split("/") for p in parts[1:4]]
            faces.append([int(c[0]) - 1 for c in corners])
            uv_faces.append([int(c[1]) - 1 if len(c) > 1 and c[1] else -1 for c in corners])
    return (np.array(verts, np.float64), np.array(faces, np.int64), np.array(uvs, np.float64), np.array(uv_faces, np.int64))


def face_normals(verts: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Unnormalised face normals (length = twice the area): [F, 3]."""
    a, b, c = verts[faces[:, 0]], verts[faces[:, 1]], verts[faces[:, 2]]
    return np.cross(b - a, c - a)


def vertex_normals(verts: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Area-weighted unit vertex normals: [V, 3]."""
    normals = np.zeros_like(verts)
    fn = face_normals(verts, faces)
    for k in range(3):
        np.add.at(normals, faces[:, k], fn)
    return normals / np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-12)


def edge_counts(faces: np.ndarray) -> dict[tuple[int, int], int]:
    """Undirected edge -> number of faces using it."""
    counts: dict[tuple[int, int], int] = {}
    for f in faces:
        for k in range(3):
            a, b = int(f[k]), int(f[(k + 1) % 3])
            key = (a, b) if a < b else (b, a)
            counts[key] = counts.get(key, 0) + 1
    return counts


def boundary_loops(faces: np.ndarray) -> list[np.ndarray]:
    """Closed boundary loops, each ordered the way its edges run inside their faces."""
    counts = edge_counts(faces)
    nxt: dict[int, int] = {}
    for f in faces:
        for k in range(3):
            a, b = int(f[k]), int(f[(k + 1) % 3])
            if counts[(min(a, b), max(a, b))] == 1:
                nxt[a] = b
    loops, seen = [], set()
    for start in sorted(nxt):
        if start in seen:
            continue
        loop, v = [], start
        while v not in seen:
            seen.add(v)
            loop.append(v)
            v = nxt[v]
        loops.append(np.array(loop, np.int64))
    return loops


def is_closed_manifold(faces: np.ndarray) -> bool:
    """Every edge shared by exactly two faces, with opposite directions (consistent orientation)."""
    directed: dict[tuple[int, int], int] = {}
    for f in faces:
        for k in range(3):
            e = (int(f[k]), int(f[(k + 1) % 3]))
            directed[e] = directed.get(e, 0) + 1
    return all(n == 1 and directed.get((b, a), 0) == 1 for (a, b), n in directed.items())


@dataclass
class Subdivision:
    verts: np.ndarray  # [V', 3]; the first V are the input vertices, unchanged
    faces: np.ndarray  # [4F, 3]
    parents: np.ndarray  # [V', 2] the edge a new vertex splits; (i, i) for original vertices


def subdivide(verts: np.ndarray, faces: np.ndarray) -> Subdivision:
    """1-to-4 subdivision that keeps the original vertices and bends new edge midpoints.

    Midpoints are lifted along the mean normal by the curvature the end normals imply
    (a circle's sagitta), so the refined surface is smoother than the flat original.
    """
    normals = vertex_normals(verts, faces)
    new_verts = [v for v in verts]
    parents = [(i, i) for i in range(len(verts))]
    midpoint: dict[tuple[int, int], int] = {}

    def mid(a: int, b: int) -> int:
        key = (a, b) if a < b else (b, a)
        if key not in midpoint:
            pa, pb, na, nb = verts[a], verts[b], normals[a], normals[b]
            n = na + nb
            n /= max(np.linalg.norm(n), 1e-12)
            lift = np.dot(pb - pa, nb - na) / 8.0
            midpoint[key] = len(new_verts)
            new_verts.append(0.5 * (pa + pb) + lift * n)
            parents.append(key)
        return midpoint[key]

    out = []
    for a, b, c in faces:
        ab, bc, ca = mid(a, b), mid(b, c), mid(c, a)
        out += [(a, ab, ca), (ab, b, bc), (ca, bc, c), (ab, bc, ca)]
    return Subdivision(np.array(new_verts), np.array(out, np.int64), np.array(parents, np.int64))


def slerp(d0: np.ndarray, d1: np.ndarray, t: float | np.ndarray) -> np.ndarray:
    """Spherical interpolation between unit vectors d0 [N,3] and d1 [3] by t."""
    cos = np.clip(d0 @ d1, -1.0, 1.0)[:, None]
    omega = np.arccos(cos)
    sin = np.maximum(np.sin(omega), 1e-9)
    t = np.asarray(t, dtype=np.float64).reshape(-1, 1) if np.ndim(t) else t
    return (np.sin((1 - t) * omega) / sin) * d0 + (np.sin(t * omega) / sin) * d1[None]


def smoothstep(edge0: float, edge1: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((np.asarray(x, dtype=np.float64) - edge0) / (edge1 - edge0), 0.0, 1.0)
    return t * t * (3 - 2 * t)


@dataclass
class Loft:
    verts: np.ndarray  # [N, 3] new vertices (rings, then the pole)
    faces: np.ndarray  # [M, 3] faces, indices already offset to follow the existing mesh
    source: np.ndarray  # [N] ring vertex (existing index) each new vertex was swept from; -1 for the pole
    t: np.ndarray  # [N] sweep parameter in (0, 1]


def loft_to_pole(
    verts: np.ndarray,
    ring: np.ndarray,
    center: np.ndarray,
    pole_dir: np.ndarray,
    radius_fn,
    num_rings: int,
    blend: float = 0.3,
    offset: int | None = None,
) -> Loft:
    """Close a boundary loop by sweeping it around `center` towards `pole_dir`.

    Each ring vertex moves along the great circle from its own direction to the pole
    while its distance to `center` blends into `radius_fn(dirs) -> radii`, the target
    surface (so the sweep follows an ellipsoid, a cavity, a socket...). `ring` must be
    ordered as boundary_loops() returns it; the new faces continue its orientation.
    """
    offset = len(verts) if offset is None else offset
    pole_dir = pole_dir / np.linalg.norm(pole_dir)
    rel = verts[ring] - center
    r0 = np.linalg.norm(rel, axis=1)
    d0 = rel / r0[:, None]
    n = len(ring)
    new_verts, source, ts = [], [], []
    for k in range(1, num_rings + 1):
        t = k / (num_rings + 1)
        dirs = slerp(d0, pole_dir, t)
        dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
        s = smoothstep(0.0, blend, t)
        radii = (1 - s) * r0 + s * radius_fn(dirs)
        new_verts.append(center + dirs * radii[:, None])
        source.append(ring)
        ts.append(np.full(n, t))
    pole = center + pole_dir * radius_fn(pole_dir[None])[0]
    all_verts = np.concatenate(new_verts + [pole[None]])
    rings = [ring] + [offset + k * n + np.arange(n) for k in range(num_rings)]
    pole_idx = offset + num_rings * n
    faces = []
    for r_a, r_b in zip(rings[:-1], rings[1:]):
        for i in range(n):
            j = (i + 1) % n
            faces.append((r_a[j], r_a[i], r_b[i]))
            faces.append((r_a[j], r_b[i], r_b[j]))
    last = rings[-1]
    for i in range(n):
        faces.append((last[(i + 1) % n], last[i], pole_idx))
    return Loft(all_verts, np.array(faces, np.int64), np.concatenate(source + [np.array([-1])]), np.concatenate(ts + [np.array([1.0])]))


def uv_sphere(
    center: np.ndarray, radii: np.ndarray, polar_angles: np.ndarray, segments: int, axis: str = "z"
) -> tuple[np.ndarray, np.ndarray]:
    """A closed, outward-facing sphere/ellipsoid with poles on `axis` (+ first).

    polar_angles: the latitudes (radians, strictly inside (0, pi)) of the rings.
    Returns (verts [2 + R*segments, 3], faces): vertex 0 is the + pole, vertex 1 the - pole.
    """
    az = 2 * np.pi * np.arange(segments) / segments
    pts = [np.array([0, 0, 1.0]), np.array([0, 0, -1.0])]
    for th in polar_angles:
        pts += [np.array([np.sin(th) * np.cos(a), np.sin(th) * np.sin(a), np.cos(th)]) for a in az]
    unit = np.array(pts)
    if axis == "y":  # rotate so the first pole points to +y
        unit = unit[:, [0, 2, 1]] * np.array([1, 1, -1])
    verts = center + unit * radii
    faces = []
    ring = lambda r: 2 + r * segments + np.arange(segments)  # noqa: E731
    first, last = ring(0), ring(len(polar_angles) - 1)
    for i in range(segments):
        j = (i + 1) % segments
        faces.append((0, first[i], first[j]))
        faces.append((1, last[j], last[i]))
    for r in range(len(polar_angles) - 1):
        a, b = ring(r), ring(r + 1)
        for i in range(segments):
            j = (i + 1) % segments
            faces.append((a[i], b[i], b[j]))
            faces.append((a[i], b[j], a[j]))
    faces = np.array(faces, np.int64)
    if axis == "y":
        faces = faces[:, [0, 2, 1]]  # the axis swap mirrored the sphere
    return verts, faces


def harmonic_field(num_verts: int, faces: np.ndarray, fixed: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Solve the graph Laplace equation with Dirichlet values at `fixed`: [V] field."""
    import scipy.sparse as sp
    import scipy.sparse.linalg as spla

    edges = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    edges = np.unique(np.sort(edges, axis=1), axis=0)
    w = np.ones(len(edges))
    adj = sp.coo_matrix(
        (np.r_[w, w], (np.r_[edges[:, 0], edges[:, 1]], np.r_[edges[:, 1], edges[:, 0]])), shape=(num_verts, num_verts)
    ).tocsr()
    degree = np.asarray(adj.sum(1)).ravel()
    lap = sp.diags(degree) - adj
    free = np.setdiff1d(np.nonzero(degree > 0)[0], fixed)  # vertices off the faces stay 0
    field = np.zeros(num_verts)
    field[fixed] = values
    rhs = -lap[free][:, fixed] @ values
    field[free] = spla.spsolve(lap[free][:, free].tocsc(), rhs)
    return field


def mirror_map(verts: np.ndarray, tol: float) -> np.ndarray:
    """Index of each vertex's mirror image across x = 0; raises if one has none."""
    from scipy.spatial import cKDTree

    dist, idx = cKDTree(verts).query(verts * np.array([-1.0, 1.0, 1.0]))
    if dist.max() > tol:
        raise ValueError(f"mesh is not symmetric: vertex {int(dist.argmax())} has no mirror within {tol}")
    return idx


def affine_regressor(points: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Minimum-norm weights w (sum 1) with w @ points == target exactly: [K]."""
    a = np.vstack([points.T, np.ones(len(points))])  # [4, K]
    b = np.r_[target, 1.0]
    return a.T @ np.linalg.solve(a @ a.T, b)
