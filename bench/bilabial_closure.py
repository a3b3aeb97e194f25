"""Bilabial closure of Audio2Mesh checkpoints on real speech of speakers no checkpoint trained on.

The speech: codec2's example recordings of the corpus' test speakers (the corpus never trains on
any codec2 speaker, and holds these out of validation too). They have no transcripts, so the
phones come from pocketsphinx two ways, each a reference of its own: phone recognition (phones
held to no word), and speech recognition's words force-aligned (phones of real words; the
agreement of the two is reported); the teacher, animated from the same phones, is the reference motion. Metrics
(audio2mesh.metrics.bilabial_closure, the field's definition): closure over all M/B/P, the
open-vowel/bilabial gap ratio, the inner-lip gap's 5th/95th percentiles (mean over
recordings), the false closures (open-vowel centres as closed as a bilabial), and the correlation
of each checkpoint's gap with the teacher's. A checkpoint with a calibrated closure head is
measured twice: as ``speak`` plays it (gate on) and its regression alone ("NAME, no gate").

    python bench/bilabial_closure.py [--ckpt NAME=CKPT ...] [--json bench/results/bilabial_closure.json]

Without --ckpt the shipped checkpoint is measured (as "shipped").
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from audio2mesh.data.align import recognize_phones, word_alignment  # noqa: E402
from audio2mesh.data.corpus import CODEC2_VAL_SPEAKERS  # noqa: E402
from audio2mesh.data.real_speech import CODEC2_DIR, CODEC2_RECORDINGS  # noqa: E402
from audio2mesh.metrics import bilabial_closure, correlation, pooled_closure  # noqa: E402
from audio2mesh.speech import Speaker  # noqa: E402
from audio2mesh.teacher.animator import TeacherAnimator  # noqa: E402
from avatar.checks import DEFAULT_FPS  # noqa: E402
from avatar.io.audio import SPEECH_RATE, read_audio  # noqa: E402
from avatar.rig import load_rig  # noqa: E402
from sync_expert.phones import BILABIALS  # noqa: E402
from sync_expert.targets import motion_lip_gap  # noqa: E402


def test_recordings() -> list[tuple[str, Path]]:
    """(speaker, path) of codec2 recordings whose speaker is in the corpus' test split."""
    out = []
    for rel, speaker in CODEC2_RECORDINGS.items():
        path = CODEC2_DIR / rel
        if f"codec2-{speaker}" not in CODEC2_VAL_SPEAKERS and path.is_file():
            out.append((speaker, path))
    return out


REFERENCES = {  # where the phones come from: the speech has no transcript
    "phone recognition": recognize_phones,
    "recognised words, force-aligned": word_alignment,
}


def bilabial_agreement(phones, words, slack: float = 0.04) -> dict:
    """How many bilabials of each alignment have one of the other's within ``slack`` seconds."""

    def bilabials(alignment):
        return [(s, e) for p, s, e in zip(alignment.phones, alignment.starts, alignment.ends) if p in BILABIALS]

    def found(these, those):
        return sum(any(s2 - slack <= e and s - slack <= e2 for s2, e2 in those) for s, e in these)

    a, b = bilabials(phones), bilabials(words)
    return {"phone_bilabials": len(a), "word_bilabials": len(b), "phone_in_words": found(a, b), "word_in_phones": found(b, a)}


def reference_quality(prompts: int = 45) -> dict:
    """Each reference's bilabials against the true transcript's forced alignment, on Allison prompts
    (real speech whose words are known): precision and recall within 40 ms."""
    from audio2mesh.data.align import force_align
    from audio2mesh.data.real_speech import allison_prompts

    counts = {ref: {"found": 0, "true": 0, "found_true": 0, "true_found": 0} for ref in REFERENCES}
    clips = allison_prompts()
    for clip in clips[:: max(1, len(clips) // prompts)][:prompts]:
        audio = read_audio(clip.path)
        truth = force_align(audio, clip.transcript)
        for ref, find in REFERENCES.items():
            found = find(audio) if truth is not None else None
            if found is None:
                continue
            a = bilabial_agreement(found, truth)
            c = counts[ref]
            c["found"] += a["phone_bilabials"]
            c["true"] += a["word_bilabials"]
            c["found_true"] += a["phone_in_words"]
            c["true_found"] += a["word_in_phones"]
    return {
        ref: {**c, "precision": c["found_true"] / max(1, c["found"]), "recall": c["true_found"] / max(1, c["true"])}
        for ref, c in counts.items()
    }


def summarise(rows: list[dict]) -> dict:
    mean = lambda key: float(np.mean([r[key] for r in rows if r.get(key) is not None]))  # noqa: E731
    return {
        "bilabials": sum(r["bilabials"] for r in rows),
        "closure_rate": pooled_closure(rows),
        "false_closure_rate": pooled_closure(rows, "open_closed", "open_vowels"),
        "open_bilabial_ratio": mean("open_bilabial_ratio"),
        "gap_p5_mm": mean("gap_p5_mm"),
        "gap_p95_mm": mean("gap_p95_mm"),
        **({"aperture_r_teacher": mean("aperture_r_teacher")} if any("aperture_r_teacher" in r for r in rows) else {}),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ckpt", action="append", default=[], help="NAME=CHECKPOINT (repeatable; default: shipped=the shipped one)")
    parser.add_argument("--json", default=None, help="also write the results here")
    args = parser.parse_args()
    checkpoints = dict(item.split("=", 1) for item in args.ckpt) or {"shipped": None}

    rig = load_rig()
    names, label = rig.data.expression_names, rig.data.name
    speakers = {}
    for name, path in checkpoints.items():
        speakers[name] = Speaker.load(path)
        if speakers[name].closer is not None:
            speakers[f"{name}, no gate"] = Speaker.load(path, close_lips=False)
    teacher = TeacherAnimator(rig, DEFAULT_FPS)
    rows = {ref: {"teacher": [], **{name: [] for name in speakers}} for ref in REFERENCES}
    agreement = {"phone_bilabials": 0, "word_bilabials": 0, "phone_in_words": 0, "word_in_phones": 0}
    recordings = test_recordings()
    if not recordings:
        sys.exit("no codec2 recordings of test speakers: apt install codec2-examples")
    for speaker_id, path in recordings:
        audio = read_audio(path, raw_pcm_rate=8000) if path.suffix == ".raw" else read_audio(path)
        seconds = len(audio) / SPEECH_RATE
        with torch.no_grad():
            gaps = {name: motion_lip_gap(model.motion(audio, DEFAULT_FPS, names, label), rig) for name, model in speakers.items()}
        alignments = {ref: find(audio) for ref, find in REFERENCES.items()}
        if all(alignments.values()):
            for key, value in bilabial_agreement(*alignments.values()).items():
                agreement[key] += value
        for ref, alignment in alignments.items():
            if alignment is None:
                continue
            segments = list(zip(alignment.phones, alignment.starts, alignment.ends))
            reference = motion_lip_gap(teacher.animate(alignment.fitted_to(seconds), teacher.num_frames(seconds)), rig)
            rows[ref]["teacher"].append({**bilabial_closure(reference, segments, DEFAULT_FPS), "speaker": speaker_id})
            for name, gap in gaps.items():
                n = min(len(gap), len(reference))
                row = bilabial_closure(gap, segments, DEFAULT_FPS)
                rows[ref][name].append({**row, "speaker": speaker_id, "aperture_r_teacher": correlation(gap[:n], reference[:n])})
    out = {
        "device": f"cpu ({platform.processor() or platform.machine()})",
        "speakers": sorted({s for s, _ in recordings}),
        "recordings": len(recordings),
        "checkpoints": {name: str(path) if path else "shipped" for name, path in checkpoints.items()},
        "gates": {name: s.meta.get("closure_gate") for name, s in speakers.items() if s.closer is not None},
        "reference_agreement": {
            **agreement,
            "note": "bilabials of phone recognition within 40 ms of a bilabial of the recognised words' alignment, and back",
        },
        "reference_quality_on_allison": reference_quality(),
        "results": {ref: {name: summarise(r) for name, r in by_name.items() if r} for ref, by_name in rows.items()},
    }
    print(json.dumps(out, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
