"""gsplat (CUDA) and the PyTorch renderer agree on the same scenes. Run on a GPU machine."""

import pytest
import torch

from avatar.gaussians import GaussianAvatarModel
from avatar.render.cameras import frame_head, orbit_camera
from avatar.render.gaussian import render_gaussians
from avatar.rig.colors import rig_vertex_colors


def _scene(head, sh_degree: int):
    torch.manual_seed(0)
    faces = head.faces.cpu()
    colors = torch.from_numpy(rig_vertex_colors(head.data))[faces].mean(1)
    model = GaussianAvatarModel.on_triangles(len(faces), 2, sh_degree, colors)
    with torch.no_grad():
        model.sh[:, 1:] = 0.1 * torch.randn_like(model.sh[:, 1:])
        model.opacity_logits.uniform_(-1.0, 4.0)
    verts = head(jaw=torch.tensor([[0.15, 0.0, 0.0]]), rotation=torch.tensor([[0.0, 0.3, 0.0]])).vertices
    target, dist = frame_head(head.v_template[head.region("face")])
    cams = [orbit_camera(target, dist, yaw, pitch, 20.0, 160, 128) for yaw, pitch in ((0, 0), (40, 10), (-70, -15))]
    return model, verts, cams


@pytest.mark.gpu
@pytest.mark.parametrize("sh_degree", [0, 1, 3])
def test_gsplat_and_torch_backends_agree(head, sh_degree):
    model, verts, cams = _scene(head, sh_degree)
    outs = {}
    for backend, dev in (("torch", "cpu"), ("gsplat", "cuda")):
        m = model.to(dev)
        w = m.to_world(verts.to(dev), head.faces.to(dev))
        vm = torch.stack([c.world_to_cam for c in cams]).to(dev)
        ks = torch.stack([c.K for c in cams]).to(dev)
        with torch.no_grad():
            outs[backend] = render_gaussians(
                w.means, w.quats, w.scales, w.opacities, w.sh, vm, ks, 160, 128, sh_degree, torch.tensor([1.0, 1.0, 1.0]), backend=backend
            )
    a, b = outs["torch"], outs["gsplat"]
    rgb_err = (a.rgb - b.rgb.cpu()).abs().mean().item()
    alpha_err = (a.alpha - b.alpha.cpu()).abs().mean().item()
    covered = (a.alpha > 0.5) & (b.alpha.cpu() > 0.5)
    depth_err = (a.depth - b.depth.cpu()).abs()[covered].mean().item()
    print(
        f"\nsh_degree={sh_degree}: mean |RGB diff| {rgb_err:.2e}, max |RGB diff| {(a.rgb - b.rgb.cpu()).abs().max().item():.2e}, "
        f"mean |alpha diff| {alpha_err:.2e}, mean |depth diff| {depth_err * 1000:.2e} mm"
    )
    assert rgb_err < 0.01 and alpha_err < 0.01 and depth_err < 0.002
