"""Bilabial closure of Audio2Mesh checkpoints on real speech of speakers no checkpoint trained on.

The speech: codec2's example recordings of the corpus' test speakers (the corpus never trains on
any codec2 speaker, and holds these out of validation too). Phones come from pocketsphinx's
phone recognition; the teacher, animated from the same phones, is the reference. Metrics
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

from audio2mesh.data.align import recognize_phones  # noqa: E402
from audio2mesh.data.corpus import CODEC2_VAL_SPEAKERS  # noqa: E402
from audio2mesh.data.real_speech import CODEC2_DIR, CODEC2_RECORDINGS  # noqa: E402
from audio2mesh.metrics import bilabial_closure, correlation, pooled_closure  # noqa: E402
from audio2mesh.speech import Speaker  # noqa: E402
from audio2mesh.teacher.animator import TeacherAnimator  # noqa: E402
from avatar.checks import DEFAULT_FPS  # noqa: E402
from avatar.io.audio import SPEECH_RATE, read_audio  # noqa: E402
from avatar.rig import load_rig  # noqa: E402
from sync_expert.targets import motion_lip_gap  # noqa: E402


def test_recordings() -> list[tuple[str, Path]]:
    """(speaker, path) of codec2 recordings whose speaker is in the corpus' test split."""
    out = []
    for rel, speaker in CODEC2_RECORDINGS.items():
        path = CODEC2_DIR / rel
        if f"codec2-{speaker}" not in CODEC2_VAL_SPEAKERS and path.is_file():
            out.append((speaker, path))
    return out


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
    rows: dict[str, list[dict]] = {"teacher": [], **{name: [] for name in speakers}}
    recordings = test_recordings()
    if not recordings:
        sys.exit("no codec2 recordings of test speakers: apt install codec2-examples")
    for speaker_id, path in recordings:
        audio = read_audio(path, raw_pcm_rate=8000) if path.suffix == ".raw" else read_audio(path)
        alignment = recognize_phones(audio)
        seconds = len(audio) / SPEECH_RATE
        segments = list(zip(alignment.phones, alignment.starts, alignment.ends))
        reference = motion_lip_gap(teacher.animate(alignment.fitted_to(seconds), teacher.num_frames(seconds)), rig)
        rows["teacher"].append({**bilabial_closure(reference, segments, DEFAULT_FPS), "speaker": speaker_id})
        for name, model in speakers.items():
            with torch.no_grad():
                gap = motion_lip_gap(model.motion(audio, DEFAULT_FPS, names, label), rig)
            n = min(len(gap), len(reference))
            row = bilabial_closure(gap, segments, DEFAULT_FPS)
            rows[name].append({**row, "speaker": speaker_id, "aperture_r_teacher": correlation(gap[:n], reference[:n])})
    out = {
        "device": f"cpu ({platform.processor() or platform.machine()})",
        "speakers": sorted({s for s, _ in recordings}),
        "recordings": len(recordings),
        "checkpoints": {name: str(path) if path else "shipped" for name, path in checkpoints.items()},
        "gates": {name: s.meta.get("closure_gate") for name, s in speakers.items() if s.closer is not None},
        "results": {name: summarise(r) for name, r in rows.items()},
    }
    print(json.dumps(out, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
