"""Speaking style from a video's own sound (l2t_avatar.style): calibration and offset recovered
from a known style, held-out figures, the avatar folder's style.json, and speak applying it."""

import json

import numpy as np
import pytest
import torch

from audio2mesh.speech import Speaker, load_speech
from avatar.io.audio import read_audio
from avatar.motion import Motion
from avatar.speaking_style import JAW, SpeakingStyle
from l2t_avatar.style import best_lag, calibrate, learn_style

HELLO = "examples/hello.wav"


def _audio() -> np.ndarray:
    """~8 s of speech: the example three times."""
    one = read_audio(HELLO)
    return np.concatenate([one, np.zeros(4000, np.float32), one, np.zeros(4000, np.float32), one])


@pytest.fixture(scope="module")
def generic(head):
    """The shipped Audio2Mesh on `_audio()`, at 25 fps."""
    return Speaker.load().motion(_audio(), 25.0, head.data.expression_names, head.data.name)


def _styled(generic: Motion, head, jaw_gain: float, mouth_gain: float, lag: int, seed: int = 0) -> tuple[dict, np.ndarray]:
    """A person who opens the jaw ``jaw_gain`` times as far and moves the mouth ``mouth_gain`` times as much,
    filmed with the video ``lag`` frames behind the sound, tracked with a little noise."""
    names = head.data.expression_names
    rng = np.random.default_rng(seed)
    n = generic.num_frames
    frames = np.arange(max(lag, 0), n + min(lag, 0))  # video frame i shows what the audio said at frame i - lag
    jaw = generic.params["jaw"][frames - lag].clone()
    jaw[:, 0] = jaw_gain * jaw[:, 0] + 0.01
    expression = generic.params["expression"][frames - lag].clone()
    mouth = [i for i, name in enumerate(names) if name.startswith("mouth")]
    expression[:, mouth] *= mouth_gain
    jaw[:, 0] += torch.from_numpy(rng.normal(0, 0.003, len(frames))).float()
    return {"jaw": jaw, "expression": expression}, frames


def test_lag_and_gain_are_recovered_and_help_on_held_out_frames(generic, head):
    tracked, frames = _styled(generic, head, jaw_gain=1.8, mouth_gain=1.4, lag=3)
    style = learn_style(generic, tracked, frames, head, Speaker.load().expression_names)
    assert style.lag_frames == 3
    gains = dict(zip(style.names, style.gain))
    assert gains[JAW] == pytest.approx(1.8, abs=0.1)
    m = style.metrics
    print(json.dumps(m, indent=1))
    assert m["generic"]["jaw_range_ratio"] < 0.65 and abs(m["adapted"]["jaw_range_ratio"] - 1) < 0.1
    assert m["adapted"]["lip_lve_mm2"] < 0.5 * m["generic"]["lip_lve_mm2"]
    assert m["adapted"]["aperture_r"] > 0.9
    assert m["heldout_frames"] > 30 and m["calibrated_on_frames"] > 4 * m["heldout_frames"] - 10


def test_apply_save_load_and_bad_files(generic, head, tmp_path):
    names = head.data.expression_names
    style = SpeakingStyle([JAW, "mouthFunnel"], [2.0, 0.5], [0.01, 0.0], 1)
    out = style.apply(generic, names)
    assert torch.allclose(out.params["jaw"][:, 0], 2.0 * generic.params["jaw"][:, 0] + 0.01)
    f = names.index("mouthFunnel")
    assert torch.allclose(out.params["expression"][:, f], 0.5 * generic.params["expression"][:, f])
    others = [i for i in range(len(names)) if i != f]
    assert torch.equal(out.params["expression"][:, others], generic.params["expression"][:, others])
    style.save(tmp_path)
    assert SpeakingStyle.load(tmp_path).gain == [2.0, 0.5] and SpeakingStyle.load(tmp_path / "none") is None
    from avatar.errors import L2TError

    (tmp_path / "style.json").write_text('{"names": ["jaw"], "gain": [1, 2], "offset": [0], "lag_frames": 0}')
    with pytest.raises(L2TError, match="not a speaking style"):
        SpeakingStyle.load(tmp_path)


def test_helpers_on_known_signals():
    t = np.arange(200)
    x = np.sin(t / 5.0) + 0.3 * np.sin(t / 1.7)
    assert best_lag(x, x[np.arange(200) - 4], np.arange(200)) == 4
    gain, offset = calibrate(np.stack([x, np.zeros(200)], 1), np.stack([2.5 * x + 1, np.ones(200)], 1))
    assert gain[0] == pytest.approx(2.5) and offset[0] == pytest.approx(1.0) and gain[1] == 1.0 and offset[1] == 1.0
    assert calibrate(x[:, None], 10 * x[:, None])[0][0] == 3.0  # gains are kept in [0.25, 3]


def test_speak_applies_the_avatar_style_unless_told_not_to(tmp_path):
    from avatar.io.avatar_folder import load_avatar, save_avatar
    from l2t_avatar.cli import main

    folder = tmp_path / "me"
    save_avatar(load_avatar(), folder)
    SpeakingStyle([JAW], [2.0], [0.05], 0).save(folder)
    common = ["speak", "--audio", HELLO, "--avatar", str(folder), "--size", "32", "--fps", "5", "--no-idle", "--quiet", "--device", "cpu"]
    assert main([*common, "-o", str(tmp_path / "a.mp4"), "--save-motion", str(tmp_path / "a.npz")]) == 0
    assert main([*common, "--no-style", "-o", str(tmp_path / "b.mp4"), "--save-motion", str(tmp_path / "b.npz")]) == 0
    styled, plain = (np.load(tmp_path / f"{x}.npz")["jaw"][:, 0] for x in "ab")
    assert np.allclose(styled, 2.0 * plain + 0.05, atol=1e-5)
    assert len(load_speech(HELLO, 0.04)) > 0


@pytest.fixture(scope="module")
def talking_fit(head, tmp_path_factory):
    """The default avatar speaks with a wide jaw (1.8x the generic model's) into a 64-pixel clip with
    its sound (8.6 s at 10 fps), fitted with a short tracking recipe: (clip, avatar folder)."""
    from avatar.fit.pipeline import FitOptions, fit_avatar
    from avatar.fit.tracking import TrackingConfig
    from avatar.io.audio import write_wav
    from avatar.io.avatar_folder import load_avatar
    from avatar.render.animate import render_motion_to_mp4
    from avatar.rig import load_rig

    folder = tmp_path_factory.mktemp("talking")
    one = read_audio(HELLO)
    audio = np.concatenate([one, np.zeros(6000, np.float32), one])
    fps = 10.0
    plain = Speaker.load().motion(audio, fps, head.data.expression_names, head.data.name)
    jaw = plain.params["jaw"].clone()
    jaw[:, 0] = 1.8 * jaw[:, 0]
    clip = folder / "talk.mp4"
    render_motion_to_mp4(
        load_avatar(), Motion({**plain.params, "jaw": jaw}, fps=fps), clip, size=64, audio=write_wav(folder / "s.wav", audio)
    )
    opts = FitOptions(size=64, iterations=2, progress=False, preview=False, tracking=TrackingConfig(rigid_steps=60, steps=180))
    return clip, fit_avatar(clip, folder / "me", load_rig(), opts, log=lambda *a: None).folder


def test_fit_learns_the_style_of_a_talking_clip_with_sound(talking_fit):
    """The style learned from the clip's sound reproduces the tracked mouth on the held-out end of
    the clip far better than the generic model. (Against the true motion it cannot: tracking at
    this size sees ~0.7 of the true mouth opening, and the style learns what tracking saw; README,
    "Speaking style".)"""
    from avatar.rig import load_rig
    from l2t_avatar.style import fit_style

    clip, fitted = talking_fit
    notes = []
    style = fit_style(clip, fitted, load_rig(), log=notes.append)
    assert style is not None and not notes and (fitted / "speech.wav").is_file() and SpeakingStyle.load(fitted) is not None
    m = json.loads((fitted / "metrics.json").read_text())["style"]
    print(json.dumps(m, indent=1))
    assert abs(style.lag_frames) <= 1 and m["lag_by"] == "syncnet3d"
    assert 0 < m["seconds"] < 60  # what learning the style adds to the fit
    assert m["adapted"]["lip_lve_mm2"] < 0.5 * m["generic"]["lip_lve_mm2"]
    assert abs(m["adapted"]["aperture_range_ratio"] - 1) < abs(m["generic"]["aperture_range_ratio"] - 1)
    # resynthesis: the avatar speaking the held-out sound looks more like the real mouth when styled
    r = m["resynthesis"]
    assert r["frames"] >= 10 and r["box_pixels"] >= 8
    assert r["adapted"]["mouth_psnr"] > r["generic"]["mouth_psnr"] and r["adapted"]["mouth_ssim"] > r["generic"]["mouth_ssim"]
    assert r["tracked"]["mouth_psnr"] > r["generic"]["mouth_psnr"]  # the tracked motion is the ceiling of what speech can give


def test_too_little_or_no_sound_gives_no_style(talking_fit, tmp_path):
    import shutil

    from avatar.fit.synthetic import render_synthetic_clip
    from avatar.io.audio import write_wav
    from avatar.io.avatar_folder import load_avatar
    from avatar.rig import load_rig
    from l2t_avatar.style import fit_style

    folder = tmp_path / "me"
    shutil.copytree(talking_fit[1], folder)
    (folder / "style.json").unlink(missing_ok=True)
    notes = []
    short = write_wav(tmp_path / "short.wav", read_audio(HELLO)[: 2 * 16000])
    assert fit_style(short, folder, load_rig(), log=notes.append) is None  # 2 s of sound
    assert notes == ["note: 2.0 s of tracked speech; a speaking style needs 4 s"]
    assert fit_style(HELLO, folder, load_rig(), log=notes.append) is None  # 4 s of sound for 8.6 s of video: no held-out end
    assert "does not reach the end of the video" in notes[-1]
    assert fit_style(write_wav(tmp_path / "quiet.wav", np.zeros(16000 * 8, np.float32)), folder, load_rig(), log=notes.append) is None
    assert "silent" in notes[-1] and not (folder / "style.json").exists()
    render_synthetic_clip(load_avatar(), tmp_path / "mute.mp4", num_frames=4, size=64)
    count = len(notes)
    assert fit_style(tmp_path / "mute.mp4", folder, load_rig(), log=notes.append) is None and len(notes) == count  # no sound: nothing said


def test_syncnet3d_finds_how_far_the_picture_lags_the_sound(generic, head):
    """The tracked lips of a person filmed `lag` frames behind the sound (wider jaw, a little
    noise), scored against the sound by the shipped SyncNet3D, at 25 fps and at 12.5 fps."""
    from audio2mesh.data.av_offset import expert_lag

    audio = _audio()
    for lag in (-5, 0, 3, 8):
        tracked, frames = _styled(generic, head, jaw_gain=1.8, mouth_gain=1.4, lag=lag)
        assert expert_lag(audio, tracked, frames, 25.0, head) == lag
    tracked, frames = _styled(generic, head, jaw_gain=1.8, mouth_gain=1.4, lag=6)  # 0.24 s late
    even = frames % 2 == 0  # the same clip filmed at 12.5 fps: 3 of its frames late
    assert expert_lag(audio, {k: v[even] for k, v in tracked.items()}, frames[even] // 2, 12.5, head) == 3


def test_a_rig_the_expert_was_not_trained_on_falls_back_to_the_jaw_correlation(generic, head):
    import copy

    from audio2mesh.data.av_offset import expert_lag, video_lag

    other = copy.deepcopy(head)
    other.data.name = "another-head"  # same topology, but not the lips SyncNet3D learned
    tracked, frames = _styled(generic, head, jaw_gain=1.8, mouth_gain=1.4, lag=4)
    assert expert_lag(_audio(), tracked, frames, 25.0, other) is None
    assert video_lag(_audio(), tracked, frames, 25.0, other, generic.params["jaw"][:, 0].numpy()) == (4, "jaw correlation")
    assert video_lag(_audio(), tracked, frames, 25.0, head, generic.params["jaw"][:, 0].numpy()) == (4, "syncnet3d")
