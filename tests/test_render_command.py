"""`l2t-avatar render` and `export-ply` on the CPU, and their errors."""

import numpy as np
import pytest

from avatar.io.video import probe_video
from avatar.motion import demo_motion, load_motion
from l2t_avatar.cli import main
from tests.test_io import write_tone


def test_render_demo_16_frames_on_cpu(tmp_path, capsys):
    wav = write_tone(tmp_path / "a.wav", 16 / 25)
    out = tmp_path / "demo.mp4"
    code = main(
        ["render", "--demo", "--seconds", str(16 / 25), "--size", "128", "--device", "cpu", "--audio", str(wav), "-o", str(out), "--quiet"]
    )
    assert code == 0
    info = probe_video(out)
    assert (info["frames"], info["width"], info["height"]) == (16, 128, 128)
    assert abs(info["audio_seconds"] - 0.64) < 0.06
    assert "16 frames" in capsys.readouterr().out


def test_render_motion_file_with_vertices(tmp_path, head):
    import torch

    verts = head(jaw=torch.linspace(0, 0.3, 6)[:, None] * torch.tensor([[1.0, 0, 0]])).vertices
    np.savez(tmp_path / "m.npz", vertices=verts.numpy(), fps=np.array(30.0))
    out = tmp_path / "m.mp4"
    assert main(["render", "--motion", str(tmp_path / "m.npz"), "--size", "64", "--device", "cpu", "-o", str(out), "--quiet"]) == 0
    info = probe_video(out)
    assert info["frames"] == 6 and abs(info["fps"] - 30) < 0.01
    # Opening the jaw changes the picture.
    import imageio.v3 as iio

    frames = iio.imread(out)
    assert np.abs(frames[0].astype(float) - frames[-1].astype(float)).mean() > 0.5


def _bad(tmp_path, **arrays):
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    return path


@pytest.mark.parametrize(
    "arrays, message",
    [
        ({"jaw": np.zeros((5, 4))}, "jaw must be"),
        ({"jaw": np.full((5, 3), np.nan)}, "NaN"),
        ({"smile": np.zeros((5, 3))}, "unknown keys"),
        ({"jaw": np.zeros((5, 3)), "neck": np.zeros((4, 3))}, "same number of frames"),
        ({"vertices": np.zeros((5, 10, 3))}, "vertices must be"),
        ({"expression": np.zeros((5, 500))}, "expression must be"),
    ],
)
def test_bad_motion_is_one_line_exit_2_and_no_output(tmp_path, capsys, arrays, message):
    out = tmp_path / "out.mp4"
    code = main(["render", "--motion", str(_bad(tmp_path, **arrays)), "--size", "32", "--device", "cpu", "-o", str(out), "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and message in err[0]
    assert not out.exists()


def test_render_other_errors(tmp_path, capsys):
    assert main(["render", "--motion", str(tmp_path / "none.npz"), "-o", str(tmp_path / "o.mp4")]) == 2
    assert main(["render", "--demo", "--size", "33", "-o", str(tmp_path / "o.mp4")]) == 2
    assert main(["render", "-o", str(tmp_path / "o.mp4")]) == 2
    assert main(["render", "--demo", "--avatar", str(tmp_path), "-o", str(tmp_path / "o.mp4")]) == 2
    assert not (tmp_path / "o.mp4").exists()


def test_export_ply_command(tmp_path, head):
    out = tmp_path / "f.ply"
    assert main(["export-ply", "--demo", "--frame", "10", "-o", str(out)]) == 0
    from avatar.io.ply import read_splat_ply

    assert len(read_splat_ply(out)["means"]) > 10000
    assert main(["export-ply", "--demo", "--frame", "1000", "-o", str(tmp_path / "g.ply")]) == 2


def test_motion_save_load_and_resample(tmp_path, head):
    motion = demo_motion(head.data.expression_names, seconds=2.0, fps=25)
    motion.save(tmp_path / "m.npz")
    back = load_motion(tmp_path / "m.npz", head.num_vertices, head.num_expressions)
    assert back.num_frames == 50 and back.fps == 25
    assert np.allclose(back.params["jaw"].numpy(), motion.params["jaw"].numpy())
    assert motion.resample(50).num_frames == 100
