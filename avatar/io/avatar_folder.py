"""The avatar folder: what `fit` writes and `render` / `speak` / `view` load.

    AVATAR_DIR/
      avatar.json    format, version, rig reference, SH degree, Gaussian count,
                     the command that made it, creation time
      gaussians.npz  binding [N] (triangle index), xyz [N,3] (local position),
                     log_scales [N,3], rotations [N,4] (w,x,y,z, local),
                     opacity_logits [N], sh [N,K,3], shape [S] (identity coefficients),
                     vertex_offsets [V,3] (optional static offsets)

All arrays are float32 (binding int64): a saved avatar loads back bit for bit. The rig
reference is "l2t-head" (the built-in rig) or the FLAME file the avatar was made on,
with its sha256, so a different FLAME file is caught.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import sys
from pathlib import Path

import numpy as np
import torch

from avatar import __version__
from avatar.avatar import Avatar
from avatar.errors import L2TError
from avatar.gaussians import GaussianAvatarModel
from avatar.io.atomic import atomic_folder
from avatar.io.npz import read_npz
from avatar.rig import DEFAULT_RIG_NAME, L2T_HEAD_PATH, Rig, load_rig_data, resolve_rig_path

FORMAT = "l2t-avatar"
FORMAT_VERSION = 1
DEFAULT_AVATAR_DIR = Path(__file__).resolve().parents[1] / "assets" / "default_avatar"
_ARRAYS = ("binding", "xyz", "log_scales", "rotations", "opacity_logits", "sh")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def rig_reference(rig_path: str | Path | None) -> dict:
    """How avatar.json names its rig."""
    p = resolve_rig_path(rig_path)
    if p.resolve() == L2T_HEAD_PATH.resolve():
        return {"name": DEFAULT_RIG_NAME}
    return {"name": p.stem, "path": str(p.resolve()), "sha256": _sha256(p)}


def save_avatar(avatar: Avatar, folder: str | Path, rig_path: str | Path | None = None, command: str | None = None) -> Path:
    """Write an avatar folder atomically (a temporary folder renamed into place)."""
    with atomic_folder(folder) as tmp:
        write_avatar_files(avatar, tmp, rig_path, command)
    return Path(folder)


def write_avatar_files(avatar: Avatar, folder: Path, rig_path: str | Path | None = None, command: str | None = None) -> None:
    """Write avatar.json and gaussians.npz into an existing folder (callers make it atomic)."""
    m = avatar.model
    arrays = {
        "binding": m.binding.detach().cpu().numpy().astype(np.int64),
        "xyz": m.xyz.detach().cpu().numpy().astype(np.float32),
        "log_scales": m.log_scales.detach().cpu().numpy().astype(np.float32),
        "rotations": m.rotations.detach().cpu().numpy().astype(np.float32),
        "opacity_logits": m.opacity_logits.detach().cpu().numpy().astype(np.float32),
        "sh": m.sh.detach().cpu().numpy().astype(np.float32),
        "shape": avatar.shape.detach().cpu().numpy().astype(np.float32),
    }
    if avatar.vertex_offsets is not None:
        arrays["vertex_offsets"] = avatar.vertex_offsets.detach().cpu().numpy().astype(np.float32)
    meta = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "l2t_avatar_version": __version__,
        "rig": avatar.meta.get("rig") or rig_reference(rig_path),
        "sh_degree": m.sh_degree,
        "num_gaussians": m.num_gaussians,
        "command": command if command is not None else " ".join([Path(sys.argv[0]).name] + sys.argv[1:]),
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    meta.update({k: v for k, v in avatar.meta.items() if k not in meta and k != "rig"})
    np.savez_compressed(folder / "gaussians.npz", **arrays)
    (folder / "avatar.json").write_text(json.dumps(meta, indent=2) + "\n")


def load_avatar(folder: str | Path | None = None, rig_path: str | Path | None = None, device="cpu", trainable: bool = False) -> Avatar:
    """Load an avatar folder (default: the built-in default avatar) onto `device`.

    Parameters are frozen unless `trainable` (e.g. to resume fitting)."""
    folder = DEFAULT_AVATAR_DIR if folder is None else Path(folder)
    meta_path, arrays_path = folder / "avatar.json", folder / "gaussians.npz"
    if not folder.is_dir():
        raise L2TError(f"avatar folder not found: {folder}")
    if not meta_path.is_file() or not arrays_path.is_file():
        raise L2TError(f"{folder} is not an avatar folder (it needs avatar.json and gaussians.npz)")
    meta = _read_meta(meta_path, folder)
    d = read_npz(arrays_path, "avatar arrays")
    missing = [k for k in _ARRAYS if k not in d]
    if missing:
        raise L2TError(f"{arrays_path} lacks {', '.join(missing)}")
    rig = Rig(_avatar_rig(meta.get("rig", {}), rig_path, folder))
    _check_arrays(d, rig, folder)
    model = GaussianAvatarModel(*(torch.from_numpy(d[k]) for k in _ARRAYS)).requires_grad_(trainable)
    offsets = torch.from_numpy(d["vertex_offsets"].astype(np.float32)) if "vertex_offsets" in d else None
    shape = torch.from_numpy(d.get("shape", np.zeros(0, np.float32)).astype(np.float32))
    avatar = Avatar(rig, model, shape, offsets, meta)
    return avatar.to(device)


def _read_meta(meta_path: Path, folder: Path) -> dict:
    """avatar.json, checked: a dict of the right format and version, with a dict for the rig."""
    try:
        meta = json.loads(meta_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise L2TError(f"{meta_path} is not valid JSON ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        found = meta.get("format") if isinstance(meta, dict) else type(meta).__name__
        raise L2TError(f"{meta_path} is not an l2t-avatar avatar (format {found!r})")
    version = meta.get("version", 0)
    if isinstance(version, bool) or not isinstance(version, int):
        raise L2TError(f"{meta_path}: version must be a whole number, got {version!r}")
    if version > FORMAT_VERSION:
        raise L2TError(f"{folder} was written by a newer l2t-avatar (format version {version}); upgrade to load it")
    if not isinstance(meta.get("rig", {}), dict):
        raise L2TError(f'{meta_path}: rig must be an object like {{"name": "l2t-head"}}, got {meta["rig"]!r}')
    return meta


def _check_arrays(d: dict, rig: Rig, folder: Path) -> None:
    """Every array of gaussians.npz has its documented shape, a number type and finite values."""
    binding = d["binding"]
    if binding.ndim != 1 or not np.issubdtype(binding.dtype, np.integer):
        raise L2TError(f"{folder}: binding must be whole numbers [N], got {binding.dtype} {list(binding.shape)}")
    n = len(binding)
    if n and (int(binding.min()) < 0 or int(binding.max()) >= len(rig.faces)):
        raise L2TError(f"{folder}: its Gaussians are bound to triangles the rig {rig.data.name} does not have")
    shapes = {"xyz": (n, 3), "log_scales": (n, 3), "rotations": (n, 4), "opacity_logits": (n,)}
    sh = d["sh"]
    if sh.ndim != 3 or sh.shape[0] != n or sh.shape[1] not in (1, 4, 9, 16) or sh.shape[2] != 3:
        raise L2TError(f"{folder}: sh must be [{n}, 1|4|9|16, 3] (SH degree 0-3), got {list(sh.shape)}")
    if "vertex_offsets" in d:
        shapes["vertex_offsets"] = (rig.num_vertices, 3)
    if "shape" in d and (d["shape"].ndim != 1 or len(d["shape"]) > rig.num_shapes):
        raise L2TError(f"{folder}: shape must be [<= {rig.num_shapes}] for the rig {rig.data.name}, got {list(d['shape'].shape)}")
    for key, expected in shapes.items():
        if d[key].shape != expected:
            raise L2TError(f"{folder}: {key} must be {list(expected)}, got {list(d[key].shape)}")
    for key in (*shapes, "sh", "shape"):
        if key not in d:
            continue
        if not np.issubdtype(d[key].dtype, np.number) or not np.isfinite(d[key]).all():
            raise L2TError(f"{folder}: {key} holds non-numbers, NaN or infinite values")
    if n and (np.linalg.norm(d["rotations"], axis=-1) < 1e-12).any():
        raise L2TError(f"{folder}: rotations holds zero quaternions")


def _avatar_rig(ref: dict, rig_path, folder: Path):
    if not all(isinstance(ref.get(k, ""), str) for k in ("name", "path", "sha256")):
        raise L2TError(f"{folder}/avatar.json: the rig's name, path and sha256 must be strings")
    if ref.get("name") == DEFAULT_RIG_NAME and "path" not in ref:
        return load_rig_data(L2T_HEAD_PATH)
    path = rig_path or ref.get("path") or os.environ.get("L2T_FLAME_PATH")
    if not path or not Path(path).expanduser().is_file():
        raise L2TError(f"{folder} was made on the FLAME rig {ref.get('path', ref.get('name'))}, which is not here; pass --rig PATH")
    data = load_rig_data(path)
    if ref.get("sha256") and _sha256(Path(path).expanduser()) != ref["sha256"]:
        raise L2TError(f"{path} is not the FLAME file {folder} was made on (sha256 differs)")
    return data
