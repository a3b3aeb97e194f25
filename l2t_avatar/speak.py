"""``l2t-avatar speak``: speech in, talking-avatar MP4 out.

audio (any format, rate, channels) -> 16 kHz mono -> features -> Audio2Mesh in chunks ->
jaw + expression per frame -> idle blinks and head sway -> Gaussians deformed per frame ->
rendered in batches while the encoder writes H.264 with the original audio.

Every input is checked before anything is written; the MP4 (and ``--save-motion``) appear
only when complete.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from avatar.checks import VIDEO_SUFFIXES, check_fps, check_output_file, check_size
from avatar.io.audio import SPEECH_RATE
from avatar.motion import DEFAULT_FPS, Motion


@dataclass
class SpeakOptions:
    audio: str
    output: str = "speak.mp4"
    avatar: str | None = None
    size: int | None = None  # default: 512 on CUDA, 256 on CPU
    fps: float = DEFAULT_FPS
    camera: str = "front"
    save_motion: str | None = None
    idle: bool = True
    style: bool = True  # apply the avatar's speaking style (style.json) when it has one
    seed: int = 0
    checkpoint: str | None = None
    audio_encoder: str | None = None
    rig: str | None = None
    device: str | None = None
    progress: bool = True


@dataclass
class SpeakResult:
    output: Path
    frames: int
    fps: float
    size: int
    seconds: float  # audio duration
    timings: dict[str, float]
    device: str


# Up to this much speech, Audio2Mesh runs on the CPU even on a CUDA machine: a few tens of
# milliseconds of CPU work cost less than a cold GPU's first convolutions and attention (~0.6 s).
CPU_AUDIO2MESH_SECONDS = 120.0


def speak(opts: SpeakOptions) -> SpeakResult:
    from audio2mesh.speech import Speaker, load_speech
    from avatar.device import resolve_device, start_cuda_warm_up
    from avatar.idle import add_idle
    from avatar.io.avatar_folder import load_avatar
    from avatar.render.animate import render_motion_to_mp4
    from avatar.speaking_style import SpeakingStyle

    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    check_fps(opts.fps)
    if opts.size is not None:
        check_size(opts.size)
    check_output_file(opts.output, "-o", VIDEO_SUFFIXES)
    if opts.save_motion:
        check_output_file(opts.save_motion, "--save-motion", (".npz",))
    device = resolve_device(opts.device)
    warm_up = start_cuda_warm_up(device)  # the CUDA context and gsplat's kernels load while the CPU decodes and predicts
    size = opts.size or (512 if device.type == "cuda" else 256)
    audio = load_speech(opts.audio, 1.0 / opts.fps)
    short = len(audio) / SPEECH_RATE <= CPU_AUDIO2MESH_SECONDS and opts.audio_encoder is None
    speaker = Speaker.load(opts.checkpoint, opts.audio_encoder, "cpu" if short else device)
    avatar = load_avatar(opts.avatar, rig_path=opts.rig)  # on the CPU until the motion is ready
    timings["load"] = time.perf_counter() - t0

    t1 = time.perf_counter()
    rig_names = avatar.rig.data.expression_names
    motion = speaker.motion(audio, opts.fps, rig_names, avatar.rig.data.name)
    if opts.style and (style := SpeakingStyle.load(opts.avatar)) is not None:
        motion = style.apply(motion, rig_names)
    if opts.idle:
        motion = Motion(add_idle(motion.params, opts.fps, rig_names, opts.seed), fps=opts.fps)
    timings["audio2mesh"] = time.perf_counter() - t1

    t2 = time.perf_counter()
    warm_up.wait()
    avatar.to(device)
    stats = render_motion_to_mp4(avatar, motion, opts.output, size=size, camera=opts.camera, audio=opts.audio, progress=opts.progress)
    timings["render_encode"] = time.perf_counter() - t2
    if opts.save_motion:
        motion.save(opts.save_motion)
    timings["total"] = time.perf_counter() - t0
    return SpeakResult(Path(opts.output), stats.frames, opts.fps, size, len(audio) / SPEECH_RATE, timings, device.type)
