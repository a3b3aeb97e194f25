"""Bilabial closure of an Audio2Mesh checkpoint on real speech of unseen speakers.

For each M/B/P that pocketsphinx's phone recognition finds in codec2's test-split recordings
(speakers the corpus never trains on), the inner-lip gap (vertices 13 and 14 of the posed
l2t-head) must reach <= 20% of the clip's 95th-percentile gap within the phone's span +-1 frame
at 25 fps. The teacher, animated from the same phones, is the reference.

    python bench/bilabial_closure.py [--ckpt CKPT] [--json bench/results/bilabial_closure.json]
"""

import argparse
import json
import platform
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
# ruff: noqa: E402
import numpy as np
import torch

from audio2mesh.data.align import recognize_phones
from audio2mesh.data.real_speech import CODEC2_DIR, CODEC2_RECORDINGS
from audio2mesh.speech import Speaker, load_speech
from audio2mesh.teacher.animator import TeacherAnimator
from avatar.io.audio import SPEECH_RATE, read_audio
from avatar.motion import DEFAULT_FPS
from avatar.rig import load_rig

TEST = ["big_dog", "cross", "hts2", "mmt", "morig", "ve9qrp", "vk2tpm", "g3plx", "speech_orig"]
FPS = DEFAULT_FPS
rig = load_rig()
names = rig.data.expression_names
parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--ckpt", default=None)
parser.add_argument("--json", default=None)
args = parser.parse_args()
sp = Speaker.load(args.ckpt)
teacher = TeacherAnimator(rig, FPS)


def gaps(motion):
    with torch.no_grad():
        p = {k: v for k, v in motion.params.items()}
        v = rig(batch_size=motion.num_frames, **p).vertices
    return (v[:, 13] - v[:, 14]).norm(dim=-1).numpy() * 1000  # mm


res = {"model": [], "teacher": []}
for path, spk in CODEC2_RECORDINGS.items():
    if spk not in TEST:
        continue
    f = CODEC2_DIR / path
    audio = read_audio(f, raw_pcm_rate=8000) if f.suffix == ".raw" else load_speech(f, 0.04)
    al = recognize_phones(audio)
    secs = len(audio) / SPEECH_RATE
    for kind, motion in (
        ("model", sp.motion(audio, FPS, names, rig.data.name)),
        ("teacher", teacher.animate(al.fitted_to(secs), teacher.num_frames(secs))),
    ):
        g = gaps(motion)
        thr = 0.2 * np.percentile(g, 95)
        for ph, s, e in zip(al.phones, al.starts, al.ends):
            if ph in ("M", "B", "P"):
                lo, hi = max(0, int(np.floor(s * FPS)) - 1), min(len(g), int(np.ceil(e * FPS)) + 2)
                res[kind].append(
                    (spk, bool(g[lo:hi].min() <= thr) if lo < hi else False, float(np.percentile(g, 5)), float(np.percentile(g, 95)))
                )
out = {}
for kind, rows in res.items():
    out[kind] = {
        "bilabials": len(rows),
        "closure_rate": float(np.mean([r[1] for r in rows])),
        "gap_p5_mm": float(np.mean([r[2] for r in rows])),
        "gap_p95_mm": float(np.mean([r[3] for r in rows])),
    }
out["device"] = f"cpu ({platform.processor() or platform.machine()})"
out["speakers"] = TEST
print(json.dumps(out, indent=1))
if args.json:
    Path(args.json).write_text(json.dumps(out, indent=1) + "\n")
