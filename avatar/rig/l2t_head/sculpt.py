"""Skinning weights, expression blendshapes and identity shapes of l2t-head, sculpted in code.

Expressions are smooth displacement fields (compact falloffs round named features) in
centimetres per unit activation, ARKit-named. "_L" shapes act on the subject's left (+x);
each "_R" shape is the exact mirror of its "_L" twin. Only the face (and the mouth and eye
surfaces swept from its contours, which follow their rim) moves: the scalp stays still.
"""

from __future__ import annotations

import numpy as np

from avatar.rig import mediapipe_topology as mp
from avatar.rig.l2t_head.geometry import HeadGeometry
from avatar.rig.l2t_head.mesh_ops import harmonic_field, smoothstep, vertex_normals

JOINTS = ("root", "neck", "jaw", "left_eye", "right_eye")
PARENTS = np.array([-1, 0, 1, 1, 1])
# Joint positions (cm): neck base, head pivot (atlas), jaw hinge (between the TMJs).
ROOT_JOINT = np.array([0.0, -17.0, -3.6])
NECK_JOINT = np.array([0.0, -5.0, -4.0])
JAW_JOINT = np.array([0.0, -1.0, -3.0])


def bump(points: np.ndarray, center: np.ndarray, radius) -> np.ndarray:
    """Smooth compact falloff (1 - d^2)^2 inside an ellipsoid of `radius` (scalar or [3])."""
    d2 = (((points - center) / np.asarray(radius, dtype=np.float64)) ** 2).sum(1)
    return np.clip(1.0 - d2, 0.0, None) ** 2


class Sculptor:
    """Holds the geometry and the derived fields every expression is written with."""

    def __init__(self, geo: HeadGeometry):
        self.geo = geo
        self.p = geo.verts
        self.n = len(self.p)
        self.normals = vertex_normals(geo.verts, geo.faces)
        self.face = np.zeros(self.n, bool)
        self.face[: geo.num_face_verts] = True
        self.jaw = self._jaw_field()
        self.mouth_center = 0.5 * (self.p[mp.UPPER_LIP_INNER] + self.p[mp.LOWER_LIP_INNER])
        self.lips = self._inside_outer_lips()

    # ----------------------------------------------------------- skinning
    def _jaw_field(self) -> np.ndarray:
        """Harmonic 0..1 field over the skin: 1 on the lower lip, chin and mouth floor."""
        g, p = self.geo, self.p
        skin = g.parts["skin"]
        skin_faces = g.faces[np.isin(g.faces, skin).all(1)]
        bag = g.parts["mouth_cavity"]
        bag_dir = p[bag] - p[bag].mean(0)
        # Leave the lip rim free near the corners so the weight ramps over ~1 cm there.
        corner_pts = p[[mp.LIPS_INNER_UPPER[0], mp.LIPS_INNER_UPPER[-1]]]
        near_corner = lambda idx: np.linalg.norm(p[idx, None] - corner_pts[None], axis=2).min(1) < 0.6  # noqa: E731
        lower = g.rings["mouth_lower"][~near_corner(g.rings["mouth_lower"])]
        upper = g.rings["mouth_upper"][~near_corner(g.rings["mouth_upper"])]
        face = np.arange(g.num_face_verts)
        chin = face[(p[face, 1] < -7.0) & (np.abs(p[face, 0]) < 3.5)]
        above = face[p[face, 1] > -2.5]
        back = g.parts["back"]
        skull = back[(p[back, 1] > -1.5) | (p[back, 2] < -3.5)]  # cranium and everything behind the ears
        neck = skin[p[skin, 1] < -13.0]
        ones = np.concatenate([lower, chin, bag[bag_dir[:, 1] < -0.6]])
        zeros = np.concatenate([upper, above, skull, neck, bag[bag_dir[:, 1] > 0.6], g.parts["eye_sockets"]])
        zeros = np.setdiff1d(zeros, ones)
        fixed = np.concatenate([ones, zeros])
        values = np.r_[np.ones(len(ones)), np.zeros(len(zeros))]
        field = np.zeros(self.n)
        field[skin] = harmonic_field(self.n, skin_faces, fixed, values)[skin]
        field[g.parts["lower_teeth"]] = 1.0
        field[g.parts["tongue"]] = 1.0
        return np.clip(field, 0.0, 1.0)

    def skinning_weights(self) -> np.ndarray:
        """[V, 5] weights: root (lower neck), neck (head), jaw, left eye, right eye."""
        w = np.zeros((self.n, 5))
        root = smoothstep(-11.0, -16.0, self.p[:, 1])
        w[:, 0] = root
        w[:, 2] = (1 - root) * self.jaw
        w[:, 1] = (1 - root) * (1 - self.jaw)
        for j, side in ((3, "left"), (4, "right")):
            eye = self.geo.parts[f"{side}_eyeball"]
            w[eye] = 0.0
            w[eye, j] = 1.0
        return w

    # ------------------------------------------------------------- regions
    def _inside_outer_lips(self) -> np.ndarray:
        """Face vertices inside the outer lip contour (seen from the front)."""
        loop = list(mp.LIPS_OUTER_UPPER) + list(mp.LIPS_OUTER_LOWER[::-1][1:-1])
        poly = self.p[loop][:, :2]
        pts = self.p[:, :2]
        inside = np.zeros(self.n, bool)
        j = len(poly) - 1
        for i in range(len(poly)):  # even-odd rule
            yi, yj = poly[i, 1], poly[j, 1]
            cross = ((yi > pts[:, 1]) != (yj > pts[:, 1])) & (
                pts[:, 0] < (poly[j, 0] - poly[i, 0]) * (pts[:, 1] - yi) / (yj - yi + 1e-12) + poly[i, 0]
            )
            inside ^= cross
            j = i
        on_contour = np.zeros(self.n, bool)
        on_contour[loop] = True
        return (inside | on_contour) & self.face & (self.p[:, 2] > 3.0)

    # ------------------------------------------------------- field helpers
    def on_face(self, field: np.ndarray) -> np.ndarray:
        """Keep a [V, 3] displacement on the face and the mouth cavity (which shares the lips'
        space, so it moves with them); eye sockets follow their rim vertex, fading inwards."""
        cavity = np.zeros(self.n, bool)
        cavity[self.geo.parts["mouth_cavity"]] = True
        out = np.where((self.face | cavity)[:, None], field, 0.0)
        sockets = self.geo.parts["eye_sockets"]
        follow = 1.0 - smoothstep(0.0, 0.55, self.geo.loft_t[sockets])
        out[sockets] = out[self.geo.loft_source[sockets]] * follow[:, None]
        return out

    def lateral(self, side: float, softness: float = 1.2) -> np.ndarray:
        """0..1 weight growing towards one side of the mouth (side = +1 subject's left)."""
        return smoothstep(-softness, softness, side * (self.p[:, 0] - self.mouth_center[0]))

    def corner(self, side: float) -> np.ndarray:
        return self.p[mp.MOUTH_CORNER_LEFT if side > 0 else mp.MOUTH_CORNER_RIGHT]

    def lip_weight(self, radius=(3.4, 1.7, 3.0)) -> np.ndarray:
        return bump(self.p, self.mouth_center, radius) * (self.lips | (bump(self.p, self.mouth_center, radius) > 0.3))

    def lid_displacement(self, side: str, upper_to: float, lower_to: float, radius: float = 1.5) -> np.ndarray:
        """Move the eyelid rims towards each other (fractions of the gap) and carry the lid skin."""
        g, p = self.geo, self.p
        up, lo = g.rings[f"{side}_lid_upper"], g.rings[f"{side}_lid_lower"]
        center = g.eye_centers[side]
        corners = [i for i in up if i in set(lo.tolist())]
        disp = np.zeros_like(p)
        lo_sorted = lo[np.argsort(p[lo, 0])]
        up_sorted = up[np.argsort(p[up, 0])]
        lo_y = lambda x: np.interp(x, p[lo_sorted, 0], p[lo_sorted, 1])  # noqa: E731
        up_y = lambda x: np.interp(x, p[up_sorted, 0], p[up_sorted, 1])  # noqa: E731
        for ring, frac, other in ((up, upper_to, lo_y), (lo, lower_to, up_y)):
            for i in ring:
                if i in corners:
                    continue
                target = p[i].copy()
                target[1] += frac * (other(p[i, 0]) - p[i, 1])
                rel = target - center
                target = center + rel / np.linalg.norm(rel) * max(np.linalg.norm(rel), np.linalg.norm(p[i] - center))
                disp[i] = target - p[i]
        # Carry the surrounding lid skin with the nearest rim vertex, fading with distance.
        rim = np.setdiff1d(np.concatenate([up, lo]), corners)
        near = np.nonzero(self.face & (np.linalg.norm(p - center, axis=1) < 4.0))[0]
        near = np.setdiff1d(near, rim)
        d = np.linalg.norm(p[near, None] - p[None, rim], axis=2)
        nearest = rim[d.argmin(1)]
        disp[near] = disp[nearest] * (np.clip(1 - (d.min(1) / radius) ** 2, 0, None) ** 2)[:, None]
        return disp

    # -------------------------------------------------------- expressions
    def expressions(self) -> dict[str, np.ndarray]:
        """Every expression [V, 3] (cm at activation 1), "_R" mirrored from "_L"."""
        p, jaw, n = self.p, self.jaw, self.normals
        mc = self.mouth_center
        lips = self.lip_weight()
        upper, lower = lips * (1 - jaw), lips * jaw
        x_rel = (p[:, 0] - mc[0])[:, None]

        def vec(*xyz):
            return np.array(xyz, dtype=np.float64)[None]

        symmetric: dict[str, np.ndarray] = {
            "mouthClose": upper[:, None] * vec(0, -0.45, 0) + lower[:, None] * vec(0, 0.45, 0),
            "mouthFunnel": lips[:, None] * (vec(0, 0, 0.5) - 0.15 * x_rel * vec(1, 0, 0))
            + upper[:, None] * vec(0, 0.25, 0)
            + lower[:, None] * vec(0, -0.3, 0),
            "mouthPucker": lips[:, None] * (vec(0, 0, 0.7) - 0.3 * x_rel * vec(1, 0, 0))
            + upper[:, None] * vec(0, -0.08, 0)
            + lower[:, None] * vec(0, 0.08, 0),
            "mouthRollLower": (lower * bump(p, mc, (3.0, 1.6, 3.0)))[:, None] * vec(0, 0.25, -0.45),
            "mouthRollUpper": (upper * bump(p, mc, (3.0, 1.6, 3.0)))[:, None] * vec(0, -0.25, -0.45),
            "mouthShrugLower": (jaw * bump(p, mc + vec(0, -1.2, 0)[0], (3.2, 2.6, 3.0)))[:, None] * vec(0, 0.35, 0.12),
            "mouthShrugUpper": upper[:, None] * vec(0, 0.3, 0.05),
            "cheekPuff": ((bump(p, vec(4.3, -4.0, 3.6)[0], 2.8) + bump(p, vec(-4.3, -4.0, 3.6)[0], 2.8)) * 0.75)[:, None] * n,
            "browInnerUp": (bump(p, p[mp.LEFT_BROW[-1]], 2.4) + bump(p, p[mp.RIGHT_BROW[-1]], 2.4))[:, None] * vec(0, 0.55, 0),
        }
        wide_mouth = bump(p, mc, (4.2, 2.6, 3.4))

        def left(name: str) -> np.ndarray:
            s = 1.0
            c = self.corner(s)
            lat = self.lateral(s)[:, None]
            if name == "mouthLeft":
                return wide_mouth[:, None] * vec(0.55, 0, -0.05)
            if name == "mouthSmile_L":
                return bump(p, c, 2.3)[:, None] * vec(0.45, 0.45, -0.25) + bump(p, c + vec(1.0, 2.2, -0.5)[0], 2.5)[:, None] * vec(
                    0, 0.3, 0.1
                )
            if name == "mouthFrown_L":
                return bump(p, c, 2.1)[:, None] * vec(0.05, -0.45, -0.05)
            if name == "mouthDimple_L":
                return bump(p, c, 1.9)[:, None] * vec(0.2, 0, -0.35)
            if name == "mouthStretch_L":
                return bump(p, c, 2.4)[:, None] * vec(0.45, -0.3, -0.15)
            if name == "mouthPress_L":
                return lat * (upper[:, None] * vec(0, -0.22, -0.15) + lower[:, None] * vec(0, 0.22, -0.15))
            if name == "mouthUpperUp_L":
                return lat * upper[:, None] * vec(0, 0.45, 0.1)
            if name == "mouthLowerDown_L":
                return lat * lower[:, None] * vec(0, -0.45, 0.1)
            if name == "cheekSquint_L":
                return bump(p, vec(3.3, 0.2, 4.6)[0], 2.2)[:, None] * vec(0, 0.3, 0.05)
            if name == "eyeBlink_L":
                return self.lid_displacement("left", 0.85, 0.15)
            if name == "eyeWide_L":
                return self.lid_displacement("left", -0.35, 0.0)
            if name == "eyeSquint_L":
                return self.lid_displacement("left", 0.1, 0.3) + bump(p, vec(3.2, 0.9, 4.4)[0], 1.8)[:, None] * vec(0, 0.15, 0)
            if name == "browDown_L":
                brow = p[list(mp.LEFT_BROW)].mean(0)
                return bump(p, brow, (2.6, 1.8, 2.6))[:, None] * vec(-0.12, -0.4, 0.05)
            if name == "browOuterUp_L":
                return bump(p, p[mp.LEFT_BROW[0]], 2.3)[:, None] * vec(0, 0.5, 0)
            if name == "noseSneer_L":
                return bump(p, p[mp.NOSE_ALA_LEFT], 1.6)[:, None] * vec(0, 0.3, 0.05)
            raise KeyError(name)

        pairs = [
            "mouthSmile",
            "mouthFrown",
            "mouthDimple",
            "mouthStretch",
            "mouthPress",
            "mouthUpperUp",
            "mouthLowerDown",
            "cheekSquint",
            "eyeBlink",
            "eyeWide",
            "eyeSquint",
            "browDown",
            "browOuterUp",
            "noseSneer",
        ]
        out = {k: self.on_face(v) for k, v in symmetric.items()}
        out["mouthLeft"] = self.on_face(left("mouthLeft"))
        out["mouthRight"] = self.mirror(out["mouthLeft"])
        for base in pairs:
            out[f"{base}_L"] = self.on_face(left(f"{base}_L"))
            out[f"{base}_R"] = self.mirror(out[f"{base}_L"])
        return out

    def mirror(self, disp: np.ndarray) -> np.ndarray:
        """The mirror image of a displacement field across x = 0."""
        m = self.mirror_index
        return disp[m] * np.array([-1.0, 1.0, 1.0])

    mirror_index: np.ndarray  # set by the builder once the mesh is final

    # ---------------------------------------------------- identity shapes
    def identity_shapes(self) -> dict[str, np.ndarray]:
        """A small identity basis [V, 3] each (cm per unit); rigid parts translate."""
        p, n, jaw = self.p, self.normals, self.jaw
        z0, y_brow, y_mouth = 2.0, 4.0, -3.0
        sig = lambda x: 1.0 / (1.0 + np.exp(-x))  # noqa: E731
        zeros = np.zeros_like(p)

        def with_axis(axis: int, values: np.ndarray) -> np.ndarray:
            out = zeros.copy()
            out[:, axis] = values
            return out

        eyes = sum(bump(p, self.geo.eye_centers[s], 2.4)[:, None] * np.array([sgn * 0.25, 0, 0]) for s, sgn in (("left", 1), ("right", -1)))
        fields = {
            "head_width": with_axis(0, 0.04 * p[:, 0]),
            "head_depth": with_axis(2, 0.05 * (p[:, 2] - z0) * sig(-(p[:, 2] - z0) / 1.5)),
            "head_height": with_axis(1, 0.05 * (p[:, 1] - y_brow) * sig((p[:, 1] - y_brow) / 1.0)),
            "face_length": with_axis(1, 0.06 * (p[:, 1] - y_mouth) * sig(-(p[:, 1] - y_mouth) / 1.5) * sig((p[:, 1] + 14.0) / 1.0)),
            "jaw_width": with_axis(0, 0.06 * p[:, 0] * jaw),
            "nose_length": bump(p, p[mp.NOSE_TIP], 2.6)[:, None] * np.array([0, -0.1, 0.35]),
            "nose_width": with_axis(0, 0.25 * p[:, 0] * bump(p, p[mp.NOSE_BOTTOM], 2.2)),
            "lip_fullness": (0.15 * self.lip_weight())[:, None] * n,
            "eye_spacing": eyes,
            "cheek_fullness": ((bump(p, np.array([4.6, -2.5, 3.0]), 3.0) + bump(p, np.array([-4.6, -2.5, 3.0]), 3.0)) * 0.3)[:, None] * n,
            "brow_ridge": (bump(p, p[list(mp.LEFT_BROW)].mean(0), 2.8) + bump(p, p[list(mp.RIGHT_BROW)].mean(0), 2.8))[:, None]
            * np.array([0, 0, 0.2]),
            "chin_forward": bump(p, p[mp.CHIN], 3.2)[:, None] * np.array([0, 0, 0.3]),
        }
        for name, f in fields.items():
            for part in ("left_eyeball", "right_eyeball", "upper_teeth", "lower_teeth"):
                idx = self.geo.parts[part]
                f[idx] = f[idx].mean(0)
            fields[name] = f
        return fields


def regressor_near(points: np.ndarray, candidates: np.ndarray, target: np.ndarray, k: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """Pick k candidate vertices closest to `target` (both sides) for an exact joint regressor."""
    from avatar.rig.l2t_head.mesh_ops import affine_regressor

    # Distances rounded to 1e-6 and ties broken by vertex index: the mesh is mirror-symmetric, so
    # equal distances are common, and a plain argsort orders them by floating-point noise that
    # differs between numpy builds and processors.
    distance = np.round(np.linalg.norm(points[candidates] - target, axis=1), 6)
    order = candidates[np.lexsort((candidates, distance))][:k]
    return order, affine_regressor(points[order], target)
