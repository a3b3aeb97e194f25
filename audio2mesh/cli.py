"""Speech commands of ``l2t-avatar``: ``data build`` and ``teacher`` (more arrive with Audio2Mesh)."""

from __future__ import annotations

import argparse
import sys

from avatar.errors import L2TError


def _cmd_data_build(args: argparse.Namespace) -> None:
    from audio2mesh.data.corpus import CorpusBuilder, format_summary

    builder = CorpusBuilder(args.out, seed=args.seed, fps=args.fps, rig_path=args.rig, log=lambda m: print(m, file=sys.stderr))
    summary = builder.build(args.hours, progress=not args.quiet)
    print(format_summary(summary))
    print(f"wrote {args.out} (corpus.json, manifest.jsonl, splits.json, items/)")


def speech_alignment(audio, transcript: str | None, log):
    """Phones for a clip: forced alignment of the transcript, else phone recognition (said in ``log``)."""
    from audio2mesh.data import align

    if transcript:
        alignment = align.force_align(audio, transcript)
        if alignment is not None:
            return alignment
        unknown = align.unknown_words(align.normalise_transcript(transcript))
        reason = f"words not in the dictionary: {' '.join(unknown)}" if unknown else "the transcript did not align"
        log(f"note: {reason}; using phone recognition instead")
    else:
        log("note: no transcript; phones come from phone recognition (give --transcript for better timing)")
    return align.recognize_phones(audio)


def load_speech(path: str, min_seconds: float):
    """Audio of a speech file at 16 kHz; L2TError if it is missing, unreadable, too short or silent."""
    import numpy as np

    from avatar.io.audio import SPEECH_RATE, read_audio

    audio = read_audio(path)
    if len(audio) == 0:
        raise L2TError(f"{path} holds no audio")
    if len(audio) < min_seconds * SPEECH_RATE:
        raise L2TError(f"{path} is {len(audio) / SPEECH_RATE:.3f} s long, shorter than one frame ({min_seconds:.3f} s)")
    if float(np.abs(audio).max()) < 1e-4:
        raise L2TError(f"{path} is silent")
    return audio


def _cmd_teacher(args: argparse.Namespace) -> None:
    from audio2mesh.data.tts import ToolMissing
    from audio2mesh.teacher.animator import TeacherAnimator
    from avatar.io.audio import SPEECH_RATE
    from avatar.rig import load_rig

    if args.fps <= 0:
        raise L2TError(f"--fps must be positive, got {args.fps}")
    transcript = args.transcript
    if args.transcript_file:
        try:
            transcript = open(args.transcript_file, encoding="utf-8").read()
        except OSError as exc:
            raise L2TError(f"cannot read transcript file {args.transcript_file}: {exc.strerror}") from None
    audio = load_speech(args.audio, 1.0 / args.fps)  # check the input before loading the rig
    animator = TeacherAnimator(load_rig(args.rig), args.fps)
    try:
        alignment = speech_alignment(audio, transcript, lambda m: print(m, file=sys.stderr))
    except ToolMissing as exc:
        raise L2TError(str(exc)) from None
    seconds = len(audio) / SPEECH_RATE
    motion = animator.animate(alignment.fitted_to(seconds), animator.num_frames(seconds))
    motion.save(args.output)
    spoken = [p for p in alignment.phones if p != "SIL"]
    print(f"wrote {args.output}: {motion.num_frames} frames at {args.fps:g} fps from {len(spoken)} phones "
          f"({motion.seconds:.2f} s); render it with: l2t-avatar render --motion {args.output} --audio {args.audio}")


def add_commands(sub, rig_help: str) -> None:
    """Register the speech commands on the main parser's subparsers."""
    p = sub.add_parser("data", help="build a speech-to-motion training corpus",
                       description="Training data for Audio2Mesh and SyncNet3D.")
    data_sub = p.add_subparsers(dest="data_command", metavar="DATA_COMMAND", required=True)
    b = data_sub.add_parser(
        "build", help="synthesise and align speech, animate it with the teacher, write a corpus folder",
        description="Build a corpus of (16 kHz speech, phone timings, per-frame rig parameters and lip vertices) from "
                    "espeak-ng, festival and flite voices speaking generated sentences and from real speech in Debian "
                    "packages (Allison prompts, codec2 examples) force-aligned with pocketsphinx; audio augmented "
                    "(noise, reverberation, band limits, gain, speed). Deterministic for a seed, resumable, splits held "
                    "out by voice/speaker. Missing programs are named and skipped.")
    b.add_argument("--out", required=True, help="corpus folder to create or extend")
    b.add_argument("--hours", type=float, default=0.5, help="hours of audio to build (default: 0.5)")
    b.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    b.add_argument("--fps", type=float, default=25.0, help="motion frame rate (default: 25)")
    b.add_argument("--rig", default=None, help=rig_help + " (needs the ARKit-named mouth expressions of l2t-head)")
    b.add_argument("--quiet", action="store_true", help="no progress bar")
    b.set_defaults(func=_cmd_data_build, command="data build")

    p = sub.add_parser("teacher", help="animate speech with the phoneme-driven teacher (our non-neural lip-sync baseline)",
                       description="Force-align speech to its transcript (pocketsphinx), map phones to jaw and mouth "
                                   "shapes with coarticulation, and write a motion file that 'render' turns into a video.")
    p.add_argument("--audio", required=True, help="speech: wav, flac, mp3, ogg or a video's audio track")
    p.add_argument("--transcript", default=None, help="what is said (without it, phones are recognised, less accurately)")
    p.add_argument("--transcript-file", default=None, help="read the transcript from a text file")
    p.add_argument("-o", "--output", default="motion.npz", help="motion npz to write (default: motion.npz)")
    p.add_argument("--fps", type=float, default=25.0, help="frame rate (default: 25)")
    p.add_argument("--rig", default=None, help=rig_help)
    p.set_defaults(func=_cmd_teacher)
