"""The rig: FLAME-format parametric heads (official FLAME pickles, or our open l2t-head).

from avatar.rig import load_rig
rig = load_rig()                      # l2t-head, shipped in the package
rig = load_rig("~/flame/flame2023.pkl")  # official FLAME, if you have it
out = rig(jaw=torch.tensor([[0.2, 0, 0]]))
"""

from __future__ import annotations

import os
from pathlib import Path

from avatar.errors import L2TError
from avatar.rig.data import RigData
from avatar.rig.model import Rig, RigOutput

L2T_HEAD_PATH = Path(__file__).resolve().parent / "assets" / "l2t_head.npz"
FLAME_ENV = "L2T_FLAME_PATH"
DEFAULT_RIG_NAME = "l2t-head"


def resolve_rig_path(path: str | Path | None = None) -> Path:
    """--rig PATH, else $L2T_FLAME_PATH, else the shipped l2t-head."""
    if path in (None, "", DEFAULT_RIG_NAME):
        env = os.environ.get(FLAME_ENV)
        if not env:
            return L2T_HEAD_PATH
        path = env
    return Path(path).expanduser()


def load_rig_data(path: str | Path | None = None) -> RigData:
    """Load rig data: a FLAME .pkl, an l2t-avatar rig .npz, or the default (see resolve_rig_path)."""
    p = resolve_rig_path(path)
    if not p.exists():
        raise L2TError(f"rig file not found: {p}")
    if p.is_dir():
        raise L2TError(f"rig path {p} is a folder; give the FLAME .pkl file (e.g. flame2023.pkl)")
    if p.suffix == ".pkl":
        from avatar.rig.flame import load_flame

        return load_flame(p)
    if p.suffix == ".npz":
        return RigData.load_npz(p)
    raise L2TError(f"rig file {p} must be a FLAME .pkl or an l2t-avatar .npz")


def load_rig(path: str | Path | None = None, device="cpu") -> Rig:
    """Load a rig (see load_rig_data) as a torch module on `device`."""
    return Rig(load_rig_data(path)).to(device)


__all__ = ["Rig", "RigData", "RigOutput", "load_rig", "load_rig_data", "resolve_rig_path", "L2T_HEAD_PATH"]
