"""Reading npz files a user hands us: every failure becomes one L2TError line."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from avatar.errors import L2TError


def read_npz(path: str | Path, what: str) -> dict[str, np.ndarray]:
    """All arrays of an npz (no pickles); `what` names the file in errors ("rig file", ...)."""
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except FileNotFoundError:
        raise L2TError(f"{what} not found: {path}") from None
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise L2TError(f"{what} {path} is not a readable npz ({exc})") from None
