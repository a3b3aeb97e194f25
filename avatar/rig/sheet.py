"""Contact sheet of a rig: neutral, jaw open and every expression, front and 3/4 views."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from avatar.io.atomic import atomic_path
from avatar.render.cameras import frame_head, orbit_camera
from avatar.render.mesh_raster import shade_mesh
from avatar.rig.colors import rig_vertex_colors
from avatar.rig.model import Rig

MAX_EXPRESSIONS = 48
JAW_OPEN = 0.25  # radians


def head_framing(rig: Rig) -> tuple[torch.Tensor, float]:
    """Camera target and distance that frame the rig's head."""
    v = rig.v_template
    face = rig.region("face") if "face" in rig.data.regions else torch.arange(len(v), device=v.device)
    return frame_head(v[face])


def sheet_poses(rig: Rig) -> list[tuple[str, dict]]:
    """(label, forward kwargs) for every tile pair of the sheet."""
    poses: list[tuple[str, dict]] = [("neutral", {}), ("jaw open", {"jaw": torch.tensor([[JAW_OPEN, 0.0, 0.0]])})]
    for i, name in enumerate(rig.data.expression_names[:MAX_EXPRESSIONS]):
        coeffs = torch.zeros(1, i + 1)
        coeffs[0, i] = 1.0
        poses.append((name, {"expression": coeffs}))
    return poses


def draw_rig_sheet(rig: Rig, path: str | Path, tile: int = 192, columns: int = 8) -> Path:
    """Render the sheet to a PNG (written atomically); returns the path."""
    rig = rig.cpu()
    colors = torch.from_numpy(rig_vertex_colors(rig.data))
    target, distance = head_framing(rig)
    views = [orbit_camera(target, distance, 0.0, 0.0, 20.0, tile, tile), orbit_camera(target, distance, 35.0, 5.0, 20.0, tile, tile)]
    tiles = []
    with torch.no_grad():
        for label, kwargs in sheet_poses(rig):
            verts = rig(**kwargs).vertices[0]
            for view_name, cam in zip(("front", "3/4"), views):
                rgb, _ = shade_mesh(verts, rig.faces, colors, cam)
                img = Image.fromarray((rgb.clamp(0, 1).numpy() * 255).astype(np.uint8))
                ImageDraw.Draw(img).text((4, 3), f"{label} ({view_name})", fill=(20, 20, 20))
                tiles.append(img)
    rows = (len(tiles) + columns - 1) // columns
    sheet = Image.new("RGB", (columns * tile, rows * tile), (255, 255, 255))
    for k, img in enumerate(tiles):
        sheet.paste(img, ((k % columns) * tile, (k // columns) * tile))
    path = Path(path)
    with atomic_path(path) as tmp:
        sheet.save(tmp, format="PNG")
    return path
