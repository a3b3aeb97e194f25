"""Training clips in memory: quantised speech features, per-frame targets and phone labels.

``load_clips(DIR, split, fps)`` reads a corpus (``l2t-avatar data build``) or a VOCASET/BIWI
folder. For a corpus the result is cached in ``DIR/cache/clips-<split>-<fps>.npz`` (features as
uint8, rig parameters as float16: about 10 KB per second of speech), so later runs, and
machines given only ``corpus.json``, ``splits.json``, ``rig_lips.npz`` and ``cache/``, skip the
audio. Corpus lip vertices are not stored: they are the rig's lips posed by the parameters
(``avatar.rig.region.RegionRig``), computed where they are needed.
"""

from __future__ import annotations

import dataclasses
import io
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from avatar.errors import L2TError
from avatar.io.atomic import atomic_write_bytes
from avatar.rig import load_rig
from sync_expert.data.datasets import CorpusDataset, SpeechMotionClip, open_dataset
from sync_expert.features import quantise, speech_features
from sync_expert.phones import PHONE_INDEX, PhoneAlignment

CACHE_VERSION = 1


@dataclass
class Clip:
    clip_id: str
    speaker: str
    synthetic: bool
    source: str
    codes: np.ndarray  # uint8 [F, 80] quantised normalised log-mel at 100 Hz
    fps: float
    params: np.ndarray | None  # float32 [T, 3 + E]: jaw axis-angle, then expression (corpus)
    offsets: np.ndarray | None  # float16 [T, V, 3] vertex offsets from the template (VOCASET/BIWI)
    phones: np.ndarray | None  # int64 [T] phone index per frame (corpus)

    @property
    def num_frames(self) -> int:
        return int((self.params if self.params is not None else self.offsets).shape[0])


@dataclass
class ClipSet:
    clips: list[Clip]
    kind: str  # "corpus" (rig parameters) or "vertices"
    num_offsets: int  # vertices of the offsets head's region
    template: np.ndarray | None  # [V, 3] rest positions of that region (corpus: rig lips)
    region_indices: np.ndarray | None  # rig vertex indices of the region (corpus)
    mouth_width: float  # metres, for normalising lip motion
    expression_names: list[str]
    info: dict


def frame_phones(alignment: PhoneAlignment, num_frames: int, fps: float) -> np.ndarray:
    """The phone index sounding at each frame's time (SIL outside every phone)."""
    times = np.arange(num_frames) / fps
    out = np.zeros(num_frames, np.int64)
    for phone, start, end in zip(alignment.phones, alignment.starts, alignment.ends):
        out[(times >= start) & (times < end)] = PHONE_INDEX.get(phone, 0)
    return out


def _from_motion_clip(c: SpeechMotionClip, fps: float, front=None) -> Clip:
    if front is None or front.name is None:
        codes = quantise(speech_features(c.audio))
    else:  # a pretrained encoder's features, kept as float16
        codes = front(c.audio).cpu().numpy().astype(np.float16)
    if c.params:
        params = np.concatenate([c.params["jaw"], c.params["expression"]], 1).astype(np.float32)
        phones = frame_phones(c.alignment, len(params), fps) if c.alignment is not None else None
        return Clip(c.clip_id, c.speaker, c.synthetic, c.source, codes, fps, params, None, phones)
    offsets = (c.vertices - c.template[None]).astype(np.float16)
    return Clip(c.clip_id, c.speaker, c.synthetic, c.source, codes, fps, None, offsets, None)


def _save_cache(path: Path, clips: list[Clip]) -> None:
    arrays = {
        "codes": np.concatenate([c.codes for c in clips]) if clips else np.zeros((0, 80), np.uint8),
        "code_index": np.cumsum([0] + [len(c.codes) for c in clips]),
        "params": np.concatenate([c.params for c in clips]).astype(np.float16) if clips else np.zeros((0, 1), np.float16),
        "frame_index": np.cumsum([0] + [c.num_frames for c in clips]),
        "phones": np.concatenate([c.phones for c in clips]).astype(np.uint8) if clips else np.zeros(0, np.uint8),
        "meta": np.array(
            json.dumps({"version": CACHE_VERSION, "clips": [[c.clip_id, c.speaker, c.synthetic, c.source, c.fps] for c in clips]})
        ),
    }
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    atomic_write_bytes(path, buffer.getvalue())


def _load_cache(path: Path) -> list[Clip] | None:
    try:
        with np.load(path, allow_pickle=False) as d:
            meta = json.loads(str(d["meta"]))
            if meta.get("version") != CACHE_VERSION:
                return None
            codes, params, phones = d["codes"], d["params"].astype(np.float32), d["phones"].astype(np.int64)
            ci, fi = d["code_index"], d["frame_index"]
    except (OSError, KeyError, ValueError):
        return None
    return [
        Clip(cid, spk, syn, src, codes[ci[i] : ci[i + 1]], fps, params[fi[i] : fi[i + 1]], None, phones[fi[i] : fi[i + 1]])
        for i, (cid, spk, syn, src, fps) in enumerate(meta["clips"])
    ]


def load_clips(root: str | Path | list, split: str, fps: float | None = None, progress: bool = False, front=None) -> ClipSet:
    """All clips of a split, as training arrays (see the module docstring). ``front``: a pretrained
    encoder (``audio2mesh.encoders``) whose features replace log-mel (computed from the audio, not cached).
    ``root`` may be a list of corpus folders of one rig (``data build`` and ``data from-videos`` ones mixed):
    their clips are pooled, at the first one's frame rate unless ``fps`` is given."""
    if isinstance(root, (list, tuple)):
        if len(root) == 1:
            return load_clips(root[0], split, fps, progress, front)
        sets = [load_clips(root[0], split, fps, progress, front)]
        fps = fps or float(sets[0].info["fps"])
        sets += [load_clips(r, split, fps, progress, front) for r in root[1:]]
        return pool_clip_sets(sets, [str(r) for r in root])
    encoder = front is not None and front.name is not None
    root = Path(root)
    if (root / "corpus.json").is_file():
        info = json.loads((root / "corpus.json").read_text())
        fps = float(fps or info["fps"])
        lips = np.load(root / "rig_lips.npz", allow_pickle=False)
        cache = root / "cache" / f"clips-{split}-{fps:g}.npz"
        clips = _load_cache(cache) if cache.is_file() and not encoder else None
        if clips is None:
            if not (root / "items").is_dir():
                raise L2TError(f"{root} has neither items/ nor a feature cache for split {split}")
            dataset = CorpusDataset(root, split, fps)
            clips = [
                _from_motion_clip(dataset[i], fps, front)
                for i in tqdm(range(len(dataset)), desc=f"features ({split})", disable=not progress, unit="clip")
            ]
            if not encoder:
                cache.parent.mkdir(exist_ok=True)
                _save_cache(cache, clips)
        return ClipSet(
            clips,
            "corpus",
            int(lips["indices"].shape[0]),
            lips["template"],
            lips["indices"],
            float(lips["mouth_width"]),
            list(info["expression_names"]),
            info,
        )
    dataset = open_dataset(root, split, fps)
    clips, template = [], None
    for i in tqdm(range(len(dataset)), desc=f"features ({split})", disable=not progress, unit="clip"):
        c = dataset[i]
        template = c.template if template is None else template
        clips.append(_from_motion_clip(c, dataset.fps, front))
    if template is None:
        raise L2TError(f"{root}: no clips in split {split}")
    width = float(np.ptp(template[:, 0]))  # no named mouth corners: the region's width stands in
    return ClipSet(clips, "vertices", template.shape[0], template, None, width, [], {"fps": dataset.fps, "kind": type(dataset).__name__})


def pool_clip_sets(sets: list[ClipSet], names: list[str]) -> ClipSet:
    """One ClipSet of the clips of several corpora, which must share the rig's lip vertices and expressions."""
    first = sets[0]
    for clip_set, name in zip(sets, names):
        if clip_set.kind != "corpus":
            kind = clip_set.info.get("kind", "vertex")
            raise L2TError(f"{name} is a {kind} dataset of vertex motion: only l2t-avatar corpora are pooled; train on it alone")
    for other, name in zip(sets[1:], names[1:]):
        same = other.expression_names == first.expression_names and np.array_equal(other.region_indices, first.region_indices)
        if not same:
            raise L2TError(
                f"{name} is not a corpus of the same rig as {names[0]} (lip vertices or expressions differ); train on them apart"
            )
    clips = [c for clip_set in sets for c in clip_set.clips]
    return dataclasses.replace(first, clips=clips, info={**first.info, "sources": names})


def corpus_rig(clipset: ClipSet, rig_path: str | None = None):
    """The rig a corpus was animated on (its info names it), or ``rig_path`` when given."""
    ref = clipset.info.get("rig", {})
    if rig_path is None and ref.get("path"):
        rig_path = ref["path"]
    return load_rig(rig_path)
