"""FramePoser: the rendering path's posing equals the differentiable one (eager on the CPU, CUDA graphs
and the fused Triton kernel on a GPU; the kernel also through Triton's interpreter on the CPU)."""

import os
import subprocess
import sys
import textwrap

import pytest
import torch

from avatar.io.avatar_folder import load_avatar
from avatar.motion import Motion, demo_motion
from avatar.render.poser import FramePoser


def _reference(avatar, motion, start, stop):
    with torch.no_grad():
        return avatar.world(avatar.vertices(motion, start, stop))


def _assert_batches_match(avatar, motion, batch, graphs):
    poser = FramePoser(avatar, graphs=graphs)
    seen = 0
    for start, count, world in poser.batches(motion, batch):
        assert start == seen
        ref = _reference(avatar, motion, start, start + count)
        # Playback poses the rig by other (precomputed) operations: vertices agree to ~1e-8 m, and a
        # quaternion of a sub-millimetre triangle turns that rounding into up to ~3e-5.
        for name, atol in (("means", 2e-6), ("quats", 1e-4), ("scales", 2e-6)):
            got, want = getattr(world, name)[:count].cpu(), getattr(ref, name).cpu()
            assert torch.allclose(got, want, atol=atol, rtol=1e-5), name
        assert torch.equal(world.opacities.cpu(), ref.opacities.cpu())
        seen += count
    assert seen == motion.num_frames


def test_poser_matches_the_differentiable_path_on_the_cpu():
    avatar = load_avatar()
    motion = demo_motion(avatar.rig.data.expression_names, seconds=0.44)  # 11 frames: batches of 4, 4, 3
    _assert_batches_match(avatar, motion, 4, graphs=False)
    # Without graphs the last batch is not padded.
    sizes = [len(w.means) for _, _, w in FramePoser(avatar, graphs=False).batches(motion, 4)]
    assert sizes == [4, 4, 3]


def test_poser_poses_motions_of_vertices():
    avatar = load_avatar()
    params = demo_motion(avatar.rig.data.expression_names, seconds=0.2)
    with torch.no_grad():
        verts = avatar.vertices(params)
    _assert_batches_match(avatar, Motion({}, verts, params.fps), 3, graphs=False)


def test_playback_posing_launches_a_fifth_fewer_operations_than_the_rig():
    from torch.utils._python_dispatch import TorchDispatchMode

    class CountKernels(TorchDispatchMode):  # operations that compute (views and reshapes launch nothing)
        def __init__(self):
            super().__init__()
            self.count = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            self.count += not any(isinstance(t, torch.Tensor) and t._is_view() for t in torch.utils._pytree.tree_leaves(out))
            return out

    avatar = load_avatar()
    motion = demo_motion(avatar.rig.data.expression_names, seconds=0.04)
    poser = FramePoser(avatar, graphs=False, fused=False)
    counts = {}
    for name, pose in (("rig", avatar.posed_vertices), ("playback", poser.posing)):
        with torch.no_grad(), CountKernels() as counter:
            pose(motion.params)
        counts[name] = counter.count
    # (a third fewer before the rig itself converted its joint rotations in one batch and, since, blends
    # its shapes with one product each and shares the playback's skinning: 156 against 176 now)
    assert counts["playback"] <= 0.9 * counts["rig"], counts


@pytest.mark.gpu
def test_cuda_graph_poser_matches_the_eager_path():
    avatar = load_avatar(device="cuda")
    motion = demo_motion(avatar.rig.data.expression_names, seconds=0.44)
    _assert_batches_match(avatar, motion, 4, graphs=True)
    poser = FramePoser(avatar)
    assert poser.graphs and poser.fused_world is not None
    batches = list(poser.batches(motion, 8))
    assert [len(w.means) for _, _, w in batches] == [8, 8]  # the last batch is padded to replay the same graph
    assert len(poser._pose.captured) == 1
    # Outputs are copies: an earlier batch keeps its values after later replays.
    first = batches[0][2].means[0].clone()
    list(poser.batches(motion, 8))
    assert torch.equal(batches[0][2].means[0], first)


_INTERPRETED_KERNEL = textwrap.dedent(
    """
    import torch
    from avatar.gaussians import GaussianAvatarModel
    from avatar.io.avatar_folder import load_avatar
    from avatar.render.fused_world import FusedWorld

    torch.manual_seed(0)
    avatar = load_avatar()
    faces = avatar.rig.faces
    n = 600  # Gaussians on random triangles, with random local parameters
    binding = torch.randint(0, len(faces), (n,))
    model = GaussianAvatarModel(binding, torch.randn(n, 3), torch.randn(n, 3) - 3, torch.randn(n, 4), torch.randn(n), torch.randn(n, 4, 3))
    with torch.no_grad():
        rest = avatar.neutral_vertices()
        verts = torch.cat([rest, rest + 0.01 * torch.randn_like(rest), torch.randn_like(rest)])  # incl. triangles in every orientation
        want = model.to_world(verts, faces)
        fused = FusedWorld(model, faces)
        means, quats, scales = fused(verts)
    assert fused.matches(model, verts)
    print(max((means - want.means).abs().max().item(), (quats - want.quats).abs().max().item(), (scales - want.scales).abs().max().item()))
    """
)


def test_fused_kernel_matches_the_differentiable_path_in_tritons_interpreter():
    pytest.importorskip("triton")
    env = {**os.environ, "TRITON_INTERPRET": "1", "CUDA_VISIBLE_DEVICES": ""}
    done = subprocess.run([sys.executable, "-c", _INTERPRETED_KERNEL], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert float(done.stdout.split()[-1]) < 1e-5


@pytest.mark.gpu
def test_fused_kernel_matches_the_differentiable_path_on_cuda():
    avatar = load_avatar(device="cuda")
    motion = demo_motion(avatar.rig.data.expression_names, seconds=0.44)
    _assert_batches_match(avatar, motion, 4, graphs=False)  # fused, no graphs
    assert FramePoser(avatar, graphs=False).fused_world is not None
    assert FramePoser(avatar, fused=False).fused_world is None


def test_a_fused_kernel_that_fails_or_disagrees_is_left_off_with_a_note(monkeypatch, capsys):
    from avatar.render import fused_world, poser

    avatar = load_avatar()
    monkeypatch.setattr(fused_world, "available", lambda device: True)

    def broken(self, verts):
        raise RuntimeError("no C compiler\nmore detail")

    monkeypatch.setattr(fused_world.FusedWorld, "__call__", broken)
    assert poser._fused_world(avatar) is None
    assert "fused posing kernel is off on this machine (RuntimeError: no C compiler)" in capsys.readouterr().err

    def off(self, verts):
        w = avatar.model.to_world(verts, avatar.rig.faces)
        return w.means + 1e-3, w.quats, w.scales  # a millimetre out

    monkeypatch.setattr(fused_world.FusedWorld, "__call__", off)
    assert poser._fused_world(avatar) is None
    assert "differs from the reference" in capsys.readouterr().err
    # the poser then renders with the reference path
    motion = demo_motion(avatar.rig.data.expression_names, seconds=0.12)
    _assert_batches_match(avatar, motion, 3, graphs=False)
