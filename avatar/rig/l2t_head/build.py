"""Build the l2t-head rig asset: `python -m avatar.rig.l2t_head.build [-o PATH]`.

Deterministic: the same code always writes the same rig (tests rebuild it and compare).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from avatar.rig import mediapipe_topology as mp
from avatar.rig.data import RigData
from avatar.rig.l2t_head.geometry import build_geometry
from avatar.rig.l2t_head.mesh_ops import mirror_map
from avatar.rig.l2t_head.sculpt import JAW_JOINT, JOINTS, NECK_JOINT, PARENTS, ROOT_JOINT, Sculptor, regressor_near

DEFAULT_OUTPUT = Path(__file__).resolve().parents[1] / "assets" / "l2t_head.npz"
CM_TO_M = 0.01


def _regions(s: Sculptor) -> dict[str, np.ndarray]:
    g, p = s.geo, s.p
    face = np.arange(g.num_face_verts)
    back = g.parts["back"]
    ears = back[np.isin(back, np.nonzero(_ear_mask(p))[0])]
    idx = lambda mask: np.nonzero(mask)[0]  # noqa: E731
    lips = idx(s.lips)
    regions = {
        "face": face,
        "lips": lips,
        "upper_lip": lips[s.jaw[lips] < 0.5],
        "lower_lip": lips[s.jaw[lips] >= 0.5],
        "upper_face": face[p[face, 1] > -0.5],
        "lower_face": face[p[face, 1] <= -0.5],
        "mouth_interior": np.concatenate([g.parts[k] for k in ("mouth_cavity", "upper_teeth", "lower_teeth", "tongue")]),
        "mouth_cavity": g.parts["mouth_cavity"],
        "teeth": np.concatenate([g.parts["upper_teeth"], g.parts["lower_teeth"]]),
        "upper_teeth": g.parts["upper_teeth"],
        "lower_teeth": g.parts["lower_teeth"],
        "tongue": g.parts["tongue"],
        "eyes": np.concatenate([g.parts["left_eyeball"], g.parts["right_eyeball"]]),
        "left_eye": g.parts["left_eyeball"],
        "right_eye": g.parts["right_eyeball"],
        "eye_sockets": g.parts["eye_sockets"],
        "scalp": back[(p[back, 1] > -1.0) & ~np.isin(back, ears) | ((p[back, 2] < -8.0) & (p[back, 1] > -7.0))],
        "ears": ears,
        "neck": back[p[back, 1] < -10.0],
        "skin": g.parts["skin"],
    }
    return {k: np.unique(v).astype(np.int64) for k, v in regions.items()}


def _ear_mask(p: np.ndarray) -> np.ndarray:
    from avatar.rig.l2t_head.geometry import ear_weight

    return ear_weight(p) > 0.25


def _landmarks(s: Sculptor, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """MediaPipe's 478 landmarks as (face index, barycentric) on our mesh."""
    g = s.geo
    vertex_ids = list(range(mp.NUM_MESH_LANDMARKS)) + g.iris_points["right"] + g.iris_points["left"]
    first_face = np.full(len(s.p), -1)
    for fi in range(len(faces) - 1, -1, -1):
        first_face[faces[fi]] = fi
    lmk_faces = first_face[vertex_ids]
    bary = (faces[lmk_faces] == np.array(vertex_ids)[:, None]).astype(np.float32)
    return lmk_faces.astype(np.int64), bary


def build_l2t_head() -> RigData:
    """Generate the l2t-head rig (metres) from the canonical face model."""
    geo = build_geometry()
    s = Sculptor(geo)
    s.mirror_index = mirror_map(geo.verts, tol=1e-6)
    exprs = s.expressions()
    shapes = s.identity_shapes()
    weights = s.skinning_weights()

    num_v = len(geo.verts)
    j_reg = np.zeros((len(JOINTS), num_v))
    back = geo.parts["back"]
    for j, target in enumerate((ROOT_JOINT, NECK_JOINT, JAW_JOINT)):
        picks, w = regressor_near(geo.verts, back, target)
        j_reg[j, picks] = w
    for j, side in ((3, "left"), (4, "right")):
        front, rear = geo.eye_poles[side]
        j_reg[j, [front, rear]] = 0.5

    named = {
        "nose_tip": mp.NOSE_TIP,
        "chin": mp.CHIN,
        "forehead": mp.FOREHEAD,
        "mouth_corner_left": mp.MOUTH_CORNER_LEFT,
        "mouth_corner_right": mp.MOUTH_CORNER_RIGHT,
        "upper_lip_top": mp.UPPER_LIP_TOP,
        "lower_lip_bottom": mp.LOWER_LIP_BOTTOM,
        "upper_lip_inner": mp.UPPER_LIP_INNER,
        "lower_lip_inner": mp.LOWER_LIP_INNER,
        "left_eye_outer": mp.LEFT_EYE_UPPER[0],
        "left_eye_inner": mp.LEFT_EYE_UPPER[-1],
        "right_eye_outer": mp.RIGHT_EYE_UPPER[0],
        "right_eye_inner": mp.RIGHT_EYE_UPPER[-1],
        "left_iris_center": geo.iris_points["left"][0],
        "right_iris_center": geo.iris_points["right"][0],
    }
    lmk_faces, lmk_bary = _landmarks(s, geo.faces)
    expr_names = list(exprs)
    shape_names = list(shapes)
    rig = RigData(
        name="l2t-head",
        v_template=(geo.verts * CM_TO_M).astype(np.float32),
        faces=geo.faces.astype(np.int64),
        shapedirs=(np.stack([shapes[k] for k in shape_names], -1) * CM_TO_M).astype(np.float32),
        exprdirs=(np.stack([exprs[k] for k in expr_names], -1) * CM_TO_M).astype(np.float32),
        posedirs=np.zeros(((len(JOINTS) - 1) * 9, num_v * 3), np.float32),
        j_regressor=j_reg.astype(np.float32),
        lbs_weights=weights.astype(np.float32),
        parents=PARENTS.astype(np.int64),
        joint_names=list(JOINTS),
        shape_names=shape_names,
        expression_names=expr_names,
        landmark_faces=lmk_faces,
        landmark_bary=lmk_bary,
        named_landmarks={k: int(v) for k, v in named.items()},
        regions=_regions(s),
        mirror=s.mirror_index.astype(np.int64),
    )
    rig.validate()
    return rig


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-o", "--output", type=Path, default=DEFAULT_OUTPUT, help="where to write the npz")
    args = parser.parse_args(argv)
    rig = build_l2t_head()
    rig.save_npz(args.output)
    print(
        f"wrote {args.output} ({args.output.stat().st_size / 1e6:.2f} MB): {rig.num_vertices} vertices, "
        f"{len(rig.faces)} faces, {len(rig.expression_names)} expressions, {len(rig.shape_names)} identity shapes"
    )


if __name__ == "__main__":
    main()
