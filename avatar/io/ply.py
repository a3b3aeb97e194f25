"""Standard 3D Gaussian Splatting PLY files (world space), readable by other splat viewers.

Properties: x y z nx ny nz f_dc_0..2 f_rest_* opacity scale_0..2 rot_0..3, float32;
opacity as a logit, scale as a log, rot as (w, x, y, z), f_rest grouped by colour channel.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from plyfile import PlyData, PlyElement

from avatar.errors import L2TError
from avatar.io.atomic import atomic_path


def write_splat_ply(path: str | Path, means, quats, scales, opacities, sh) -> Path:
    """means [N,3], quats [N,4], scales [N,3] (linear), opacities [N] in (0,1), sh [N,K,3]."""
    to_np = lambda t: t.detach().cpu().numpy().astype(np.float32) if torch.is_tensor(t) else np.asarray(t, np.float32)  # noqa: E731
    means, quats, scales, opacities, sh = map(to_np, (means, quats, scales, opacities, sh))
    n, k = sh.shape[0], sh.shape[1]
    rest = sh[:, 1:, :].transpose(0, 2, 1).reshape(n, -1)  # channel-major, as 3DGS writes it
    opac = np.clip(opacities, 1e-6, 1 - 1e-6)
    columns = [
        ("x", means[:, 0]),
        ("y", means[:, 1]),
        ("z", means[:, 2]),
        ("nx", np.zeros(n)),
        ("ny", np.zeros(n)),
        ("nz", np.zeros(n)),
        *[(f"f_dc_{c}", sh[:, 0, c]) for c in range(3)],
        *[(f"f_rest_{i}", rest[:, i]) for i in range(3 * (k - 1))],
        ("opacity", np.log(opac / (1 - opac))),
        *[(f"scale_{i}", np.log(np.maximum(scales[:, i], 1e-12))) for i in range(3)],
        *[(f"rot_{i}", quats[:, i]) for i in range(4)],
    ]
    vertex = np.empty(n, dtype=[(name, "f4") for name, _ in columns])
    for name, values in columns:
        vertex[name] = values
    path = Path(path)
    with atomic_path(path) as tmp:
        PlyData([PlyElement.describe(vertex, "vertex")]).write(str(tmp))
    return path


def read_splat_ply(path: str | Path) -> dict[str, np.ndarray]:
    """Read a 3DGS PLY: means, quats, scales (linear), opacities (0..1), sh [N,K,3]."""
    try:
        v = PlyData.read(str(path))["vertex"]
    except (OSError, ValueError, KeyError) as exc:
        raise L2TError(f"{path} is not a readable splat PLY ({exc})") from None
    names = v.data.dtype.names
    rest_names = sorted((n for n in names if n.startswith("f_rest_")), key=lambda s: int(s.split("_")[-1]))
    n = len(v.data)
    k = 1 + len(rest_names) // 3
    dc = np.stack([v[f"f_dc_{c}"] for c in range(3)], -1)
    rest = (
        np.stack([v[r] for r in rest_names], -1).reshape(n, 3, k - 1).transpose(0, 2, 1) if rest_names else np.zeros((n, 0, 3), np.float32)
    )
    return {
        "means": np.stack([v["x"], v["y"], v["z"]], -1),
        "quats": np.stack([v[f"rot_{i}"] for i in range(4)], -1),
        "scales": np.exp(np.stack([v[f"scale_{i}"] for i in range(3)], -1)),
        "opacities": 1 / (1 + np.exp(-np.asarray(v["opacity"]))),
        "sh": np.concatenate([dc[:, None], rest], 1),
    }
