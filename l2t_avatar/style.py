"""Your way of speaking: Audio2Mesh's jaw and mouth, recalibrated to the person of a fitted video.

A talking video with sound is a 2D talking face: its tracked rig motion, paired with its own
audio, is a pseudo-3D label of how this person speaks (Learn2Talk's "3D learns from 2D"). The
simplest adaptation that this label supports is calibrated here: for the jaw's opening and
each mouth expression, a gain and an offset that map the generic model's motion onto the
tracked motion (least squares, gains kept in [0.25, 3]). The audio-video offset comes first,
SyncNet3D's over +-15 frames (audio2mesh/data/av_offset.py).
The last 20% of the video is held out: ``metrics`` compares the generic and the adapted motion
with the tracked motion there (jaw range and correlation, lip gap range and correlation, lip
vertex error).

``fit`` writes ``style.json`` into the avatar folder when the video has enough sound;
``speak --avatar`` applies it (``--no-style`` leaves it out).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import torch

from audio2mesh.data.av_offset import best_lag, video_lag
from avatar.motion import Motion
from avatar.speaking_style import JAW, SpeakingStyle

MIN_STYLE_SECONDS = 4.0  # less tracked speech than this: no style
HOLDOUT = 0.2  # the last part of the video, never calibrated on
GAIN_RANGE = (0.25, 3.0)


def adapted_parameters(model_names: list[str]) -> list[str]:
    """What the style adapts: the jaw's opening and the model's mouth expressions."""
    return [JAW] + [n for n in model_names if n.startswith("mouth")]


def _columns(params: dict[str, torch.Tensor], names: list[str], rig_names: list[str]) -> np.ndarray:
    """[T, P] of the adapted parameters from a Motion's params."""
    cols = [params["jaw"][:, 0] if n == JAW else params["expression"][:, rig_names.index(n)] for n in names]
    return torch.stack(cols, 1).double().numpy()


def calibrate(generic: np.ndarray, tracked: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-column least-squares gain and offset [P] mapping generic [N, P] onto tracked [N, P]."""
    g_mean, t_mean = generic.mean(0), tracked.mean(0)
    g_var = generic.var(0)
    cov = ((generic - g_mean) * (tracked - t_mean)).mean(0)
    gain = np.where(g_var > 1e-8, cov / np.maximum(g_var, 1e-12), 1.0)
    gain = np.clip(gain, *GAIN_RANGE)
    return gain, t_mean - gain * g_mean


def learn_style(
    generic: Motion, tracked: dict[str, torch.Tensor], video_frames: np.ndarray, rig, model_names: list[str], lag: int | None = None
) -> SpeakingStyle:
    """The speaking style that maps ``generic`` (Audio2Mesh on the video's whole audio, at the
    video's frame rate) onto ``tracked`` (rig parameters of the tracked frames, at ``video_frames``),
    the video ``lag`` frames behind the sound (None: the lag at which the jaws correlate best)."""
    rig_names = rig.data.expression_names
    names = [n for n in adapted_parameters(model_names) if n == JAW or n in rig_names]
    gen = _columns(generic.params, names, rig_names)
    trk = _columns(tracked, names, rig_names)
    lag = best_lag(gen[:, 0], trk[:, 0], video_frames) if lag is None else lag
    (fit_audio, fit_rows), (held_audio, held_rows) = paired_rows(len(gen), video_frames, lag)
    gain, offset = calibrate(gen[fit_audio], trk[fit_rows])
    style = SpeakingStyle(names, gain.tolist(), offset.tolist(), int(lag))
    style.metrics = heldout_metrics(generic, style, tracked, held_audio, held_rows, rig)
    style.metrics.update(calibrated_on_frames=int(len(fit_rows)), heldout_frames=int(len(held_rows)))
    return style


def paired_rows(audio_frames: int, video_frames: np.ndarray, lag: int):
    """((audio frames, tracked rows) calibrated on, (audio frames, tracked rows) held out): tracked
    row i shows audio frame video_frames[i] - lag; the last HOLDOUT of the rows are held out."""
    idx = video_frames - lag
    ok = (idx >= 0) & (idx < audio_frames)
    cut = int(round((1 - HOLDOUT) * len(video_frames)))
    fit_rows, held_rows = np.flatnonzero(ok[:cut]), cut + np.flatnonzero(ok[cut:])
    return (idx[fit_rows], fit_rows), (idx[held_rows], held_rows)


def heldout_metrics(generic: Motion, style: SpeakingStyle, tracked: dict, audio_rows: np.ndarray, rows: np.ndarray, rig) -> dict:
    """Generic and adapted motion against the tracked motion on the held-out frames."""
    from audio2mesh.metrics import correlation, lip_vertex_errors
    from avatar.rig.region import RegionRig
    from sync_expert.targets import motion_lip_gap

    if len(rows) < 3:
        return {}
    names = rig.data.expression_names
    truth = Motion({k: tracked[k][rows] for k in ("jaw", "expression")}, fps=generic.fps)
    lips = RegionRig(rig, rig.region("lips"))
    truth_lips = lips(truth.params["expression"], truth.params["jaw"])
    truth_gap = motion_lip_gap(truth, rig)
    out = {}
    for label, motion in (("generic", generic), ("adapted", style.apply(generic, names))):
        part = Motion({k: motion.params[k][audio_rows] for k in ("jaw", "expression")}, fps=generic.fps)
        gap = motion_lip_gap(part, rig)
        jaw, truth_jaw = part.params["jaw"][:, 0].numpy(), truth.params["jaw"][:, 0].numpy()
        with torch.no_grad():
            lve, _ = lip_vertex_errors(lips(part.params["expression"], part.params["jaw"]), truth_lips)
        out[label] = {
            "jaw_range_ratio": _spread(jaw) / max(_spread(truth_jaw), 1e-9),
            "jaw_r": correlation(jaw, truth_jaw),
            "aperture_range_ratio": _spread(gap) / max(_spread(truth_gap), 1e-9),
            "aperture_r": correlation(gap, truth_gap),
            "lip_lve_mm2": lve,
        }
    return out


def resynthesis(folder: Path, tracked, generic: Motion, style: SpeakingStyle, rig, device="cpu") -> dict:
    """The fitted avatar speaking the held-out end of its video's sound, generic and styled, against
    the real frames: mouth-box PSNR/SSIM (``l2t_avatar.resynthesis``); the tracked motion is the ceiling."""
    from avatar.io.avatar_folder import load_avatar
    from l2t_avatar.resynthesis import mouth_metrics

    _, (audio_rows, rows) = paired_rows(generic.num_frames, tracked.video_frames, style.lag_frames)
    adapted = style.apply(generic, rig.data.expression_names)
    motions = {
        name: {k: motion.params[k][torch.from_numpy(audio_rows)] for k in ("jaw", "expression")}
        for name, motion in (("generic", generic), ("adapted", adapted))
    }
    return mouth_metrics(load_avatar(folder, device=device), tracked, rows, motions)


def _spread(x: np.ndarray) -> float:
    return float(np.percentile(x, 95) - np.percentile(x, 5))


def fit_style(video: str | Path, folder: str | Path, rig, log=print, checkpoint: str | None = None, device="cpu") -> SpeakingStyle | None:
    """Learn the speaking style of a freshly fitted avatar from its video's sound and write
    ``style.json`` and ``speech.wav`` (the pseudo-3D pair: the sound beside ``tracked/``) into
    ``folder``, and the held-out figures into its metrics.json. None, with one line said, when the
    video has no usable sound."""
    from audio2mesh.speech import Speaker
    from avatar.io.atomic import atomic_write_bytes
    from avatar.io.audio import SPEECH_RATE, has_audio_track, read_audio, write_wav
    from avatar.io.tracked_folder import read_tracked_folder

    folder = Path(folder)
    if not has_audio_track(video):
        return None  # a video without sound fits as it always did
    start = time.perf_counter()
    audio = read_audio(video)
    tracked = read_tracked_folder(folder / "tracked", rig.num_vertices, rig.num_expressions)
    seconds = len(tracked.video_frames) / tracked.fps
    if len(audio) == 0 or float(np.abs(audio).max()) < 1e-3:
        log("note: the video's sound is silent; fitted without a speaking style")
        return None
    if min(seconds, len(audio) / SPEECH_RATE) < MIN_STYLE_SECONDS:
        log(f"note: {min(seconds, len(audio) / SPEECH_RATE):.1f} s of tracked speech; a speaking style needs {MIN_STYLE_SECONDS:.0f} s")
        return None
    speaker = Speaker.load(checkpoint)
    generic = speaker.motion(audio, tracked.fps, rig.data.expression_names, rig.data.name)
    lag, lag_by = video_lag(audio, tracked.params, tracked.video_frames, tracked.fps, rig.cpu(), generic.params["jaw"][:, 0].numpy())
    style = learn_style(generic, tracked.params, tracked.video_frames, rig.cpu(), speaker.expression_names, lag)
    style.metrics["lag_by"] = lag_by
    if style.metrics.get("heldout_frames", 0) < 5:
        log("note: the sound does not reach the end of the video (held out for checking the style); fitted without a speaking style")
        return None
    style.metrics["resynthesis"] = resynthesis(folder, tracked, generic, style, rig, device)
    style.metrics["seconds"] = round(time.perf_counter() - start, 2)  # what the style adds to a fit
    style.save(folder)
    write_wav(folder / "speech.wav", audio)
    metrics_path = folder / "metrics.json"
    if metrics_path.is_file():
        metrics = json.loads(metrics_path.read_text())
        metrics["style"] = {"lag_frames": style.lag_frames, **style.metrics}
        atomic_write_bytes(metrics_path, (json.dumps(metrics, indent=1) + "\n").encode())
    return style
