"""Speech commands of ``l2t-avatar``: ``data build`` and ``teacher`` (more arrive with Audio2Mesh)."""

from __future__ import annotations

import argparse
import math
import sys

from avatar.checks import DEFAULT_FPS, check_fps, check_output_file
from avatar.errors import L2TError


def _cmd_data_build(args: argparse.Namespace) -> None:
    from audio2mesh.data.corpus import CorpusBuilder, format_summary

    check_fps(args.fps)
    _check_positive(hours=args.hours)
    builder = CorpusBuilder(args.out, seed=args.seed, fps=args.fps, rig_path=args.rig, log=lambda m: print(m, file=sys.stderr))
    summary = builder.build(args.hours, progress=not args.quiet)
    print(format_summary(summary))
    print(f"wrote {args.out} (corpus.json, manifest.jsonl, splits.json, items/)")


def _cmd_data_from_videos(args: argparse.Namespace) -> None:
    from audio2mesh.data.corpus import format_summary
    from audio2mesh.data.from_videos import VideoCorpus, video_files

    check_fps(args.fps)
    videos = video_files(args.videos)
    corpus = VideoCorpus(args.out, rig_path=args.rig, fps=args.fps, log=lambda m: print(m, file=sys.stderr))
    summary = corpus.build(videos, split=args.split, checkpoint=args.ckpt, progress=not args.quiet)
    print(format_summary(summary))
    print(f"wrote {args.out} (corpus.json, manifest.jsonl, splits.json, items/)")
    print(f"train on it: l2t-avatar train audio2mesh --data {args.out} --init-from default")


MAX_TRANSCRIPT_BYTES = 1 << 20


def read_transcript(path: str) -> str:
    """A UTF-8 text file's contents; L2TError for a missing, binary or over-long (> 1 MB) file."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_TRANSCRIPT_BYTES + 1)
    except OSError as exc:
        raise L2TError(f"cannot read transcript file {path}: {exc.strerror}") from None
    if len(raw) > MAX_TRANSCRIPT_BYTES:
        raise L2TError(f"transcript file {path} is over {MAX_TRANSCRIPT_BYTES >> 20} MB; give the words of one clip")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise L2TError(f"transcript file {path} is not UTF-8 text") from None
    if "\x00" in text:
        raise L2TError(f"transcript file {path} is not text (it holds NUL bytes)")
    return text


def spoken_phones(args: argparse.Namespace, audio):
    """Phones of ``audio``: --transcript / --transcript-file force-aligned, else speech recognition
    (see ``speech_alignment``; what happened is said on stderr); a missing aligner is a one-line error."""
    from audio2mesh.data.tts import ToolMissing
    from audio2mesh.speech import speech_alignment

    transcript = read_transcript(args.transcript_file) if args.transcript_file else args.transcript
    try:
        return speech_alignment(audio, transcript, lambda m: print(m, file=sys.stderr))
    except ToolMissing as exc:
        raise L2TError(str(exc)) from None


def _cmd_teacher(args: argparse.Namespace) -> None:
    from audio2mesh.speech import load_speech
    from audio2mesh.teacher.animator import TeacherAnimator
    from avatar.io.audio import SPEECH_RATE
    from avatar.rig import load_rig

    check_fps(args.fps)
    check_output_file(args.output, "-o", (".npz",))
    audio = load_speech(args.audio, 1.0 / args.fps)  # check the input before loading the rig
    animator = TeacherAnimator(load_rig(args.rig), args.fps)
    alignment = spoken_phones(args, audio)
    seconds = len(audio) / SPEECH_RATE
    motion = animator.animate(alignment.fitted_to(seconds), animator.num_frames(seconds))
    motion.save(args.output)
    spoken = [p for p in alignment.phones if p != "SIL"]
    print(
        f"wrote {args.output}: {motion.num_frames} frames at {args.fps:g} fps from {len(spoken)} phones "
        f"({motion.seconds:.2f} s); render it with: l2t-avatar render --motion {args.output} --audio {args.audio}"
    )


def add_commands(sub, rig_help: str) -> None:
    """Register the speech commands on the main parser's subparsers."""
    p = sub.add_parser("data", help="build a speech-to-motion training corpus", description="Training data for Audio2Mesh and SyncNet3D.")
    data_sub = p.add_subparsers(dest="data_command", metavar="DATA_COMMAND", required=True)
    b = data_sub.add_parser(
        "build",
        help="synthesise and align speech, animate it with the teacher, write a corpus folder",
        description="Build a corpus of (16 kHz speech, phone timings, per-frame rig parameters and lip vertices) from "
        "espeak-ng, festival and flite voices speaking generated sentences and from real speech in Debian "
        "packages (Allison prompts, codec2 examples) force-aligned with pocketsphinx; audio augmented "
        "(noise, reverberation, band limits, gain, speed). Deterministic for a seed, resumable, splits held "
        "out by voice/speaker. Missing programs are named and skipped.",
    )
    b.add_argument("--out", required=True, help="corpus folder to create or extend")
    b.add_argument("--hours", type=float, default=0.5, help="hours of audio to build (default: 0.5)")
    b.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    b.add_argument("--fps", type=float, default=DEFAULT_FPS, help=f"motion frame rate (default: {DEFAULT_FPS:g})")
    b.add_argument("--rig", default=None, help=rig_help + " (needs the ARKit-named mouth expressions of l2t-head)")
    b.add_argument("--quiet", action="store_true", help="no progress bar")
    b.set_defaults(func=_cmd_data_build, command="data build")
    v = data_sub.add_parser(
        "from-videos",
        help="pseudo-3D pairs from talking videos: tracked jaw and expressions with the video's own sound",
        description="Track the rig to every frame of talking videos (the fit's landmarks and tracking, no Gaussians), "
        "find each video's audio-video offset (Audio2Mesh's jaw against the tracked jaw, +-15 frames), and write "
        "(speech, phones, per-frame rig parameters, lip vertices) items of the stretches with a face into a corpus "
        "folder that train audio2mesh reads (Learn2Talk's 3D learning from 2D talking faces). Running it again "
        "extends the folder; a video already in it is replaced.",
    )
    v.add_argument("videos", nargs="+", metavar="VIDEO_OR_DIR", help="talking videos with sound, or folders of them")
    v.add_argument("--out", required=True, help="corpus folder to create or extend (not one of data build)")
    v.add_argument("--split", default="train", choices=["train", "val", "test"], help="split of these videos (default: train)")
    v.add_argument("--fps", type=float, default=DEFAULT_FPS, help=f"motion frame rate of the items (default: {DEFAULT_FPS:g})")
    v.add_argument("--ckpt", default=None, help="Audio2Mesh used to find the audio-video offset (default: the shipped one)")
    v.add_argument("--rig", default=None, help=rig_help)
    v.add_argument("--quiet", action="store_true", help="no progress bars")
    v.set_defaults(func=_cmd_data_from_videos, command="data from-videos")

    p = sub.add_parser(
        "teacher",
        help="animate speech with the phoneme-driven teacher (our non-neural lip-sync baseline)",
        description="Force-align speech to its transcript (pocketsphinx), map phones to jaw and mouth "
        "shapes with coarticulation, and write a motion file that 'render' turns into a video.",
    )
    p.add_argument("--audio", required=True, help="speech: wav, flac, mp3, ogg or a video's audio track")
    p.add_argument("--transcript", default=None, help="what is said (without it, phones are recognised, less accurately)")
    p.add_argument("--transcript-file", default=None, help="read the transcript from a text file")
    p.add_argument("-o", "--output", default="motion.npz", help="motion npz to write (default: motion.npz)")
    p.add_argument("--fps", type=float, default=DEFAULT_FPS, help=f"frame rate (default: {DEFAULT_FPS:g})")
    p.add_argument("--rig", default=None, help=rig_help)
    p.set_defaults(func=_cmd_teacher)


# ---------------------------------------------------------------- training and evaluation
def _device(args):
    from avatar.device import resolve_device

    return resolve_device(args.device)


def _cmd_train_audio2mesh(args: argparse.Namespace) -> None:
    from audio2mesh.train import Audio2MeshTrainer, TrainConfig

    cfg = TrainConfig(
        size=args.size,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        fps=args.fps,
        seed=args.seed,
        w_sync=args.w_sync,
        sync_expert=args.sync_expert,
        w_lipread=args.w_lipread,
        lip_reader=args.lip_reader,
        w_distill=args.w_distill,
        distill_from=args.distill_from,
        w_closure=args.w_closure,
        w_amplitude=args.w_amplitude,
        w_bilabial=args.w_bilabial,
        only_closure_head=args.only_closure_head,
        mel_warp=args.mel_warp,
        init_from=args.init_from,
        synthetic_only=args.synthetic_only,
        eval_every=args.eval_every,
        amp=not args.no_amp,
        audio_encoder=args.audio_encoder,
    )
    _check_positive(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr)
    if not all(0 <= w < 1e6 for w in (args.w_closure, args.w_amplitude, args.w_bilabial)) or not 0 <= args.mel_warp < 0.5:
        raise L2TError("--w-closure, --w-amplitude and --w-bilabial must be >= 0, --mel-warp in [0, 0.5)")
    if args.fps is not None:
        check_fps(args.fps)
    trainer = Audio2MeshTrainer(args.data, args.out, cfg, _device(args), resume=args.resume, progress=not args.quiet, rig_path=args.rig)
    last = trainer.run()
    if trainer.dist.is_main:
        chosen = f"best val LVE {trainer.best:.3f} mm^2" if math.isfinite(trainer.best) else "the last epoch: no validation split"
        print(f"wrote {args.out}/best.pt ({chosen}), last.pt, log.jsonl; {last.get('epoch', 0)} epochs, {last.get('seconds', 0):.0f} s")


def _check_positive(**values) -> None:
    for name, value in values.items():
        if not (value > 0 and math.isfinite(value)):
            raise L2TError(f"--{name.replace('_', '-')} must be a positive finite number, got {value}")


def _cmd_train_expert(args: argparse.Namespace) -> None:
    from sync_expert.train import ExpertConfig, LipReaderTrainer, SyncTrainer

    _check_positive(epochs=args.epochs, steps=args.steps, batch_size=args.batch_size, lr=args.lr)
    if args.fps is not None:
        check_fps(args.fps)
    cfg = ExpertConfig(
        epochs=args.epochs, steps_per_epoch=args.steps, batch_size=args.batch_size, lr=args.lr, seed=args.seed, half=args.half, fps=args.fps
    )
    if args.expert == "syncnet3d":
        if not 2 <= args.run_frames <= 64 or not 1 <= args.min_shift < args.run_frames:
            raise L2TError("SyncNet3D's runs need 2 <= --run-frames <= 64 and 1 <= --min-shift < --run-frames")
        cfg.run_frames, cfg.min_shift = args.run_frames, args.min_shift
    cls = SyncTrainer if args.expert == "syncnet3d" else LipReaderTrainer
    trainer = cls(args.data, args.out, cfg, _device(args), resume=args.resume, progress=not args.quiet, rig_path=args.rig)
    last = trainer.run()
    if trainer.dist.is_main:
        print(f"wrote {args.out}/best.pt, last.pt, log.jsonl; last validation: {last.get('val')}")


def _cmd_eval_audio2mesh(args: argparse.Namespace) -> None:
    import json

    import torch

    from audio2mesh.checkpoint import load_model
    from audio2mesh.evaluate import Experts, evaluate_clips, format_results
    from audio2mesh.speech import Speaker
    from sync_expert.checkpoint import EVAL_EXPERT
    from sync_expert.data.clips import corpus_rig, load_clips
    from sync_expert.model import normalised_rest
    from sync_expert.targets import ParamSpace

    device = _device(args)
    speaker = Speaker.load(args.ckpt, args.audio_encoder, device)
    model, meta, front = speaker.model, speaker.meta, speaker.front
    clips = load_clips(args.data, args.split, meta.get("fps"), front=front)
    if clips.kind == "corpus" and list(meta["expression_names"]) != list(clips.expression_names):
        raise L2TError(f"{args.ckpt or 'the default checkpoint'} drives other expressions than the rig of {args.data}")
    space = ParamSpace(corpus_rig(clips, args.rig), clips.region_indices).to(device) if clips.kind == "corpus" else None
    experts = None
    if clips.kind == "corpus" and not args.no_experts and front.name is None:  # the experts read log-mel
        sync, _ = load_model(args.sync_expert or EVAL_EXPERT, "syncnet3d", device)
        reader, _ = load_model(args.lip_reader, "lipreader", device)
        template = torch.as_tensor(clips.template, dtype=torch.float32, device=device)
        experts = Experts(sync, reader, normalised_rest(template, clips.mouth_width), clips.mouth_width)
    results = evaluate_clips(model, clips, space, device, experts, closer=speaker.closer)
    print(f"{args.split} split of {args.data}: {results['all']['clips']} clips")
    print(format_results(results))
    if args.json:
        from avatar.io.atomic import atomic_write_bytes

        atomic_write_bytes(args.json, json.dumps(results, indent=1).encode())
        print(f"wrote {args.json}")


SYNC_MEANING = (
    "LSE-D: mean distance between audio and lip embeddings at the best offset (lower = better sync); "
    "LSE-C: median minus minimum over offsets (higher = more confident sync); offset: frames the motion lags "
    "the audio (negative: it leads; 0 = in sync)"
)


def _cmd_eval_sync(args: argparse.Namespace) -> None:
    from audio2mesh.checkpoint import load_model
    from sync_expert.checkpoint import EVAL_EXPERT

    device = _device(args)
    if (args.audio is None) == (args.data is None):
        raise L2TError("give either --audio A --motion M (one clip) or --data DIR (a dataset)")
    if args.audio is not None and args.motion is None:
        raise L2TError("--audio needs --motion (the motion npz to score)")
    if args.alignment is not None and args.audio is None:
        raise L2TError("--alignment scores one clip: give it with --audio A --motion M")
    expert, meta = load_model(args.expert or EVAL_EXPERT, "syncnet3d", device)
    if args.audio is not None:
        _eval_sync_clip(args, expert, meta, device)
    else:
        _eval_sync_dataset(args, expert, device)
    print(SYNC_MEANING)


def _eval_sync_clip(args, expert, meta, device) -> None:
    from audio2mesh.speech import load_speech
    from avatar.motion import load_motion
    from avatar.rig import load_rig
    from sync_expert.score import score_clip

    rig = load_rig(args.rig)
    motion = load_motion(args.motion, rig.num_vertices, rig.num_expressions)
    audio = load_speech(args.audio, 1.0 / motion.fps)
    alignment = None
    if args.alignment is not None:
        alignment = _clip_alignment(args, audio)
    try:
        score = score_clip(expert, meta, rig, motion, audio, device)
    except L2TError as exc:
        raise L2TError(f"{args.motion} against {args.audio}: {exc}") from None
    print(f"LSE-D {score.lse_d:.3f}   LSE-C {score.lse_c:.3f}   offset {score.offset:+d} frames")
    if alignment is not None:
        from audio2mesh.metrics import bilabial_closure
        from sync_expert.targets import motion_lip_gap

        segments = list(zip(alignment.phones, alignment.starts, alignment.ends))
        c = bilabial_closure(motion_lip_gap(motion, rig), segments, motion.fps)
        rate = f"{c['closure_rate']:.1%}" if c["closure_rate"] is not None else "n/a"
        ratio = f"{c['open_bilabial_ratio']:.2f}" if c["open_bilabial_ratio"] is not None else "n/a"
        print(
            f"bilabial closure {rate} of {c['bilabials']} M/B/P   open-vowel/bilabial gap ratio {ratio}   "
            f"gap p5/p95 {c['gap_p5_mm']:.2f}/{c['gap_p95_mm']:.2f} mm"
        )


def _clip_alignment(args, audio):
    """The phones of --audio: a 'start end phone' file, or 'auto' (the transcript force-aligned, else recognised)."""
    from sync_expert.phones import read_phone_file

    return read_phone_file(args.alignment) if args.alignment != "auto" else spoken_phones(args, audio)


def _eval_sync_dataset(args, expert, device) -> None:
    from sync_expert.data.clips import corpus_rig, load_clips
    from sync_expert.features import dequantise
    from sync_expert.lips import LipData
    from sync_expert.train import FAR_SHIFTS, ShiftTest
    from sync_expert.windows import sync_score

    clips = load_clips(args.data, args.split)
    clips.clips = [c for c in clips.clips if not (args.real_only and c.synthetic)]
    if not clips.clips:
        raise L2TError(f"{args.data}: no clips in split {args.split}")
    data = LipData(clips, device, corpus_rig(clips, args.rig) if clips.kind == "corpus" else None)
    scores = [sync_score(expert, dequantise(c.codes).to(device), off, data.rest, c.fps) for c, off in zip(data.clips, data.offsets)]
    mean = lambda xs: sum(xs) / len(xs)  # noqa: E731
    print(
        f"{len(scores)} clips of {args.split}: LSE-D {mean([s.lse_d for s in scores]):.3f}   "
        f"LSE-C {mean([s.lse_c for s in scores]):.3f}   offset 0 found in {mean([s.offset == 0 for s in scores]):.1%}"
    )
    if args.shift_test:
        test = ShiftTest.run(expert, data)  # every shift -10..+10 scored once; the figures below read it
        far = test.accuracy(FAR_SHIFTS)
        drop, margin = test.lse_c_drop(), test.distance_margin()
        line = f"shifts of ±2..±10 frames ({far['trials']} trials): found within ±1 frame in {far['within_1']:.1%}"
        if drop is not None:
            line += f"; shifted by 5 frames: LSE-C aligned minus shifted {drop:+.3f}, "
            line += f"distance at offset 0 shifted minus aligned {margin:+.3f}"
        print(line)
        acc = test.accuracy()
        print(
            f"shift test (motion shifted -10..+10 frames, {acc['trials']} trials): true offset found exactly in "
            f"{acc['exact']:.1%}, within ±1 frame in {acc['within_1']:.1%}"
        )


TRAIN_DESCRIPTION = """Audio2Mesh trained the Learn2Talk way, on random crops of the corpus:
- vertex, velocity and parameter losses against the corpus' teacher motion (real voices in the
  corpus are teacher pseudo-labels; --synthetic-only leaves them out);
- --w-sync: a frozen SyncNet3D scores predicted lip windows against the audio (1 - cosine);
- --w-lipread: a frozen 3D lip reader must recover the spoken phones (CTC);
- --w-distill with --distill-from: match a large Audio2Mesh's outputs and features.
Writes CKPT_DIR/best.pt (lowest validation LVE on real speech), last.pt (--resume) and log.jsonl."""
METRICS_DESCRIPTION = (
    "LVE max-squared (CodeTalker, mm^2) and max L2 (mm) on lip vertices, FDD (upper-face dynamics "
    "deviation, mm^2), lip-aperture Pearson r, LSE-D/LSE-C from the evaluation SyncNet3D, and the lip "
    "reader's phone error rate."
)


def add_training_commands(sub, rig_help: str) -> None:
    """Register ``train`` and ``eval`` on the main parser's subparsers."""
    p = sub.add_parser(
        "train",
        help="train Audio2Mesh, SyncNet3D or the lip reader",
        description="Training runs on CPU or CUDA, resumes with --resume, and runs under torchrun "
        "(DistributedDataParallel: NCCL on GPUs, gloo on CPU processes).",
    )
    train_sub = p.add_subparsers(dest="train_command", metavar="MODEL", required=True)

    a = train_sub.add_parser(
        "audio2mesh",
        help="speech -> jaw, expression and lip offsets (Learn2Talk losses)",
        description=TRAIN_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _data_out_args(a)
    a.add_argument(
        "--size",
        default="student",
        choices=["student", "live", "large", "tiny"],
        help="model size (default: student; live: 72 ms look-ahead, for microphones and pushed audio)",
    )
    a.add_argument("--epochs", type=int, default=60, help="epochs (default: 60)")
    a.add_argument("--batch-size", type=int, default=32, help="clips per batch and process (default: 32)")
    a.add_argument("--lr", type=float, default=1e-3, help="peak learning rate (default: 1e-3)")
    a.add_argument("--w-sync", type=float, default=0.0, help="weight of the SyncNet3D loss (default: 0 = off)")
    a.add_argument("--sync-expert", default=None, help="SyncNet3D used as the loss (default: the shipped training expert)")
    a.add_argument("--w-lipread", type=float, default=0.0, help="weight of the lip-reader CTC loss (default: 0 = off)")
    a.add_argument("--lip-reader", default=None, help="lip reader checkpoint (default: the shipped one)")
    a.add_argument("--w-distill", type=float, default=0.0, help="weight of distillation from --distill-from (default: 0)")
    a.add_argument("--distill-from", default=None, help="an Audio2Mesh checkpoint to distil ('default': the shipped one)")
    a.add_argument("--w-closure", type=float, default=0.0, help="weight of the bilabial closure loss (default: 0 = off)")
    a.add_argument("--w-amplitude", type=float, default=0.0, help="weight of the lip-gap range loss (default: 0 = off)")
    a.add_argument(
        "--w-bilabial",
        type=float,
        default=0.0,
        help="add the closure head (is this frame an M/B/P?) with this cross-entropy weight; its gate is calibrated on val "
        "(default: 0 = no head)",
    )
    a.add_argument(
        "--only-closure-head", action="store_true", help="train only the closure head, on the frozen --init-from model (minutes on a CPU)"
    )
    a.add_argument(
        "--mel-warp", type=float, default=0.0, help="warp each training clip's mel axis by up to this fraction, e.g. 0.1 (default: 0)"
    )
    a.add_argument("--init-from", default=None, help="fine-tune: start from this checkpoint's weights ('default': the shipped one)")
    a.add_argument("--synthetic-only", action="store_true", help="leave out real speech (its labels are teacher pseudo-labels)")
    a.add_argument("--eval-every", type=int, default=5, help="validate every N epochs (default: 5)")
    a.add_argument("--no-amp", action="store_true", help="no bfloat16 mixed precision on CUDA")
    a.add_argument(
        "--audio-encoder", default=None, help="local wav2vec2/HuBERT/WavLM folder whose features replace log-mel (needs the corpus' items/)"
    )
    a.set_defaults(func=_cmd_train_audio2mesh)

    for expert, helptext in (
        ("syncnet3d", "the 3D lip-sync expert (InfoNCE on aligned vs shifted/other lip windows)"),
        ("lipreader", "the 3D lip reader (lip vertices -> phones, CTC)"),
    ):
        e = train_sub.add_parser(expert, help=helptext, description=helptext)
        _data_out_args(e)
        e.add_argument("--epochs", type=int, default=30, help="epochs (default: 30)")
        e.add_argument("--steps", type=int, default=200, help="steps per epoch (default: 200)")
        e.add_argument("--batch-size", type=int, default=256, help="windows per batch (default: 256)")
        e.add_argument("--lr", type=float, default=1e-3, help="peak learning rate (default: 1e-3)")
        e.add_argument(
            "--half",
            default="all",
            choices=["a", "b", "all"],
            help="train on half a or b of the training clips (keep a second expert for evaluation only)",
        )
        if expert == "syncnet3d":
            e.add_argument(
                "--run-frames",
                type=int,
                default=16,
                help="a batch holds runs of this many consecutive frames per clip; the windows of a pair's own run are its "
                "hard negatives (default: 16)",
            )
            e.add_argument("--min-shift", type=int, default=1, help="... those at least this many frames from the pair (default: 1)")
        e.set_defaults(func=_cmd_train_expert, expert=expert)

    p = sub.add_parser("eval", help="evaluate Audio2Mesh or lip sync", description="Held-out metrics.")
    eval_sub = p.add_subparsers(dest="eval_command", metavar="WHAT", required=True)
    a = eval_sub.add_parser(
        "audio2mesh",
        help="LVE, FDD, lip-aperture correlation, LSE-D/C, lip-reader PER",
        description="Held-out metrics of an Audio2Mesh checkpoint on a corpus, VOCASET or BIWI split, "
        "real and synthetic speech reported separately. " + METRICS_DESCRIPTION,
    )
    a.add_argument("--data", required=True, help="corpus, VOCASET or BIWI folder")
    a.add_argument("--ckpt", default=None, help="Audio2Mesh checkpoint or training folder (default: the shipped one)")
    a.add_argument("--split", default="test", help="split to evaluate (default: test)")
    a.add_argument("--sync-expert", default=None, help="SyncNet3D for LSE (default: the shipped evaluation expert)")
    a.add_argument("--lip-reader", default=None, help="lip reader for PER (default: the shipped one)")
    a.add_argument("--no-experts", action="store_true", help="skip LSE and PER")
    a.add_argument(
        "--audio-encoder", default=None, help="the local encoder folder a checkpoint was trained with (LSE and PER are then skipped)"
    )
    a.add_argument("--json", default=None, help="also write the results to this JSON file")
    a.add_argument("--rig", default=None, help=rig_help)
    a.add_argument("--device", default="auto", help="cpu, cuda or auto (default: auto)")
    a.set_defaults(func=_cmd_eval_audio2mesh)

    s = eval_sub.add_parser(
        "sync",
        help="SyncNet3D scores of one clip (--audio --motion) or a dataset (--data)",
        description="SyncNet-style lip-sync scores from the evaluation SyncNet3D. " + SYNC_MEANING,
    )
    s.add_argument("--audio", default=None, help="speech of the clip")
    s.add_argument("--motion", default=None, help="its motion npz (from speak --save-motion, teacher, ...)")
    s.add_argument(
        "--alignment",
        default=None,
        help="also report bilabial closure: 'auto' (phones from --transcript, else recognised) or a file of "
        "'start end phone' lines (seconds, ARPAbet)",
    )
    s.add_argument("--transcript", default=None, help="what --audio says, for --alignment auto")
    s.add_argument("--transcript-file", default=None, help="read the transcript from a text file")
    s.add_argument("--data", default=None, help="or: a corpus folder (its teacher motion is scored)")
    s.add_argument("--split", default="test", help="split of --data (default: test)")
    s.add_argument("--real-only", action="store_true", help="only real speech of --data")
    s.add_argument(
        "--shift-test", action="store_true", help="with --data: shift motion -10..+10 frames, report how often the offset is found"
    )
    s.add_argument("--expert", default=None, help="SyncNet3D checkpoint (default: the shipped evaluation expert)")
    s.add_argument("--rig", default=None, help=rig_help)
    s.add_argument("--device", default="auto", help="cpu, cuda or auto (default: auto)")
    s.set_defaults(func=_cmd_eval_sync)


def _data_out_args(p) -> None:
    p.add_argument(
        "--data",
        required=True,
        nargs="+",
        help="corpus folder (l2t-avatar data build or data from-videos), or VOCASET/BIWI folder; "
        "several corpus folders of one rig are pooled (e.g. a built corpus and your talking videos)",
    )
    p.add_argument("--out", required=True, help="checkpoint folder: best.pt, last.pt, log.jsonl")
    p.add_argument("--fps", type=float, default=None, help="motion frame rate (default: the data's)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out")
    p.add_argument("--rig", default=None, help="rig of the corpus (default: the one it names)")
    p.add_argument("--device", default="auto", help="cpu, cuda or auto (default: auto; torchrun: one GPU per process)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
