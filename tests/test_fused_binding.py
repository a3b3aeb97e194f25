"""The fused Gaussian binding (avatar/render/fused_binding.py): the same values and gradients as the
PyTorch reference, in Triton's interpreter on the CPU and on CUDA; the fallback where it fails."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
import torch

from avatar.render import fused_binding

_COMPARE = textwrap.dedent(
    """
    import torch
    from avatar.render.fused_binding import FusedBind, reference_bind

    torch.manual_seed(0)
    device = "{device}"
    b, f, n = 3, 40, 500  # several Gaussians share each triangle: the atomic sums are exercised
    per_face = torch.randn(b, f, 17, device=device, requires_grad=True)
    binding = torch.randint(0, f, (n,), device=device)
    local = [torch.randn(n, 3, device=device), torch.randn(n, 3, device=device) - 1, torch.randn(n, 4, device=device)]
    local = [t.requires_grad_() for t in local]
    weights = [torch.randn(b, n, w, device=device) for w in (3, 4, 3)]
    inputs = [per_face, *local]
    results = []
    for bind in (FusedBind.apply, reference_bind):
        out = bind(per_face, binding, *local)
        grads = torch.autograd.grad(sum((o * w).sum() for o, w in zip(out, weights)), inputs)
        results.append((out, grads))
    (out, grads), (want, want_grads) = results
    print(max(float((a - c).abs().max()) for a, c in zip(out, want)))
    print(max(float((a - c).abs().max() / c.abs().max()) for a, c in zip(grads, want_grads)))
    import avatar.render.fused_binding as fb

    fb.fused_available = lambda device: True  # the interpreter runs the kernels on the CPU
    print(int(fb.compile_kernels(torch.device(device))))  # what `l2t-avatar prebuild` runs
    """
)


def _compare(device: str, env: dict) -> tuple[float, float]:
    done = subprocess.run([sys.executable, "-c", _COMPARE.format(device=device)], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    values, grads, prebuilt = (float(x) for x in done.stdout.split()[-3:])
    assert prebuilt == 1  # compile_kernels ran both kernels and found them right
    return values, grads


def test_fused_binding_gives_the_reference_values_and_gradients_in_tritons_interpreter():
    pytest.importorskip("triton")
    values, grads = _compare("cpu", {**os.environ, "TRITON_INTERPRET": "1", "CUDA_VISIBLE_DEVICES": ""})
    assert values < 1e-5 and grads < 1e-5


@pytest.mark.gpu
def test_fused_binding_gives_the_reference_values_and_gradients_on_cuda():
    values, grads = _compare("cuda", dict(os.environ))
    assert values < 1e-5 and grads < 1e-5


@pytest.mark.gpu
def test_a_fit_step_on_cuda_binds_through_the_fused_kernel(monkeypatch):
    from avatar.io.avatar_folder import load_avatar

    calls = []
    real = fused_binding.FusedBind.apply
    monkeypatch.setattr(fused_binding.FusedBind, "apply", lambda *a: calls.append(1) or real(*a))
    avatar = load_avatar(device="cuda")
    avatar.model.requires_grad_(True)  # as a fit's Gaussians
    verts = avatar.neutral_vertices().expand(2, -1, -1)
    w = avatar.model.to_world(verts, avatar.rig.faces)  # the Gaussians need gradients: fused
    assert calls and fused_binding._fused_ok is True
    with torch.no_grad():
        avatar.model.to_world(verts, avatar.rig.faces)  # no gradients: the reference (rendering has fused_world.py)
    assert len(calls) == 1 and w.means.requires_grad


def test_a_binding_kernel_that_fails_or_disagrees_is_left_off_with_a_note(monkeypatch, capsys):
    torch.manual_seed(0)
    per_face = torch.randn(2, 5, 17, requires_grad=True)
    args = (per_face, torch.randint(0, 5, (12,)), torch.randn(12, 3), torch.randn(12, 3), torch.randn(12, 4))
    want = fused_binding.reference_bind(*args)
    monkeypatch.setattr(fused_binding, "fused_available", lambda device: True)

    def broken(*a):
        raise RuntimeError("no C compiler\nmore detail")

    monkeypatch.setattr(fused_binding, "_fused_ok", None)
    monkeypatch.setattr(fused_binding.FusedBind, "apply", broken)
    got = fused_binding.bind_gaussians(*args)
    assert all(torch.equal(a, b) for a, b in zip(got, want)) and fused_binding._fused_ok is False
    assert "binding kernel is off on this machine (RuntimeError: no C compiler)" in capsys.readouterr().err

    monkeypatch.setattr(fused_binding, "_fused_ok", None)
    monkeypatch.setattr(fused_binding.FusedBind, "apply", lambda *a: tuple(t + 1e-3 for t in fused_binding.reference_bind(*a)))
    got = fused_binding.bind_gaussians(*args)
    assert all(torch.equal(a, b) for a, b in zip(got, want)) and fused_binding._fused_ok is False
    assert "differs from the reference" in capsys.readouterr().err
