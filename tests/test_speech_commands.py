"""`l2t-avatar teacher` and `l2t-avatar data build` from the command line, and their errors."""

import json

import numpy as np
import pytest

from audio2mesh.data import align
from audio2mesh.data.tts import Espeak
from avatar.io.audio import write_wav
from avatar.io.video import probe_video
from avatar.motion import load_motion
from l2t_avatar.cli import main
from tests.conftest import needs
from tests.test_io import write_tone

SENTENCE = "My brother fixed five big wooden boats."


@pytest.fixture(scope="module")
def spoken(tmp_path_factory):
    speech = Espeak().synthesize(SENTENCE, "en-us+m2", 170)
    return write_wav(tmp_path_factory.mktemp("speech") / "speech.wav", speech.audio), speech


@needs(Espeak.available() and align.available(), "espeak-ng and pocketsphinx")
def test_teacher_writes_a_motion_that_renders(spoken, tmp_path, head, capsys):
    wav, speech = spoken
    motion_path = tmp_path / "motion.npz"
    assert main(["teacher", "--audio", str(wav), "--transcript", SENTENCE, "-o", str(motion_path)]) == 0
    motion = load_motion(motion_path, head.num_vertices, head.num_expressions)
    assert motion.num_frames == round(speech.seconds * 25) and set(motion.params) == {"expression", "jaw"}
    assert "render it with" in capsys.readouterr().out
    out = tmp_path / "teacher.mp4"
    assert (
        main(["render", "--motion", str(motion_path), "--audio", str(wav), "--size", "48", "--device", "cpu", "-o", str(out), "--quiet"])
        == 0
    )
    info = probe_video(out)
    assert info["frames"] == motion.num_frames and abs(info["audio_seconds"] - speech.seconds) < 0.06


@needs(Espeak.available() and align.available(), "espeak-ng and pocketsphinx")
def test_teacher_without_transcript_or_with_unknown_words_recognises_speech(spoken, tmp_path, capsys):
    wav, _ = spoken
    assert main(["teacher", "--audio", str(wav), "-o", str(tmp_path / "a.npz")]) == 0
    assert "speech recognition" in capsys.readouterr().err
    assert main(["teacher", "--audio", str(wav), "--transcript", "My brother fixed five zxqv boats", "-o", str(tmp_path / "b.npz")]) == 0
    assert "zxqv" in capsys.readouterr().err


@pytest.mark.parametrize("case", ["missing", "empty", "corrupt", "silent", "short"])
def test_teacher_bad_audio(case, tmp_path, capsys):
    audio = tmp_path / "in.wav"
    if case == "empty":
        audio.write_bytes(b"")
    elif case == "corrupt":
        audio.write_bytes(b"RIFF\x00\x00garbage" * 20)
    elif case == "silent":
        write_wav(audio, np.zeros(16000, np.float32))
    elif case == "short":
        write_tone(audio, 0.01)
    out = tmp_path / "m.npz"
    assert main(["teacher", "--audio", str(audio), "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("l2t-avatar teacher: error:") and len(err.splitlines()) == 1
    assert not out.exists() and [p.name for p in tmp_path.iterdir()] == (["in.wav"] if case != "missing" else [])


@needs(Espeak.available() and align.available(), "espeak-ng and pocketsphinx")
def test_data_build_command(tmp_path, capsys):
    out = tmp_path / "corpus"
    assert main(["data", "build", "--out", str(out), "--hours", "0.003", "--seed", "1", "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "utterances" in printed and "phones covered" in printed and "minutes by split" in printed
    assert json.loads((out / "corpus.json").read_text())["summary"]["items"] >= 2
    assert main(["data", "build", "--out", str(out), "--hours", "-1", "--quiet"]) == 2
    assert main(["data", "build", "--out", str(out / "corpus.json"), "--quiet"]) == 2
    assert main(["data", "build", "--out", str(tmp_path / "other"), "--fps", "0", "--quiet"]) == 2
    assert main(["data", "build", "--out", str(out), "--hours", "0.003", "--seed", "2", "--quiet"]) == 2
    assert "seed" in capsys.readouterr().err
