"""Bad input over every command: one line on stderr, exit code 2, and nothing left in the folder
(no output under its final name, no temporary file beside it)."""

import json
import os
import pickle
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from avatar.io.audio import write_wav
from avatar.io.avatar_folder import DEFAULT_AVATAR_DIR
from l2t_avatar.cli import main
from tests.test_flame_loader import _fake_class
from tests.test_speak import speech

FAST = ["--device", "cpu", "--quiet"]
RENDER = ["render", "--demo", "--seconds", "0.2", "--size", "32", "--device", "cpu", "--quiet"]


def _speech_wav(tmp: Path) -> str:
    return str(write_wav(tmp / "speech.wav", speech(1.0)))


def _avatar_copy(tmp: Path, arrays=None, meta=None) -> str:
    """The default avatar with some arrays or avatar.json replaced."""
    folder = tmp / "tampered"
    shutil.copytree(DEFAULT_AVATAR_DIR, folder)
    if arrays is not None:
        with np.load(folder / "gaussians.npz") as z:
            d = dict(z)
        arrays(d)
        np.savez(folder / "gaussians.npz", **d)
    if meta is not None:
        (folder / "avatar.json").write_text(json.dumps(meta(json.loads((folder / "avatar.json").read_text()))))
    return str(folder)


def _set(key, value):
    def edit(d):
        d[key] = value(d) if callable(value) else value

    return edit


def _motion_with_fps_array(tmp: Path) -> str:
    path = tmp / "motion.npz"
    np.savez(path, jaw=np.zeros((10, 3), np.float32), fps=np.array([25.0, 30.0]))
    return str(path)


def _binary_file(tmp: Path) -> str:
    path = tmp / "words.txt"
    path.write_bytes(bytes(range(256)) * 4)
    return str(path)


def _huge_sparse_flame(tmp: Path, monkeypatch) -> str:
    """A FLAME-shaped pickle whose joint regressor claims a 1e6 x 1e6 (8 TB dense) matrix."""
    csc = _fake_class(monkeypatch, "scipy.sparse.csc", "csc_matrix")()
    csc.__dict__.update({"_shape": (10**6, 10**6), "indices": np.zeros(1, np.int32), "indptr": np.zeros(2, np.int32), "data": np.zeros(1)})
    model = {k: np.zeros((2, 3)) for k in ("f", "v_template", "shapedirs", "posedirs", "weights", "kintree_table")}
    model["J_regressor"] = csc
    path = tmp / "huge.pkl"
    with open(path, "wb") as fh:
        pickle.dump(model, fh, protocol=2)
    return str(path)


def _folder(tmp: Path) -> str:
    (tmp / "adir").mkdir()
    return str(tmp / "adir")


CASES = {
    # audio and containers, checked before any work
    "render corrupt audio": (
        lambda t: RENDER + ["--audio", str(_write(t / "bad.wav", b"RIFF" + bytes(64))), "-o", str(t / "o.mp4")],
        "cannot read audio",
    ),
    "render output without extension": (lambda t: RENDER + ["-o", str(t / "outnoext")], "give a file ending in .mp4"),
    "speak output without extension": (
        lambda t: ["speak", "--audio", _speech_wav(t), "-o", str(t / "outnoext")] + FAST,
        "give a file ending in .mp4",
    ),
    "speak output png": (lambda t: ["speak", "--audio", _speech_wav(t), "-o", str(t / "o.png")] + FAST, "give a file ending in .mp4"),
    # numbers
    "render size 0": (lambda t: RENDER + ["--size", "0", "-o", str(t / "o.mp4")], "--size must be an even number of pixels in 16..4096"),
    "render size odd": (lambda t: RENDER + ["--size", "33", "-o", str(t / "o.mp4")], "--size must be"),
    "render size huge": (lambda t: RENDER + ["--size", "100000", "-o", str(t / "o.mp4")], "--size must be"),
    "speak size 0": (lambda t: ["speak", "--audio", _speech_wav(t), "--size", "0", "-o", str(t / "o.mp4")] + FAST, "--size must be"),
    "speak size huge": (
        lambda t: ["speak", "--audio", _speech_wav(t), "--size", "100000", "-o", str(t / "o.mp4")] + FAST,
        "--size must be",
    ),
    "fit size huge": (lambda t: ["fit", str(t / "v.mp4"), "--size", "100000", "-o", str(t / "av")] + FAST, "--size must be"),
    "fit iterations 0": (lambda t: ["fit", str(t / "v.mp4"), "--iterations", "0", "-o", str(t / "av")] + FAST, "--iterations must be"),
    "rig-sheet tile 0": (lambda t: ["rig-sheet", "--tile", "0", "-o", str(t / "s.png")], "--tile must be"),
    "rig-sheet tile huge": (lambda t: ["rig-sheet", "--tile", "100000", "-o", str(t / "s.png")], "--tile must be"),
    "render fps 0": (lambda t: RENDER + ["--fps", "0", "-o", str(t / "o.mp4")], "--fps must be in (0, 120]"),
    "render fps negative": (lambda t: RENDER + ["--fps", "-5", "-o", str(t / "o.mp4")], "--fps must be in (0, 120]"),
    "render fps nan": (lambda t: RENDER + ["--fps", "nan", "-o", str(t / "o.mp4")], "--fps must be a finite number"),
    "render fps inf": (lambda t: RENDER + ["--fps", "inf", "-o", str(t / "o.mp4")], "--fps must be a finite number"),
    "speak fps nan": (lambda t: ["speak", "--audio", _speech_wav(t), "--fps", "nan", "-o", str(t / "o.mp4")] + FAST, "--fps must be"),
    "teacher fps nan": (lambda t: ["teacher", "--audio", _speech_wav(t), "--fps", "nan", "-o", str(t / "m.npz")], "--fps must be"),
    "data build fps inf": (lambda t: ["data", "build", "--out", str(t / "c"), "--fps", "inf", "--quiet"], "--fps must be"),
    "data from-videos fps 0": (lambda t: ["data", "from-videos", str(t / "v.mp4"), "--out", str(t / "c"), "--fps", "0"], "--fps must be"),
    "data from-videos missing video": (lambda t: ["data", "from-videos", str(t / "v.mp4"), "--out", str(t / "c")], "no such file"),
    "render seconds negative": (lambda t: RENDER + ["--seconds", "-1", "-o", str(t / "o.mp4")], "--seconds must be in (0, 600]"),
    "render seconds nan": (lambda t: RENDER + ["--seconds", "nan", "-o", str(t / "o.mp4")], "--seconds must be a finite number"),
    "render seconds 1e9": (lambda t: RENDER + ["--seconds", "1e9", "-o", str(t / "o.mp4")], "--seconds must be in (0, 600]"),
    # -o: the same rules everywhere
    "render output is a folder": (lambda t: RENDER + ["-o", _folder(t)], "is a folder"),
    "speak output is a folder": (lambda t: ["speak", "--audio", _speech_wav(t), "-o", _folder(t)] + FAST, "is a folder"),
    "export-ply output is a folder": (lambda t: ["export-ply", "-o", _folder(t)], "is a folder"),
    "teacher output is a folder": (lambda t: ["teacher", "--audio", _speech_wav(t), "-o", _folder(t)], "is a folder"),
    "render missing parent": (lambda t: RENDER + ["-o", str(t / "no" / "o.mp4")], "does not exist"),
    "speak missing parent": (lambda t: ["speak", "--audio", _speech_wav(t), "-o", str(t / "no" / "o.mp4")] + FAST, "does not exist"),
    "export-ply missing parent": (lambda t: ["export-ply", "-o", str(t / "no" / "a.ply")], "does not exist"),
    "teacher missing parent": (lambda t: ["teacher", "--audio", _speech_wav(t), "-o", str(t / "no" / "m.npz")], "does not exist"),
    "fit missing parent": (lambda t: ["fit", str(t / "v.mp4"), "-o", str(t / "no" / "av")] + FAST, "does not exist"),
    # tampered avatar folders
    "avatar NaN positions": (
        lambda t: RENDER + ["--avatar", _avatar_copy(t, _set("xyz", lambda d: np.full_like(d["xyz"], np.nan))), "-o", str(t / "o.mp4")],
        "NaN",
    ),
    "avatar binding -5": (
        lambda t: RENDER + ["--avatar", _avatar_copy(t, _set("binding", lambda d: np.full_like(d["binding"], -5))), "-o", str(t / "o.mp4")],
        "bound to triangles",
    ),
    "avatar xyz N x 2": (
        lambda t: RENDER + ["--avatar", _avatar_copy(t, _set("xyz", lambda d: d["xyz"][:, :2])), "-o", str(t / "o.mp4")],
        "xyz must be",
    ),
    "avatar unequal N": (
        lambda t: (
            RENDER + ["--avatar", _avatar_copy(t, _set("opacity_logits", lambda d: d["opacity_logits"][:-3])), "-o", str(t / "o.mp4")]
        ),
        "opacity_logits must be",
    ),
    "avatar sh N x 7 x 3": (
        lambda t: (
            RENDER
            + ["--avatar", _avatar_copy(t, _set("sh", lambda d: np.zeros((len(d["xyz"]), 7, 3), np.float32))), "-o", str(t / "o.mp4")]
        ),
        "sh must be",
    ),
    "avatar 1000 shapes": (
        lambda t: RENDER + ["--avatar", _avatar_copy(t, _set("shape", np.zeros(1000, np.float32))), "-o", str(t / "o.mp4")],
        "shape must be",
    ),
    "avatar.json string version": (
        lambda t: RENDER + ["--avatar", _avatar_copy(t, meta=lambda m: {**m, "version": "1"}), "-o", str(t / "o.mp4")],
        "version must be",
    ),
    "avatar.json a list": (
        lambda t: RENDER + ["--avatar", _avatar_copy(t, meta=lambda m: [m]), "-o", str(t / "o.mp4")],
        "is not an l2t-avatar avatar",
    ),
    "avatar.json string rig": (
        lambda t: RENDER + ["--avatar", _avatar_copy(t, meta=lambda m: {**m, "rig": "l2t-head"}), "-o", str(t / "o.mp4")],
        "rig must be an object",
    ),
    # other files
    "motion fps array": (
        lambda t: ["render", "--motion", _motion_with_fps_array(t), "--size", "32", "-o", str(t / "o.mp4")] + FAST,
        "fps must be one number",
    ),
    "binary transcript": (
        lambda t: ["teacher", "--audio", _speech_wav(t), "--transcript-file", _binary_file(t), "-o", str(t / "m.npz")],
        "not UTF-8",
    ),
    "view short token": (lambda t: ["view", "--token", "abc", "--port", "0"], "--token must be"),
    "view avatar root missing": (lambda t: ["view", "--avatar-root", str(t / "none"), "--port", "0"], "is not a folder"),
}


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def refused(args, folder: Path, message: str, capsys) -> None:
    before = {p.name for p in folder.iterdir()}
    capsys.readouterr()
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
    assert {p.name for p in folder.iterdir()} == before  # nothing written, no temporary file left


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_one_line_exit_2_and_nothing_written(case, tmp_path, capsys):
    make_args, message = CASES[case]
    args = make_args(tmp_path)
    refused(args, tmp_path, message, capsys)


def test_a_pickle_claiming_a_terabyte_is_refused(tmp_path, monkeypatch, capsys):
    refused(["rig-info", "--rig", _huge_sparse_flame(tmp_path, monkeypatch)], tmp_path, "sparse matrix of shape", capsys)


def test_sigterm_cleans_up_and_exits_143(tmp_path):
    """A render killed with SIGTERM leaves no temporary MP4 behind, like Ctrl-C."""
    out = tmp_path / "long.mp4"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "l2t_avatar",
            "render",
            "--demo",
            "--seconds",
            "60",
            "--size",
            "64",
            "--device",
            "cpu",
            "--quiet",
            "-o",
            str(out),
        ],
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        deadline = time.monotonic() + 120
        while not any(p.name.startswith(".long.") for p in tmp_path.iterdir()):  # the encoder's temporary file
            assert proc.poll() is None and time.monotonic() < deadline, "the render did not start"
            time.sleep(0.1)
        time.sleep(1.0)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 143
    finally:
        proc.kill()
    assert "terminated" in proc.stderr.read()
    assert list(tmp_path.iterdir()) == []
