"""`l2t-avatar fit` end to end on CPU: a 16-frame 64x64 clip rendered from the default avatar with
known motion, fitted back; resume, the VHAP-style --tracked input, and every bad input."""

import dataclasses
import json
import subprocess

import numpy as np
import pytest
import torch

from avatar.fit.background import Background, median_background, median_sample
from avatar.fit.image_metrics import masked_psnr, psnr, ssim, ssim_map
from avatar.fit.optimize import GaussianFitter, OptimizeConfig, heldout_split
from avatar.fit.pipeline import work_folder
from avatar.fit.synthetic import render_synthetic_clip
from avatar.io.audio import ffmpeg_exe
from avatar.io.avatar_folder import load_avatar
from avatar.io.tracked_folder import read_tracked_folder
from avatar.io.video import Mp4Writer
from l2t_avatar.cli import main


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fit")
    truth = render_synthetic_clip(load_avatar(), folder / "clip.mp4", num_frames=16, size=64)
    return folder / "clip.mp4", truth


@pytest.fixture(scope="module")
def fitted(clip, tmp_path_factory):
    out = tmp_path_factory.mktemp("fitted") / "me"
    rc = main(["fit", str(clip[0]), "-o", str(out), "--iterations", "60", "--device", "cpu", "--quiet"])
    assert rc == 0
    return out


def test_fit_writes_an_avatar_that_reproduces_the_video(fitted, clip):
    assert sorted(p.name for p in fitted.iterdir()) == ["avatar.json", "gaussians.npz", "metrics.json", "preview.mp4", "tracked"]
    assert not work_folder(fitted).exists()  # the work folder goes once the avatar is written
    metrics = json.loads((fitted / "metrics.json").read_text())
    assert metrics["frames"] == {"video": 16, "used": 16, "dropped": 0}
    assert metrics["heldout"]["frames"] == 2 and metrics["train"]["frames"] == 14
    assert metrics["heldout"]["psnr"] > 25 and metrics["heldout"]["ssim"] > 0.85
    regions = metrics["heldout"]["psnr_by_region"]
    assert sorted(regions) == ["background", "face", "head", "mouth"]
    assert all(value > 20 for value in regions.values())
    assert metrics["tracking"]["landmark_error_px"] < 1.5
    avatar = load_avatar(fitted)  # what render and speak load
    assert avatar.model.num_gaussians == metrics["gaussians"] >= len(avatar.rig.faces)
    import imageio.v3 as iio

    preview = iio.imread(fitted / "preview.mp4")
    assert preview.shape == (16, 64, 192, 3)


def test_tracking_follows_the_true_jaw_and_head(fitted, clip):
    _, truth = clip
    avatar = load_avatar(fitted)
    tracked = read_tracked_folder(fitted / "tracked", avatar.rig.num_vertices, avatar.rig.num_expressions)
    jaw = tracked.params["jaw"][:, 0].numpy()
    assert np.corrcoef(jaw, truth["motion"]["jaw"][:, 0])[0, 1] > 0.9
    yaw = tracked.params["rotation"][:, 1].numpy()
    assert np.corrcoef(yaw, truth["motion"]["rotation"][:, 1])[0, 1] > 0.9
    # the identity's offsets leave the lips as the rig has them at rest (the jaw opens the mouth)
    from avatar.fit.tracking import lip_gap

    assert float(lip_gap(avatar.rig, tracked.vertex_offsets).norm(dim=-1).max()) < 0.3e-3


def test_lip_gap_measures_offsets_that_part_the_lips(head):
    from avatar.fit.tracking import lip_gap
    from avatar.rig import mediapipe_topology as mp

    offsets = torch.zeros(head.num_vertices, 3)
    assert float(lip_gap(head, offsets).abs().max()) == 0
    upper = torch.zeros(head.num_vertices, dtype=torch.bool)
    upper[head.faces[head.landmark_faces[list(mp.LIPS_INNER_UPPER[1:-1])]].flatten()] = True
    offsets[upper, 1] = 0.002  # the upper inner lip 2 mm up
    assert torch.allclose(lip_gap(head, offsets)[:, 1], torch.full((9,), 0.002), atol=1e-6)


def test_vertex_smoother_averages_neighbours_and_its_gradient_is_the_dense_one(head):
    from avatar.fit.tracking import VertexSmoother

    smoother = VertexSmoother(head.faces, head.num_vertices)
    dense = smoother.matrix.to_dense()
    assert torch.allclose(dense.sum(1), torch.ones(head.num_vertices))  # rows sum to 1
    x = torch.randn(head.num_vertices, 3, dtype=torch.float32, requires_grad=True)
    weight = torch.randn(head.num_vertices, 3)
    (smoother(x, 3) * weight).sum().backward()
    expected = dense.T @ (dense.T @ (dense.T @ weight))
    assert torch.allclose(x.grad, expected, atol=1e-5)
    assert torch.allclose(smoother(x.detach(), 3), dense @ (dense @ (dense @ x.detach())), atol=1e-5)


def test_resume_continues_exactly_where_the_checkpoint_was(fitted, tmp_path):
    rig = load_avatar(fitted).rig
    data = read_tracked_folder(fitted / "tracked", rig.num_vertices, rig.num_expressions)
    train, _ = heldout_split(data.num_frames)
    cfg = OptimizeConfig(iterations=30, checkpoint_every=10)
    first = GaussianFitter(rig, data, train, cfg, torch.device("cpu"))
    for _ in range(10):
        first.step()
    first.save_checkpoint(tmp_path / "checkpoint.pt")
    second = GaussianFitter(rig, data, train, cfg, torch.device("cpu"))
    second.load_checkpoint(tmp_path / "checkpoint.pt")
    assert second.iteration == 10
    a, b = float(first.step()), float(second.step())
    assert a == pytest.approx(b, rel=1e-5)
    assert torch.allclose(first.state.model.xyz, second.state.model.xyz, atol=1e-6)


def test_a_vhap_style_folder_with_masks_is_accepted(fitted, tmp_path):
    """--tracked: a folder in VHAP's layout, with foreground masks and no background of ours."""
    import shutil

    from PIL import Image

    tracked = tmp_path / "vhap"
    shutil.copytree(fitted / "tracked", tracked)
    meta = json.loads((tracked / "transforms.json").read_text())
    meta.pop("background")
    (tracked / "fg_masks").mkdir()
    for entry in meta["frames"]:
        entry.pop("crop_box")
        mask = np.zeros((64, 64), np.uint8)
        mask[8:64, 12:52] = 255
        name = f"fg_masks/{entry['timestep_index']:05d}.png"
        Image.fromarray(mask).save(tracked / name)
        entry["fg_mask_path"] = name
    (tracked / "transforms.json").write_text(json.dumps(meta))
    out = tmp_path / "from_vhap"
    assert main(["fit", "--tracked", str(tracked), "-o", str(out), "--iterations", "5", "--device", "cpu", "--quiet"]) == 0
    assert (out / "gaussians.npz").is_file() and not (out / "tracked").exists()


def _noise_video(path, frames: int, size: int = 64) -> None:
    rng = np.random.default_rng(0)
    with Mp4Writer(path, size, size, 25) as writer:
        for _ in range(frames):
            writer.write(rng.integers(0, 255, (size, size, 3), dtype=np.uint8))


def _short_clip(path, clip_path, frames: int) -> None:
    import imageio.v3 as iio

    with Mp4Writer(path, 64, 64, 25) as writer:
        for frame in iio.imread(clip_path)[:frames]:
            writer.write(frame)


def _vfr_video(path) -> None:
    subprocess.run(
        [
            ffmpeg_exe(),
            "-loglevel",
            "error",
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=64x64:rate=25",
            "-t",
            "2",
            "-vf",
            "setpts='if(lt(N,10),N,N*1.7)/25/TB'",
            "-fps_mode",
            "passthrough",
            "-y",
            str(path),
        ],
        check=True,
    )


@pytest.mark.parametrize(
    "case, message",
    [
        ("missing", "video not found"),
        ("not_a_video", "cannot read"),
        ("no_face", "no face found"),
        ("few_faces", "fitting needs at least 8"),
        ("variable_rate", "variable frame rate"),
        ("output_is_a_file", "is a file"),
        ("no_video", "give a video"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_nothing_written(case, message, clip, tmp_path, capsys):
    video = tmp_path / "in.mp4"
    out = tmp_path / "avatar"
    if case == "not_a_video":
        video.write_text("hello")
    elif case == "no_face":
        _noise_video(video, 10)
    elif case == "few_faces":
        _short_clip(video, clip[0], 5)
    elif case == "variable_rate":
        _vfr_video(video)
    elif case == "output_is_a_file":
        video = clip[0]
        out.write_text("keep me")
    args = ["fit", str(video), "-o", str(out), "--device", "cpu", "--quiet"] if case != "no_video" else ["fit", "-o", str(out)]
    capsys.readouterr()
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    if case == "output_is_a_file":
        assert out.read_text() == "keep me"
    else:
        assert not out.exists()
    assert not work_folder(out).exists()


def test_background_identity_crop_returns_the_image():
    image = (np.random.default_rng(0).random((32, 32, 3)) * 255).astype(np.uint8)
    bg = Background(image, np.array([[16.0, 16.0, 32.0]]))
    got = bg(torch.tensor([0]), 32)[0]
    assert torch.allclose(got, torch.from_numpy(image).float() / 255, atol=1e-5)


def test_image_metrics():
    a = torch.rand(2, 24, 24, 3, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(ssim(a, a), torch.ones(2))
    assert psnr(a, (a + 0.1).clamp(0, 1)).min() > 20
    assert ssim(a, torch.rand_like(a)).max() < 0.2


def test_separable_ssim_equals_the_2d_gaussian_window():
    g = torch.Generator().manual_seed(1)
    a = torch.rand(2, 20, 26, 3, generator=g)
    b = (a + 0.2 * torch.rand(a.shape, generator=g)).clamp(0, 1)
    x, y = a.permute(0, 3, 1, 2), b.permute(0, 3, 1, 2)
    taps = torch.exp(-((torch.arange(11) - 5.0) ** 2) / (2 * 1.5**2))
    window = (taps[:, None] * taps[None, :] / taps.sum() ** 2).expand(3, 1, 11, 11)

    def blur(t):
        return torch.nn.functional.conv2d(torch.nn.functional.pad(t, [5] * 4, mode="replicate"), window, groups=3)

    mx, my = blur(x), blur(y)
    vx, vy, cov = blur(x * x) - mx**2, blur(y * y) - my**2, blur(x * y) - mx * my
    c1, c2 = 0.01**2, 0.03**2
    expected = (((2 * mx * my + c1) * (2 * cov + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2))).mean(1)
    assert torch.allclose(ssim_map(a, b), expected, atol=1e-5)


def test_median_background_skips_the_person_and_fills_what_is_never_free():
    frames = np.zeros((5, 4, 4, 3), np.uint8)
    frames[:, :, :, 0] = np.array([10, 20, 30, 200, 250], np.uint8)[:, None, None]
    person = np.zeros((5, 4, 4), bool)
    person[3:, 0, 0] = True  # the two brightest frames are the person there
    person[:, 3, 3] = True  # never free
    median = median_background(frames, person)
    assert median[1, 1, 0] == 30 and median[0, 0, 0] == 20  # (the lower middle of 10, 20, 30 is 20)
    assert median[3, 3, 0] == 30  # the median of the free pixels' medians
    assert len(median_sample(1000)) == 48 and median_sample(1000)[-1] == 999 and len(median_sample(5)) == 5


def test_batched_rasterizer_matches_one_frame_at_a_time(head):
    from avatar.render.cameras import Camera, frame_head, orbit_camera, project_points
    from avatar.render.mesh_raster import rasterize, rasterize_pixels

    verts = head(jaw=torch.tensor([[0.2, 0, 0], [0.0, 0, 0]]), rotation=torch.tensor([[0, 0.4, 0], [0.1, -0.3, 0]])).vertices
    target, dist = frame_head(head.v_template[head.region("face")])
    cameras = [orbit_camera(target, dist, yaw, 0.0, 20.0, 48, 40) for yaw in (0.0, 30.0)]
    w2c, Ks = torch.stack([c.world_to_cam for c in cameras]), torch.stack([c.K for c in cameras])
    depth = (verts @ w2c[:, :3, :3].transpose(1, 2) + w2c[:, None, :3, 3])[..., 2]
    both = rasterize_pixels(project_points(verts, w2c, Ks), depth, head.faces, 40, 48)
    for i, camera in enumerate(cameras):
        one = rasterize(Camera(w2c[i], Ks[i], 48, 40).transform(verts[i]), head.faces, camera)
        assert (one.face_index >= 0).sum() > 100
        assert torch.equal(both.face_index[i], one.face_index)
        assert torch.allclose(both.depth[i], one.depth)


def test_a_landmark_embedding_makes_a_rig_track_a_subset(head, tmp_path):
    """FLAME's mediapipe_landmark_embedding.npz layout, built here on l2t-head for 105 landmarks."""
    from avatar.fit.landmark_embedding import apply_landmark_embedding, load_landmark_embedding
    from avatar.rig import Rig

    picks = np.arange(0, 468, 4)[:105]
    np.savez(
        tmp_path / "emb.npz",
        lmk_face_idx=head.landmark_faces[picks].numpy(),
        lmk_b_coords=head.landmark_bary[picks].numpy(),
        landmark_indices=picks,
    )
    rig = Rig(head.data)
    full = rig.landmarks(rig.v_template[None])
    apply_landmark_embedding(rig, load_landmark_embedding(tmp_path / "emb.npz"))
    assert torch.allclose(rig.landmarks(rig.v_template[None]), full[:, picks])
    np.savez(tmp_path / "bad.npz", lmk_face_idx=np.array([0]))
    assert main(["fit", "in.mp4", "--landmark-embedding", str(tmp_path / "bad.npz"), "--device", "cpu", "-o", str(tmp_path / "o")]) == 2


class _Planted:
    """A pickle that runs a shell command when loaded the unsafe way."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        import os

        return os.system, (f"touch {self.marker}",)


@pytest.mark.parametrize("name", ["tracking.pt", "checkpoint.pt"])
def test_a_planted_resume_checkpoint_is_refused_and_runs_nothing(name, clip, fitted, tmp_path, capsys):
    import shutil

    out = tmp_path / "me"
    work = work_folder(out)
    work.mkdir()
    if name == "checkpoint.pt":  # the Gaussian stage resumes after tracking: give it the tracking
        shutil.copytree(fitted / "tracked", work / "tracked")
        (work / "tracking.json").write_text(json.dumps({"frames": {}, "tracking": {}, "seconds": {}}))
    marker = tmp_path / "pwned"
    torch.save({"iteration": 1, "payload": _Planted(marker)}, work / name)
    capsys.readouterr()
    assert main(["fit", str(clip[0]), "-o", str(out), "--resume", "--iterations", "5", "--device", "cpu", "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "refusing" in err[0] and "never unpickles" in err[0] and "weights_only" not in err[0]
    assert not marker.exists() and not out.exists()


def test_tracking_resumes_exactly_from_a_mid_stage_checkpoint(clip, tmp_path, interrupt_tracking):
    """Killed mid-way, tracking continues from the checkpoint it saved and ends where an
    uninterrupted run ends."""
    from avatar.fit import tracking
    from avatar.fit.landmarks import detect_faces
    from avatar.fit.video_input import read_video
    from avatar.rig import load_rig

    vf = read_video(clip[0])
    track = detect_faces(vf.frames, vf.fps)
    rig = load_rig()
    args = (rig, track.landmarks, vf.size, track.frame_indices, vf.fps, track.blendshapes, track.blendshape_names, track.head_transforms)
    short = tracking.TrackingConfig(rigid_steps=20, steps=30)
    whole = tracking.track_sequence(*args, short)

    checkpoint = tmp_path / "tracking.pt"
    interrupt_tracking(35)  # in the second stage
    with pytest.raises(KeyboardInterrupt):
        tracking.track_sequence(*args, dataclasses.replace(short, checkpoint_seconds=0.0), checkpoint=checkpoint)
    assert checkpoint.is_file()
    resumed = tracking.track_sequence(*args, dataclasses.replace(short, checkpoint_seconds=1e9), checkpoint=checkpoint)
    for key in whole.params:
        assert torch.allclose(whole.params[key], resumed.params[key], atol=1e-6), key
    assert torch.allclose(whole.vertex_offsets, resumed.vertex_offsets, atol=1e-7)
    assert torch.allclose(whole.K, resumed.K)


def test_gaussian_checkpoints_come_by_wall_time_too(fitted, tmp_path):
    rig = load_avatar(fitted).rig
    data = read_tracked_folder(fitted / "tracked", rig.num_vertices, rig.num_expressions)
    train, _ = heldout_split(data.num_frames)
    cfg = OptimizeConfig(iterations=4, checkpoint_every=1000, checkpoint_seconds=0.0)
    fitter = GaussianFitter(rig, data, train, cfg, torch.device("cpu"))
    saved = []
    fitter.save_checkpoint = lambda path: saved.append(fitter.iteration)
    fitter.run(tmp_path / "checkpoint.pt")
    assert saved == [1, 2, 3, 4]  # every step, since every step is past 0 s (by count alone: only at the end)


def test_landmarks_file_from_another_machine(clip, tmp_path, capsys):
    """`l2t-avatar landmarks` saves what `fit --landmarks` reads (for a GPU server without libEGL)."""
    from avatar.fit.landmarks import load_face_track

    lm = tmp_path / "lm.npz"
    assert main(["landmarks", str(clip[0]), "-o", str(lm), "--quiet"]) == 0
    track = load_face_track(lm)
    assert track.num_frames == 16 and len(track.frame_indices) == 16 and track.landmarks.shape == (16, 478, 3)
    out = tmp_path / "me"
    assert main(["fit", str(clip[0]), "--landmarks", str(lm), "-o", str(out), "--iterations", "5", "--device", "cpu", "--quiet"]) == 0
    assert json.loads((out / "metrics.json").read_text())["tracking"]["landmark_error_px"] < 1.5
    short = tmp_path / "short.mp4"
    _short_clip(short, clip[0], 10)
    capsys.readouterr()
    assert main(["fit", str(short), "--landmarks", str(lm), "-o", str(tmp_path / "other"), "--device", "cpu", "--quiet"]) == 2
    assert "of another video" in capsys.readouterr().err
    lm.write_bytes(b"not an npz")
    assert main(["fit", str(clip[0]), "--landmarks", str(lm), "-o", str(tmp_path / "other"), "--device", "cpu", "--quiet"]) == 2


def test_masked_psnr_scores_only_the_masked_pixels():
    truth = torch.zeros(2, 4, 4, 3)
    pred = torch.full((2, 4, 4, 3), 0.5)
    mask = torch.zeros(2, 4, 4, dtype=torch.bool)
    mask[0, :2] = True
    pred[0, :2] = 0.1  # inside the mask: error 0.1 -> 20 dB; outside: 0.5 -> 6.02 dB
    got = masked_psnr(pred, truth, mask)
    assert got[0].item() == pytest.approx(20.0, abs=1e-4) and torch.isnan(got[1])
    assert masked_psnr(pred, truth, ~mask)[1].item() == pytest.approx(6.0206, abs=1e-3)


def test_sh_degree_zero_fits_one_colour_per_gaussian_and_renders(fitted, tmp_path):
    from avatar.motion import demo_motion
    from avatar.render.animate import avatar_cameras, render_frames

    out = tmp_path / "flat"
    args = ["fit", "--tracked", str(fitted / "tracked"), "-o", str(out), "--iterations", "10", "--sh-degree", "0"]
    assert main([*args, "--device", "cpu", "--quiet"]) == 0
    avatar = load_avatar(out)
    assert avatar.model.sh_degree == 0 and avatar.model.sh.shape[1] == 1
    assert json.loads((out / "metrics.json").read_text())["heldout"]["psnr"] > 20
    motion = demo_motion(avatar.rig.data.expression_names, seconds=0.08)
    frames = list(render_frames(avatar, motion, avatar_cameras(avatar, "front", motion.num_frames, 32)))
    assert len(frames) == 2 and frames[0].shape == (32, 32, 3) and frames[0].std() > 5


def test_crop_pixels_past_the_videos_edge_are_known_and_left_out_of_the_loss(head, tmp_path):
    """A close-up's crop reaches past the frame: crop_frames pads it black, and the fit must not learn
    that black (nor be scored on it): inside_frame marks exactly the pixels sampled from the video."""
    from avatar.fit.crop import crop_frames, inside_frame
    from avatar.fit.optimize import image_loss
    from avatar.fit.synthetic import synthetic_tracked

    white = np.full((2, 40, 60, 3), 255, np.uint8)
    boxes = np.array([[30.0, 20.0, 30.0], [8.0, 35.0, 30.0]])  # inside; past the left and bottom edges
    crops = crop_frames(white, boxes, 24)
    inside = inside_frame(torch.from_numpy(boxes).float(), (60, 40), 24).numpy()
    assert inside[0].all() and not inside[1].all() and inside[1].any()
    assert (crops[inside] == 255).all()  # every pixel it keeps is the video's own
    assert (crops[~inside] < 255).all()  # every one it leaves out is (partly) padding

    avatar = load_avatar()
    data = synthetic_tracked(avatar, 6, 32)
    side = 2.0 * data.size  # boxes twice the frame: a quarter of each crop is the video
    data = dataclasses.replace(data, background=np.full((32, 32, 3), 128, np.uint8), crop_boxes=np.tile([32.0, 32.0, side], (6, 1)))
    fitter = GaussianFitter(avatar.rig, data, np.arange(5), OptimizeConfig(iterations=5, batch=2), torch.device("cpu"))
    frames = torch.tensor([0, 3])
    mask = fitter.renderer.inside(frames)
    assert mask is not None and 0.2 < float(mask.float().mean()) < 0.3
    r, state = fitter.renderer, fitter.state
    with torch.no_grad():
        rgb, alpha = r.render(state, frames)
        labels = fitter.label_store[frames]
        target = r.targets(frames)
        loss = image_loss(fitter.cfg, r, state, frames, rgb, alpha, target, labels, None, mask)
        padded = torch.where(mask[..., None], target, torch.zeros_like(target))  # the padding changed: no effect
        assert torch.allclose(image_loss(fitter.cfg, r, state, frames, rgb, alpha, padded, labels, None, mask), loss)
        unmasked = image_loss(fitter.cfg, r, state, frames, rgb, alpha, padded, labels, None, None)
        assert not torch.allclose(unmasked, loss)
        everywhere = torch.ones_like(mask)  # with nothing left out, the loss is the plain one
        plain = image_loss(fitter.cfg, r, state, frames, rgb, alpha, target, labels, None, None)
        assert torch.allclose(image_loss(fitter.cfg, r, state, frames, rgb, alpha, target, labels, None, everywhere), plain)
    held = fitter.evaluate(np.array([5]))
    assert np.isfinite(held["psnr"])
