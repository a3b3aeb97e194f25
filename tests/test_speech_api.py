"""The speech API (audio2mesh.speech): what speak, the viewer and eval call."""

import numpy as np
import pytest
import torch

from audio2mesh.speech import Speaker, expression_map, load_speech
from avatar.errors import L2TError
from avatar.io.audio import write_wav
from avatar.rig import load_rig
from tests.test_speak import speech


@pytest.fixture(scope="module")
def speaker():
    return Speaker.load()


def test_offline_and_streamed_motion_agree(speaker):
    rig = load_rig()
    names, label = rig.data.expression_names, rig.data.name
    audio = speech(2.0)
    whole = speaker.motion(audio, 25.0, names, label)
    assert whole.num_frames == 50 and whole.params["expression"].shape == (50, rig.num_expressions)
    assert float(whole.params["jaw"][:, 0].max()) > 0.02  # the mouth opens
    stream = speaker.stream(25.0, names, label)
    parts = [stream.push(audio[i : i + 1600]) for i in range(0, len(audio), 1600)] + [stream.flush()]
    jaw = torch.cat([p.params["jaw"] for p in parts])
    assert jaw.shape == (50, 3) and not jaw.requires_grad
    # The stream normalises with running statistics of what it has heard, the offline pass with the clip's own.
    assert float((jaw - whole.params["jaw"]).abs().max()) < 0.03
    assert 0.1 < stream.lookahead_seconds < 0.5


def test_bad_speech_and_rigs_are_refused(speaker, tmp_path):
    with pytest.raises(L2TError, match="silent"):
        load_speech(write_wav(tmp_path / "q.wav", np.zeros(16000, np.float32)), 0.04)
    with pytest.raises(L2TError, match="longer than 1 s"):
        load_speech(write_wav(tmp_path / "long.wav", speech(2.0)), 0.04, max_seconds=1.0)
    with pytest.raises(L2TError, match="lacks"):
        expression_map(speaker.expression_names, ["jawOpen"], "tiny-rig")
