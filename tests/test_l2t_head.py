"""The built-in l2t-head rig: template, posing, jaw, expressions, symmetry, topology."""

import numpy as np
import pytest
import torch

from avatar.rig import mediapipe_topology as mp
from avatar.rig.l2t_head.mesh_ops import boundary_loops, is_closed_manifold
from avatar.rig.rotations import axis_angle_to_matrix, matrix_to_rotation_6d

REQUIRED_EXPRESSIONS = [
    "mouthClose",
    "mouthFunnel",
    "mouthPucker",
    "mouthSmile_L",
    "mouthSmile_R",
    "mouthStretch_L",
    "mouthStretch_R",
    "mouthRollLower",
    "mouthRollUpper",
    "mouthPress_L",
    "mouthPress_R",
    "mouthUpperUp_L",
    "mouthUpperUp_R",
    "mouthLowerDown_L",
    "mouthLowerDown_R",
    "cheekPuff",
    "eyeBlink_L",
    "eyeBlink_R",
    "browInnerUp",
    "browDown_L",
    "browDown_R",
]


def one_hot(rig, name, value=1.0):
    c = torch.zeros(1, rig.num_expressions)
    c[0, rig.expression_index(name)] = value
    return c


def test_asset_is_small_and_complete(head_data):
    from avatar.rig import L2T_HEAD_PATH

    assert L2T_HEAD_PATH.stat().st_size < 5e6
    assert set(REQUIRED_EXPRESSIONS) <= set(head_data.expression_names)
    assert len(head_data.expression_names) >= 20 and len(head_data.shape_names) >= 5
    for region in ("lips", "upper_face", "mouth_interior", "eyes", "scalp"):
        assert len(head_data.regions[region]) > 10, region
    assert head_data.joint_names == ["root", "neck", "jaw", "left_eye", "right_eye"]


def test_face_keeps_mediapipe_vertices(head_data):
    from avatar.rig.l2t_head.geometry import CANONICAL_OBJ
    from avatar.rig.l2t_head.mesh_ops import read_obj

    canonical, _, _, _ = read_obj(CANONICAL_OBJ)
    assert np.allclose(head_data.v_template[:468], canonical * 0.01, atol=1e-6)


def test_zero_parameters_give_template(head):
    out = head(batch_size=2)
    assert out.vertices.shape == (2, head.num_vertices, 3)
    assert torch.allclose(out.vertices[0], head.v_template, atol=1e-7)


def test_global_rotation_rotates_every_vertex_rigidly(head):
    aa = torch.tensor([[0.1, 0.5, -0.2]])
    out = head(rotation=aa, translation=torch.tensor([[0.01, 0.02, 0.03]]))
    root = head.j_regressor[0] @ head.v_template
    expected = (head.v_template - root) @ axis_angle_to_matrix(aa[0]).T + root + torch.tensor([0.01, 0.02, 0.03])
    assert torch.allclose(out.vertices[0], expected, atol=1e-6)


def test_six_d_rotation_matches_axis_angle(head):
    aa = torch.tensor([[0.2, -0.1, 0.05]])
    a = head(jaw=aa, neck=aa).vertices
    b = head(jaw=matrix_to_rotation_6d(axis_angle_to_matrix(aa)), neck=matrix_to_rotation_6d(axis_angle_to_matrix(aa))).vertices
    assert torch.allclose(a, b, atol=1e-6)


def test_jaw_opens_the_mouth_and_moves_only_the_lower_face(head):
    rest = head().vertices[0]
    opened = head(jaw=torch.tensor([[0.25, 0.0, 0.0]])).vertices[0]
    gap = lambda v: float(v[mp.UPPER_LIP_INNER, 1] - v[mp.LOWER_LIP_INNER, 1])  # noqa: E731
    assert gap(opened) > gap(rest) + 0.01  # more than a centimetre wider
    moved = (opened - rest).norm(dim=-1)
    assert moved[head.region("scalp")].max() < 1e-7
    upper_face = head.region("upper_face")
    assert moved[upper_face].max() < 1e-4
    assert moved[mp.CHIN] > 0.01
    assert moved[head.region("lower_teeth")].min() > 0.005 and moved[head.region("upper_teeth")].max() < 1e-7


def test_jaw_skinning_is_smooth(head):
    """No torn mesh at a wide-open jaw: edges stretch by millimetres, not centimetres."""
    rest = head().vertices[0]
    opened = head(jaw=torch.tensor([[0.3, 0.0, 0.0]])).vertices[0]
    f = head.faces
    for a, b in ((0, 1), (1, 2), (2, 0)):
        rest_len = (rest[f[:, a]] - rest[f[:, b]]).norm(dim=-1)
        open_len = (opened[f[:, a]] - opened[f[:, b]]).norm(dim=-1)
        assert (open_len - rest_len).max() < 0.013  # the lip corners part by about a centimetre
        long_edges = rest_len > 0.002
        assert (open_len[long_edges] / rest_len[long_edges]).max() < 4.0


@pytest.mark.parametrize("name", ["mouthClose", "mouthFunnel", "mouthSmile_L", "eyeBlink_L", "browInnerUp", "cheekPuff", "mouthRollLower"])
def test_expression_moves_its_region_and_not_the_scalp(head, name):
    rest = head().vertices[0]
    moved = (head(expression=one_hot(head, name)).vertices[0] - rest).norm(dim=-1)
    region = "upper_face" if name.startswith(("eye", "brow")) else "lower_face"
    assert moved[head.region(region)].max() > 0.002, "moves at least 2 mm"
    assert moved[head.region("scalp")].max() == 0.0
    assert moved[head.region("eyes")].max() == 0.0


def test_every_expression_is_local(head):
    rest = head().vertices[0]
    for i, name in enumerate(head.data.expression_names):
        c = torch.zeros(1, head.num_expressions)
        c[0, i] = 1.0
        moved = (head(expression=c).vertices[0] - rest).norm(dim=-1)
        assert moved.max() > 0.002, name
        assert moved[head.region("scalp")].max() == 0.0, name
        assert moved[head.region("neck")].max() == 0.0, name


def test_left_right_expressions_mirror(head_data):
    names = head_data.expression_names
    mirror = head_data.mirror
    flip = np.array([-1.0, 1.0, 1.0])
    pairs = [(n, n[:-2] + "_R") for n in names if n.endswith("_L")] + [("mouthLeft", "mouthRight")]
    assert len(pairs) >= 8
    for left, right in pairs:
        dl = head_data.exprdirs[..., names.index(left)]
        dr = head_data.exprdirs[..., names.index(right)]
        assert np.allclose(dr, dl[mirror] * flip, atol=1e-7), left
        assert dl[:, 0].mean() * dr[:, 0].mean() <= 0 or np.abs(dl[:, 0]).max() < 1e-6
    # The template itself is symmetric.
    assert np.allclose(head_data.v_template[mirror] * flip, head_data.v_template, atol=1e-6)


def test_blink_closes_the_eye(head):
    lid_gap = lambda v: float(v[mp.LEFT_EYE_UPPER[4], 1] - v[mp.LEFT_EYE_LOWER[4], 1])  # noqa: E731
    rest = head().vertices[0]
    blink = head(expression=one_hot(head, "eyeBlink_L")).vertices[0]
    assert lid_gap(rest) > 0.005 and lid_gap(blink) < 0.25 * lid_gap(rest)
    assert torch.allclose(blink[mp.RIGHT_EYE_UPPER[4]], rest[mp.RIGHT_EYE_UPPER[4]])


def test_eyes_turn_with_their_joints(head):
    rest_out = head()
    rest = rest_out.vertices[0]
    turned = head(eyes=torch.tensor([[0.0, 0.4, 0.0, 0.0, 0.0, 0.0]])).vertices[0]
    moved = (turned - rest).norm(dim=-1)
    left, right = head.region("left_eye"), head.region("right_eye")
    assert moved[left].max() > 0.003 and moved[right].max() == 0.0
    center = rest_out.joints[0, 3]  # the left eye joint is the eyeball's centre
    assert torch.allclose((turned[left] - center).norm(dim=-1), (rest[left] - center).norm(dim=-1), atol=1e-6)


def test_skin_is_closed_and_parts_are_closed(head_data):
    faces = head_data.faces
    for part in ("skin", "left_eye", "right_eye", "upper_teeth", "lower_teeth", "tongue"):
        idx = head_data.regions[part]
        sub = faces[np.isin(faces, idx).all(1)]
        assert len(sub) > 20, part
        assert is_closed_manifold(sub), part
        assert boundary_loops(sub) == [], part


def test_landmarks_cover_mediapipe(head):
    v = head().vertices
    lmk = head.landmarks(v)
    assert lmk.shape == (1, mp.NUM_LANDMARKS, 3)
    assert torch.allclose(lmk[0, :468], v[0, :468])
    # Iris centres sit on the front of each eyeball.
    for iris, eye in ((mp.LEFT_IRIS[0], "left_eye"), (mp.RIGHT_IRIS[0], "right_eye")):
        eye_v = v[0, head.region(eye)]
        assert torch.isclose(lmk[0, iris, 2], eye_v[:, 2].max())


def test_identity_shapes_change_the_head(head):
    rest = head().vertices[0]
    for i, name in enumerate(head.data.shape_names):
        s = torch.zeros(1, head.num_shapes)
        s[0, i] = 1.0
        assert (head(shape=s).vertices[0] - rest).norm(dim=-1).max() > 0.001, name


def test_forward_is_differentiable(head):
    expr = torch.zeros(2, head.num_expressions, requires_grad=True)
    jaw = torch.zeros(2, 3, requires_grad=True)
    head(expression=expr, jaw=jaw).vertices[:, mp.LOWER_LIP_INNER].sum().backward()
    assert expr.grad.abs().sum() > 0 and jaw.grad.abs().sum() > 0


def test_builder_reproduces_the_shipped_asset(head_data, tmp_path):
    from avatar.rig.l2t_head.build import build_l2t_head

    rebuilt = build_l2t_head()
    assert rebuilt.expression_names == head_data.expression_names
    for key in ("v_template", "exprdirs", "shapedirs", "lbs_weights"):
        assert np.allclose(getattr(rebuilt, key), getattr(head_data, key), atol=1e-6), key
    # The joint regressor is judged by what it does: the same joints on the template (exact by
    # construction), and within 0.1 mm per unit of every identity shape. Which 16 vertices carry
    # the weights may differ (ties on a symmetric mesh), and that moves the shaped joints by ~0.06 mm.
    assert np.allclose(rebuilt.j_regressor @ rebuilt.v_template, head_data.j_regressor @ head_data.v_template, atol=1e-6)
    shaped = lambda r: np.einsum("jv,vcs->jcs", r.j_regressor, r.shapedirs)  # noqa: E731
    assert np.abs(shaped(rebuilt) - shaped(head_data)).max() < 1e-4
    assert np.allclose(rebuilt.j_regressor.sum(1), 1.0, atol=1e-5)
    assert np.array_equal(rebuilt.faces, head_data.faces)


def test_face_detail_paints_brows_cheeks_and_creases_where_the_landmarks_say(head_data):
    from avatar.rig.colors import SKIN, rig_vertex_colors
    from avatar.rig.face_detail import paint_face_detail

    base = rig_vertex_colors(head_data)
    painted = paint_face_detail(head_data, base)
    assert painted.shape == base.shape and painted.dtype == np.float32 and 0 <= painted.min() and painted.max() <= 1
    v = head_data.v_template
    middles = [0.5 * (v[105] + v[52]), 0.5 * (v[334] + v[282])]  # halfway between each brow's upper and lower edge
    brows = [int(np.linalg.norm(v - m, axis=1).argmin()) for m in middles]
    forehead = 151  # MediaPipe's mid-forehead
    luminance = painted.mean(1)
    assert luminance[brows].max() < 0.6 * luminance[forehead]  # dark brows on lighter skin
    cheeks = [50, 280]
    assert (painted[cheeks, 0] - painted[cheeks, 2]).min() > SKIN[0] - SKIN[2]  # warmer (redder) than plain skin
    inner_corner = head_data.named_landmarks["right_eye_inner"]  # a concave place: in shadow
    assert luminance[inner_corner] < 0.9 * luminance[forehead]
    assert np.array_equal(paint_face_detail(head_data, base, seed=0), painted)  # repeatable
    teeth = head_data.regions["teeth"]
    assert np.array_equal(painted[teeth], base[teeth])  # only the face is painted
