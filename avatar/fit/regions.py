"""Image regions from the tracked mesh: the face, the whole head, the mouth, the mesh itself, per frame.

They steer the Gaussian stage: the face and the rest of the mesh's silhouette must be covered
by the avatar, nothing outside the (slightly grown) head may be, and the mouth gets extra
weight in the photometric loss.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
from PIL import Image, ImageDraw
from scipy.ndimage import binary_erosion, generate_binary_structure
from scipy.spatial import ConvexHull, QhullError

from avatar.render.cameras import camera_points, project_points
from avatar.render.mesh_raster import rasterize_pixels
from avatar.rig import mediapipe_topology as mp
from avatar.rig.model import Rig

FACE, HEAD, MOUTH, SOLID = 1, 2, 4, 8  # bits of the label maps
HEAD_GROWTH = 1.12  # hair and ears reach a little past the mesh
MOUTH_GROWTH = 1.35
SOLID_RESOLUTION = 128  # the mesh's silhouette is rasterized at most this wide, then scaled up


def _hull_polygon(points: np.ndarray, grow: float = 1.0) -> list[tuple[float, float]]:
    """Convex hull of 2D points, scaled about its centroid by `grow`."""
    try:
        hull = points[ConvexHull(points).vertices]
    except (QhullError, ValueError):
        return []
    centre = hull.mean(0)
    return [tuple(p) for p in centre + grow * (hull - centre)]


def _fill(size: tuple[int, int], polygon: list[tuple[float, float]], value: int = 1) -> np.ndarray:
    """A uint8 [H, W] image: `value` inside the polygon, 0 outside."""
    image = Image.new("L", size, 0)
    if len(polygon) >= 3:
        ImageDraw.Draw(image).polygon(polygon, fill=value)
    return np.asarray(image)


def face_outline(rig: Rig, vertices: torch.Tensor) -> torch.Tensor:
    """Points [B, P, 3] whose outline is the face: the face-oval landmarks on l2t-head, else the face region."""
    if rig.landmark_faces.numel() == mp.NUM_LANDMARKS:
        return rig.landmarks(vertices)[:, list(mp.FACE_OVAL)]
    if "face" in rig.data.regions:
        return vertices[:, rig.region("face")]
    return vertices


@torch.no_grad()
def region_labels(rig: Rig, vertices: torch.Tensor, world_to_cam: torch.Tensor, Ks: torch.Tensor, width: int, height: int) -> np.ndarray:
    """uint8 label maps [B, H, W] with the FACE, HEAD, MOUTH and SOLID bits, from posed vertices [B, V, 3]."""
    head = project_points(vertices, world_to_cam, Ks).cpu().numpy()
    solid = silhouettes(rig, vertices, world_to_cam, Ks, width, height)
    face = project_points(face_outline(rig, vertices), world_to_cam, Ks).cpu().numpy()
    lips = rig.data.regions.get("lips")
    labels = np.zeros((len(vertices), height, width), np.uint8)

    def label(i: int) -> None:
        labels[i] |= _fill((width, height), _hull_polygon(face[i]), FACE)
        labels[i] |= _fill((width, height), _hull_polygon(head[i], HEAD_GROWTH), HEAD)
        if lips is not None and len(lips):
            labels[i] |= _fill((width, height), _hull_polygon(head[i][lips], MOUTH_GROWTH), MOUTH)

    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:  # numpy and PIL let go of the GIL here
        list(pool.map(label, range(len(vertices))))
    labels |= solid * np.uint8(SOLID)
    return labels


def silhouettes(rig: Rig, vertices: torch.Tensor, world_to_cam: torch.Tensor, Ks: torch.Tensor, width: int, height: int) -> np.ndarray:
    """Where the posed mesh covers each frame, shrunk by one pixel of a grid at most SOLID_RESOLUTION
    wide (tracking is never exact at the outline): uint8 [B, H, W] in {0, 1}. All frames are
    rasterized in one pass."""
    scale = min(1.0, SOLID_RESOLUTION / max(width, height))
    w, h = max(1, round(width * scale)), max(1, round(height * scale))
    resize = torch.diag(torch.tensor([w / width, h / height, 1.0], device=Ks.device))
    depth = camera_points(vertices, world_to_cam)[..., 2]
    pixels = project_points(vertices, world_to_cam, resize @ Ks)
    covered = (rasterize_pixels(pixels, depth, rig.faces.to(vertices.device), h, w).face_index >= 0).cpu().numpy()
    in_plane = np.zeros((3, 3, 3), bool)
    in_plane[1] = generate_binary_structure(2, 1)  # erode each frame on its own
    covered = binary_erosion(covered, structure=in_plane, iterations=1)
    rows = np.minimum(((np.arange(height) + 0.5) * h / height).astype(int), h - 1)  # nearest-neighbour upscale
    cols = np.minimum(((np.arange(width) + 0.5) * w / width).astype(int), w - 1)
    return covered[:, rows[:, None], cols[None, :]].astype(np.uint8)


def person_mask(head_points: np.ndarray, width: int, height: int) -> np.ndarray:
    """Where the person may be in a frame, from the head's projected points [P, 2]: the grown
    head hull and a band below it for the neck and shoulders. [H, W] bool."""
    image = Image.fromarray(_fill((width, height), _hull_polygon(head_points, 1.3)))
    lo, hi = head_points.min(0), head_points.max(0)
    span = hi[0] - lo[0]
    ImageDraw.Draw(image).rectangle([lo[0] - 0.6 * span, 0.5 * (lo[1] + hi[1]), hi[0] + 0.6 * span, height], fill=1)
    return np.asarray(image) > 0
