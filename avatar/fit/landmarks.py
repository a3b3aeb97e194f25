"""Face landmarks per video frame with MediaPipe FaceLandmarker (its model ships in the package).

One face is followed through the video: the largest in the first frame where a face is found,
then in every frame the detected face nearest to where it was. Frames without a face are
dropped and counted.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from avatar.errors import L2TError

FACE_LANDMARKER_PATH = Path(__file__).resolve().parent.parent / "assets" / "face_landmarker.task"
MEDIAPIPE_PACKAGE = "mediapipe>=0.10.30 (pip install mediapipe)"


@dataclass
class FaceTrack:
    frame_indices: np.ndarray  # [N] indices of the frames with the tracked face
    landmarks: np.ndarray  # [N, 478, 3]: x, y in pixels; z in pixels too (MediaPipe's depth, scaled by width)
    blendshapes: np.ndarray  # [N, 52] scores in [0, 1]
    blendshape_names: list[str]
    head_transforms: np.ndarray  # [N, 4, 4] MediaPipe's facial transformation matrices (canonical face -> camera, cm)
    num_frames: int  # frames in the video

    @property
    def dropped(self) -> int:
        return self.num_frames - len(self.frame_indices)


NO_EGL = (
    "MediaPipe's face landmarker needs libEGL, which this machine lacks (Debian/Ubuntu: apt-get install libegl1 "
    "libgles2); or detect the landmarks on another machine with 'l2t-avatar landmarks VIDEO -o LM.npz' and fit "
    "here with --landmarks LM.npz"
)


def _landmarker(model_path: Path, num_faces: int):
    try:
        import mediapipe as mp
        from mediapipe.tasks.python import BaseOptions, vision
    except ImportError as exc:
        if "EGL" in str(exc) or "GLES" in str(exc):
            raise L2TError(NO_EGL) from None
        raise L2TError(f"face landmarks need {MEDIAPIPE_PACKAGE}") from exc
    except OSError as exc:  # a shared library missing at import
        raise L2TError(NO_EGL if "EGL" in str(exc) or "GLES" in str(exc) else f"MediaPipe does not load here: {exc}") from None
    if not model_path.is_file():
        raise L2TError(f"face landmarker model not found: {model_path}")
    options = vision.FaceLandmarkerOptions(
        base_options=BaseOptions(model_asset_path=str(model_path), delegate=BaseOptions.Delegate.CPU),
        running_mode=vision.RunningMode.VIDEO,
        num_faces=num_faces,
        output_face_blendshapes=True,
        output_facial_transformation_matrixes=True,
    )
    try:
        return mp, vision.FaceLandmarker.create_from_options(options)
    except (OSError, RuntimeError) as exc:
        if "EGL" in str(exc) or "GLES" in str(exc) or "libGL" in str(exc):
            raise L2TError(NO_EGL) from None
        raise


TRACK_ARRAYS = ("frame_indices", "landmarks", "blendshapes", "blendshape_names", "head_transforms", "num_frames")


def save_face_track(path: str | Path, track: FaceTrack) -> None:
    """Write landmarks (what `fit --landmarks` reads) as a compressed npz, atomically."""
    import io

    from avatar.io.atomic import atomic_write_bytes

    buffer = io.BytesIO()
    np.savez_compressed(
        buffer,
        frame_indices=track.frame_indices,
        landmarks=track.landmarks,
        blendshapes=track.blendshapes,
        blendshape_names=np.array(track.blendshape_names, dtype=str),
        head_transforms=track.head_transforms,
        num_frames=np.array(track.num_frames),
    )
    atomic_write_bytes(path, buffer.getvalue())


def load_face_track(path: str | Path) -> FaceTrack:
    """Landmarks saved by `save_face_track` ('l2t-avatar landmarks'), checked; L2TError when they don't fit."""
    from avatar.io.npz import read_npz

    d = read_npz(path, "landmarks file")
    missing = [k for k in TRACK_ARRAYS if k not in d]
    if missing:
        raise L2TError(f"{path} is not a landmarks file ('l2t-avatar landmarks' writes them): it lacks {', '.join(missing)}")
    idx, lm, bs, tf = d["frame_indices"], d["landmarks"], d["blendshapes"], d["head_transforms"]
    n, total = len(idx), int(np.asarray(d["num_frames"]).reshape(-1)[0]) if np.asarray(d["num_frames"]).size == 1 else -1
    names = [str(x) for x in np.asarray(d["blendshape_names"]).reshape(-1)]
    ok = (
        idx.ndim == 1
        and np.issubdtype(idx.dtype, np.integer)
        and lm.ndim == 3
        and lm.shape[0] == n
        and lm.shape[2] in (2, 3)
        and bs.ndim == 2
        and bs.shape == (n, len(names))
        and tf.shape == (n, 4, 4)
        and total >= n
        and (n == 0 or (idx.min() >= 0 and idx.max() < total and (np.diff(idx) > 0).all()))
    )
    if not ok or not all(np.isfinite(a).all() for a in (lm, bs, tf)):
        raise L2TError(f"{path}: the landmark arrays do not fit together (frames, landmarks [N, L, 3], blendshapes, transforms)")
    return FaceTrack(idx.astype(np.int64), lm.astype(np.float32), bs.astype(np.float32), names, tf.astype(np.float32), total)


def detect_faces(frames, fps: float, model_path: str | Path | None = None, num_faces: int = 2, progress: bool = False) -> FaceTrack:
    """Track one face through ``frames`` (an iterable of [H, W, 3] uint8 RGB) at ``fps``."""
    if not fps > 0:
        raise L2TError(f"frame rate must be positive, got {fps}")
    mp, landmarker = _landmarker(Path(model_path) if model_path else FACE_LANDMARKER_PATH, num_faces)
    kept, points, scores, transforms, names = [], [], [], [], []
    previous_centre = None
    count = 0
    with landmarker:
        for i, frame in enumerate(tqdm(frames, desc="landmarks", unit="frame", disable=not progress, dynamic_ncols=True)):
            count += 1
            height, width = frame.shape[:2]
            image = mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(frame[..., :3]))
            result = landmarker.detect_for_video(image, int(round(i * 1000.0 / fps)))
            if not result.face_landmarks:
                continue
            faces = [np.array([(p.x * width, p.y * height, p.z * width) for p in face], np.float32) for face in result.face_landmarks]
            if previous_centre is None:  # the largest face starts the track
                pick = int(np.argmax([np.ptp(f[:, 0]) * np.ptp(f[:, 1]) for f in faces]))
            else:  # then the face nearest to where the tracked one was
                pick = int(np.argmin([np.linalg.norm(f[:, :2].mean(0) - previous_centre) for f in faces]))
            previous_centre = faces[pick][:, :2].mean(0)
            kept.append(i)
            points.append(faces[pick])
            blend = result.face_blendshapes[pick] if result.face_blendshapes else []
            names = names or [c.category_name for c in blend]
            scores.append(np.array([c.score for c in blend], np.float32))
            matrices = result.facial_transformation_matrixes
            transforms.append(np.asarray(matrices[pick], np.float32) if matrices else np.eye(4, dtype=np.float32))
    if not kept:
        return FaceTrack(
            np.zeros(0, np.int64),
            np.zeros((0, 478, 3), np.float32),
            np.zeros((0, len(names)), np.float32),
            names,
            np.zeros((0, 4, 4), np.float32),
            count,
        )
    return FaceTrack(np.array(kept, np.int64), np.stack(points), np.stack(scores), names, np.stack(transforms), count)
