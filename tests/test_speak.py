"""`l2t-avatar speak`: a valid MP4 with audio from a short clip, idle motion, and clean refusals."""

import numpy as np
import pytest
import torch

from avatar.idle import add_idle, blink_curve, head_sway
from avatar.io.audio import write_wav
from avatar.io.video import probe_video
from avatar.motion import load_motion
from l2t_avatar.cli import main


def speech(seconds, rate=16000):
    t = np.arange(int(seconds * rate)) / rate
    env = np.clip(np.sin(2 * np.pi * 2.5 * t), 0, None)
    return (0.4 * env * np.sin(2 * np.pi * 160 * t) * (1 + 0.4 * np.sin(2 * np.pi * 900 * t))).astype(np.float32)


def test_speak_writes_an_mp4_with_audio_and_the_motion(tmp_path, capsys):
    wav = write_wav(tmp_path / "s.wav", speech(2.0))
    out, motion_path = tmp_path / "out.mp4", tmp_path / "motion.npz"
    assert (
        main(
            ["speak", "--audio", str(wav), "-o", str(out), "--size", "64", "--device", "cpu", "--quiet", "--save-motion", str(motion_path)]
        )
        == 0
    )
    info = probe_video(out)
    assert abs(info["frames"] - 50) <= 1 and info["width"] == 64 and info["fps"] == 25.0
    assert abs(info["audio_seconds"] - 2.0) < 0.1
    motion = load_motion(motion_path, 4768, 39)
    assert motion.num_frames == 50 and {"expression", "jaw", "rotation"} <= set(motion.params)
    assert float(motion.params["jaw"][:, 0].max()) > 0.02  # the mouth opens for the syllables
    assert "wrote" in capsys.readouterr().out


def test_speak_at_30_fps_without_idle(tmp_path):
    wav = write_wav(tmp_path / "s.wav", speech(1.0))
    assert (
        main(
            [
                "speak",
                "--audio",
                str(wav),
                "-o",
                str(tmp_path / "o.mp4"),
                "--size",
                "32",
                "--fps",
                "30",
                "--no-idle",
                "--device",
                "cpu",
                "--quiet",
                "--save-motion",
                str(tmp_path / "m.npz"),
            ]
        )
        == 0
    )
    motion = load_motion(tmp_path / "m.npz", 4768, 39)
    assert motion.num_frames == 30 and "rotation" not in motion.params


def test_idle_motion_is_seeded_and_subtle():
    a, b = head_sway(500, 25, 3), head_sway(500, 25, 3)
    assert torch.equal(a, b) and not torch.equal(a, head_sway(500, 25, 4))
    assert float(a.abs().max()) < np.radians(3)
    blinks = blink_curve(1000, 25, 0)  # 40 s
    starts = int(((blinks[1:] > 0) & (blinks[:-1] == 0)).sum())
    assert 5 <= starts <= 20 and float(blinks.max()) > 0.9
    names = ["jawOpen", "eyeBlink_L", "eyeBlink_R"]
    out = add_idle({"expression": torch.zeros(1000, 3)}, 25, names, 0)
    assert torch.equal(out["expression"][:, 1], blinks) and out["rotation"].shape == (1000, 3)


def _bad_inputs(tmp_path):
    rng = np.random.default_rng(0)
    (tmp_path / "empty.wav").write_bytes(b"")
    (tmp_path / "corrupt.wav").write_bytes(rng.bytes(4000))
    write_wav(tmp_path / "silent.wav", np.zeros(16000, np.float32))
    write_wav(tmp_path / "short.wav", speech(0.01))
    write_wav(tmp_path / "ok.wav", speech(1.0))
    (tmp_path / "not_an_avatar").mkdir()
    return {
        "missing": ["--audio", str(tmp_path / "missing.wav")],
        "empty": ["--audio", str(tmp_path / "empty.wav")],
        "corrupt": ["--audio", str(tmp_path / "corrupt.wav")],
        "silent": ["--audio", str(tmp_path / "silent.wav")],
        "shorter_than_a_frame": ["--audio", str(tmp_path / "short.wav")],
        "unreadable_avatar": ["--audio", str(tmp_path / "ok.wav"), "--avatar", str(tmp_path / "not_an_avatar")],
        "odd_size": ["--audio", str(tmp_path / "ok.wav"), "--size", "63"],
        "bad_fps": ["--audio", str(tmp_path / "ok.wav"), "--fps", "0"],
        "bad_checkpoint": ["--audio", str(tmp_path / "ok.wav"), "--ckpt", str(tmp_path / "corrupt.wav")],
        "missing_encoder": ["--audio", str(tmp_path / "ok.wav"), "--audio-encoder", str(tmp_path / "no_model")],
    }


@pytest.mark.parametrize(
    "case",
    [
        "missing",
        "empty",
        "corrupt",
        "silent",
        "shorter_than_a_frame",
        "unreadable_avatar",
        "odd_size",
        "bad_fps",
        "bad_checkpoint",
        "missing_encoder",
    ],
)
def test_speak_rejects_bad_input_and_leaves_nothing(tmp_path, capsys, case):
    args = _bad_inputs(tmp_path)[case]
    before = set(tmp_path.iterdir())
    code = main(["speak", *args, "-o", str(tmp_path / "out.mp4"), "--save-motion", str(tmp_path / "m.npz"), "--device", "cpu", "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("l2t-avatar speak: error:"), err
    assert set(tmp_path.iterdir()) == before
