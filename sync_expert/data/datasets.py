"""Datasets of (speech, 3D motion) clips: our corpus, and the VOCASET and BIWI layouts users have.

All yield ``SpeechMotionClip``s at a common frame rate (linear resampling of the motion):

- ``CorpusDataset``: a folder made by ``l2t-avatar data build`` (lip-region vertices of the
  rig, rig parameters, phone timings).
- ``VocasetDataset``: ``vertices_npy/<subject>_sentenceNN.npy`` [T, 5023*3] at 60 fps,
  ``wav/<subject>_sentenceNN.wav``, ``templates.pkl`` (subject -> [5023, 3]); FaceFormer's
  standard subject and sentence splits.
- ``BiwiDataset``: the same layout with 23,370 vertices at 25 fps (``F2_e01.npy``); train/val/
  test-A on six subjects, test-B on the eight unseen ones.

``open_dataset(path)`` tells the layouts apart.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from avatar.errors import L2TError
from avatar.io.audio import read_audio
from avatar.motion import DEFAULT_FPS, resample_frames
from avatar.rig.flame import read_restricted_pickle
from sync_expert.data.items import CorpusItem
from sync_expert.phones import PhoneAlignment

SPLITS = ("train", "val", "test")


@dataclass
class SpeechMotionClip:
    clip_id: str
    speaker: str
    split: str
    audio: np.ndarray  # float32 mono, 16 kHz
    fps: float
    vertices: np.ndarray  # [T, V, 3]: the dataset's vertex set (corpus: the rig's lips; VOCASET/BIWI: full mesh)
    template: np.ndarray  # [V, 3] the speaker's rest shape
    params: dict[str, np.ndarray] = field(default_factory=dict)  # rig parameters where known (corpus)
    alignment: PhoneAlignment | None = None
    synthetic: bool = False
    source: str = ""

    @property
    def num_frames(self) -> int:
        return int(self.vertices.shape[0])


def _resample(array: np.ndarray, fps_from: float, fps_to: float) -> np.ndarray:
    if abs(fps_from - fps_to) < 1e-9:
        return array
    return resample_frames(torch.from_numpy(np.ascontiguousarray(array)), fps_from, fps_to).numpy()


class CorpusDataset(Dataset):
    """Items of one split of a corpus folder, motion resampled to ``fps`` (default: the corpus')."""

    def __init__(self, root: str | Path, split: str = "train", fps: float | None = None):
        self.root = Path(root)
        if split not in SPLITS:
            raise L2TError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
        info_path, splits_path = self.root / "corpus.json", self.root / "splits.json"
        if not (info_path.is_file() and splits_path.is_file()):
            raise L2TError(f"{self.root} is not a finished corpus (no corpus.json/splits.json); run 'l2t-avatar data build'")
        self.info = json.loads(info_path.read_text())
        self.ids = json.loads(splits_path.read_text())[split]
        self.split, self.fps = split, float(fps or self.info["fps"])

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> SpeechMotionClip:
        item = CorpusItem.load(self.root / "items" / f"{self.ids[i]}.npz")
        meta = item.meta
        params = {"expression": _resample(item.expression, item.fps, self.fps), "jaw": _resample(item.jaw, item.fps, self.fps)}
        return SpeechMotionClip(
            meta["id"],
            meta["voice"],
            meta["split"],
            item.audio,
            self.fps,
            _resample(item.lip_vertices, item.fps, self.fps),
            item.lip_template,
            params,
            item.alignment,
            meta["synthetic"],
            meta["source"],
        )


class _MeshFolderDataset(Dataset):
    """Shared reader of the VOCASET/BIWI folder layout; subclasses give sizes, rates and splits."""

    num_vertices: int
    native_fps: float
    name_pattern: re.Pattern
    subject_splits: dict[str, tuple[str, ...]]
    sentence_splits: dict[str, range]

    def __init__(self, root: str | Path, split: str = "train", fps: float = 30.0, subjects: list[str] | None = None):
        self.root, self.split, self.fps = Path(root), split, float(fps)
        if split not in self.subject_splits:
            raise L2TError(f"split must be one of {', '.join(self.subject_splits)}, got {split!r}")
        vert_dir, wav_dir = self.root / "vertices_npy", self.root / "wav"
        if not (vert_dir.is_dir() and wav_dir.is_dir()):
            raise L2TError(f"{self.root} lacks vertices_npy/ or wav/ (expected the {type(self).__name__[:-7]} layout)")
        templates = read_restricted_pickle(self.root / "templates.pkl", "templates")
        if not isinstance(templates, dict):
            raise L2TError(f"{self.root / 'templates.pkl'} must hold a dict of subject -> template vertices")
        self.templates = {str(k): np.asarray(v, np.float32).reshape(-1, 3) for k, v in templates.items()}
        wanted = set(subjects or self.subject_splits[split])
        sentences = self.sentence_splits[split]
        self.entries, self.unpaired = [], 0
        for npy in sorted(vert_dir.glob("*.npy")):
            match = self.name_pattern.fullmatch(npy.stem)
            if not match or match["subject"] not in wanted or int(match["sentence"]) not in sentences:
                continue
            wav = wav_dir / f"{npy.stem}.wav"
            if not wav.is_file() or match["subject"] not in self.templates:
                self.unpaired += 1
                continue
            self.entries.append((npy.stem, match["subject"], npy, wav))

    def __len__(self) -> int:
        return len(self.entries)

    def __getitem__(self, i: int) -> SpeechMotionClip:
        clip_id, subject, npy, wav = self.entries[i]
        flat = np.load(npy, allow_pickle=False)
        if flat.ndim != 2 or flat.shape[1] != self.num_vertices * 3:
            raise L2TError(f"{npy}: expected [T, {self.num_vertices * 3}] vertices, got {list(flat.shape)}")
        template = self.templates[subject]
        if template.shape != (self.num_vertices, 3):
            raise L2TError(f"templates.pkl: {subject} has {template.shape[0]} vertices, expected {self.num_vertices}")
        vertices = _resample(flat.reshape(len(flat), self.num_vertices, 3).astype(np.float32), self.native_fps, self.fps)
        return SpeechMotionClip(clip_id, subject, self.split, read_audio(wav), self.fps, vertices, template, source=type(self).__name__)


class VocasetDataset(_MeshFolderDataset):
    num_vertices, native_fps = 5023, 60.0
    name_pattern = re.compile(r"(?P<subject>.+)_sentence(?P<sentence>\d+)")
    subject_splits = {
        "train": (
            "FaceTalk_170728_03272_TA",
            "FaceTalk_170904_00128_TA",
            "FaceTalk_170725_00137_TA",
            "FaceTalk_170915_00223_TA",
            "FaceTalk_170811_03274_TA",
            "FaceTalk_170913_03279_TA",
            "FaceTalk_170904_03276_TA",
            "FaceTalk_170912_03278_TA",
        ),
        "val": ("FaceTalk_170811_03275_TA", "FaceTalk_170908_03277_TA"),
        "test": ("FaceTalk_170809_00138_TA", "FaceTalk_170731_00024_TA"),
    }
    sentence_splits = {"train": range(1, 41), "val": range(21, 41), "test": range(21, 41)}


class BiwiDataset(_MeshFolderDataset):
    num_vertices, native_fps = 23370, 25.0
    name_pattern = re.compile(r"(?P<subject>[FM]\d+)_e(?P<sentence>\d+)")
    _seen = ("F2", "F3", "F4", "M3", "M4", "M5")
    subject_splits = {"train": _seen, "val": _seen, "test": _seen, "test_unseen": ("F1", "F5", "F6", "F7", "F8", "M1", "M2", "M6")}
    sentence_splits = {"train": range(1, 33), "val": range(33, 37), "test": range(37, 41), "test_unseen": range(37, 41)}

    def __init__(self, root: str | Path, split: str = "train", fps: float = DEFAULT_FPS, subjects: list[str] | None = None):
        super().__init__(root, split, fps, subjects)


def open_dataset(path: str | Path, split: str = "train", fps: float | None = None) -> Dataset:
    """A corpus folder, a VOCASET folder or a BIWI folder, told apart by what it holds."""
    root = Path(path)
    if not root.is_dir():
        raise L2TError(f"dataset folder not found: {root}")
    if (root / "corpus.json").is_file():
        return CorpusDataset(root, split, fps)
    if (root / "templates.pkl").is_file():
        templates = read_restricted_pickle(root / "templates.pkl", "templates")
        sizes = {np.asarray(v).reshape(-1, 3).shape[0] for v in templates.values()} if isinstance(templates, dict) else set()
        if sizes == {VocasetDataset.num_vertices}:
            return VocasetDataset(root, split, fps or 30.0)
        if sizes == {BiwiDataset.num_vertices}:
            return BiwiDataset(root, split, fps or DEFAULT_FPS)
        raise L2TError(f"{root}/templates.pkl has templates of {sorted(sizes)} vertices: neither VOCASET (5023) nor BIWI (23370)")
    raise L2TError(f"{root} is neither a corpus (corpus.json) nor a VOCASET/BIWI folder (templates.pkl)")
