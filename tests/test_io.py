"""Avatar folders, PLY, MP4 and atomic outputs."""

import wave

import numpy as np
import pytest
import torch

from avatar.errors import L2TError
from avatar.io.atomic import atomic_path
from avatar.io.avatar_folder import load_avatar, save_avatar
from avatar.io.ply import read_splat_ply, write_splat_ply
from avatar.io.video import Mp4Writer, probe_video


def write_tone(path, seconds, rate=16000):
    t = np.arange(int(seconds * rate)) / rate
    samples = (0.3 * np.sin(2 * np.pi * 220 * t) * 32767).astype(np.int16)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(samples.tobytes())
    return path


def test_default_avatar_loads_and_is_small():
    avatar = load_avatar()
    assert avatar.model.num_gaussians > 10000 and avatar.model.sh_degree >= 1
    assert avatar.meta["rig"] == {"name": "l2t-head"}
    assert avatar.meta["made_by"]["heldout_psnr_vs_mesh"] > 25


def test_avatar_folder_round_trip_is_bit_exact(tmp_path):
    avatar = load_avatar()
    with torch.no_grad():
        avatar.model.xyz.add_(torch.randn_like(avatar.model.xyz) * 1e-3)
    avatar.shape = torch.randn(avatar.rig.num_shapes)
    avatar.vertex_offsets = torch.randn(avatar.rig.num_vertices, 3) * 1e-3
    save_avatar(avatar, tmp_path / "av", command="test")
    again = load_avatar(tmp_path / "av")
    for name in ("binding", "xyz", "log_scales", "rotations", "opacity_logits", "sh"):
        assert torch.equal(getattr(again.model, name), getattr(avatar.model, name)), name
    assert torch.equal(again.shape, avatar.shape) and torch.equal(again.vertex_offsets, avatar.vertex_offsets)
    assert again.meta["command"] == "test" and again.meta["sh_degree"] == avatar.model.sh_degree


def test_bad_avatar_folders(tmp_path):
    with pytest.raises(L2TError, match="not found"):
        load_avatar(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(L2TError, match="not an avatar folder"):
        load_avatar(tmp_path / "empty")


def test_ply_round_trip(tmp_path):
    avatar = load_avatar()
    w = avatar.world(avatar.neutral_vertices())
    path = write_splat_ply(tmp_path / "a.ply", w.means[0], w.quats[0], w.scales[0], w.opacities, w.sh)
    back = read_splat_ply(path)
    assert np.allclose(back["means"], w.means[0].numpy(), atol=1e-7)
    assert np.allclose(back["quats"], w.quats[0].numpy(), atol=1e-7)
    assert np.allclose(back["scales"], w.scales[0].numpy(), rtol=1e-5)
    assert np.allclose(back["opacities"], w.opacities.detach().numpy(), atol=1e-5)
    assert np.allclose(back["sh"], w.sh.detach().numpy(), atol=1e-7)
    from plyfile import PlyData

    names = PlyData.read(str(path))["vertex"].data.dtype.names
    k = w.sh.shape[1]
    assert names[:9] == ("x", "y", "z", "nx", "ny", "nz", "f_dc_0", "f_dc_1", "f_dc_2")
    assert names[-8:] == ("opacity", "scale_0", "scale_1", "scale_2", "rot_0", "rot_1", "rot_2", "rot_3")
    assert sum(n.startswith("f_rest_") for n in names) == 3 * (k - 1)


def test_mp4_frames_size_and_audio(tmp_path):
    wav = write_tone(tmp_path / "tone.wav", 0.8)
    out = tmp_path / "v.mp4"
    with Mp4Writer(out, 64, 48, fps=25, audio=wav) as w:
        for i in range(20):
            frame = np.zeros((48, 64, 3), np.uint8)
            frame[:, : 3 * i] = 255
            w.write(frame)
    info = probe_video(out)
    assert (info["frames"], info["width"], info["height"]) == (20, 64, 48)
    assert abs(info["fps"] - 25) < 0.01
    assert abs(info["audio_seconds"] - 0.8) < 0.06


def test_mp4_without_audio_and_odd_sizes(tmp_path):
    with Mp4Writer(tmp_path / "a.mp4", 32, 32, fps=30) as w:
        w.write(np.zeros((32, 32, 3), np.float32))
    assert probe_video(tmp_path / "a.mp4")["audio_seconds"] == 0.0
    with pytest.raises(L2TError, match="even"):
        Mp4Writer(tmp_path / "b.mp4", 33, 32, fps=25)


def test_failed_write_leaves_nothing(tmp_path):
    out = tmp_path / "v.mp4"
    with pytest.raises(RuntimeError):
        with Mp4Writer(out, 32, 32, fps=25) as w:
            w.write(np.zeros((32, 32, 3), np.uint8))
            raise RuntimeError("crash mid-render")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError):
        with atomic_path(tmp_path / "x.txt") as tmp:
            tmp.write_text("half")
            raise ValueError("boom")
    assert list(tmp_path.iterdir()) == []


def test_torch_files_are_read_without_running_anything(tmp_path):
    import os
    import pickle

    import pytest
    import torch

    from avatar.errors import L2TError
    from avatar.io.torch_file import load_torch_file

    marker = tmp_path / "ran"

    class Planted:
        def __reduce__(self):
            return os.system, (f"touch {marker}",)

    torch.save({"weights": torch.ones(3), "payload": Planted()}, tmp_path / "planted.pt")
    with pytest.raises(L2TError, match="refusing .* never unpickles"):
        load_torch_file(tmp_path / "planted.pt", "checkpoint")
    assert not marker.exists()
    (tmp_path / "junk.pt").write_bytes(pickle.dumps("x")[:3])
    with pytest.raises(L2TError, match="cannot read checkpoint"):
        load_torch_file(tmp_path / "junk.pt", "checkpoint")
    with pytest.raises(L2TError, match="not found"):
        load_torch_file(tmp_path / "missing.pt", "checkpoint")
    torch.save({"w": torch.arange(4), "n": 3, "names": ["a"]}, tmp_path / "good.pt")
    good = load_torch_file(tmp_path / "good.pt", "checkpoint")
    assert good["n"] == 3 and good["names"] == ["a"] and torch.equal(good["w"], torch.arange(4))


def test_an_encoder_failure_is_one_line_and_leaves_no_file(tmp_path):
    """ffmpeg failing on a soundtrack it cannot read (checked by the CLI, not by the writer) is an
    L2TError, and the temporary MP4 is removed."""
    import pytest

    from avatar.errors import L2TError
    from avatar.io.video import Mp4Writer

    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF" + bytes(64))
    with pytest.raises(L2TError, match="ffmpeg could not write"):
        with Mp4Writer(tmp_path / "out.mp4", 32, 32, 25, audio=bad) as writer:
            for _ in range(5):
                writer.write(np.zeros((32, 32, 3), np.uint8))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.wav"]
