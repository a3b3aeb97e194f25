"""Reading torch files safely: tensors and plain containers only, never arbitrary pickles.

Every `torch.load` in l2t-avatar goes through `load_torch_file`, which uses
``weights_only=True``: a file that would need to build any other Python object (the way a
planted checkpoint runs code) is refused with one line, and nothing in it runs.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import torch

from avatar.errors import L2TError


def load_torch_file(path: str | Path, what: str):
    """The contents of a ``torch.save`` file (on the CPU); L2TError when it is missing, unreadable
    or holds anything but tensors, numbers, strings and lists/tuples/dicts of them."""
    path = Path(path)
    if not path.is_file():
        raise L2TError(f"{what} not found: {path}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if "GLOBAL" in str(exc) or "global" in str(exc):  # it names a class or function to build: refused
            raise L2TError(
                f"refusing {what} {path}: it holds Python objects other than tensors and plain data, which l2t-avatar never unpickles"
            ) from None
        raise L2TError(f"cannot read {what} {path}: not a torch file (or a damaged one)") from None
    except Exception as exc:  # truncated, not a torch file, wrong zip layout...
        reason = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise L2TError(f"cannot read {what} {path}: {reason}") from None
