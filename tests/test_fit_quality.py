"""What a fitted avatar shows beyond its video: the mouth opened wider than the video ever did,
the mesh's silhouette covered, and no Gaussian finer than the frames' pixels (CPU, tiny clips
fitted from the true tracking so no landmarks are needed)."""

import dataclasses
import math

import numpy as np
import pytest
import torch

from avatar.fit import synthetic
from avatar.fit.footprint import FILTER_PIXELS, triangle_footprints
from avatar.fit.mouth_prior import interior_faces, mouth_prior
from avatar.fit.optimize import GaussianFitter, OptimizeConfig
from avatar.fit.regions import HEAD, MOUTH, SOLID, region_labels
from avatar.gaussians import GaussianAvatarModel
from avatar.io.avatar_folder import load_avatar
from avatar.io.tracked_folder import TrackedFrames
from avatar.render.gaussian import render_gaussians

SIZE, FRAMES = 64, 8
JAW_SEEN = 0.04  # rad (2.3 degrees): the clip's widest jaw
JAW_SHOWN = math.radians(15)


@pytest.fixture(scope="module")
def avatar():
    return load_avatar()


@pytest.fixture(scope="module")
def clip(avatar):
    """A clip of the default avatar talking with its jaw never past 2.3 degrees, and its true tracking."""
    talking = synthetic.synthetic_motion

    def barely_open(av, n, fps=25.0):
        motion = talking(av, n, fps)
        motion["jaw"] = motion["jaw"] * (JAW_SEEN / motion["jaw"][:, 0].abs().max())
        return motion

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(synthetic, "synthetic_motion", barely_open)
        frames, truth = synthetic.synthetic_frames(avatar, FRAMES, SIZE)
    params = {k: torch.from_numpy(v).float() for k, v in truth["motion"].items()}
    params["translation"] = torch.zeros(FRAMES, 3)
    K, w2c = torch.from_numpy(truth["K"]).float(), torch.from_numpy(truth["world_to_cam"]).float()
    data = TrackedFrames(
        images=frames,
        Ks=K.expand(FRAMES, 3, 3).clone(),
        world_to_cam=w2c.expand(FRAMES, 4, 4).clone(),
        params=params,
        shape=avatar.shape.clone(),
        vertex_offsets=avatar.vertex_offsets,
        fps=25.0,
        video_frames=np.arange(FRAMES),
        background=(synthetic.backdrop(SIZE).numpy() * 255).astype(np.uint8),
        crop_boxes=np.tile([SIZE / 2, SIZE / 2, SIZE], (FRAMES, 1)),
    )
    return data, K, w2c


@pytest.fixture(scope="module")
def fitted(avatar, clip):
    data, _, _ = clip
    fitter = GaussianFitter(avatar.rig, data, np.arange(FRAMES), OptimizeConfig(iterations=40, batch=1), torch.device("cpu"))
    fitter.run()
    return fitter


def _render(avatar, model, jaw: float, yaw: float, K, w2c, size=SIZE):
    with torch.no_grad():
        verts = avatar.rig(
            jaw=torch.tensor([[jaw, 0.0, 0.0]]),
            rotation=torch.tensor([[0.0, yaw, 0.0]]),
            shape=avatar.shape[None],
            vertex_offsets=avatar.vertex_offsets,
            batch_size=1,
        ).vertices
        w = model.to_world(verts, avatar.rig.faces)
        out = render_gaussians(w.means, w.quats, w.scales, w.opacities, w.sh, w2c[None, None], K[None, None], size, size, w.sh_degree)
        labels = region_labels(avatar.rig, verts, w2c[None], K[None], size, size)[0]
    return out.rgb[0, 0] + (1 - out.alpha[0, 0]), out.alpha[0, 0, ..., 0], labels


def _psnr(a, b, where) -> float:
    return -10 * math.log10(float(((a - b) ** 2)[torch.from_numpy(where)].mean()))


@pytest.mark.parametrize("yaw", [0.0, 0.3])
def test_a_mouth_opened_wider_than_the_video_shows_teeth_and_a_dark_inside(avatar, clip, fitted, yaw):
    """Bound: mouth-region PSNR >= 28 dB against the truth at 15 degrees of jaw (the clip never passed
    2.3). Measured (40 iterations): 30.5 dB front and 31.0 turned; the recipe before this one 24.2 / 24.1."""
    _, K, w2c = clip
    model = fitted.avatar_model()
    truth, _, labels = _render(avatar, avatar.model, JAW_SHOWN, yaw, K, w2c)
    fit, _, _ = _render(avatar, model, JAW_SHOWN, yaw, K, w2c)
    print(f"mouth PSNR at 15 degrees, yaw {yaw}: {_psnr(truth, fit, (labels & MOUTH) > 0):.2f} dB")
    assert _psnr(truth, fit, (labels & MOUTH) > 0) >= 28.0
    truth, _, labels = _render(avatar, avatar.model, 0.0, yaw, K, w2c)
    fit, _, _ = _render(avatar, model, 0.0, yaw, K, w2c)
    assert _psnr(truth, fit, (labels & MOUTH) > 0) >= 35.0  # closed, it still looks closed


def test_the_silhouette_is_solid_over_any_background(avatar, clip, fitted):
    _, K, w2c = clip
    model = fitted.avatar_model()
    truth, truth_alpha, labels = _render(avatar, avatar.model, 0.1, 0.2, K, w2c)
    fit, alpha, _ = _render(avatar, model, 0.1, 0.2, K, w2c)
    solid = torch.from_numpy((labels & SOLID) > 0)
    assert float((alpha[solid] < 0.9).float().mean()) < 0.01  # nothing see-through inside the mesh's outline
    assert float((alpha - truth_alpha).abs()[solid].mean()) < 0.02
    assert float((alpha - truth_alpha).abs()[torch.from_numpy((labels & HEAD) > 0)].mean()) < 0.08  # the outline itself, at 64 px
    texture = synthetic.backdrop(SIZE)
    for background in (torch.zeros(3), texture):  # uniform and textured: the same avatar over each
        over_truth = truth - (1 - truth_alpha[..., None]) * (1 - background)
        over_fit = fit - (1 - alpha[..., None]) * (1 - background)
        # 29.5 dB: this 64 px CPU fit moves by some 0.4 dB under float-rounding changes alone (30.19 -> 29.83
        # when to_world's quaternion and products were rewritten to the same maths with fewer kernels)
        assert _psnr(over_truth, over_fit, (labels & SOLID) > 0) > 29.5
        shows_through = ((alpha - truth_alpha)[..., None] * background).abs()[torch.from_numpy((labels & HEAD) > 0)]
        assert float(shows_through.mean()) < 0.04
    held = fitted.evaluate(np.arange(FRAMES))
    assert held["silhouette"]["mean_alpha"] > 0.97 and held["silhouette"]["see_through"] < 0.01


def test_mouth_prior_takes_the_default_avatars_mouth(avatar, head):
    prior = mouth_prior(head)
    inside = interior_faces(head)
    assert int(inside.sum()) == 1200 and torch.equal(prior.interior, inside)  # cavity, teeth, tongue, inner lips
    fresh = GaussianAvatarModel.on_triangles(len(head.faces), 1, 1)
    seeded = prior.seed(fresh)
    on_interior = prior.interior[seeded.binding]
    assert int((~on_interior).sum()) == len(head.faces) - 1200  # the rest keep their own
    assert int(on_interior.sum()) == int(prior.interior[avatar.model.binding].sum())
    assert float(prior.penalty(seeded).detach()) < 0.05  # seeded: close to its own prior
    assert float(prior.penalty(fresh).detach()) > 0.1  # grey: far from it
    teeth = torch.zeros(head.num_vertices, dtype=torch.bool)
    teeth[torch.as_tensor(head.data.regions["teeth"]).long()] = True
    assert float(prior.color[teeth[head.faces].all(1)].mean()) > float(prior.color[prior.interior & ~teeth[head.faces].all(1)].mean())


def test_a_rig_without_a_mouth_interior_has_no_prior(head_data):
    regions = {k: v for k, v in head_data.regions.items() if k not in ("mouth_cavity", "teeth", "tongue")}
    from avatar.rig import Rig

    assert mouth_prior(Rig(dataclasses.replace(head_data, regions=regions))) is None


def test_smoothing_floors_the_in_plane_size_and_keeps_each_gaussians_weight():
    model = GaussianAvatarModel.on_triangles(2, 3, 0)
    model.log_scales.data[:] = torch.log(torch.tensor([0.01, 0.002, 0.3]))  # tiny, thinnest, large
    smoothing = torch.tensor([0.05, 0.0])
    log_scales, opacities = model.smoothed(smoothing)
    scales, before = log_scales.exp(), model.log_scales.exp()
    first = model.binding == 0
    assert torch.allclose(scales[first, 1], before[first, 1])  # the thinnest axis is left alone
    assert torch.allclose(scales[first, 0], torch.tensor(math.hypot(0.01, 0.05)))
    weight = opacities * scales[:, 0] * scales[:, 2]
    assert torch.allclose(weight, torch.sigmoid(model.opacity_logits) * before[:, 0] * before[:, 2], rtol=1e-5)
    assert torch.allclose(scales[~first], before[~first]) and torch.allclose(opacities[~first], torch.sigmoid(model.opacity_logits[~first]))
    baked = GaussianAvatarModel(
        *(getattr(model, k).detach().clone() for k in ("binding", "xyz", "log_scales", "rotations", "opacity_logits", "sh"))
    )
    baked.bake_smoothing(smoothing)
    assert torch.allclose(baked.log_scales, log_scales) and torch.allclose(torch.sigmoid(baked.opacity_logits), opacities, atol=1e-6)


def test_footprint_is_a_fraction_of_the_finest_pixel(avatar, clip):
    data, K, w2c = clip
    verts = avatar.neutral_vertices()
    smoothing = triangle_footprints(lambda f: verts.expand(len(f), -1, -1), avatar.rig.faces, data.world_to_cam, data.Ks, torch.arange(2))
    from avatar.gaussians import triangle_frames

    _, k, centre = triangle_frames(verts, avatar.rig.faces)
    depth = (centre[0] @ w2c[:3, :3].T + w2c[:3, 3])[:, 2]
    world = smoothing * k[0]  # back to metres
    assert torch.allclose(world, FILTER_PIXELS * depth / K[0, 0], rtol=1e-4)
    # Halving the resolution doubles the footprint.
    half = data.Ks.clone()
    half[:, :2] /= 2
    coarse = triangle_footprints(lambda f: verts.expand(len(f), -1, -1), avatar.rig.faces, data.world_to_cam, half, torch.arange(2))
    assert torch.allclose(coarse, 2 * smoothing, rtol=1e-4)


def test_the_written_avatar_renders_as_the_fit_did(avatar, clip, fitted):
    """The filter is baked into the avatar the fit writes: no filter needed when it is rendered."""
    _, K, w2c = clip
    frames = torch.arange(2)
    during = fitted.renderer.composite(fitted.state, frames, *fitted.renderer.render(fitted.state, frames))
    model = fitted.avatar_model()
    verts = fitted.renderer.vertices(frames, fitted.state)
    w = model.to_world(verts, avatar.rig.faces)
    out = render_gaussians(w.means, w.quats, w.scales, w.opacities, w.sh, w2c[None], K[None], SIZE, SIZE, w.sh_degree)
    background = fitted.state.background(frames, SIZE)
    after = out.rgb[:, 0] + (1 - out.alpha[:, 0]) * background
    assert float((after - during).abs().max()) < 2e-3
    assert fitted.state.smoothing is not None and float(fitted.state.smoothing[fitted.mouth.interior].abs().max()) == 0
