"""MediaPipe landmarks on rigs other than l2t-head (whose vertices are MediaPipe's, 1:1).

FLAME publishes such an embedding beside its model, `mediapipe_landmark_embedding.npz`:
lmk_face_idx [L] (triangles), lmk_b_coords [L, 3] (barycentric coordinates) and
landmark_indices [L] (which of MediaPipe's 478 landmarks each one is). `--landmark-embedding`
reads that file (or any npz with those keys) and tracking then uses those L landmarks.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from avatar.errors import L2TError
from avatar.io.npz import read_npz
from avatar.rig import mediapipe_topology as mp
from avatar.rig.model import Rig

KEYS = ("lmk_face_idx", "lmk_b_coords", "landmark_indices")


@dataclass
class LandmarkEmbedding:
    faces: np.ndarray  # [L] triangle of each landmark
    bary: np.ndarray  # [L, 3]
    mediapipe_indices: np.ndarray  # [L] index into MediaPipe's 478 landmarks


def load_landmark_embedding(path: str | Path) -> LandmarkEmbedding:
    """Read an embedding npz; one-line errors for a missing file, missing keys or bad shapes."""
    d = read_npz(path, "landmark embedding")
    missing = [k for k in KEYS if k not in d]
    if missing:
        raise L2TError(f"landmark embedding {path} lacks {', '.join(missing)} (expected FLAME's mediapipe_landmark_embedding.npz layout)")
    faces, bary, idx = (
        d["lmk_face_idx"].reshape(-1).astype(np.int64),
        d["lmk_b_coords"].reshape(-1, 3).astype(np.float32),
        d["landmark_indices"].reshape(-1).astype(np.int64),
    )
    if not len(faces) == len(bary) == len(idx) or not len(idx):
        raise L2TError(f"landmark embedding {path}: lmk_face_idx, lmk_b_coords and landmark_indices differ in length")
    if idx.min() < 0 or idx.max() >= mp.NUM_LANDMARKS:
        raise L2TError(f"landmark embedding {path}: landmark_indices must index MediaPipe's {mp.NUM_LANDMARKS} landmarks")
    return LandmarkEmbedding(faces, bary, idx)


def apply_landmark_embedding(rig: Rig, embedding: LandmarkEmbedding) -> None:
    """Make the rig's landmarks those of the embedding (in place)."""
    if embedding.faces.min() < 0 or embedding.faces.max() >= len(rig.faces):
        raise L2TError(f"the landmark embedding names triangles the rig {rig.data.name} ({len(rig.faces)} faces) does not have")
    dev = rig.v_template.device
    rig.landmark_faces = torch.from_numpy(embedding.faces).to(dev)
    rig.landmark_bary = torch.from_numpy(embedding.bary).to(dev)
