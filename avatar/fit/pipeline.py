"""`l2t-avatar fit`: video -> landmarks -> head crop -> tracking -> Gaussians -> avatar folder.

Work in progress lives in a hidden folder beside the output (`.NAME.fit/`: the tracked
frames, then the Gaussian checkpoint) so `--resume` can continue after an interruption; the
avatar folder itself appears only when everything is done, in one rename.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import os
import shutil
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from avatar.avatar import Avatar
from avatar.errors import L2TError
from avatar.fit.background import median_background, median_sample
from avatar.fit.crop import crop_frames, crop_intrinsics, head_boxes
from avatar.fit.landmarks import FaceTrack, detect_faces
from avatar.fit.optimize import GaussianFitter, OptimizeConfig, default_iterations, heldout_split
from avatar.fit.regions import person_mask
from avatar.fit.tracking import TRACKING_VIEW, TrackingConfig, track_sequence
from avatar.fit.video_input import VideoFrames, read_video
from avatar.io.atomic import atomic_folder
from avatar.io.avatar_folder import rig_reference, write_avatar_files
from avatar.io.tracked_folder import TrackedFrames, read_tracked_folder, write_tracked_folder
from avatar.io.video import Mp4Writer
from avatar.render.cameras import project_points
from avatar.rig.model import Rig

MIN_FRAMES = 8
MIN_CROP = 64


@dataclass
class FitOptions:
    size: int = 512  # largest crop size; smaller when the face is smaller in the video
    iterations: int | None = None  # Gaussian iterations (default: 1500 on CUDA, 300 on CPU)
    batch: int | None = None  # frames per iteration (default: 8 on CUDA, 1 on CPU)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)  # the tracking recipe (its checkpoint_seconds is ignored)
    gaussians: OptimizeConfig = field(default_factory=OptimizeConfig)  # the Gaussian recipe (the fields below override its run length)
    resume: bool = False
    preview: bool = True  # write preview.mp4 (needs ffmpeg, which imageio-ffmpeg ships)
    progress: bool = True
    rig_path: str | Path | None = None
    landmark_indices: np.ndarray | None = None  # which MediaPipe landmarks the rig embeds (None: all 478, in order)
    seed: int = 0
    checkpoint_seconds: float = 60.0  # both stages save their progress at least this often


@dataclass
class FitResult:
    folder: Path
    metrics: dict = field(default_factory=dict)
    fitter: GaussianFitter | None = None  # the finished Gaussian stage (renders previews, evaluates)

    def summary(self) -> str:
        m = self.metrics
        held = m["heldout"]
        return (
            f"wrote {self.folder}: {m['frames']['used']} frames used ({m['frames']['dropped']} without a face), "
            f"{m['gaussians']} Gaussians, held-out PSNR {held.get('psnr', float('nan')):.2f} dB / "
            f"SSIM {held.get('ssim', float('nan')):.3f}{_region_note(held)}, "
            f"{m['seconds']['total']:.0f} s on {m['device']}"
        )


def _region_note(held: dict) -> str:
    """' (face 27.1, mouth 25.3 dB)': the held-out PSNR where the avatar is, apart from the background."""
    regions = held.get("psnr_by_region", {})
    shown = [f"{name} {regions[name]:.1f}" for name in ("face", "mouth") if name in regions]
    return f" ({', '.join(shown)} dB)" if shown else ""


def work_folder(output: Path) -> Path:
    return output.parent / f".{output.name}.fit"


def check_output(output: Path) -> None:
    """The output may be new, or an avatar folder to replace; anything else is refused."""
    if output.is_file():
        raise L2TError(f"{output} is a file; give a folder for the avatar")
    if output.is_dir() and any(output.iterdir()) and not (output / "avatar.json").is_file():
        raise L2TError(f"{output} exists and is not an avatar folder; choose another -o")


def _even(x: float) -> int:
    return max(2, int(round(x / 2)) * 2)


def track_video(
    vf: VideoFrames, video: str, rig: Rig, opts: FitOptions, track: FaceTrack | None = None, checkpoint: Path | None = None
) -> tuple[TrackedFrames, dict]:
    """Stages 1, 2 and 4 on decoded frames: landmarks (unless `track` brings them), crops,
    and the rig tracked to them (continued from `checkpoint` when it exists)."""
    if rig.landmark_faces.numel() == 0:
        raise L2TError(
            f"the rig {rig.data.name} has no landmark embedding, which fitting a video needs; "
            "give --landmark-embedding (FLAME's mediapipe_landmark_embedding.npz)"
        )
    seconds = {}
    t = time.perf_counter()
    if track is None:
        track = detect_faces(vf.frames, vf.fps, progress=opts.progress)
    elif track.num_frames != len(vf.frames):
        raise L2TError(f"the landmarks are of {track.num_frames} frames, {video} has {len(vf.frames)}: they are of another video")
    seconds["landmarks"] = time.perf_counter() - t
    if len(track.frame_indices) == 0:
        raise L2TError(f"no face found in {video} ({track.num_frames} frames)")
    if len(track.frame_indices) < MIN_FRAMES:
        raise L2TError(
            f"only {len(track.frame_indices)} of {track.num_frames} frames of {video} show a face; fitting needs at least {MIN_FRAMES}"
        )
    if opts.landmark_indices is not None:
        track.landmarks = track.landmarks[:, opts.landmark_indices]
    if rig.landmark_faces.numel() != track.landmarks.shape[1]:
        raise L2TError(
            f"the rig {rig.data.name} embeds {rig.landmark_faces.numel()} landmarks, MediaPipe gives {track.landmarks.shape[1]}; "
            "give --landmark-embedding (FLAME's mediapipe_landmark_embedding.npz)"
        )
    t = time.perf_counter()
    boxes = head_boxes(track.landmarks)  # from the landmarks the rig tracks (all 478 on l2t-head)
    size = min(_even(opts.size), max(MIN_CROP, _even(float(boxes[0, 2]))))
    every = np.array_equal(track.frame_indices, np.arange(len(vf.frames)))
    frames = vf.frames if every else vf.frames[track.frame_indices]  # no copy of the whole video when every frame has a face
    crops = crop_frames(frames, boxes, size, rig.v_template.device)  # before tracking: beside torch._dynamo's import
    seconds["crops"] = time.perf_counter() - t
    t = time.perf_counter()
    seq = track_sequence(
        rig,
        track.landmarks,
        vf.size,
        track.frame_indices,
        vf.fps,
        track.blendshapes,
        track.blendshape_names,
        track.head_transforms,
        dataclasses.replace(opts.tracking, checkpoint_seconds=opts.checkpoint_seconds),
        progress=opts.progress,
        checkpoint=checkpoint,
    )
    seconds["tracking"] = time.perf_counter() - t
    t = time.perf_counter()
    Ks = np.stack([crop_intrinsics(seq.K.cpu().numpy(), b, size) for b in boxes])
    pick = median_sample(len(frames))
    with torch.no_grad():
        verts = seq.vertices(rig, torch.from_numpy(pick))
        head = project_points(verts, TRACKING_VIEW.to(verts.device), seq.K.to(verts.device)).cpu().numpy()
    person = np.stack([person_mask(h, *vf.size) for h in head])
    data = TrackedFrames(
        images=crops,
        Ks=torch.from_numpy(Ks).float(),
        world_to_cam=TRACKING_VIEW.expand(len(crops), 4, 4).clone(),
        params={k: v.cpu() for k, v in seq.params.items()},
        shape=seq.shape.cpu(),
        vertex_offsets=seq.vertex_offsets.cpu(),
        fps=vf.fps,
        video_frames=track.frame_indices,
        background=median_background(frames[pick], person),
        crop_boxes=boxes,
        rig=rig_reference(opts.rig_path),
    )
    seconds["crops"] += time.perf_counter() - t
    info = {
        "frames": {"video": track.num_frames, "used": len(crops), "dropped": track.dropped},
        "tracking": {
            "landmark_error_px": float(np.mean(seq.landmark_error_px)),
            "focal_px": float(seq.K[0, 0]),
            "image_size": list(vf.size),
            "crop_size": size,
            "source_scale": vf.scale,
        },
        "seconds": seconds,
    }
    return data, info


def fit_avatar(
    video: str | Path | VideoFrames | None,
    output: str | Path,
    rig: Rig,
    opts: FitOptions,
    tracked: str | Path | None = None,
    device: torch.device = torch.device("cpu"),
    command: str | None = None,
    log=print,
    face_track: FaceTrack | None = None,
) -> FitResult:
    """Fit an avatar from a video (a path, or frames already decoded) or an already tracked
    folder, and write the avatar folder. `face_track` gives landmarks found elsewhere."""
    start = time.perf_counter()
    _import_beside("torch._dynamo")
    output = Path(output)
    check_output(output)
    work = work_folder(output)
    if work.exists() and not opts.resume:
        shutil.rmtree(work)
    own_tracked = work / "tracked"
    info: dict = {"frames": {}, "tracking": {}, "seconds": {}}
    writing: Future | None = None
    if tracked is not None:
        data = read_tracked_folder(tracked, rig.num_vertices, rig.num_expressions, size=None)
        info["frames"] = {"video": data.num_frames, "used": data.num_frames, "dropped": 0}
    elif opts.resume and (own_tracked / "transforms.json").is_file():
        data = read_tracked_folder(own_tracked, rig.num_vertices, rig.num_expressions)
        info = json.loads((work / "tracking.json").read_text())
        log(f"resuming: tracking of {data.num_frames} frames read from {own_tracked}")
    else:
        if video is None:
            raise L2TError("give a video, or --tracked DIR")
        t = time.perf_counter()
        vf = video if isinstance(video, VideoFrames) else read_video(video)
        decode_seconds = time.perf_counter() - t
        if vf.scale < 1:
            log(f"{video}: {vf.source_size[0]}x{vf.source_size[1]} downscaled to {vf.size[0]}x{vf.size[1]}")
        data, info = track_video(
            vf, "the video" if isinstance(video, VideoFrames) else str(video), rig, opts, face_track, checkpoint=work / "tracking.pt"
        )
        info["seconds"]["decode"] = decode_seconds
        # Written on a thread while the Gaussian stage runs (JPEG encoding releases the GIL); joined before
        # the avatar folder is written. Until it is done, --resume redoes tracking from tracking.pt.
        writer = ThreadPoolExecutor(max_workers=1)
        writing = writer.submit(_save_tracking, data, rig, info["seconds"], json.dumps(info, indent=1) + "\n", work, own_tracked)
        writer.shutdown(wait=False)  # the job runs on; nothing else is queued
    if data.num_frames < MIN_FRAMES:
        raise L2TError(f"{data.num_frames} tracked frames; fitting needs at least {MIN_FRAMES}")

    train, heldout = heldout_split(data.num_frames)
    cfg = dataclasses.replace(
        opts.gaussians,
        iterations=opts.iterations or default_iterations(device),
        batch=opts.batch or (8 if device.type == "cuda" else 1),
        seed=opts.seed,
        checkpoint_seconds=opts.checkpoint_seconds,
    )
    cfg.checkpoint_every = max(100, cfg.iterations // 6)
    t = time.perf_counter()
    fitter = GaussianFitter(rig, data, train, cfg, device)
    info["seconds"]["gaussian_setup"] = time.perf_counter() - t
    checkpoint = work / "checkpoint.pt"
    if opts.resume and checkpoint.is_file():
        fitter.load_checkpoint(checkpoint)
        log(f"resuming: Gaussians from iteration {fitter.iteration} of {cfg.iterations}")
    work.mkdir(parents=True, exist_ok=True)
    fitter.run(checkpoint, progress=opts.progress)
    info["seconds"]["gaussians"] = time.perf_counter() - t  # setup included
    if writing is not None:
        writing.result()  # the tracked folder is complete (and its errors surface here)

    t = time.perf_counter()
    train_eval = train[np.unique(np.linspace(0, len(train) - 1, min(100, len(train))).round().astype(int))]
    metrics = {
        **info,
        "heldout": fitter.evaluate(heldout),
        "train": fitter.evaluate(train_eval),
        "gaussians": fitter.state.model.num_gaussians,
        "iterations": cfg.iterations,
        "device": _device_name(device),
        "final_loss": float(np.mean(losses[-50:])) if (losses := fitter.read_losses()) else None,
        "heldout_rule": "the last 10% of the tracked frames are never trained on",
    }
    metrics["seconds"]["evaluate"] = time.perf_counter() - t
    t = time.perf_counter()
    avatar = Avatar(
        rig,
        fitter.avatar_model(),
        data.shape[: rig.num_shapes].clone(),
        data.vertex_offsets.clone() if data.vertex_offsets is not None else None,
        {"rig": data.rig or rig_reference(opts.rig_path), "fit": {k: metrics[k] for k in ("heldout", "train", "frames")}},
    )
    with atomic_folder(output) as tmp:
        write_avatar_files(avatar, tmp, opts.rig_path, command)
        if opts.preview:
            s = data.size
            with Mp4Writer(tmp / "preview.mp4", 3 * s, s, data.fps) as writer:
                for frame in fitter.preview_frames():
                    writer.write(frame)
        if tracked is None:
            shutil.copytree(own_tracked, tmp / "tracked", copy_function=link_or_copy)  # the work folder goes next
        metrics["seconds"]["write_avatar"] = time.perf_counter() - t
        metrics["seconds"]["total"] = time.perf_counter() - start  # this run (a resumed run leaves out what was done before)
        (tmp / "metrics.json").write_text(json.dumps(metrics, indent=1) + "\n")
    shutil.rmtree(work, ignore_errors=True)
    return FitResult(output, metrics, fitter)


def _save_tracking(data: TrackedFrames, rig: Rig, seconds: dict, info_json: str, work: Path, folder: Path) -> None:
    """Write the tracked folder, then the note that resuming may start from it (not from tracking.pt);
    its time goes to `seconds` (it runs beside the Gaussian stage, not before it)."""
    t = time.perf_counter()
    with atomic_folder(folder) as tmp:
        write_tracked_folder(tmp, data, rig.data.expression_names)
    seconds["write_tracked"] = time.perf_counter() - t
    (work / "tracking.json").write_text(info_json)
    (work / "tracking.pt").unlink(missing_ok=True)  # the tracked folder supersedes it


def _import_beside(module: str) -> None:
    """Import `module` on a thread. torch.optim imports torch._dynamo when it makes its first optimizer
    (5 s on a fresh H100 machine, 1 s on a 2-core CPU): started first, that import runs while the video
    decodes, its landmarks are found and its frames cropped, instead of at the start of tracking."""

    def load() -> None:
        try:
            importlib.import_module(module)
        except Exception:  # the import that needs it raises the error itself
            pass

    threading.Thread(target=load, name=f"import {module}", daemon=True).start()


def link_or_copy(source: str, target: str) -> None:
    """A hard link where the file system allows one (instant, no second copy of the frames), else a copy."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return "cpu"
