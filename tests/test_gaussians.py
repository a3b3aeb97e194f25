"""Triangle-bound Gaussians: frames, rigid motion, densify and prune with binding inheritance."""

import torch

from avatar.gaussians import GaussianAvatarModel, triangle_frames
from avatar.rig.rotations import axis_angle_to_matrix, quaternion_to_matrix


def _covariances(quats, scales):
    r = quaternion_to_matrix(quats)
    m = r * scales[..., None, :]
    return m @ m.transpose(-1, -2)


def _random_model(num_faces, per_face=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    m = GaussianAvatarModel.on_triangles(num_faces, per_face, sh_degree=1)
    with torch.no_grad():
        m.xyz.normal_(generator=g)
        m.log_scales.normal_(-2, 0.5, generator=g)
        m.rotations.normal_(generator=g)
        m.opacity_logits.normal_(generator=g)
    return m


def test_triangle_frame_matches_the_definition():
    verts = torch.tensor([[[0.0, 0, 0], [2.0, 0, 0], [0.5, 1.0, 0]]])
    rot, k, centre = triangle_frames(verts, torch.tensor([[0, 1, 2]]))
    r = rot[0, 0]
    assert torch.allclose(r.T @ r, torch.eye(3), atol=1e-6) and torch.isclose(torch.det(r), torch.tensor(1.0))
    assert torch.allclose(r[:, 0], torch.tensor([1.0, 0, 0]))  # along the first edge
    assert torch.allclose(r[:, 1], torch.tensor([0.0, 0, 1]))  # the normal
    assert torch.isclose(k[0, 0], torch.tensor((2.0 + 1.0) / 2))  # (|e1| + height) / 2
    assert torch.allclose(centre[0, 0], torch.tensor([2.5 / 3, 1 / 3, 0]))


def test_rigid_motion_of_the_mesh_moves_gaussians_rigidly(head):
    model = _random_model(len(head.faces))
    verts = head().vertices
    rot = axis_angle_to_matrix(torch.tensor([0.3, -0.7, 0.2]))
    shift = torch.tensor([0.1, -0.05, 0.2])
    moved = verts @ rot.T + shift
    a, b = model.to_world(verts, head.faces), model.to_world(moved, head.faces)
    assert torch.allclose(b.means, a.means @ rot.T + shift, atol=1e-5)
    assert torch.allclose(b.scales, a.scales, atol=1e-6)
    cov_a, cov_b = _covariances(a.quats, a.scales), _covariances(b.quats, b.scales)
    assert torch.allclose(cov_b, rot @ cov_a @ rot.T, atol=1e-8)


def test_uniform_scale_of_the_mesh_scales_gaussians(head):
    model = _random_model(len(head.faces))
    verts = head().vertices
    a, b = model.to_world(verts, head.faces), model.to_world(2.0 * verts, head.faces)
    assert torch.allclose(b.means, 2 * a.means, atol=1e-5) and torch.allclose(b.scales, 2 * a.scales, atol=1e-6)


def test_batched_frames_match_single_frames(head):
    model = _random_model(len(head.faces), per_face=1)
    jaw = torch.tensor([[0.0, 0, 0], [0.2, 0, 0]])
    both = model.to_world(head(jaw=jaw).vertices, head.faces)
    second = model.to_world(head(jaw=jaw[1:]).vertices, head.faces)
    assert torch.allclose(both.means[1], second.means[0], atol=1e-7)


def test_clone_and_split_inherit_the_triangle_and_carry_optimizer_state():
    model = _random_model(5, per_face=2)
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    loss = (model.xyz**2).sum() + model.sh.sum() + model.opacity_logits.sum() + model.log_scales.sum() + model.rotations.sum()
    loss.backward()
    opt.step()
    mask = torch.zeros(10, dtype=torch.bool)
    mask[[1, 4]] = True
    binding_before = model.binding.clone()
    model.clone_gaussians(mask, opt)
    assert model.num_gaussians == 12 and torch.equal(model.binding[10:], binding_before[[1, 4]])
    assert opt.param_groups[0]["params"][0] is model.xyz
    assert opt.state[model.xyz]["exp_avg"].shape == (12, 3) and opt.state[model.xyz]["exp_avg"][10:].abs().sum() == 0
    split = torch.zeros(12, dtype=torch.bool)
    split[0] = True
    parent_triangle, parent_scale = int(model.binding[0]), model.log_scales[0].detach().clone()
    model.split_gaussians(split, children=2, optimizer=opt)
    assert model.num_gaussians == 13
    assert torch.equal(model.binding[-2:], torch.tensor([parent_triangle] * 2))
    assert torch.allclose(model.log_scales[-2:], (parent_scale - torch.log(torch.tensor(1.6))).expand(2, 3))
    opt.zero_grad()
    model.xyz.sum().backward()  # the optimizer still steps the new parameters
    opt.step()


def test_split_children_come_from_the_generator_given():
    def children(seed: int) -> torch.Tensor:
        model = _random_model(5, per_face=2)
        torch.manual_seed(seed)  # the global generator must not matter
        model.split_gaussians(torch.ones(10, dtype=torch.bool), 2, generator=torch.Generator().manual_seed(7))
        return model.xyz.detach()

    assert torch.equal(children(0), children(1))


def test_prune_never_removes_the_last_gaussian_of_a_triangle():
    model = _random_model(4, per_face=3)
    with torch.no_grad():
        model.opacity_logits.copy_(torch.arange(12.0))
    mask = torch.zeros(12, dtype=torch.bool)
    mask[0:3] = True  # every Gaussian of triangle 0
    mask[3] = True  # one of triangle 1
    removed = model.prune_gaussians(mask)
    assert removed == 3
    counts = torch.bincount(model.binding, minlength=4)
    assert counts.tolist() == [1, 2, 3, 3]
    # The survivor on triangle 0 is its most opaque Gaussian.
    assert model.opacity_logits[model.binding == 0].item() == 2.0
    removed = model.prune_gaussians(torch.ones(model.num_gaussians, dtype=torch.bool))
    assert torch.bincount(model.binding, minlength=4).tolist() == [1, 1, 1, 1] and removed == 5
