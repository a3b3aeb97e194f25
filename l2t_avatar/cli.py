"""The `l2t-avatar` command line: thin wrappers that parse, call the library, and report.

User errors (L2TError) print one line and exit with code 2; bugs keep their traceback.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from avatar import __version__
from avatar.checks import (
    DEFAULT_FPS,
    MAX_AUDIO_SECONDS,
    VIDEO_SUFFIXES,
    check_fps,
    check_output_file,
    check_output_folder,
    check_seconds,
    check_size,
)
from avatar.errors import L2TError

MIN_FIT_SIZE = 64
MAX_FIT_ITERATIONS = 1_000_000
MAX_DEMO_SECONDS = 600.0
RIG_HELP = "rig: a FLAME .pkl (2020/2023) or an l2t-avatar rig .npz; default $L2T_FLAME_PATH, else the built-in l2t-head"


def _cmd_rig_sheet(args: argparse.Namespace) -> None:
    from avatar.rig import load_rig
    from avatar.rig.sheet import draw_rig_sheet

    check_size(args.tile, "--tile", minimum=32, maximum=1024)
    check_output_file(args.output, "-o", (".png",))
    rig = load_rig(args.rig)
    path = draw_rig_sheet(rig, args.output, tile=args.tile)
    print(f"wrote {path}: {rig.data.name}, neutral + jaw open + {min(rig.num_expressions, 48)} expressions, front and 3/4")


def _cmd_rig_info(args: argparse.Namespace) -> None:
    from avatar.rig import load_rig_data, resolve_rig_path

    rig = load_rig_data(args.rig)
    print(f"rig:          {rig.name} ({resolve_rig_path(args.rig)})")
    print(f"vertices:     {rig.num_vertices}")
    print(f"faces:        {len(rig.faces)}")
    print(f"joints:       {', '.join(rig.joint_names)}")
    print(f"shapes:       {len(rig.shape_names)}")
    print(
        f"expressions:  {len(rig.expression_names)}" + (f" ({', '.join(rig.expression_names)})" if len(rig.expression_names) <= 60 else "")
    )
    print(f"landmarks:    {len(rig.landmark_faces)}")
    print(f"regions:      {', '.join(f'{k} ({len(v)})' for k, v in rig.regions.items()) or 'none'}")


def _load_avatar_and_motion(args: argparse.Namespace):
    """The avatar, and the motion from --demo or --motion (None when neither is given)."""
    from avatar.device import resolve_device
    from avatar.io.avatar_folder import load_avatar
    from avatar.motion import DEFAULT_FPS, demo_motion, load_motion

    if args.demo:
        check_seconds(args.seconds, "--seconds", MAX_DEMO_SECONDS)
    device = resolve_device(getattr(args, "device", None))
    avatar = load_avatar(args.avatar, rig_path=args.rig, device=device)
    motion = None
    if args.demo:
        fps = getattr(args, "fps", None)
        motion = demo_motion(avatar.rig.data.expression_names, seconds=args.seconds, fps=DEFAULT_FPS if fps is None else fps)
    elif args.motion:
        motion = load_motion(args.motion, avatar.rig.num_vertices, avatar.rig.num_expressions)
    return avatar, motion


def _cmd_render(args: argparse.Namespace) -> None:
    from avatar.io.audio import read_audio
    from avatar.render.animate import render_motion_to_mp4

    check_size(args.size)
    if args.fps is not None:
        check_fps(args.fps)
    check_output_file(args.output, "-o", VIDEO_SUFFIXES)
    if not args.demo and not args.motion:
        raise L2TError("give --motion FILE.npz or --demo")
    if args.audio is not None and len(read_audio(args.audio, max_seconds=MAX_AUDIO_SECONDS)) == 0:  # checked before rendering
        raise L2TError(f"{args.audio} holds no audio")
    avatar, motion = _load_avatar_and_motion(args)
    if args.fps is not None:
        motion = motion.resample(args.fps)
    stats = render_motion_to_mp4(avatar, motion, args.output, size=args.size, camera=args.camera, audio=args.audio, progress=not args.quiet)
    print(
        f"wrote {args.output}: {stats.frames} frames at {motion.fps:g} fps, {args.size}x{args.size}, "
        f"{avatar.model.num_gaussians} Gaussians, {stats.fps:.1f} frames/s ({stats.backend} on {avatar.device.type})"
    )


def _cmd_speak(args: argparse.Namespace) -> None:
    from l2t_avatar.speak import SpeakOptions, speak

    result = speak(
        SpeakOptions(
            audio=args.audio,
            output=args.output,
            avatar=args.avatar,
            size=args.size,
            fps=args.fps,
            camera=args.camera,
            save_motion=args.save_motion,
            idle=not args.no_idle,
            style=not args.no_style,
            seed=args.seed,
            checkpoint=args.ckpt,
            audio_encoder=args.audio_encoder,
            rig=args.rig,
            device=args.device,
            progress=not args.quiet,
        )
    )
    t = result.timings
    print(
        f"wrote {result.output}: {result.frames} frames at {result.fps:g} fps, {result.size}x{result.size}, "
        f"{result.seconds:.2f} s of speech; {t['total']:.1f} s on {result.device} (audio2mesh {t['audio2mesh']:.2f} s, "
        f"render+encode {t['render_encode']:.1f} s)" + (f"; motion in {args.save_motion}" if args.save_motion else "")
    )


def _cmd_view(args: argparse.Namespace) -> None:
    from viewer.app import ViewerApp, ViewOptions

    if not 0 <= args.port <= 65535:
        raise L2TError(f"--port must be in 0..65535, got {args.port}")
    if args.token is not None and not 16 <= len(args.token) <= 256:
        raise L2TError("--token must be 16 to 256 characters (a long random string)")
    if args.avatar_root is not None and not Path(args.avatar_root).is_dir():
        raise L2TError(f"--avatar-root {args.avatar_root} is not a folder")
    check_seconds(args.max_audio_seconds, "--max-audio-seconds", MAX_AUDIO_SECONDS)
    app = ViewerApp(
        ViewOptions(
            avatars=args.avatars,
            audio=args.audio,
            host=args.host,
            port=args.port,
            device=args.device,
            checkpoint=args.ckpt,
            audio_encoder=args.audio_encoder,
            rig=args.rig,
            token=args.token,
            avatar_root=args.avatar_root,
            max_audio_seconds=args.max_audio_seconds,
            listen=args.listen,
            live_checkpoint=args.live_ckpt,
        )
    )
    url = app.start()
    names = ", ".join(app.library.names)
    print(f"l2t-avatar view: {url}  (avatars: {names}; {app.device.type}; Ctrl-C to stop)", flush=True)
    if args.listen:
        print(f"pushed speech: {app.settings.listen_url}  (16-bit mono PCM or WAV; examples/05_push_speech.py)", flush=True)
    app.serve_forever()


def _cmd_export_ply(args: argparse.Namespace) -> None:
    from avatar.io.ply import write_splat_ply

    check_output_file(args.output, "-o", (".ply",))
    avatar, motion = _load_avatar_and_motion(args)
    if motion is None:
        verts = avatar.neutral_vertices()
    else:
        if not 0 <= args.frame < motion.num_frames:
            raise L2TError(f"--frame {args.frame} is outside the motion's {motion.num_frames} frames")
        verts = avatar.vertices(motion, args.frame, args.frame + 1)
    w = avatar.world(verts)
    write_splat_ply(args.output, w.means[0], w.quats[0], w.scales[0], w.opacities, w.sh)
    print(f"wrote {args.output}: {avatar.model.num_gaussians} Gaussians in world space, SH degree {w.sh_degree}")


def _cmd_fit(args: argparse.Namespace) -> None:
    from avatar.device import resolve_device
    from avatar.fit.optimize import OptimizeConfig
    from avatar.fit.pipeline import FitOptions, fit_avatar
    from avatar.rig import load_rig

    if args.video is None and args.tracked is None:
        raise L2TError("give a video to fit, or --tracked DIR")
    check_size(args.size, minimum=MIN_FIT_SIZE)
    if args.iterations is not None and not 1 <= args.iterations <= MAX_FIT_ITERATIONS:
        raise L2TError(f"--iterations must be in 1..{MAX_FIT_ITERATIONS}, got {args.iterations}")
    check_output_folder(args.output)
    device = resolve_device(args.device)
    rig = load_rig(args.rig, device=device)
    indices = None
    if args.landmark_embedding:
        from avatar.fit.landmark_embedding import apply_landmark_embedding, load_landmark_embedding

        embedding = load_landmark_embedding(args.landmark_embedding)
        apply_landmark_embedding(rig, embedding)
        indices = embedding.mediapipe_indices
    face_track = None
    if args.landmarks:
        from avatar.fit.landmarks import load_face_track

        face_track = load_face_track(args.landmarks)
    opts = FitOptions(
        size=args.size,
        gaussians=OptimizeConfig(sh_degree=args.sh_degree),
        iterations=args.iterations,
        resume=args.resume,
        progress=not args.quiet,
        rig_path=args.rig,
        landmark_indices=indices,
        seed=args.seed,
    )
    result = fit_avatar(args.video, args.output, rig, opts, tracked=args.tracked, device=device, face_track=face_track)
    print(result.summary())
    if args.video is not None and not args.no_style:
        from l2t_avatar.style import fit_style

        try:
            style = fit_style(args.video, result.folder, rig, log=lambda line: print(line, file=sys.stderr), device=device)
        except L2TError as exc:  # the avatar is written and good; only the style is missing
            print(f"note: no speaking style: {exc}", file=sys.stderr)
            style = None
        if style is not None:
            held = style.metrics.get("adapted", {})
            print(
                f"speaking style from the video's sound: {style.folder_note()}; held-out jaw range "
                f"{held.get('jaw_range_ratio', float('nan')):.2f}x the tracked (generic "
                f"{style.metrics.get('generic', {}).get('jaw_range_ratio', float('nan')):.2f}x); "
                f"{style.metrics.get('seconds', float('nan')):.1f} s"
            )
            resyn = style.metrics.get("resynthesis", {})
            if resyn:
                print(
                    f"held-out mouth PSNR speaking its own sound: {resyn['adapted']['mouth_psnr']:.2f} dB styled, "
                    f"{resyn['generic']['mouth_psnr']:.2f} dB generic ({resyn['tracked']['mouth_psnr']:.2f} dB with the tracked motion)"
                )


def _cmd_landmarks(args: argparse.Namespace) -> None:
    from avatar.fit.landmarks import detect_faces, save_face_track
    from avatar.fit.video_input import read_video

    check_output_file(args.output, "-o", (".npz",))
    video = read_video(args.video)
    track = detect_faces(video.frames, video.fps, progress=not args.quiet)
    save_face_track(args.output, track)
    print(
        f"wrote {args.output}: a face in {len(track.frame_indices)} of {track.num_frames} frames; "
        f"fit with: l2t-avatar fit {args.video} --landmarks {args.output}"
    )


def _cmd_prebuild(args: argparse.Namespace) -> None:
    from avatar.device import resolve_device
    from avatar.render.gsplat_kernels import jit_cache_folder, prebuild

    if resolve_device("auto").type != "cuda":
        raise L2TError("no CUDA device here: gsplat's kernels are built on (and for) a machine with CUDA; the CPU renderer needs none")
    state, seconds = prebuild()
    where = "in the installed gsplat package" if state == "prebuilt" else f"in {jit_cache_folder()}"
    print(f"gsplat's CUDA kernels are ready ({'compiled now' if state == 'compile' else 'already built'}, {where}; {seconds:.1f} s)")
    from avatar.io.avatar_folder import load_avatar
    from avatar.render.poser import FramePoser

    # Triton compiles the fused posing kernel on its first use and caches it (~/.triton/cache): do that now too
    fused = FramePoser(load_avatar(device="cuda"), graphs=False).fused_world is not None
    print(f"the fused posing kernel is {'compiled and checked' if fused else 'off on this machine (the note above says why)'}")
    from avatar.render import fused_binding

    binding = fused_binding.compile_kernels(resolve_device("cuda"))  # the fit's step uses these two
    state = "compiled and checked" if binding else "off on this machine (the note above says why)"
    print(f"the fit's Gaussian binding kernels are {state}")


def _add_motion_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--motion", help="motion npz: per-frame rig parameters or vertices (see README, 'Motion files')")
    p.add_argument("--demo", action="store_true", help="use a built-in demo motion (head turn, talking jaw, expressions, blinks)")
    p.add_argument("--seconds", type=float, default=4.0, help="length of the --demo motion (default: 4)")
    p.add_argument("--avatar", default=None, help="avatar folder (default: the built-in default avatar)")
    p.add_argument("--rig", default=None, help="the FLAME .pkl an avatar was made on, if it is not where it was")


def _add_audio2mesh_args(p: argparse.ArgumentParser) -> None:
    """What speech-driven commands share: the Audio2Mesh checkpoint, its audio encoder, the device."""
    p.add_argument("--ckpt", default=None, help="Audio2Mesh checkpoint (default: the shipped one)")
    p.add_argument("--audio-encoder", default=None, help="local wav2vec2/HuBERT/WavLM folder, for checkpoints trained on one")
    p.add_argument("--device", default="auto", help="cpu, cuda or auto (default: cuda when available)")


SERVED = ("speak",)  # the commands a running worker takes (l2t_avatar/worker.py)


class _WorkerSide(threading.local):
    active = False  # set inside the worker: its commands run here, not forwarded again


WORKER_SIDE = _WorkerSide()


def _cmd_serve(args: argparse.Namespace) -> None:
    from l2t_avatar import worker

    path = worker.socket_path()
    if args.stop:
        print(f"stopped the worker at {path}" if worker.stop(path) else f"no worker listens at {path}")
        return
    if not args.idle_minutes > 0:
        raise L2TError("--idle-minutes must be positive")

    def run(argv: list[str]) -> int:
        WORKER_SIDE.active = True
        try:
            return main(argv)
        finally:
            WORKER_SIDE.active = False

    def log(line: str) -> None:
        print(f"l2t-avatar serve: {line}", file=sys.__stderr__, flush=True)

    warm_up = None if args.no_warm_up else (lambda: worker.warm_up_speak(run, args.device))
    worker.serve(run, path, 60.0 * args.idle_minutes, warm_up, log)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="l2t-avatar",
        description="Speech-driven 3D Gaussian head avatars on a FLAME-format rig.",
    )
    parser.add_argument("--version", action="version", version=f"l2t-avatar {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser(
        "speak",
        help="speech in, talking-avatar MP4 out (Audio2Mesh + Gaussian avatar)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Turn speech into a talking-head video: Audio2Mesh predicts jaw and expression per "
        "frame from the audio, idle blinks and head sway are layered on, and the avatar's "
        "Gaussians are deformed and rendered frame by frame into an H.264 MP4 that carries "
        "the original audio (frames = duration x fps).",
        epilog="examples:\n  l2t-avatar speak --audio examples/hello.wav -o hello.mp4\n"
        "  l2t-avatar speak --audio talk.mp3 --avatar my_avatar --size 512 --camera three-quarter "
        "--save-motion talk_motion.npz",
    )
    p.add_argument("--audio", required=True, help="speech: wav, flac, mp3, ogg or a video's audio track; any rate, mono or stereo")
    p.add_argument("--avatar", default=None, help="avatar folder (from 'fit'; default: the built-in default avatar)")
    p.add_argument("-o", "--output", default="speak.mp4", help="MP4 to write (default: speak.mp4)")
    p.add_argument("--size", type=int, default=None, help="square frame size, even (default: 512 on CUDA, 256 on CPU)")
    p.add_argument("--fps", type=float, default=DEFAULT_FPS, help=f"video frame rate (default: {DEFAULT_FPS:g})")
    p.add_argument("--camera", default="front", choices=["front", "three-quarter", "profile", "orbit"], help="view (default: front)")
    p.add_argument("--save-motion", default=None, help="also write the motion (rig parameters per frame) to this npz")
    p.add_argument("--no-idle", action="store_true", help="no idle blinks and head sway: speech motion only")
    p.add_argument("--no-style", action="store_true", help="ignore the avatar's speaking style (style.json, learned by fit)")
    p.add_argument("--seed", type=int, default=0, help="seed of the idle motion (default: 0)")
    _add_audio2mesh_args(p)
    p.add_argument("--rig", default=None, help=RIG_HELP)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--no-worker", action="store_true", help="run here even when 'l2t-avatar serve' is running")
    p.set_defaults(func=_cmd_speak)

    p = sub.add_parser(
        "serve",
        help="keep a warm worker that runs 'speak' calls without their start-up cost",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Start a resident worker: it imports torch, creates the CUDA context and loads the "
        "kernels and models once (a short warm-up speak), then listens on a Unix socket that only you "
        "can open. While it runs, 'l2t-avatar speak' hands its call to it and prints what it prints: "
        "the same files and messages, without a new process's seconds of start-up. One call at a "
        "time; Ctrl-C on a speak interrupts its job in the worker. The socket is "
        "$XDG_RUNTIME_DIR/l2t-avatar/worker.sock (else under ~/.cache; $L2T_WORKER_SOCKET overrides, for both sides).",
        epilog="examples:\n  l2t-avatar serve &            # warm up once, in the background\n"
        "  l2t-avatar speak --audio a.wav -o a.mp4   # runs in the worker\n"
        "  l2t-avatar serve --stop",
    )
    p.add_argument("--device", default="auto", help="cpu, cuda or auto: the device to warm up (default: cuda when available)")
    p.add_argument("--idle-minutes", type=float, default=30.0, help="stop after this long without a call (default: 30)")
    p.add_argument("--no-warm-up", action="store_true", help="listen at once; the first call pays the start-up instead")
    p.add_argument("--stop", action="store_true", help="stop the running worker and exit")
    p.set_defaults(func=_cmd_serve)

    p = sub.add_parser(
        "view",
        help="browse and drive avatars live in a web viewer (viser)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Start a web viewer: the avatar as Gaussian splats in the browser, camera presets, rig "
        "sliders, speech upload (Audio2Mesh animates it; the audio plays in the page in sync), "
        "'Render MP4' downloads, and stats. Each browser tab has its own camera and playback. "
        "With CUDA, a toggle shows full-quality gsplat frames rendered on the server. "
        "Live speech: 'Live mic' animates the avatar from the page's microphone as you speak, and with "
        "--listen programs (a TTS or chat engine) push speech over a websocket; the pages play it in step with the face.",
        epilog="examples:\n  l2t-avatar view\n  l2t-avatar view my_avatar other_avatar --audio examples/hello.wav\n"
        "  l2t-avatar view --listen   (then: python examples/05_push_speech.py examples/hello.wav)\n"
        "  l2t-avatar view --host 0.0.0.0 --port 8081   (other machines: open the printed URL, it carries the token)",
    )
    p.add_argument("avatars", nargs="*", metavar="AVATAR_DIR", help="avatar folders to offer (default: the built-in default avatar)")
    p.add_argument("--audio", default=None, help="speech to load at start (wav, flac, mp3, ogg...)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1, this machine only)")
    p.add_argument("--port", type=int, default=8080, help="port (default: 8080; the next free one if taken)")
    p.add_argument(
        "--token",
        default=None,
        help="access token the page's address must carry (?token=...); default: a new random one whenever "
        "--host is not loopback, none on loopback",
    )
    p.add_argument(
        "--avatar-root",
        default=None,
        help="'Load avatar folder' may open folders inside this one (besides the AVATAR_DIRs given; default: only those)",
    )
    p.add_argument("--max-audio-seconds", type=float, default=600.0, help="longest speech a visitor may upload (default: 600)")
    p.add_argument(
        "--listen",
        action="store_true",
        help="accept speech pushed by programs on ws://HOST:PORT/l2t/push (16-bit mono PCM or WAV; the token applies)",
    )
    p.add_argument(
        "--live-ckpt",
        default="live",
        help="Audio2Mesh of the microphone and pushed speech (default: live, the shipped 72 ms look-ahead model)",
    )
    _add_audio2mesh_args(p)
    p.add_argument("--rig", default=None, help="the FLAME .pkl the avatars were made on, if it is not where it was")
    p.set_defaults(func=_cmd_view)

    p = sub.add_parser(
        "rig-sheet",
        help="draw a contact sheet PNG of the rig (neutral, jaw, every expression)",
        description="Render the rig neutral, with the jaw open and with each expression, front and 3/4 views, into one PNG.",
    )
    p.add_argument("-o", "--output", default="rig_sheet.png", help="PNG to write (default: rig_sheet.png)")
    p.add_argument("--rig", default=None, help=RIG_HELP)
    p.add_argument("--tile", type=int, default=192, help="tile size in pixels (default: 192)")
    p.set_defaults(func=_cmd_rig_sheet)

    p = sub.add_parser(
        "rig-info",
        help="print a rig's sizes, joints, expressions and regions",
        description="Load a rig (checks a FLAME file) and print what it contains.",
    )
    p.add_argument("--rig", default=None, help=RIG_HELP)
    p.set_defaults(func=_cmd_rig_info)

    p = sub.add_parser(
        "render",
        help="render a motion (or --demo) with an avatar to an MP4",
        description="Deform the avatar's Gaussians frame by frame and render an H.264 MP4 "
        "(gsplat on CUDA, the PyTorch renderer on CPU), optionally with an audio track.",
    )
    _add_motion_args(p)
    p.add_argument("-o", "--output", default="render.mp4", help="MP4 to write (default: render.mp4)")
    p.add_argument("--size", type=int, default=512, help="square frame size in pixels, even (default: 512)")
    p.add_argument("--fps", type=float, default=None, help=f"frame rate (default: the motion's own, {DEFAULT_FPS:g} for --demo)")
    p.add_argument("--camera", default="front", choices=["front", "three-quarter", "profile", "orbit"], help="view (default: front)")
    p.add_argument("--audio", default=None, help="audio file to mux as the soundtrack (WAV, or anything ffmpeg reads)")
    p.add_argument("--device", default="auto", help="cpu, cuda or auto (default: cuda when available)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_render)

    p = sub.add_parser(
        "export-ply",
        help="export one frame of an avatar as a standard 3DGS PLY (world space)",
        description="Write the avatar's Gaussians, posed at a motion frame (or neutral), as a 3D Gaussian "
        "Splatting PLY that other splat viewers read.",
    )
    _add_motion_args(p)
    p.add_argument("--frame", type=int, default=0, help="frame of the motion to export (default: 0)")
    p.add_argument("-o", "--output", default="avatar.ply", help="PLY to write (default: avatar.ply)")
    p.set_defaults(func=_cmd_export_ply)

    p = sub.add_parser(
        "fit",
        help="fit a rigged Gaussian avatar to one monocular video",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Fit an avatar to a video of one person talking: face landmarks and head crop per frame, "
        "the rig tracked to the landmarks (camera focal, identity, pose, jaw, eyes, expression), then "
        "Gaussians bound to the rig's triangles optimised against the frames over a learned static "
        "background. The last 10% of frames are held out for metrics.",
        epilog="writes AVATAR_DIR/: avatar.json, gaussians.npz (what render and speak load), metrics.json "
        "(PSNR/SSIM held out and on training frames), preview.mp4 (video | fit | avatar alone) and "
        "tracked/ (the tracking, VHAP layout); when the video has sound (4 s or more), style.json (the person's "
        "speaking style: speak applies it) and speech.wav. Work in progress is kept in .AVATAR_DIR.fit/ for --resume.",
    )
    p.add_argument("--no-style", action="store_true", help="do not learn a speaking style from the video's sound")
    p.add_argument("video", nargs="?", help="the video (anything ffmpeg reads, constant frame rate)")
    p.add_argument("-o", "--output", default="avatar", help="avatar folder to write (default: ./avatar)")
    p.add_argument("--rig", default=None, help=RIG_HELP)
    p.add_argument(
        "--landmark-embedding",
        default=None,
        help="MediaPipe landmarks on a FLAME rig: FLAME's mediapipe_landmark_embedding.npz (l2t-head needs none)",
    )
    p.add_argument(
        "--iterations",
        type=int,
        default=None,
        help="Gaussian optimisation iterations (default: 1500 of 8 frames on CUDA, 300 of 1 frame on CPU)",
    )
    p.add_argument(
        "--size", type=int, default=512, help="crop size in pixels, even; smaller when the face is smaller in the video (default: 512)"
    )
    p.add_argument(
        "--sh-degree",
        type=int,
        choices=[0, 1, 2, 3],
        default=1,
        help="spherical-harmonics degree of the Gaussians' colour: 0 is one colour each, no view dependence, "
        "which a single camera rarely constrains (fewer coloured speckles at new angles); default: 1",
    )
    p.add_argument(
        "--tracked",
        default=None,
        help="a tracked folder (VHAP's export layout, or tracked/ of an earlier fit): skip landmarks and tracking",
    )
    p.add_argument(
        "--landmarks",
        default=None,
        help="face landmarks of this video from 'l2t-avatar landmarks' (e.g. made on a machine that has libEGL): skip detection",
    )
    p.add_argument("--resume", action="store_true", help="continue an interrupted fit from its last checkpoint")
    p.add_argument("--device", default="auto", help="cpu, cuda or auto (default: cuda when available)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_cmd_fit)

    p = sub.add_parser(
        "landmarks",
        help="detect face landmarks in a video, for 'fit --landmarks' (e.g. on another machine)",
        description="Run MediaPipe's face landmarker over a video (it needs libEGL) and save the 478 "
        "landmarks, blendshape scores and head transforms of every frame with a face.",
    )
    p.add_argument("video", help="the video (anything ffmpeg reads, constant frame rate)")
    p.add_argument("-o", "--output", default="landmarks.npz", help="npz to write (default: landmarks.npz)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_landmarks)

    p = sub.add_parser(
        "prebuild",
        help="compile gsplat's CUDA kernels now, once per machine (otherwise the first CUDA render does, ~1 min)",
        description="gsplat's PyPI wheel carries no compiled kernels: the first CUDA render on a machine compiles them "
        "(about a minute) into torch's extension cache ($TORCH_EXTENSIONS_DIR, default ~/.cache/torch_extensions), "
        "where every later run finds them; it also compiles the fused posing kernel (Triton, cached in ~/.triton/cache). "
        "Run this after installing (e.g. while building a container image) so no user command waits for it. "
        "Installing gsplat from source builds gsplat's kernels into the package instead (README, 'Speed').",
    )
    p.set_defaults(func=_cmd_prebuild)

    from audio2mesh.cli import add_commands as add_speech_commands
    from audio2mesh.cli import add_training_commands

    add_speech_commands(sub, RIG_HELP)
    add_training_commands(sub, RIG_HELP)
    return parser


class Terminated(BaseException):
    """SIGTERM, raised in the main thread so every atomic writer removes its temporary file."""


def _raise_terminated(signum, frame) -> None:
    raise Terminated()


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser.parse_args(argv)
    if args.command in SERVED and not args.no_worker and not WORKER_SIDE.active:
        from l2t_avatar.worker import forward

        code = forward(argv)  # a running `l2t-avatar serve` does it, warm; None: no worker, do it here
        if code is not None:
            return code
    func: Callable[[argparse.Namespace], None] = args.func
    previous = signal.signal(signal.SIGTERM, _raise_terminated) if threading.current_thread() is threading.main_thread() else None
    try:
        func(args)
    except L2TError as exc:
        print(f"l2t-avatar {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Terminated:
        print("terminated", file=sys.stderr)
        return 143
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    return 0


if __name__ == "__main__":
    sys.exit(main())
