"""Tracking replayed from CUDA graphs (avatar/fit/graphed_step.py) solves the same problem as the
eager steps: the same landmark fit, the same parameters, and a checkpoint written mid-stage by a
graphed run resumes."""

from __future__ import annotations

import dataclasses
import math
import warnings

import numpy as np
import pytest
import torch

from avatar.render.cameras import pinhole_intrinsics, project_points

pytestmark = pytest.mark.gpu

SIZE = (320, 240)


def _landmarks_of_a_known_motion(rig, frames: int = 40) -> np.ndarray:
    """Pixel landmarks [N, L, 2] of the rig turning its head and opening its jaw in front of the tracking camera."""
    from avatar.fit.tracking import TRACKING_VIEW

    t = torch.linspace(0, 1, frames)[:, None]
    params = {
        "rotation": torch.cat([0.2 * torch.sin(6 * t), 0.3 * torch.sin(4 * t), torch.zeros_like(t)], 1),
        "jaw": torch.cat([0.2 * (1 + torch.sin(9 * t)) / 2, torch.zeros(frames, 2)], 1),
        "translation": torch.tensor([0.0, 0.0, -0.5]).expand(frames, 3),
    }
    with torch.no_grad():
        verts = rig(batch_size=frames, **params).vertices
        focal = 0.5 * SIZE[0] / math.tan(math.radians(30) / 2)
        uv = project_points(rig.landmarks(verts), TRACKING_VIEW, pinhole_intrinsics(focal, *SIZE))
    return uv.numpy()


def _track(rig, landmarks, cfg, checkpoint=None):
    from avatar.fit.tracking import track_sequence

    return track_sequence(rig, landmarks, SIZE, np.arange(len(landmarks)), 25.0, cfg=cfg, checkpoint=checkpoint)


def test_graphed_tracking_matches_eager_tracking():
    from avatar.fit.tracking import TrackingConfig
    from avatar.rig import load_rig

    landmarks = _landmarks_of_a_known_motion(load_rig())
    rig = load_rig().to("cuda")
    cfg = TrackingConfig(rigid_steps=40, steps=80)
    eager = _track(rig, landmarks, dataclasses.replace(cfg, cuda_graph=False))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        graphed = _track(rig, landmarks, cfg)
    assert not [w for w in caught if "stream" in str(w.message)]  # the capture reuses nothing of the warm-up's stream
    assert graphed.landmark_error_px.mean() < 3.0  # it fits (a short run: about 1.4 px)
    assert abs(graphed.landmark_error_px.mean() - eager.landmark_error_px.mean()) < 0.02
    for key in eager.params:  # the same steps (gradients sum with atomics: not bit-identical)
        assert torch.allclose(graphed.params[key], eager.params[key], atol=2e-3), key
    assert torch.allclose(graphed.K, eager.K, rtol=1e-3)


def test_graphed_tracking_resumes_from_its_checkpoint(tmp_path, interrupt_tracking):
    from avatar.fit import tracking
    from avatar.rig import load_rig

    landmarks = _landmarks_of_a_known_motion(load_rig())
    rig = load_rig().to("cuda")
    cfg = tracking.TrackingConfig(rigid_steps=20, steps=30)
    whole = _track(rig, landmarks, cfg)

    checkpoint = tmp_path / "tracking.pt"
    interrupt_tracking(35)  # in the second stage, after its graph was captured
    with pytest.raises(KeyboardInterrupt):
        _track(rig, landmarks, dataclasses.replace(cfg, checkpoint_seconds=0.0), checkpoint)
    assert checkpoint.is_file()
    resumed = _track(rig, landmarks, dataclasses.replace(cfg, checkpoint_seconds=1e9), checkpoint)
    for key in whole.params:
        assert torch.allclose(whole.params[key], resumed.params[key], atol=1e-3), key
