"""FLAME pickles load without chumpy: a synthetic file with FLAME's exact keys and objects."""

import pickle
import sys
import types

import numpy as np
import pytest
import torch

from avatar.errors import L2TError
from avatar.rig import load_rig, load_rig_data
from avatar.rig.flame import load_flame
from tests.test_lbs import reference_flame_lbs

NUM_V = 30


def _fake_class(monkeypatch, module: str, name: str) -> type:
    """A class that pickles under `module.name`, as chumpy's and old scipy's did."""
    mod = types.ModuleType(module)
    cls = type(name, (), {})
    cls.__module__ = module
    cls.__qualname__ = name
    setattr(mod, name, cls)
    parts = module.split(".")
    for i in range(1, len(parts)):  # parent packages must import too
        parent = ".".join(parts[:i])
        if parent not in sys.modules:
            monkeypatch.setitem(sys.modules, parent, types.ModuleType(parent))
    monkeypatch.setitem(sys.modules, module, mod)
    return cls


def write_synthetic_flame(path, monkeypatch, num_shapes=3, seed=0):
    rng = np.random.default_rng(seed)
    Ch = _fake_class(monkeypatch, "chumpy.ch", "Ch")
    Csc = _fake_class(monkeypatch, "scipy.sparse.csc", "csc_matrix")

    def chumpy(x):
        obj = Ch()
        obj.__dict__.update(
            {"x": x, "_dirty_vars": set(), "_itr": None, "_depends_on_deps": {}, "_make_dense": False, "_make_sparse": False}
        )
        return obj

    j_reg = np.zeros((5, NUM_V))
    for j in range(5):
        j_reg[j, rng.choice(NUM_V, 4, replace=False)] = 0.25
    csc = Csc()
    cols = [np.nonzero(j_reg[:, c])[0] for c in range(NUM_V)]
    csc.__dict__.update(
        {
            "_shape": (5, NUM_V),
            "maxprint": 50,
            "format": "csc",
            "indices": np.concatenate(cols).astype(np.int32),
            "indptr": np.r_[0, np.cumsum([len(c) for c in cols])].astype(np.int32),
            "data": np.concatenate([j_reg[c, i] for i, c in enumerate(cols)]),
        }
    )
    weights = rng.random((NUM_V, 5))
    weights /= weights.sum(1, keepdims=True)
    model = {
        "f": rng.integers(0, NUM_V, size=(10, 3)).astype(np.uint32),
        "v_template": rng.normal(size=(NUM_V, 3)) * 0.1,
        "shapedirs": chumpy(rng.normal(size=(NUM_V, 3, num_shapes + 100)) * 0.01),
        "posedirs": rng.normal(size=(NUM_V, 3, 36)) * 0.01,
        "J_regressor": csc,
        "J": j_reg @ rng.normal(size=(NUM_V, 3)),
        "weights": weights,
        "kintree_table": np.array([[4294967295, 0, 1, 1, 1], [0, 1, 2, 3, 4]], dtype=np.int64),
        "bs_style": "lbs",
        "bs_type": "lrotmin",
    }
    with open(path, "wb") as fh:
        pickle.dump(model, fh, protocol=2)
    return model, j_reg


def test_loader_reads_chumpy_and_sparse_without_their_packages(tmp_path, monkeypatch):
    path = tmp_path / "generic_model.pkl"
    model, j_reg = write_synthetic_flame(path, monkeypatch)
    monkeypatch.delitem(sys.modules, "chumpy.ch")  # nothing named chumpy is importable now
    monkeypatch.delitem(sys.modules, "chumpy")
    monkeypatch.delitem(sys.modules, "scipy.sparse.csc")
    data = load_flame(path)
    shapedirs = model["shapedirs"].__dict__["x"]
    assert data.shapedirs.shape == (NUM_V, 3, 3) and data.exprdirs.shape == (NUM_V, 3, 100)
    assert np.allclose(data.shapedirs, shapedirs[..., :3]) and np.allclose(data.exprdirs, shapedirs[..., 3:])
    assert np.allclose(data.j_regressor, j_reg)
    assert np.allclose(data.posedirs, model["posedirs"].reshape(-1, 36).T)
    assert list(data.parents) == [-1, 0, 1, 1, 1]
    assert data.faces.dtype == np.int64 and np.array_equal(data.faces, model["f"])


def test_flame_rig_forward_matches_hand_computation(tmp_path, monkeypatch):
    path = tmp_path / "flame2023.pkl"
    write_synthetic_flame(path, monkeypatch, seed=4)
    data = load_flame(path)
    rig = load_rig(path).double()
    shape, expr = np.array([0.5, -1.0, 0.2]), np.linspace(-1, 1, 100)
    pose = np.random.default_rng(9).normal(size=(5, 3)) * 0.3
    out = rig(
        shape=torch.tensor(shape)[None],
        expression=torch.tensor(expr)[None],
        rotation=torch.tensor(pose[0])[None],
        neck=torch.tensor(pose[1])[None],
        jaw=torch.tensor(pose[2])[None],
        eyes=torch.tensor(pose[3:].ravel())[None],
    )
    assert np.allclose(out.vertices[0].numpy(), reference_flame_lbs(data, shape, expr, pose), atol=1e-6)


def test_env_variable_selects_flame(tmp_path, monkeypatch):
    path = tmp_path / "flame.pkl"
    write_synthetic_flame(path, monkeypatch)
    monkeypatch.setenv("L2T_FLAME_PATH", str(path))
    assert load_rig_data().num_vertices == NUM_V


@pytest.mark.parametrize(
    "content, message",
    [
        (b"not a pickle at all", "not a readable FLAME model"),
        (pickle.dumps({"v_template": np.zeros((3, 3))}), "lacks"),
        (pickle.dumps([1, 2, 3]), "not a FLAME model pickle"),
        (b"cos\nsystem\n(S'echo pwned'\ntR.", "unexpected object"),
    ],
)
def test_bad_files_raise_one_clear_error(tmp_path, content, message):
    path = tmp_path / "bad.pkl"
    path.write_bytes(content)
    with pytest.raises(L2TError, match=message):
        load_flame(path)


def test_missing_rig_file(tmp_path):
    with pytest.raises(L2TError, match="not found"):
        load_rig_data(tmp_path / "nope.pkl")
    with pytest.raises(L2TError, match="must be a FLAME"):
        (tmp_path / "rig.txt").write_text("x")
        load_rig_data(tmp_path / "rig.txt")
