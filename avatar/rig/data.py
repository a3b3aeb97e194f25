"""RigData: everything that defines a FLAME-format head, as numpy arrays, and its npz form.

Units are metres, +y up, +z out of the face (FLAME's convention). Joints follow FLAME's
kinematic tree: root (global), neck, jaw, left eye, right eye ("left" = the subject's left).
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from avatar.errors import L2TError
from avatar.io.atomic import atomic_write_bytes
from avatar.io.npz import read_npz

FLAME_JOINT_NAMES = ("root", "neck", "jaw", "left_eye", "right_eye")

# Regions every rig is expected to name (FLAME users may supply fewer; l2t-head has all).
REQUIRED_REGIONS = ("lips", "upper_face", "mouth_interior", "eyes", "scalp")


@dataclass
class RigData:
    """A parametric head in FLAME's layout.

    Shapes: V vertices, F faces, J joints, S identity shapes, E expressions.
    """

    name: str
    v_template: np.ndarray  # [V, 3] float32
    faces: np.ndarray  # [F, 3] int64
    shapedirs: np.ndarray  # [V, 3, S] float32
    exprdirs: np.ndarray  # [V, 3, E] float32
    posedirs: np.ndarray  # [(J-1)*9, V*3] float32
    j_regressor: np.ndarray  # [J, V] float32
    lbs_weights: np.ndarray  # [V, J] float32
    parents: np.ndarray  # [J] int64, -1 for the root
    joint_names: list[str] = field(default_factory=lambda: list(FLAME_JOINT_NAMES))
    shape_names: list[str] = field(default_factory=list)
    expression_names: list[str] = field(default_factory=list)
    landmark_faces: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # [L]
    landmark_bary: np.ndarray = field(default_factory=lambda: np.zeros((0, 3), np.float32))  # [L, 3]
    named_landmarks: dict[str, int] = field(default_factory=dict)  # name -> vertex index
    regions: dict[str, np.ndarray] = field(default_factory=dict)  # name -> vertex indices
    uvs: np.ndarray | None = None  # [T, 2] float32
    uv_faces: np.ndarray | None = None  # [F, 3] int64
    mirror: np.ndarray | None = None  # [V] int64: vertex i mirrors vertex mirror[i] across x=0

    @property
    def num_vertices(self) -> int:
        return int(self.v_template.shape[0])

    def validate(self) -> None:
        """Check shapes and indices; raise L2TError naming the first inconsistency."""
        v = self.num_vertices
        j = len(self.parents)
        checks = [
            (self.v_template.ndim == 2 and self.v_template.shape[1] == 3, "v_template must be [V, 3]"),
            (self.faces.ndim == 2 and self.faces.shape[1] == 3, "faces must be [F, 3]"),
            (self.faces.size == 0 or (self.faces.min() >= 0 and self.faces.max() < v), "faces index outside the vertices"),
            (self.shapedirs.shape[:2] == (v, 3), "shapedirs must be [V, 3, S]"),
            (self.exprdirs.shape[:2] == (v, 3), "exprdirs must be [V, 3, E]"),
            (self.posedirs.shape == ((j - 1) * 9, v * 3), f"posedirs must be [{(j - 1) * 9}, {v * 3}]"),
            (self.j_regressor.shape == (j, v), "j_regressor must be [J, V]"),
            (self.lbs_weights.shape == (v, j), "lbs_weights must be [V, J]"),
            (len(self.joint_names) == j, "joint_names must name every joint"),
            (all(p < i for i, p in enumerate(self.parents)), "parents must precede their children"),
            (len(self.landmark_faces) == len(self.landmark_bary), "landmark faces and barycentrics differ in length"),
        ]
        for ok, message in checks:
            if not ok:
                raise L2TError(f"rig {self.name!r}: {message}")
        for name, idx in self.regions.items():
            if idx.size and (idx.min() < 0 or idx.max() >= v):
                raise L2TError(f"rig {self.name!r}: region {name!r} indexes outside the vertices")

    # ----------------------------------------------------------------- npz I/O
    def save_npz(self, path: str | Path) -> None:
        """Write the rig as a compressed npz (regions and landmarks as prefixed keys)."""
        arrays: dict[str, np.ndarray] = {
            "name": np.array(self.name),
            "v_template": self.v_template.astype(np.float32),
            "faces": self.faces.astype(np.int32),
            "shapedirs": self.shapedirs.astype(np.float32),
            "exprdirs": self.exprdirs.astype(np.float32),
            "posedirs": self.posedirs.astype(np.float32),
            "j_regressor": self.j_regressor.astype(np.float32),
            "lbs_weights": self.lbs_weights.astype(np.float32),
            "parents": self.parents.astype(np.int64),
            "joint_names": np.array(self.joint_names),
            "shape_names": np.array(self.shape_names, dtype=str),
            "expression_names": np.array(self.expression_names, dtype=str),
            "landmark_faces": self.landmark_faces.astype(np.int32),
            "landmark_bary": self.landmark_bary.astype(np.float32),
            "named_landmark_names": np.array(list(self.named_landmarks), dtype=str),
            "named_landmark_vertices": np.array(list(self.named_landmarks.values()), dtype=np.int64),
        }
        for name, idx in self.regions.items():
            arrays[f"region:{name}"] = idx.astype(np.int32)
        if self.uvs is not None and self.uv_faces is not None:
            arrays["uvs"] = self.uvs.astype(np.float32)
            arrays["uv_faces"] = self.uv_faces.astype(np.int32)
        if self.mirror is not None:
            arrays["mirror"] = self.mirror.astype(np.int32)
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **arrays)
        atomic_write_bytes(path, buffer.getvalue())

    @classmethod
    def load_npz(cls, path: str | Path) -> RigData:
        """Read a rig written by save_npz; L2TError if the file is not one."""
        d = read_npz(path, "rig file")
        missing = [
            k for k in ("v_template", "faces", "shapedirs", "exprdirs", "posedirs", "j_regressor", "lbs_weights", "parents") if k not in d
        ]
        if missing:
            raise L2TError(f"rig file {path} lacks {', '.join(missing)}: not an l2t-avatar rig")
        rig = cls(
            name=str(d["name"]) if "name" in d else Path(path).stem,
            v_template=d["v_template"].astype(np.float32),
            faces=d["faces"].astype(np.int64),
            shapedirs=d["shapedirs"].astype(np.float32),
            exprdirs=d["exprdirs"].astype(np.float32),
            posedirs=d["posedirs"].astype(np.float32),
            j_regressor=d["j_regressor"].astype(np.float32),
            lbs_weights=d["lbs_weights"].astype(np.float32),
            parents=d["parents"].astype(np.int64),
            joint_names=[str(s) for s in d.get("joint_names", np.array(FLAME_JOINT_NAMES))],
            shape_names=[str(s) for s in d.get("shape_names", np.array([], dtype=str))],
            expression_names=[str(s) for s in d.get("expression_names", np.array([], dtype=str))],
            landmark_faces=d.get("landmark_faces", np.zeros(0)).astype(np.int64),
            landmark_bary=d.get("landmark_bary", np.zeros((0, 3))).astype(np.float32),
            named_landmarks={str(n): int(i) for n, i in zip(d.get("named_landmark_names", []), d.get("named_landmark_vertices", []))},
            regions={k.split(":", 1)[1]: v.astype(np.int64) for k, v in d.items() if k.startswith("region:")},
            uvs=d["uvs"].astype(np.float32) if "uvs" in d else None,
            uv_faces=d["uv_faces"].astype(np.int64) if "uv_faces" in d else None,
            mirror=d["mirror"].astype(np.int64) if "mirror" in d else None,
        )
        rig.validate()
        return rig
