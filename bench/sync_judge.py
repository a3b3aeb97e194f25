"""How well SyncNet3D experts judge lip sync on held-out speech: known shifts of teacher motion.

On the corpus' test split (real speech of speakers never trained on, and synthetic voices), each
clip's teacher motion is made to lag its audio by known shifts and each expert must find them:

- offset found within ±1 frame (and exactly) over shifts ±2..±10 (issue 15's target: ≥ 95%) and
  over -10..+10;
- LSE-C aligned minus LSE-C shifted by 5 frames (LSE-C searches offsets ±15, so a judge that finds
  the shift stays about as confident: this figure is near 0 for any expert);
- the distance margin: the embedding distance at offset 0 of the motion shifted by 5 frames minus
  that of the aligned motion (how much worse the expert scores lips 0.2 s late).

The real test speech has no transcripts: its teacher motion comes from phone recognition, which
fails on some recordings (a few phones in several seconds, lips moving at random). Those clips
are also reported apart: a third group keeps the real clips whose reference lip movement follows
the audio's loudness (correlation >= 0.3), a check that does not ask any expert.

    python bench/sync_judge.py --data CORPUS [--expert NAME=CKPT ...] [--json bench/results/sync_expert.json]

Without --expert the shipped training and evaluation experts are measured.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from sync_expert.checkpoint import EVAL_EXPERT, EXPERT_DEFAULTS, load_expert  # noqa: E402
from sync_expert.data.clips import corpus_rig, load_clips  # noqa: E402
from sync_expert.features import MEL_RATE, dequantise  # noqa: E402
from sync_expert.lips import LipData  # noqa: E402
from sync_expert.train import FAR_SHIFTS, ShiftTest  # noqa: E402

FOLLOWS = 0.3  # a reference motion "follows the speech" when its lip movement correlates with loudness at least this much


def loudness_follow(clip, offsets: torch.Tensor) -> float:
    """Correlation over video frames of the audio's loudness (mean log-mel) with the lip movement
    (mean |offset|): near 0 where phone recognition failed and the teacher moved at random."""
    feats = dequantise(clip.codes)
    frames = torch.arange(offsets.shape[0])
    centres = torch.round(frames / clip.fps * MEL_RATE).long().clamp(max=feats.shape[0] - 1)
    loud, moving = feats.mean(1)[centres], offsets.abs().mean((1, 2))
    return float(torch.corrcoef(torch.stack([loud, moving]))[0, 1])


def judge(expert, data: LipData) -> dict:
    """The figures of one expert on one set of clips (every shift -10..+10 scored once)."""
    test = ShiftTest.run(expert, data)
    return {
        "shifts_2_to_10": test.accuracy(FAR_SHIFTS),
        "shifts_-10_to_10": test.accuracy(),
        "lse_c_drop_5": test.lse_c_drop(),
        "distance_margin_5": test.distance_margin(),
    }


def test_groups(clips, device, rig) -> tuple[dict[str, LipData], dict[str, float]]:
    """A test split's clips as the groups judged apart (real, synthetic, real whose reference follows
    the speech), and each real clip's loudness/lip-movement correlation."""
    groups = {
        name: LipData(replace(clips, clips=[c for c in clips.clips if c.synthetic == (name == "synthetic")]), device, rig)
        for name in ("real", "synthetic")
    }
    real = groups["real"]
    follow = {c.clip_id: loudness_follow(c, off.cpu()) for c, off in zip(real.clips, real.offsets)}
    kept = [c for c in real.clips if follow[c.clip_id] >= FOLLOWS]
    groups[f"real, reference follows the speech (r >= {FOLLOWS})"] = LipData(replace(clips, clips=kept), device, rig)
    return groups, follow


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, help="a corpus folder (data build)")
    ap.add_argument("--expert", action="append", default=[], metavar="NAME=CKPT", help="an expert to measure (repeatable)")
    ap.add_argument("--json", default="bench/results/sync_expert.json", help="where to save the results")
    args = ap.parse_args()
    shipped = {"shipped training": str(EXPERT_DEFAULTS["syncnet3d"]), "shipped evaluation": str(EVAL_EXPERT)}
    experts = dict(e.split("=", 1) for e in args.expert) or shipped
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    clips = load_clips(args.data, "test")
    groups, follow = test_groups(clips, device, corpus_rig(clips))
    results = {
        "device": torch.cuda.get_device_name() if device.type == "cuda" else f"cpu ({platform.machine()}, {os.cpu_count()} cores)",
        "corpus": args.data,
        "test_clips": {name: len(data.clips) for name, data in groups.items()},
        "real_reference_follows_speech": {clip: round(r, 3) for clip, r in follow.items()},
        "experts": {},
    }
    for name, path in experts.items():
        model, _ = load_expert(path, "syncnet3d", device)
        start = time.perf_counter()
        results["experts"][name] = {"checkpoint": path, **{group: judge(model, data) for group, data in groups.items()}}
        results["experts"][name]["seconds"] = round(time.perf_counter() - start, 1)
        print(name, json.dumps(results["experts"][name], indent=1))
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(results, indent=1) + "\n")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
