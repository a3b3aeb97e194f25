"""The viewer's server-side render on CUDA (gsplat) against the CPU renderer."""

import numpy as np
import pytest
import torch

from avatar.io.avatar_folder import load_avatar
from avatar.render.animate import head_framing
from avatar.render.cameras import orbit_camera
from tests.test_viewer import viser_camera
from viewer.server_render import render_view


@pytest.mark.gpu
def test_server_render_on_cuda_matches_the_cpu_renderer():
    cpu, gpu = load_avatar(None, device="cpu"), load_avatar(None, device="cuda")
    target, distance = head_framing(cpu)
    view = viser_camera(orbit_camera(target, distance, -25.0, 0.0, width=96, height=96).world_to_cam, fov_y=np.radians(20.0))
    pose = {"jaw": torch.tensor([0.2, 0.0, 0.0])}
    a = render_view(cpu, pose, cpu.shape, view, height=96).astype(np.float32)
    b = render_view(gpu, pose, gpu.shape, view, height=96).astype(np.float32)
    assert np.abs(a - b).mean() < 2.0  # 8-bit levels: the two rasterizers agree
