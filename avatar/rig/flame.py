"""Loading the official FLAME 2020 / 2023 model pickles without chumpy or scipy installed.

FLAME's pickles were written under Python 2 and hold chumpy arrays (`chumpy.ch.Ch`) and a
scipy sparse joint regressor. A restricted unpickler maps those classes to small stand-ins
that only keep their state, and refuses any other class: loading a pickle from an unknown
source cannot run code.
"""

from __future__ import annotations

import codecs
import importlib
import pickle
import zipfile
from pathlib import Path

import numpy as np

from avatar.errors import L2TError
from avatar.rig.data import FLAME_JOINT_NAMES, RigData

FLAME_NUM_EXPRESSIONS = 100
MAX_DENSE_ENTRIES = 10_000_000  # a joint regressor is joints x vertices (FLAME: 5 x 5023)
FLAME_KEYS = ("f", "v_template", "shapedirs", "posedirs", "J_regressor", "weights", "kintree_table")


class _StateOnly:
    """Stands in for a class we must not import: keeps the pickled state, nothing else."""

    def __setstate__(self, state):
        self.state = state[-1] if isinstance(state, tuple) else state


class _ChumpyArray(_StateOnly):
    def to_numpy(self) -> np.ndarray:
        state = self.state if isinstance(self.state, dict) else {}
        if "x" not in state:
            raise L2TError("FLAME pickle holds a chumpy expression, not a plain array; re-export the model")
        return np.asarray(state["x"])


class _SparseMatrix(_StateOnly):
    fmt = "csc"

    def to_numpy(self) -> np.ndarray:
        s = self.state
        shape = tuple(int(x) for x in s.get("_shape", s.get("shape")))
        if len(shape) != 2 or min(shape) < 0 or shape[0] * shape[1] > MAX_DENSE_ENTRIES:
            raise L2TError(f"FLAME pickle holds a sparse matrix of shape {shape}, not a joint regressor")
        data, indices, indptr = (np.asarray(s[k]) for k in ("data", "indices", "indptr"))
        dense = np.zeros(shape if self.fmt == "csr" else shape[::-1], dtype=np.float64)
        for row in range(len(indptr) - 1):
            sl = slice(indptr[row], indptr[row + 1])
            dense[row, indices[sl]] = data[sl]
        return dense if self.fmt == "csr" else dense.T


class _CsrMatrix(_SparseMatrix):
    fmt = "csr"


def _reconstructor(cls, base, state):
    """Safe copy_reg._reconstructor: only our stand-ins may be built."""
    if not (isinstance(cls, type) and issubclass(cls, _StateOnly)):
        raise pickle.UnpicklingError(f"refusing to rebuild {cls!r}")
    return cls.__new__(cls)


def _numpy_core(name: str):
    for module in ("numpy._core.multiarray", "numpy.core.multiarray"):
        try:
            return getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError):
            continue
    raise pickle.UnpicklingError(f"numpy has no {name}")


_SAFE_BUILTINS = {"object": object, "set": set, "frozenset": frozenset, "dict": dict, "list": list, "tuple": tuple}


class _FlameUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if module.startswith("chumpy"):
            return _ChumpyArray
        if module.startswith("scipy.sparse") and name in ("csc_matrix", "csr_matrix"):
            return _SparseMatrix if name == "csc_matrix" else _CsrMatrix
        if module in ("copy_reg", "copyreg") and name in ("_reconstructor", "__newobj__"):
            return _reconstructor
        if module in ("numpy.core.multiarray", "numpy._core.multiarray") and name in ("_reconstruct", "scalar"):
            return _numpy_core(name)
        if module == "numpy" and name in ("ndarray", "dtype"):
            return getattr(np, name)
        if module == "_codecs" and name == "encode":  # how Python 3 protocol-2 pickles store bytes
            return codecs.encode
        if module in ("__builtin__", "builtins") and name in _SAFE_BUILTINS:
            return _SAFE_BUILTINS[name]
        raise pickle.UnpicklingError(f"unexpected object {module}.{name}")


def _as_array(value) -> np.ndarray:
    if isinstance(value, (_ChumpyArray, _SparseMatrix)):
        return value.to_numpy()
    return np.asarray(value)


def read_restricted_pickle(path: str | Path, what: str):
    """Unpickle a FLAME-family file (FLAME model, VOCASET templates.pkl) that may come from
    Python 2 and chumpy, building only numpy arrays, builtins and our inert stand-ins."""
    path = Path(path)
    if not path.is_file():
        raise L2TError(f"{what} not found: {path}")
    try:
        with open(path, "rb") as fh:
            return _FlameUnpickler(fh, encoding="latin1").load()
    except (
        pickle.UnpicklingError,
        EOFError,
        ValueError,
        TypeError,
        AttributeError,
        IndexError,
        KeyError,
        zipfile.BadZipFile,
        MemoryError,
        OverflowError,
    ) as exc:
        raise L2TError(f"{path} is not a readable {what} pickle ({type(exc).__name__}: {str(exc)[:120]})") from None


def read_flame_pickle(path: str | Path) -> dict:
    """Unpickle a FLAME model file into a dict of plain numpy arrays (and strings)."""
    raw = read_restricted_pickle(path, "FLAME model")
    if not isinstance(raw, dict):
        raise L2TError(f"{path} is not a FLAME model pickle (it holds a {type(raw).__name__}, not a dict)")
    missing = [k for k in FLAME_KEYS if k not in raw]
    if missing:
        raise L2TError(f"{path} is not a FLAME model: it lacks {', '.join(missing)}")
    return {k: (v if isinstance(v, (str, bytes)) else _as_array(v)) for k, v in raw.items()}


def load_flame(path: str | Path, masks_path: str | Path | None = None) -> RigData:
    """Build RigData from an official FLAME 2020/2023 pickle (chumpy not needed).

    The last 100 blendshapes of `shapedirs` are FLAME's expressions, the rest identity.
    If `FLAME_masks.pkl` (FLAME's vertex masks) sits beside the model, or `masks_path`
    names it, its masks become named regions.
    """
    d = read_flame_pickle(path)
    try:
        v_template = d["v_template"].astype(np.float32)
        num_verts = v_template.shape[0]
        all_dirs = d["shapedirs"].astype(np.float32).reshape(num_verts, 3, -1)
        num_shapes = all_dirs.shape[-1] - FLAME_NUM_EXPRESSIONS
        posedirs = d["posedirs"].astype(np.float32).reshape(num_verts * 3, -1).T
        parents = d["kintree_table"][0].astype(np.int64)
        parents = np.where((parents < 0) | (parents >= len(parents)), -1, parents)
        rig = RigData(
            name=Path(path).stem,
            v_template=v_template,
            faces=d["f"].astype(np.int64),
            shapedirs=np.ascontiguousarray(all_dirs[..., :num_shapes]),
            exprdirs=np.ascontiguousarray(all_dirs[..., num_shapes:]),
            posedirs=np.ascontiguousarray(posedirs),
            j_regressor=d["J_regressor"].astype(np.float32).reshape(len(parents), num_verts),
            lbs_weights=d["weights"].astype(np.float32),
            parents=parents,
            joint_names=list(FLAME_JOINT_NAMES[: len(parents)]) + [f"joint_{i}" for i in range(len(FLAME_JOINT_NAMES), len(parents))],
            shape_names=[f"shape_{i:03d}" for i in range(num_shapes)],
            expression_names=[f"expr_{i:03d}" for i in range(FLAME_NUM_EXPRESSIONS)],
        )
    except (ValueError, IndexError, AttributeError, TypeError, KeyError, MemoryError) as exc:
        raise L2TError(f"{path}: FLAME arrays have unexpected shapes ({type(exc).__name__}: {str(exc)[:120]})") from None
    if num_shapes < 0:
        raise L2TError(f"{path}: shapedirs has fewer than {FLAME_NUM_EXPRESSIONS} blendshapes")
    masks = Path(masks_path) if masks_path else Path(path).with_name("FLAME_masks.pkl")
    if masks.is_file():
        rig.regions = _flame_regions(masks)
    rig.validate()
    return rig


def _flame_regions(masks_path: Path) -> dict[str, np.ndarray]:
    """FLAME_masks.pkl -> our region names (plus FLAME's own names, kept as they are)."""
    masks = read_restricted_pickle(masks_path, "FLAME masks")
    if not isinstance(masks, dict):
        raise L2TError(f"{masks_path} is not FLAME_masks.pkl (it holds a {type(masks).__name__}, not a dict)")
    regions = {str(k): np.asarray(v, dtype=np.int64) for k, v in masks.items()}
    eyes = [regions[k] for k in ("left_eyeball", "right_eyeball") if k in regions]
    if eyes:
        regions["eyes"] = np.unique(np.concatenate(eyes))
    upper = [regions[k] for k in ("forehead", "eye_region") if k in regions]
    if upper:
        regions["upper_face"] = np.unique(np.concatenate(upper))
    return regions
