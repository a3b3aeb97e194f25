"""``l2t-avatar data build``: a reproducible corpus of (speech, 3D lip motion) pairs.

Layout of the output folder::

    corpus.json      build settings, rig, sources used/missing, summary
    rig_lips.npz     the rig's lip region: vertex indices, rest positions, mouth width
    items/<id>.npz   one utterance each (see items.py)
    manifest.jsonl   one line of metadata per item, in build order
    splits.json      item ids of train / val / test; splits are made by voice or speaker

Sources are mixed in fixed shares, each next item going to the source furthest below its
share, so the item sequence does not depend on ``--hours``: a bigger build extends a smaller
one. Everything an item draws comes from ``(seed, item index)``; existing items are kept,
so an interrupted build resumes where it stopped.
"""

from __future__ import annotations

import io
import json
from collections import Counter
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from audio2mesh.data.augment import Augmentation, apply_augmentation, draw_augmentation
from audio2mesh.data.sources import Utterance, all_sources, stable_fraction
from audio2mesh.teacher.animator import TeacherAnimator, TeacherStyle
from avatar.errors import L2TError
from avatar.io.atomic import atomic_write_bytes
from avatar.io.audio import SPEECH_RATE
from avatar.io.avatar_folder import rig_reference
from avatar.motion import DEFAULT_FPS
from avatar.rig import load_rig
from sync_expert.data.items import CorpusItem, read_meta
from sync_expert.phones import PHONES

SHARES = {"espeak": 0.40, "festival": 0.12, "flite": 0.13, "allison": 0.26, "codec2": 0.09}
# Named speakers behind the festival/flite voices (kal and kal16 are one man, both slt voices one woman).
TTS_SPEAKERS = {
    "festival:kal": "kal",
    "flite:kal": "kal",
    "flite:kal16": "kal",
    "festival:slt": "slt",
    "flite:slt": "slt",
    "flite:awb": "awb",
    "flite:rms": "rms",
}
FIXED_SPLITS = {"kal": "train", "slt": "train", "awb": "val", "rms": "test"}
CODEC2_VAL_SPEAKERS = {"codec2-hts1", "codec2-forig", "codec2-kristoff", "codec2-cq_ref", "codec2-vk5qi", "codec2-david"}
MAX_FAILURES = 8  # consecutive failed draws before a source is given up


def assign_split(utt: Utterance) -> str:
    """train / val / test by voice or speaker. codec2 speakers never train (unseen real voices);
    Allison (the one real speaker with transcripts) trains, with 10% of her prompts in val."""
    if utt.source == "codec2":
        return "val" if utt.voice in CODEC2_VAL_SPEAKERS else "test"
    if utt.source == "allison":
        return "val" if stable_fraction(utt.extra["clip"]) >= 0.9 else "train"
    if utt.voice in TTS_SPEAKERS:
        return FIXED_SPLITS[TTS_SPEAKERS[utt.voice]]
    f = stable_fraction(utt.voice)
    return "train" if f < 0.8 else "val" if f < 0.9 else "test"


class CorpusBuilder:
    def __init__(self, out: str | Path, seed: int = 0, fps: float = DEFAULT_FPS, rig_path: str | None = None, log=print):
        self.out, self.seed, self.fps, self.log = Path(out), int(seed), float(fps), log
        if self.out.exists() and not self.out.is_dir():
            raise L2TError(f"--out {self.out} is a file; give a folder for the corpus")
        if not self.fps > 0:
            raise L2TError(f"--fps must be positive, got {fps}")
        self.rig_ref = rig_reference(rig_path)
        self.rig = load_rig(rig_path)
        self.animator = TeacherAnimator(self.rig, self.fps)
        self.lips = self.rig.region("lips")
        self._check_existing()
        self.sources = all_sources(self.seed)
        self.missing = {s.name: s.missing() for s in self.sources if s.missing()}
        self.available = [s for s in self.sources if s.name not in self.missing]
        for name, package in self.missing.items():
            self.log(f"note: source {name} unavailable (install {package}); building without it")
        if not self.available:
            raise L2TError("no speech source available: install espeak-ng, festival, flite or pocketsphinx with the speech packages")
        total = sum(SHARES[s.name] for s in self.available)
        self.shares = {s.name: SHARES[s.name] / total for s in self.available}

    def _check_existing(self) -> None:
        info = self.out / "corpus.json"
        if not info.is_file():
            return
        old = json.loads(info.read_text())
        for key, now in (("seed", self.seed), ("fps", self.fps), ("rig", self.rig_ref)):
            if old.get(key) != now:
                raise L2TError(
                    f"{self.out} holds a corpus built with {key}={old.get(key)}; resume with the same {key} or use another --out"
                )

    # ------------------------------------------------------------ items
    def _make(self, source, index: int, unit: int) -> tuple[Utterance | None, int]:
        """The next utterance of ``source`` for item ``index``; for real sources also the next unit."""
        if source.synthetic:
            return source.draw(np.random.default_rng([self.seed, index])), unit
        units = source.units()
        while unit < len(units):
            utt = source.utterance(unit)
            unit += 1
            if utt is not None:
                return utt, unit
        return None, unit

    def _finish(self, utt: Utterance, item_id: str, index: int) -> CorpusItem:
        split = assign_split(utt)
        rng = np.random.default_rng([self.seed, index, 1])
        aug = Augmentation()
        if split == "train":
            first_pass = not utt.synthetic and utt.extra.get("repeat", 0) == 0
            aug = draw_augmentation(rng, 0.5 if first_pass else 1.0)
        audio, alignment = apply_augmentation(utt.audio, utt.alignment, aug, rng)
        frames = max(1, int(round(len(audio) / SPEECH_RATE * self.fps)))
        style = TeacherStyle.for_voice(utt.voice)
        motion = self.animator.animate(alignment, frames, style)
        with torch.no_grad():
            verts = self.rig(expression=motion.params["expression"], jaw=motion.params["jaw"], batch_size=frames).vertices
        meta = {
            "id": item_id,
            "index": index,
            "split": split,
            "source": utt.source,
            "voice": utt.voice,
            "synthetic": utt.synthetic,
            "licence": utt.licence,
            "text": utt.text,
            "unit": utt.unit,
            "seconds": round(len(audio) / SPEECH_RATE, 4),
            "frames": frames,
            "fps": self.fps,
            "phones": sorted(set(alignment.phones)),
            "augmentation": aug.as_dict(),
            "style": {"jaw_scale": style.jaw_scale, "lip_scale": style.lip_scale, "anticipation": style.anticipation},
            **{k: v for k, v in utt.extra.items()},
        }
        return CorpusItem(
            audio,
            alignment,
            self.fps,
            motion.params["expression"].numpy(),
            motion.params["jaw"].numpy(),
            verts[:, self.lips].numpy(),
            meta,
            self.rig.v_template[self.lips].numpy(),
        )

    # ------------------------------------------------------------ build
    def build(self, hours: float, progress: bool = True) -> dict:
        if not hours > 0:
            raise L2TError(f"--hours must be positive, got {hours}")
        items_dir = self.out / "items"
        items_dir.mkdir(parents=True, exist_ok=True)
        self._write_rig_lips()
        self._write_info(hours, summary=None)
        target = hours * 3600.0
        seconds = dict.fromkeys(self.shares, 0.0)
        units = dict.fromkeys(self.shares, 0)
        failures = Counter()
        exhausted: set[str] = set()
        records: list[dict] = []
        reused = 0
        bar = tqdm(total=round(target), unit="s", desc="corpus (audio seconds)", disable=not progress, dynamic_ncols=True)
        index = 0
        while sum(seconds.values()) < target:
            open_sources = [s for s in self.available if s.name not in exhausted]
            if not open_sources:
                self.log("note: every source is used up; the corpus is smaller than asked")
                break
            total = sum(seconds.values())
            source = max(open_sources, key=lambda s: self.shares[s.name] * (total + 1.0) - seconds[s.name])
            item_id = f"{index:06d}-{source.name}"
            path = items_dir / f"{item_id}.npz"
            meta = read_meta(path) if path.is_file() else None
            if meta is not None:
                reused += 1
                if not source.synthetic:
                    units[source.name] = meta["unit"] + 1
            else:
                try:
                    utt, units[source.name] = self._make(source, index, units[source.name])
                except RuntimeError as exc:  # a TTS engine failing on one input: retry with the next draw
                    failures[source.name] += 1
                    if failures[source.name] >= MAX_FAILURES:
                        self.log(f"note: giving up on source {source.name}: {exc}")
                        exhausted.add(source.name)
                    index += 1
                    continue
                if utt is None:
                    exhausted.add(source.name)
                    continue
                failures[source.name] = 0
                item = self._finish(utt, item_id, index)
                item.save(path)
                meta = item.meta
            records.append(meta)
            seconds[source.name] += meta["seconds"]
            bar.update(min(round(meta["seconds"]), max(0, round(target) - bar.n)))
            index += 1
        bar.close()
        summary = self._summarise(records, reused)
        self._write_listing(records)
        self._write_info(hours, summary)
        return summary

    # ------------------------------------------------------------ outputs
    def _write_rig_lips(self) -> None:
        write_rig_lips(self.out, self.rig)

    def _write_info(self, hours: float, summary: dict | None) -> None:
        info = {
            "format": "l2t-avatar corpus 1",
            "seed": self.seed,
            "fps": self.fps,
            "rig": self.rig_ref,
            "hours_asked": hours,
            "expression_names": self.rig.data.expression_names,
            "sources": sorted(self.shares),
            "missing_sources": self.missing,
            "shares": self.shares,
            "summary": summary,
        }
        atomic_write_bytes(self.out / "corpus.json", json.dumps(info, indent=1).encode())

    def _write_listing(self, records: list[dict]) -> None:
        write_listing(self.out, records)

    @staticmethod
    def _summarise(records: list[dict], reused: int) -> dict:
        return summarise(records, reused)


def write_rig_lips(out: Path, rig) -> None:
    """``rig_lips.npz``: the rig's lip region (indices, rest positions) and its mouth width."""
    lips = rig.region("lips")
    corners = [rig.data.named_landmarks[n] for n in ("mouth_corner_left", "mouth_corner_right")]
    width = float(np.linalg.norm(rig.v_template[corners[0]].numpy() - rig.v_template[corners[1]].numpy()))
    buffer = io.BytesIO()
    np.savez_compressed(buffer, indices=lips.numpy(), template=rig.v_template[lips].numpy(), mouth_width=np.float32(width))
    atomic_write_bytes(out / "rig_lips.npz", buffer.getvalue())


def write_listing(out: Path, records: list[dict]) -> None:
    """``manifest.jsonl`` (one meta per item) and ``splits.json`` (item ids per split)."""
    atomic_write_bytes(out / "manifest.jsonl", "".join(json.dumps(r) + "\n" for r in records).encode())
    splits = {name: [r["id"] for r in records if r["split"] == name] for name in ("train", "val", "test")}
    atomic_write_bytes(out / "splits.json", json.dumps(splits, indent=1).encode())


def summarise(records: list[dict], reused: int = 0) -> dict:
    """Minutes by source, split and real/synthetic, voices and phone coverage of a corpus' items."""

    def minutes(rows):
        return round(sum(r["seconds"] for r in rows) / 60.0, 2)

    phones = set().union(*(r["phones"] for r in records)) if records else set()
    speech_phones = [p for p in PHONES if p != "SIL"]
    return {
        "items": len(records),
        "reused_items": reused,
        "minutes": minutes(records),
        "minutes_by_source": {s: minutes([r for r in records if r["source"] == s]) for s in sorted({r["source"] for r in records})},
        "minutes_by_split": {s: minutes([r for r in records if r["split"] == s]) for s in ("train", "val", "test")},
        "real_minutes_by_split": {
            s: minutes([r for r in records if r["split"] == s and not r["synthetic"]]) for s in ("train", "val", "test")
        },
        "voices": len({r["voice"] for r in records}),
        "voices_by_split": {s: len({r["voice"] for r in records if r["split"] == s}) for s in ("train", "val", "test")},
        "phones_covered": f"{len(phones & set(speech_phones))}/{len(speech_phones)}",
        "phones_missing": sorted(set(speech_phones) - phones),
    }


def format_summary(summary: dict) -> str:
    """A few readable lines for the terminal."""
    by_source = ", ".join(f"{k} {v:.1f}" for k, v in summary["minutes_by_source"].items())
    by_split = ", ".join(f"{k} {v:.1f} ({summary['real_minutes_by_split'][k]:.1f} real)" for k, v in summary["minutes_by_split"].items())
    missing = f" (missing: {' '.join(summary['phones_missing'])})" if summary["phones_missing"] else ""
    return (
        f"{summary['items']} utterances, {summary['minutes']:.1f} min of audio ({summary['minutes'] / 60:.3f} h), "
        f"{summary['voices']} voices/speakers, phones covered {summary['phones_covered']}{missing}\n"
        f"  minutes by source: {by_source}\n  minutes by split: {by_split}"
    )
