"""``l2t-avatar data from-videos``: pseudo-3D training pairs from talking videos (Learn2Talk's "3D learns from 2D").

A talking video with sound is a 2D talking face. Tracking the rig to its frames (the fit's first
stages, no Gaussians) gives the person's jaw and expressions per frame; paired with the video's
own audio, that is a (speech, 3D lip motion) item like the corpus builder's, its label coming
from a real face instead of the phoneme teacher. The audio-video offset is found first, by
SyncNet3D over +-15 frames (av_offset.py), and the motion is shifted by it. Frames without a
face split a video into pieces; each piece of at least ``MIN_SECONDS`` becomes an item,
resampled to the corpus frame rate, with phones from the recognised words (pocketsphinx,
force-aligned).

The output is a corpus folder of its own (``corpus.json``, ``rig_lips.npz``, ``items/``,
``manifest.jsonl``, ``splits.json``) that ``train audio2mesh --data`` reads; running it again
on more videos extends it (a video already in it is replaced). Whole videos go to one split.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from audio2mesh.data.av_offset import video_lag
from avatar.errors import L2TError
from avatar.io.atomic import atomic_write_bytes
from avatar.io.audio import SPEECH_RATE
from avatar.motion import DEFAULT_FPS
from sync_expert.data.items import CorpusItem

MIN_SECONDS = 2.0  # shorter pieces with a face are left out
VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v")
FORMAT = "l2t-avatar corpus 1"


def video_files(inputs: list[str]) -> list[Path]:
    """The videos named, and those inside named folders (sorted); L2TError for anything else."""
    found: list[Path] = []
    for text in inputs:
        path = Path(text)
        if path.is_dir():
            found += sorted(p for p in path.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES)
        elif path.is_file():
            found.append(path)
        else:
            raise L2TError(f"{text}: no such file or folder")
    if not found:
        raise L2TError(f"no videos ({', '.join(VIDEO_SUFFIXES)}) in {', '.join(inputs)}")
    return found


@dataclass
class Piece:
    """Frames ``start..stop`` (corpus frame indices from the audio's start) that all have a tracked face."""

    start: int
    stop: int


def pieces(valid: np.ndarray, fps: float) -> list[Piece]:
    """Runs of True in ``valid`` [T] at least MIN_SECONDS long."""
    out, start = [], None
    for k, ok in enumerate(np.append(valid, False)):
        if ok and start is None:
            start = k
        elif not ok and start is not None:
            if (k - start) / fps >= MIN_SECONDS:
                out.append(Piece(start, k))
            start = None
    return out


def resample_tracked(params: dict[str, torch.Tensor], video_frames: np.ndarray, video_fps: float, lag: int, fps: float, frames: int):
    """Tracked jaw/expression at corpus frames 0..frames-1 (times from the audio's start), shifted
    by ``lag`` video frames, linearly between tracked frames; and which frames had a face on both sides."""
    position = np.arange(frames) / fps * video_fps + lag  # video frame index of each corpus frame
    row = np.full(int(video_frames.max()) + 3, -1)  # video frame -> tracked row (-1: no face)
    row[video_frames] = np.arange(len(video_frames))
    base = np.clip(np.floor(position).astype(np.int64), -1, len(row) - 2)
    frac = position - base
    r0, r1 = row[np.maximum(base, 0)], row[np.maximum(base, 0) + 1]
    valid = (position >= 0) & (base >= 0) & (r0 >= 0) & ((r1 >= 0) | (frac == 0))
    w = torch.from_numpy(np.where(r1 >= 0, frac, 0.0)).float()[:, None]
    i0, i1 = torch.from_numpy(np.maximum(r0, 0)), torch.from_numpy(np.where(r1 >= 0, r1, np.maximum(r0, 0)))
    out = {k: params[k][i0] * (1 - w) + params[k][i1] * w for k in ("jaw", "expression")}
    return out, valid


class VideoCorpus:
    """A corpus folder of tracked talking videos."""

    def __init__(self, out: str | Path, rig_path: str | None = None, fps: float = DEFAULT_FPS, log=print, tracking=None):
        from avatar.io.avatar_folder import rig_reference
        from avatar.rig import load_rig

        self.out, self.fps, self.log = Path(out), float(fps), log
        self.tracking = tracking  # avatar.fit.tracking.TrackingConfig (None: the fit's)
        if self.out.exists() and not self.out.is_dir():
            raise L2TError(f"--out {self.out} is a file; give a folder for the corpus")
        if not self.fps > 0:
            raise L2TError(f"--fps must be positive, got {fps}")
        self.rig_path, self.rig_ref, self.rig = rig_path, rig_reference(rig_path), load_rig(rig_path)
        self.lips = self.rig.region("lips")
        self.records = self._existing()

    def _existing(self) -> list[dict]:
        info = self.out / "corpus.json"
        if not info.is_file():
            return []
        old = json.loads(info.read_text())
        if old.get("sources") != ["video"]:
            raise L2TError(f"{self.out} is a corpus of `data build`; give from-videos its own --out (train reads either)")
        for key, now in (("fps", self.fps), ("rig", self.rig_ref)):
            if old.get(key) != now:
                raise L2TError(f"{self.out} holds videos tracked with {key}={old.get(key)}; use the same {key} or another --out")
        manifest = self.out / "manifest.jsonl"
        return [json.loads(line) for line in manifest.read_text().splitlines() if line.strip()] if manifest.is_file() else []

    def add(self, video: Path, split: str, speaker, progress: bool = True) -> list[dict]:
        """Track one video, pair it with its sound and write its items; their metas ([] and a note
        when the video has no sound or too few frames with a face)."""
        from audio2mesh.speech import speech_alignment
        from avatar.fit.pipeline import FitOptions, track_video
        from avatar.fit.video_input import read_video
        from avatar.io.audio import has_audio_track, read_audio

        if not has_audio_track(video):
            self.log(f"note: {video.name} has no sound; left out")
            return []
        audio = read_audio(video)
        if len(audio) < MIN_SECONDS * SPEECH_RATE or float(np.abs(audio).max()) < 1e-3:
            self.log(f"note: {video.name}: its sound is silent or shorter than {MIN_SECONDS:.0f} s; left out")
            return []
        vf = read_video(video)
        opts = FitOptions(progress=progress, rig_path=self.rig_path)
        if self.tracking is not None:
            opts.tracking = self.tracking
        tracked, _ = track_video(vf, str(video), self.rig, opts)
        rig_names = self.rig.data.expression_names
        generic = speaker.motion(audio, vf.fps, rig_names, self.rig.data.name)
        lag, lag_by = video_lag(audio, tracked.params, tracked.video_frames, vf.fps, self.rig, generic.params["jaw"][:, 0].numpy())
        frames = int(round(len(audio) / SPEECH_RATE * self.fps))
        params, valid = resample_tracked(tracked.params, tracked.video_frames, vf.fps, lag, self.fps, frames)
        stem = "".join(c if c.isalnum() or c in "-_" else "_" for c in video.stem)
        metas = []
        for k, piece in enumerate(pieces(valid, self.fps)):
            item_id = f"video-{stem}-{k:03d}"
            clip = audio[int(piece.start / self.fps * SPEECH_RATE) : int(piece.stop / self.fps * SPEECH_RATE)]
            alignment = speech_alignment(clip, None, lambda _line: None)
            expression, jaw = params["expression"][piece.start : piece.stop], params["jaw"][piece.start : piece.stop]
            with torch.no_grad():
                verts = self.rig(expression=expression, jaw=jaw, batch_size=len(jaw)).vertices[:, self.lips]
            meta = {
                "id": item_id,
                "split": split,
                "source": "video",
                "voice": video.stem,  # each video its own speaker
                "synthetic": False,
                "licence": "the video's own",
                "text": "",
                "video": video.name,
                "video_seconds": [round(piece.start / self.fps, 3), round(piece.stop / self.fps, 3)],
                "lag_frames": int(lag),
                "lag_by": lag_by,
                "seconds": round(len(clip) / SPEECH_RATE, 4),
                "frames": int(piece.stop - piece.start),
                "fps": self.fps,
                "phones": sorted(set(alignment.phones)),
            }
            CorpusItem(
                clip, alignment, self.fps, expression.numpy(), jaw.numpy(), verts.numpy(), meta, self.rig.v_template[self.lips].numpy()
            ).save(self.out / "items" / f"{item_id}.npz")
            metas.append(meta)
        if not metas:
            self.log(f"note: {video.name}: no stretch of {MIN_SECONDS:.0f} s with a face and sound; left out")
        return metas

    def build(self, videos: list[Path], split: str = "train", checkpoint: str | None = None, progress: bool = True) -> dict:
        """Add every video; write the listing, splits and corpus.json. Returns a summary."""
        from audio2mesh.data.corpus import summarise, write_listing, write_rig_lips
        from audio2mesh.speech import Speaker

        if split not in ("train", "val", "test"):
            raise L2TError(f"--split must be train, val or test, got {split}")
        (self.out / "items").mkdir(parents=True, exist_ok=True)
        speaker = Speaker.load(checkpoint)
        for video in videos:
            for old in [r for r in self.records if r.get("video") == video.name]:
                (self.out / "items" / f"{old['id']}.npz").unlink(missing_ok=True)
            self.records = [r for r in self.records if r.get("video") != video.name]
            try:
                added = self.add(video, split, speaker, progress)
            except L2TError as exc:  # one unusable video (no face, unreadable) does not stop the others
                self.log(f"note: {video.name}: {exc}; left out")
                added = []
            self.records += added
            if added:
                seconds = sum(m["seconds"] for m in added)
                self.log(f"{video.name}: {len(added)} items, {seconds:.1f} s, audio-video lag {added[0]['lag_frames']} frames")
        if not self.records:
            raise L2TError("no video gave an item (each needs sound and at least 2 s with a face)")
        summary = summarise(self.records)
        write_rig_lips(self.out, self.rig)
        write_listing(self.out, self.records)
        shutil.rmtree(self.out / "cache", ignore_errors=True)  # train's feature cache of the old items
        info = {
            "format": FORMAT,
            "fps": self.fps,
            "rig": self.rig_ref,
            "expression_names": self.rig.data.expression_names,
            "sources": ["video"],
            "summary": summary,
        }
        atomic_write_bytes(self.out / "corpus.json", json.dumps(info, indent=1).encode())
        return summary
