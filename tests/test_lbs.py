"""Linear blend skinning against a hand computation on a tiny two-bone rig."""

import math

import numpy as np
import torch

from avatar.rig.data import RigData
from avatar.rig.lbs import linear_blend_skinning
from avatar.rig.model import Rig


def test_two_bone_chain_matches_hand_computation():
    # Joint 0 at the origin, joint 1 at (0, 1, 0); vertex halfway weighted 50/50.
    joints = torch.tensor([[[0.0, 0.0, 0.0], [0.0, 1.0, 0.0]]])
    verts = torch.tensor([[[0.0, 2.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.5, 0.0]]])
    weights = torch.tensor([[0.0, 1.0], [1.0, 0.0], [0.5, 0.5]])
    rz = lambda a: torch.tensor([[math.cos(a), -math.sin(a), 0], [math.sin(a), math.cos(a), 0], [0, 0, 1.0]])  # noqa: E731
    rot = torch.stack([rz(math.pi / 2), rz(math.pi / 2)])[None]
    out, posed_joints = linear_blend_skinning(verts, rot, joints, [-1, 0], weights, None)
    # Joint 1 goes to (-1, 0, 0); the tip (0, 2, 0) rotates 90 deg about joint 1 then about the root:
    # world rotation 180 deg -> tip = J1' + R180 @ (0, 1, 0) = (-1, -1, 0).
    assert torch.allclose(posed_joints[0, 1], torch.tensor([-1.0, 0.0, 0.0]), atol=1e-6)
    assert torch.allclose(out[0, 0], torch.tensor([-1.0, -1.0, 0.0]), atol=1e-6)
    assert torch.allclose(out[0, 1], torch.tensor([0.0, 1.0, 0.0]), atol=1e-6)
    # Blended vertex: 0.5 * (root: R90 p) + 0.5 * (bone: (-1,0,0) + R180 (p - J1)).
    expected = 0.5 * torch.tensor([-1.5, 0.0, 0.0]) + 0.5 * torch.tensor([-1.0, -0.5, 0.0])
    assert torch.allclose(out[0, 2], expected, atol=1e-6)


def _tiny_rig(posedirs: np.ndarray | None = None) -> RigData:
    rng = np.random.default_rng(3)
    v = rng.normal(size=(6, 3)).astype(np.float32)
    w = rng.random((6, 5)).astype(np.float32)
    w /= w.sum(1, keepdims=True)
    jr = np.zeros((5, 6), np.float32)
    for j in range(5):
        jr[j, j] = 1.0
    return RigData(
        name="tiny",
        v_template=v,
        faces=np.array([[0, 1, 2], [3, 4, 5]]),
        shapedirs=rng.normal(size=(6, 3, 2)).astype(np.float32),
        exprdirs=rng.normal(size=(6, 3, 3)).astype(np.float32),
        posedirs=posedirs if posedirs is not None else rng.normal(size=(36, 18)).astype(np.float32) * 0.1,
        j_regressor=jr,
        lbs_weights=w,
        parents=np.array([-1, 0, 1, 1, 1]),
    )


def reference_flame_lbs(data: RigData, shape, expr, pose_aa):
    """Plain numpy FLAME forward, written independently of the library."""

    def rodrigues(r):
        t = np.linalg.norm(r)
        if t < 1e-12:
            return np.eye(3)
        k = r / t
        kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
        return np.eye(3) + math.sin(t) * kx + (1 - math.cos(t)) * kx @ kx

    v = data.v_template + data.shapedirs[..., : len(shape)] @ shape + data.exprdirs[..., : len(expr)] @ expr
    J = data.j_regressor @ v
    R = [rodrigues(r) for r in pose_aa]
    feat = np.concatenate([(R[j] - np.eye(3)).ravel() for j in range(1, 5)])
    v = v + (feat @ data.posedirs).reshape(-1, 3)
    G = []
    for j, p in enumerate(data.parents):
        local = np.eye(4)
        local[:3, :3] = R[j]
        local[:3, 3] = J[j] - (J[p] if p >= 0 else 0)
        G.append(local if p < 0 else G[p] @ local)
    out = np.zeros_like(v)
    for i in range(len(v)):
        # A_j = G_j @ [I, -J_j]: the joint's world transform relative to its rest pose.
        T = sum(
            data.lbs_weights[i, j] * (G[j] @ np.block([[np.eye(3), -J[j][:, None]], [np.zeros((1, 3)), np.ones((1, 1))]])) for j in range(5)
        )
        out[i] = (T @ np.r_[v[i], 1.0])[:3]
    return out


def test_rig_forward_matches_reference_with_pose_correctives():
    data = _tiny_rig()
    rig = Rig(data).double()
    shape, expr = np.array([0.3, -0.2]), np.array([0.5, 0.1, -0.4])
    pose = np.random.default_rng(5).normal(size=(5, 3)) * 0.4
    out = rig(
        shape=torch.tensor(shape)[None],
        expression=torch.tensor(expr)[None],
        rotation=torch.tensor(pose[0])[None],
        neck=torch.tensor(pose[1])[None],
        jaw=torch.tensor(pose[2])[None],
        eyes=torch.tensor(pose[3:].ravel())[None],
    )
    ref = reference_flame_lbs(data, shape, expr, pose)
    assert np.allclose(out.vertices[0].numpy(), ref, atol=1e-5)


def test_landmark_rig_gives_the_full_rigs_landmarks(head):
    from avatar.rig.landmark_rig import LandmarkRig

    torch.manual_seed(0)
    b = 5
    args = {
        "shape": 0.5 * torch.randn(b, head.num_shapes),
        "expression": 0.5 * torch.randn(b, head.num_expressions),
        "rotation": 0.3 * torch.randn(b, 3),
        "neck": 0.2 * torch.randn(b, 3),
        "jaw": 0.2 * torch.randn(b, 3),
        "eyes": 0.1 * torch.randn(b, 6),
        "translation": torch.randn(b, 3),
    }
    offsets = 0.002 * torch.randn(head.num_vertices, 3)
    lm_rig = LandmarkRig(head)
    assert len(lm_rig.ids) < head.num_vertices / 3  # a fraction of the mesh is skinned
    for offs in (None, offsets):
        want = head.landmarks(head(vertex_offsets=offs, **args).vertices)
        got = lm_rig(vertex_offsets=offs, **args)
        assert torch.allclose(got, want, atol=1e-6), (got - want).abs().max()
    # Gradients reach every argument the same way.
    jaw = args["jaw"].clone().requires_grad_(True)
    lm_rig(**{**args, "jaw": jaw}).square().sum().backward()
    jaw_ref = args["jaw"].clone().requires_grad_(True)
    head.landmarks(head(**{**args, "jaw": jaw_ref}).vertices).square().sum().backward()
    assert torch.allclose(jaw.grad, jaw_ref.grad, rtol=1e-4, atol=1e-5)


def test_precomputed_posing_equals_the_rig_with_its_identity_folded_in():
    from avatar.rig.precomputed import PrecomputedPosing

    rig = Rig(_tiny_rig())
    g = torch.Generator().manual_seed(0)
    shape, offsets = torch.randn(2, generator=g), torch.randn(6, 3, generator=g) * 0.05
    posing = PrecomputedPosing(rig, shape, offsets)
    b = 3
    full = {
        "expression": torch.randn(b, 3, generator=g),
        "rotation": torch.randn(b, 3, generator=g) * 0.4,
        "neck": torch.randn(b, 3, generator=g) * 0.3,
        "jaw": torch.randn(b, 3, generator=g) * 0.3,
        "eyes": torch.randn(b, 6, generator=g) * 0.2,
        "translation": torch.randn(b, 3, generator=g),
    }
    six_d = {"jaw": torch.randn(b, 6, generator=g)}  # 6D rotations take the rig's own path
    for params in (full, {"expression": full["expression"][:, :2], "jaw": full["jaw"]}, {"rotation": full["rotation"]}, six_d):
        want = rig(shape=shape[None].expand(b, -1), vertex_offsets=offsets, batch_size=b, **params).vertices
        assert torch.allclose(posing(params), want, atol=1e-5), sorted(params)
