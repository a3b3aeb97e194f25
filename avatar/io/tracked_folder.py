"""Tracked sequences on disk in VHAP's NeRF-style layout, so VHAP users can bring their own tracking.

    TRACKED_DIR/
      transforms.json             cameras and files per frame (below)
      canonical_flame_param.npz   shape [S], static_offset [1, V, 3]
      flame_param/00000.npz       per frame: rotation [1,3], translation [1,3], neck_pose [1,3],
                                  jaw_pose [1,3], eyes_pose [1,6], expr [1,E], plus shape and static_offset
      images/00000.jpg            the frame as the avatar sees it (our fits: the head crop)
      fg_masks/00000.png          optional foreground mask (VHAP writes them; we use them when present)
      background.png              l2t extension: the static background seed in source-frame pixels

transforms.json holds "frames": one entry per frame with "timestep_index", "file_path",
"flame_param_path", optional "fg_mask_path", intrinsics "fl_x" "fl_y" "cx" "cy" "w" "h", and
"transform_matrix", the camera-to-world matrix in OpenGL/Blender axes (as VHAP and NeRF
write it). l2t extensions: top-level "fps", "rig", "expression_names", "background"
({"path", "width", "height"}) and per frame "video_frame" and "crop_box" ([cx, cy, side] of
the crop in background pixels). Rotations are axis-angle in the rig's world: +y up, metres.
"""

from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from avatar.errors import L2TError
from avatar.io.npz import read_npz
from avatar.motion import DEFAULT_FPS

OPENGL_TO_OPENCV = np.diag([1.0, -1.0, -1.0, 1.0])
# VHAP's FLAME parameter names <-> our rig's forward() arguments.
PARAM_NAMES = {
    "rotation": "rotation",
    "translation": "translation",
    "neck": "neck_pose",
    "jaw": "jaw_pose",
    "eyes": "eyes_pose",
    "expression": "expr",
}


@dataclass
class TrackedFrames:
    """Everything the Gaussian stage needs, for N frames of one size."""

    images: np.ndarray  # [N, S, S, 3] uint8
    Ks: torch.Tensor  # [N, 3, 3]
    world_to_cam: torch.Tensor  # [N, 4, 4] OpenCV axes
    params: dict[str, torch.Tensor]  # rig forward() names -> [N, D]
    shape: torch.Tensor  # [S]
    vertex_offsets: torch.Tensor | None  # [V, 3]
    fps: float
    video_frames: np.ndarray  # [N] frame index in the source video
    masks: np.ndarray | None = None  # [N, S, S] bool foreground, when the folder has them
    background: np.ndarray | None = None  # [Hb, Wb, 3] uint8 background seed (source-frame pixels)
    crop_boxes: np.ndarray | None = None  # [N, 3] (cx, cy, side) of each image in background pixels
    rig: dict | None = None

    @property
    def num_frames(self) -> int:
        return len(self.images)

    @property
    def size(self) -> int:
        return int(self.images.shape[1])


def write_tracked_folder(folder: Path, frames: TrackedFrames, expression_names: list[str]) -> None:
    """Write frames in the layout above into an existing, empty folder; transforms.json comes last."""
    (folder / "images").mkdir()
    (folder / "flame_param").mkdir()
    shape = frames.shape.cpu().numpy().astype(np.float32)
    offsets = (frames.vertex_offsets.cpu().numpy() if frames.vertex_offsets is not None else np.zeros((0, 3)))[None].astype(np.float32)
    np.savez_compressed(folder / "canonical_flame_param.npz", shape=shape, static_offset=offsets)
    entries = []
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:  # JPEG encoding releases the GIL
        saved = [pool.submit(_save_jpeg, frames.images[i], folder / "images" / f"{i:05d}.jpg") for i in range(frames.num_frames)]
        for job in saved:
            job.result()
    for i in range(frames.num_frames):
        name = f"{i:05d}"
        per_frame = {vhap: frames.params[ours][i : i + 1].cpu().numpy().astype(np.float32) for ours, vhap in PARAM_NAMES.items()}
        np.savez(folder / "flame_param" / f"{name}.npz", shape=shape, static_offset=offsets, **per_frame)
        K = frames.Ks[i].cpu().numpy()
        cam_to_world = np.linalg.inv(frames.world_to_cam[i].cpu().numpy().astype(np.float64)) @ OPENGL_TO_OPENCV
        entry = {
            "timestep_index": i,
            "video_frame": int(frames.video_frames[i]),
            "file_path": f"images/{name}.jpg",
            "flame_param_path": f"flame_param/{name}.npz",
            "fl_x": float(K[0, 0]),
            "fl_y": float(K[1, 1]),
            "cx": float(K[0, 2]),
            "cy": float(K[1, 2]),
            "w": frames.size,
            "h": frames.size,
            "transform_matrix": cam_to_world.tolist(),
        }
        if frames.crop_boxes is not None:
            entry["crop_box"] = [float(v) for v in frames.crop_boxes[i]]
        entries.append(entry)
    meta = {"fps": frames.fps, "rig": frames.rig or {}, "expression_names": list(expression_names), "frames": entries}
    if frames.background is not None:
        Image.fromarray(frames.background).save(folder / "background.png")
        meta["background"] = {"path": "background.png", "width": int(frames.background.shape[1]), "height": int(frames.background.shape[0])}
    (folder / "transforms.json").write_text(json.dumps(meta, indent=1) + "\n")


def _save_jpeg(image: np.ndarray, path: Path) -> None:
    Image.fromarray(image).save(path, quality=95)


def read_tracked_folder(folder: str | Path, num_vertices: int, num_expressions: int, size: int | None = None) -> TrackedFrames:
    """Read a tracked folder (ours or VHAP's); images are resized to ``size`` (default: their own)."""
    folder = Path(folder)
    meta_path = folder / "transforms.json"
    if not meta_path.is_file():
        raise L2TError(f"{folder} is not a tracked folder (no transforms.json)")
    try:
        meta = json.loads(meta_path.read_text())
        entries = sorted(meta["frames"], key=lambda e: e.get("timestep_index", 0))
    except (json.JSONDecodeError, KeyError, TypeError, UnicodeDecodeError) as exc:
        raise L2TError(f"{meta_path} is not a valid transforms.json ({exc})") from None
    if not entries:
        raise L2TError(f"{meta_path} lists no frames")
    images, masks, Ks, w2c, boxes = [], [], [], [], []
    params: dict[str, list[np.ndarray]] = {k: [] for k in PARAM_NAMES}
    shape = offsets = None
    side = size
    for e in entries:
        image = _open_image(folder / e["file_path"], "RGB")
        side = side or image.width  # every frame takes the first frame's width
        scale_x, scale_y = side / image.width, side / image.height
        images.append(np.asarray(image.resize((side, side), Image.BILINEAR) if image.size != (side, side) else image))
        if e.get("fg_mask_path"):
            mask = _open_image(folder / e["fg_mask_path"], "L").resize((side, side), Image.BILINEAR)
            masks.append(np.asarray(mask) > 127)
        Ks.append([[e["fl_x"] * scale_x, 0, e["cx"] * scale_x], [0, e["fl_y"] * scale_y, e["cy"] * scale_y], [0, 0, 1]])
        w2c.append(np.linalg.inv(np.asarray(e["transform_matrix"], np.float64) @ OPENGL_TO_OPENCV))
        if "crop_box" in e:
            boxes.append(e["crop_box"])
        d = read_npz(folder / e["flame_param_path"], "FLAME parameter file")
        for ours, vhap in PARAM_NAMES.items():
            value = d.get(vhap, np.zeros((1, {"eyes": 6, "expression": num_expressions}.get(ours, 3)), np.float32)).reshape(-1)
            if ours == "expression":
                value = np.pad(value[:num_expressions], (0, max(0, num_expressions - len(value))))
            params[ours].append(value)
        if shape is None:
            shape, offsets = d.get("shape"), d.get("static_offset")
    if len(masks) not in (0, len(images)):
        raise L2TError(f"{folder}: some frames have a foreground mask and some do not")
    offsets_t = None
    if offsets is not None and offsets.size:
        offsets = offsets.reshape(-1, 3)
        if len(offsets) != num_vertices:
            raise L2TError(f"{folder}: static_offset has {len(offsets)} vertices, the rig has {num_vertices}")
        offsets_t = torch.from_numpy(offsets.astype(np.float32))
    background = None
    if meta.get("background"):
        background = np.asarray(_open_image(folder / meta["background"]["path"], "RGB"))
    return TrackedFrames(
        images=np.stack(images),
        Ks=torch.tensor(Ks, dtype=torch.float32),
        world_to_cam=torch.from_numpy(np.stack(w2c)).float(),
        params={k: torch.from_numpy(np.stack(v).astype(np.float32)) for k, v in params.items()},
        shape=torch.from_numpy(np.asarray(shape if shape is not None else np.zeros(0), np.float32).reshape(-1)),
        vertex_offsets=offsets_t,
        fps=float(meta.get("fps", DEFAULT_FPS)),
        video_frames=np.array([e.get("video_frame", e.get("timestep_index", i)) for i, e in enumerate(entries)], np.int64),
        masks=np.stack(masks) if masks else None,
        background=background,
        crop_boxes=np.array(boxes, np.float64) if len(boxes) == len(entries) and background is not None else None,
        rig=meta.get("rig"),
    )


def _open_image(path: Path, mode: str) -> Image.Image:
    try:
        with Image.open(path) as im:
            return im.convert(mode)
    except (OSError, ValueError) as exc:
        raise L2TError(f"cannot read image {path} ({exc})") from None
