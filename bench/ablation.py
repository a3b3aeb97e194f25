"""The Learn2Talk ablation: what each training signal adds to Audio2Mesh, on one corpus and budget.

Stages (each a separate call so every one fits a time limit; outputs persist in --work):

  experts   SyncNet3D x2 (training expert: half a, seed 0; evaluation expert: half b, seed 1),
            the lip reader, and the large Audio2Mesh (distillation teacher)
  students  five students, each adding one signal to the one before:
              1 vertex      vertex + velocity + parameter losses, synthetic speech only
              2 +sync       + SyncNet3D loss (training expert)
              3 +lipread    + lip-reader CTC loss
              4 +real       + teacher pseudo-labels on real speech (the corpus' real voices)
              5 +distill    + distillation from the large model
            and two levers for real voices, each on top of +real (one at a time):
              6 +closure    + bilabial closure loss and lip-gap range loss
              7 +mel-warp   + the mel axis warped per clip (a speaker perturbation)
  evaluate  held-out test split, real and synthetic speech separately: LVE (max-squared, mm^2 and
            max L2, mm), FDD, lip-aperture r, LSE-D/LSE-C from the evaluation expert, lip-reader PER;
            both experts judged as bench/sync_judge.py does; student vs large speed. Writes JSON + a markdown table.

    python bench/ablation.py --data CORPUS --work runs/ablation --stage all
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SYNC = ["--w-sync", "0.5", "--sync-expert", "{sync}"]
LIPREAD = ["--w-lipread", "0.05", "--lip-reader", "{reader}"]
CLOSURE = ["--w-closure", "0.5", "--w-amplitude", "0.5"]
STUDENTS = [
    ("vertex", ["--synthetic-only"]),
    ("+sync", ["--synthetic-only", *SYNC]),
    ("+lipread", ["--synthetic-only", *SYNC, *LIPREAD]),
    ("+real", [*SYNC, *LIPREAD]),
    ("+distill", [*SYNC, *LIPREAD, "--w-distill", "1.0", "--distill-from", "{large}"]),
    ("+closure", [*SYNC, *LIPREAD, *CLOSURE]),
    ("+mel-warp", [*SYNC, *LIPREAD, *CLOSURE, "--mel-warp", "0.1"]),
]


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "l2t_avatar.cli", *args]


def run_jobs(jobs: dict[str, list[str]], work: Path, at_once: int) -> None:
    """Run the jobs, at most ``at_once`` at a time; fail if any fails. On an H200 lease (16 cores)
    trainings are CPU-bound: three at once took 60 s per epoch each against 3.5 s for one alone,
    so the default is one at a time; a machine with cores to spare may overlap them."""
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    pending, running, failed = list(jobs.items()), {}, []
    while pending or running:
        while pending and len(running) < max(1, at_once):
            name, cmd = pending.pop(0)
            log = open(work / f"{name.replace('+', 'plus_')}.log", "w")
            running[name] = (subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT), log, time.perf_counter())
        for name, (proc, log, start) in list(running.items()):
            code = proc.poll()
            if code is None:
                continue
            log.close()
            del running[name]
            print(f"  {name}: exit {code} after {time.perf_counter() - start:.0f} s", flush=True)
            if code != 0:
                failed.append(name)
                print((work / f"{name.replace('+', 'plus_')}.log").read_text()[-3000:])
        time.sleep(0.5)
    if failed:
        raise SystemExit(f"failed: {', '.join(failed)}")


def student_names(args) -> list[str]:
    names = [n for n, _ in STUDENTS]
    chosen = names if args.students == "all" else args.students.split(",")
    unknown = [n for n in chosen if n not in names]
    if unknown:
        raise SystemExit(f"unknown students {unknown}; choose from {names}")
    return chosen


def expert_paths(args, work: Path) -> dict[str, str]:
    """The experts the students train with and are judged by: this run's, or the shipped ones."""
    from audio2mesh.checkpoint import DEFAULTS
    from sync_expert.checkpoint import EVAL_EXPERT

    if args.experts == "shipped":
        return {"sync": str(DEFAULTS["syncnet3d"]), "reader": str(DEFAULTS["lipreader"]), "eval": str(EVAL_EXPERT)}
    return {
        "sync": str(work / "sync_a" / "best.pt"),
        "reader": str(work / "lipreader" / "best.pt"),
        "eval": str(work / "sync_b" / "best.pt"),
    }


def stage_experts(args, work: Path) -> None:
    common = ["--data", args.data, "--quiet"]
    e = ["--epochs", str(args.expert_epochs), "--steps", str(args.expert_steps), "--batch-size", str(args.expert_batch)]
    shifts = ["--min-shift", str(args.expert_min_shift)]
    jobs = {
        "sync_a": cli("train", "syncnet3d", *common, "--out", str(work / "sync_a"), "--half", "a", "--seed", "0", *e, *shifts),
        "sync_b": cli("train", "syncnet3d", *common, "--out", str(work / "sync_b"), "--half", "b", "--seed", "1", *e, *shifts),
        "lipreader": cli("train", "lipreader", *common, "--out", str(work / "lipreader"), *e),
    }
    if "+distill" in student_names(args):  # the large model is only the distillation teacher
        jobs["large"] = cli(
            "train", "audio2mesh", *common, "--out", str(work / "large"), "--size", "large", "--epochs", str(args.epochs), "--lr", "5e-4"
        )
    run_jobs(jobs, work, args.at_once)


def stage_students(args, work: Path) -> None:
    jobs = {}
    paths = {**expert_paths(args, work), "large": str(work / "large" / "best.pt")}
    for name, extra in STUDENTS:
        if name not in student_names(args):
            continue
        out = work / f"student_{name.replace('+', 'plus_')}"
        jobs[name] = cli(
            "train",
            "audio2mesh",
            "--data",
            args.data,
            "--out",
            str(out),
            "--quiet",
            "--epochs",
            str(args.epochs),
            *[x.format(**paths) for x in extra],
        )
    run_jobs(jobs, work, args.at_once)


def speed(model, device, seconds: float = 60.0) -> float:
    """Seconds of audio per second of compute (features + model), on 60 s of audio."""
    import numpy as np
    import torch

    from audio2mesh.inference import predict
    from avatar.motion import DEFAULT_FPS, frames_for
    from sync_expert.features import speech_features

    audio = (np.random.default_rng(0).standard_normal(int(16000 * seconds)) * 0.1).astype(np.float32)
    n = frames_for(seconds, DEFAULT_FPS)
    for _ in range(2):
        predict(model, speech_features(audio, device), DEFAULT_FPS, n)
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    reps = 5
    for _ in range(reps):
        predict(model, speech_features(audio, device), DEFAULT_FPS, n)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return seconds * reps / (time.perf_counter() - start)


def stage_evaluate(args, work: Path) -> dict:
    import torch
    from sync_judge import judge, test_groups

    from audio2mesh.checkpoint import load_model
    from audio2mesh.evaluate import Experts, evaluate_clips
    from audio2mesh.metrics import summarise
    from audio2mesh.model import count_parameters
    from sync_expert.data.clips import corpus_rig, load_clips
    from sync_expert.features import dequantise
    from sync_expert.lips import LipData
    from sync_expert.model import normalised_rest
    from sync_expert.targets import ParamSpace

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    clips = load_clips(args.data, "test")
    rig = corpus_rig(clips)
    space = ParamSpace(rig, clips.region_indices).to(device)
    paths = expert_paths(args, work)
    sync_eval, _ = load_model(paths["eval"], "syncnet3d", device)
    reader, _ = load_model(paths["reader"], "lipreader", device)
    template = torch.as_tensor(clips.template, dtype=torch.float32, device=device)
    experts = Experts(sync_eval, reader, normalised_rest(template, clips.mouth_width), clips.mouth_width)

    results = {
        "device": torch.cuda.get_device_name() if device.type == "cuda" else platform.processor() or "cpu",
        "corpus": args.data,
        "test_clips": {"real": sum(not c.synthetic for c in clips.clips), "synthetic": sum(c.synthetic for c in clips.clips)},
        "epochs": args.epochs,
        "rows": {},
    }
    # how well both experts judge: known shifts of the test split's teacher motion (bench/sync_judge.py)
    sync_train, _ = load_model(paths["sync"], "syncnet3d", device)
    groups, _ = test_groups(clips, device, rig)
    experts_by_role = {"evaluation": sync_eval, "training": sync_train}
    results["experts_judged"] = {role: {group: judge(e, data) for group, data in groups.items()} for role, e in experts_by_role.items()}
    # the teacher motion itself, as the reference row
    results["teacher_motion"] = {}
    for group in ("real", "synthetic"):
        data = LipData(replace(clips, clips=[c for c in clips.clips if c.synthetic == (group == "synthetic")]), device, rig)
        rows = [
            {**experts.scores(dequantise(c.codes).to(device), off * clips.mouth_width, c.phones, c.fps), "synthetic": c.synthetic}
            for c, off in zip(data.clips, data.offsets)
        ]
        results["teacher_motion"][group] = summarise(rows)
    names = student_names(args) + (["large"] if (work / "large" / "best.pt").is_file() else [])
    for name in names:
        folder = work / ("large" if name == "large" else f"student_{name.replace('+', 'plus_')}")
        model, meta = load_model(folder / "best.pt", "audio2mesh", device)
        row = evaluate_clips(model, clips, space, device, experts)
        row["parameters"] = count_parameters(model)
        row["speed_x_realtime"] = speed(model, device)
        row["val"] = meta.get("val")
        results["rows"][name] = row
        print(f"  {name}: real LVE {row['real']['lve_sq_mm2']:.3f} mm^2, synthetic {row['synthetic']['lve_sq_mm2']:.3f}", flush=True)
    return results


def table(results: dict) -> str:
    cols = [
        ("lve_sq_mm2", "LVE mm²"),
        ("lve_mm", "LVE-max mm"),
        ("fdd_mm2", "FDD mm²"),
        ("aperture_r", "aperture r"),
        ("closure_rate", "closure"),
        ("lse_d", "LSE-D ↓"),
        ("lse_c", "LSE-C ↑"),
        ("per", "PER ↓"),
    ]
    head = "| training | " + " | ".join(f"real {c[1]}" for c in cols) + " | " + " | ".join(f"synth {c[1]}" for c in cols) + " |"
    lines = [head, "|" + "---|" * (1 + 2 * len(cols))]

    def cell(v):
        return "n/a" if v is None else f"{v:.3f}"

    def teacher_cell(t: dict, group: str, key: str) -> str:
        if key in ("lse_d", "lse_c", "per"):
            return cell(t[group].get(key))
        if key == "closure_rate":  # every student row carries the reference motion's closure beside its own
            row = next(iter(results["rows"].values()), {})
            return cell(row.get(group, {}).get("ref_closure_rate"))
        return "1" if key == "aperture_r" else "0"

    for name, row in results["rows"].items():
        lines.append(
            f"| {name} | "
            + " | ".join(cell(row["real"].get(k)) for k, _ in cols)
            + " | "
            + " | ".join(cell(row["synthetic"].get(k)) for k, _ in cols)
            + " |"
        )
    t = results["teacher_motion"]
    lines.append(
        "| teacher motion (reference) | "
        + " | ".join(teacher_cell(t, "real", k) for k, _ in cols)
        + " | "
        + " | ".join(teacher_cell(t, "synthetic", k) for k, _ in cols)
        + " |"
    )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, help="corpus folder")
    ap.add_argument("--work", required=True, help="folder for every run's checkpoints and logs")
    ap.add_argument("--stage", default="all", choices=["experts", "students", "evaluate", "all"])
    ap.add_argument("--epochs", type=int, default=60, help="Audio2Mesh epochs (every student and the large model)")
    ap.add_argument("--expert-epochs", type=int, default=20, help="expert epochs (default: 20)")
    ap.add_argument("--expert-steps", type=int, default=200, help="steps per expert epoch (default: 200)")
    ap.add_argument("--expert-batch", type=int, default=256, help="expert batch size (default: 256)")
    ap.add_argument("--expert-min-shift", type=int, default=1, help="SyncNet3D hard negatives from this shift on (default: 1)")
    ap.add_argument("--at-once", type=int, default=1, help="trainings run at the same time (default: 1; see run_jobs)")
    ap.add_argument("--students", default="all", help="comma-separated students to train/evaluate (default: all)")
    ap.add_argument(
        "--experts",
        default="run",
        choices=["run", "shipped"],
        help="students train with and are judged by this run's experts or the shipped ones",
    )
    ap.add_argument("--json", default=str(ROOT / "bench" / "results" / "ablation.json"))
    args = ap.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    if args.stage in ("experts", "all"):
        print("stage experts", flush=True)
        stage_experts(args, work)
    if args.stage in ("students", "all"):
        print("stage students", flush=True)
        stage_students(args, work)
    if args.stage in ("evaluate", "all"):
        print("stage evaluate", flush=True)
        results = stage_evaluate(args, work)
        results["table"] = table(results)
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(results, indent=1))
        print(results["table"])
        for group, figures in results["experts_judged"]["evaluation"].items():
            print(f"evaluation expert, test {group}: {figures}")
        print(f"wrote {args.json}")
    print(f"stage {args.stage} done in {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
