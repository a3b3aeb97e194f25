"""Live speech: the live model, audio arriving in chunks, the voices that animate tabs, and the websockets."""

import json
import struct
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from audio2mesh.speech import Speaker
from avatar.errors import L2TError
from avatar.io.audio import SPEECH_RATE, read_audio, resample
from avatar.motion import frames_for
from avatar.rig import load_rig
from viewer.live import LISTEN_AFTER, LISTEN_FADE, LiveLayer, LiveVoice
from viewer.live_audio import PcmDecoder, StreamResampler

HELLO = Path(__file__).resolve().parents[1] / "examples" / "hello.wav"


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def live_speaker():
    return Speaker.load("live")


@pytest.fixture(scope="module")
def rig():
    return load_rig()


@pytest.fixture(scope="module")
def hello():
    return read_audio(HELLO)


def test_the_live_model_looks_ahead_at_most_100_ms_and_streams_as_it_runs_offline(live_speaker, rig, hello):
    names, label = rig.data.expression_names, rig.data.name
    stream = live_speaker.stream(25.0, names, label)
    assert stream.lookahead_seconds <= 0.1
    assert Speaker.load().stream(25.0, names, label).lookahead_seconds > 0.25  # the offline default looks further
    whole = live_speaker.motion(hello, 25.0, names, label)
    parts = [stream.push(hello[i : i + 320]) for i in range(0, len(hello), 320)] + [stream.flush()]
    jaw = torch.cat([p.params["jaw"] for p in parts])
    assert jaw.shape == whole.params["jaw"].shape
    # running statistics in the stream, the clip's own offline: the same motion up to that
    assert float(torch.corrcoef(torch.stack([jaw[:, 0], whole.params["jaw"][:, 0]]))[0, 1]) > 0.95
    assert float(whole.params["jaw"][:, 0].max()) > 0.05  # the mouth opens on real speech


def test_resampling_in_chunks_equals_one_pass_and_scipy():
    rate = 44100
    t = np.arange(rate) / rate
    x = (0.5 * np.sin(2 * np.pi * 440 * t) + 0.2 * np.sin(2 * np.pi * 3000 * t)).astype(np.float32)
    one = StreamResampler(rate).push(x, final=True)
    r, parts, i, rng = StreamResampler(rate), [], 0, np.random.default_rng(0)
    while i < len(x):
        n = int(rng.integers(1, 3000))
        parts.append(r.push(x[i : i + n]))
        i += n
    parts.append(r.push(np.zeros(0, np.float32), final=True))
    chunked = np.concatenate(parts)
    assert len(one) == len(chunked) == SPEECH_RATE
    assert np.array_equal(one, chunked)
    assert np.abs(one[100:-100] - resample(x, rate, SPEECH_RATE)[100:-100]).max() < 2e-3


def wav_stream(audio: np.ndarray, rate: int, channels: int = 1, width: int = 16) -> bytes:
    pcm = (np.repeat(audio[:, None], channels, 1) * 32767).astype("<i2").tobytes() if width == 16 else bytes(len(audio))
    fmt = struct.pack("<HHIIHH", 1, channels, rate, rate * channels * width // 8, channels * width // 8, width)
    header = b"RIFF" + struct.pack("<I", 36 + len(pcm)) + b"WAVEfmt " + struct.pack("<I", 16) + fmt
    return header + b"data" + struct.pack("<I", len(pcm)) + pcm


def test_pcm_and_wav_streams_split_anywhere_decode_alike():
    audio = (0.3 * np.sin(np.arange(8000) / 7)).astype(np.float32)
    raw = PcmDecoder(16000)
    data = (audio * 32767).astype("<i2").tobytes()
    got = np.concatenate([raw.decode(data[i : i + 333]) for i in range(0, len(data), 333)])  # odd splits
    assert np.abs(got - audio).max() < 1e-4
    stereo = wav_stream(audio, 16000, channels=2)
    head, body = stereo[:44], stereo[44:]
    dec = PcmDecoder()
    wav = np.concatenate([dec.decode(head + body[:1001])] + [dec.decode(body[i : i + 1001]) for i in range(1001, len(body), 1001)])
    assert np.abs(wav - audio).max() < 1e-4
    dec48 = PcmDecoder()
    out = dec48.decode(wav_stream(np.repeat(audio, 3), 48000))
    out = np.concatenate([out, dec48.decode(b"", final=True)])
    assert abs(len(out) - len(audio)) <= 1
    with pytest.raises(L2TError, match="16-bit"):
        PcmDecoder().decode(wav_stream(audio, 16000, width=8))
    with pytest.raises(L2TError, match="sample rate"):
        PcmDecoder(1000)


def test_a_voice_gives_every_frame_with_its_delay_and_keeps_its_buffers_bounded(live_speaker, rig, hello):
    names, label = rig.data.expression_names, rig.data.name
    clock = FakeClock()
    woken = []
    voice = LiveVoice(lambda: live_speaker.stream(25.0, names, label), 25.0, clock=clock, on_frames=lambda: woken.append(1))
    chunk = 320  # 20 ms, arriving in real time
    for i in range(0, len(hello), chunk):
        clock.now += chunk / SPEECH_RATE
        voice.push(hello[i : i + chunk])
    assert voice.frame_now() is not None and woken
    frames = voice.end()
    assert frames == frames_for(len(hello) / SPEECH_RATE, 25.0)
    ready = voice.latency_ms("ready")
    # a frame is final once 72.5 ms of later audio is in; its own audio arrived with its chunk (up to
    # 20 ms after it was spoken), the completing audio waits for its chunk (up to 20 ms more)
    assert 72.5 - 20 <= ready["p50"] <= 72.5 + 20 and ready["p95"] <= 72.5 + 20
    assert voice.silent_for() < 1.0
    # an hour of speech keeps only the last seconds
    for _ in range(3):
        for i in range(0, len(hello), 3200):
            voice.push(hello[i : i + 3200])
    assert len(voice.frames) <= voice.frames.maxlen and len(voice.arrivals) < 50
    assert len(voice.stream.predictor.buffer) < 6 * SPEECH_RATE  # the model's context, not the whole stream


def test_a_delayed_voice_shows_the_frame_the_page_is_playing(live_speaker, rig, hello):
    names, label = rig.data.expression_names, rig.data.name
    clock = FakeClock()
    voice = LiveVoice(lambda: live_speaker.stream(25.0, names, label), 25.0, delay=0.25, clock=clock)
    voice.push(hello[:SPEECH_RATE])  # a program sends 1 s at once
    start = clock.now
    clock.now = start + 0.25 + 0.5  # the page has played 0.5 s of it
    (utterance, index), params = voice.frame_now()
    assert utterance == 1 and index == 12 and set(params) == {"jaw", "expression"}
    voice.shown((1, index), clock.now)
    assert voice.latency_ms()["frames"] == 13  # frames 0..12, the skipped ones too
    clock.now = start + 10.0  # audio ran dry; the next chunk restarts the clock, as the page does
    voice.push(hello[SPEECH_RATE : 2 * SPEECH_RATE])
    assert voice.start == pytest.approx(clock.now + 0.25 - 1.0)  # its first sample plays 0.25 s from now


def test_the_listening_pose_fades_in_during_silence_and_blinks_go_on(rig):
    clock = FakeClock()
    names = rig.data.expression_names
    layer = LiveLayer(25.0, names, seed=0, clock=clock)
    spoken = {"jaw": torch.tensor([0.2, 0.0, 0.0]), "expression": torch.full((len(names),), 0.1)}
    talking = layer.compose(spoken, silent_for=0.0, idle=False)
    clock.now += LISTEN_FADE
    talking = layer.compose(spoken, silent_for=0.0, idle=False)
    assert torch.allclose(talking["jaw"], spoken["jaw"]) and float(talking["rotation"].abs().max()) < 1e-6
    clock.now += 0.1
    layer.compose(spoken, silent_for=LISTEN_AFTER + 0.1, idle=False)
    clock.now += LISTEN_FADE
    listening = layer.compose(spoken, silent_for=LISTEN_AFTER + 0.5, idle=False)
    assert float(listening["jaw"].abs().max()) < 1e-6 and float(listening["rotation"].abs().max()) > 0.03
    blinks = []
    for _ in range(250):
        clock.now += 0.04
        blinks.append(float(layer.compose(None, float("inf"), idle=True)["expression"][names.index("eyeBlink_L")]))
    assert max(blinks) > 0.9  # the idle layer blinks while listening


# ------------------------------------------------------------ the server's websockets
@pytest.fixture(scope="module")
def live_server():
    from viewer.app import ViewerApp, ViewOptions

    app = ViewerApp(ViewOptions(port=0, listen=True))
    app.start()
    yield app
    app.stop()


def push_url(app, query="") -> str:
    return f"ws://127.0.0.1:{app.server.get_port()}/l2t/push{query}"


def test_pushed_speech_animates_and_is_played_back(live_server, hello):
    from websockets.sync.client import connect

    app = live_server
    pcm = (hello * 32767).astype("<i2").tobytes()
    with connect(f"ws://127.0.0.1:{app.server.get_port()}/l2t/play?tab=7") as player:
        time.sleep(0.2)
        with connect(push_url(app)) as pusher:
            for i in range(0, len(pcm), 6400):
                pusher.send(pcm[i : i + 6400])
            pusher.send("end")
            reply = json.loads(pusher.recv(timeout=60))
        seconds = len(hello) / SPEECH_RATE
        assert reply == {"event": "end", "frames": frames_for(seconds, 25.0), "seconds": round(seconds, 3)}
        received, first = 0, None
        while received < len(pcm):
            message = player.recv(timeout=10)
            first = message[0] if first is None else first
            received += len(message) - 1
    assert first == 1 and received == len(pcm)  # every sample, the first chunk marked as an utterance start


def test_one_pusher_leaving_mid_stream_ends_only_its_own_voice(live_server, hello):
    from websockets.sync.client import connect

    app = live_server
    pcm = (hello * 32767).astype("<i2").tobytes()
    with connect(push_url(app)) as staying:
        leaving = connect(push_url(app))
        leaving.send(pcm[:16000])
        staying.send(pcm[:16000])
        time.sleep(0.5)
        assert len(app.hub.voices) == 2
        leaving.close()
        time.sleep(0.5)
        assert len(app.hub.voices) == 1
        staying.send(pcm[16000:])
        staying.send("end")
        assert json.loads(staying.recv(timeout=60))["frames"] == frames_for(len(hello) / SPEECH_RATE, 25.0)


def test_bad_live_connections_are_closed_with_a_reason(live_server, tmp_path):
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    from viewer.app import ViewerApp, ViewOptions

    def refusal(url: str, send: bytes | None = None) -> str:
        with connect(url) as socket:
            if send is not None:
                socket.send(send)
            with pytest.raises(ConnectionClosed) as closed:
                socket.recv(timeout=10)
        return closed.value.rcvd.reason

    port = live_server.server.get_port()
    assert "no open tab" in refusal(f"ws://127.0.0.1:{port}/l2t/mic?tab=12345&rate=48000")
    assert "rate" in refusal(push_url(live_server, "?rate=abc"))
    assert "16-bit" in refusal(push_url(live_server), wav_stream(np.zeros(100, np.float32), 16000, width=8))
    import viewer.live_socket

    with pytest.MonkeyPatch.context() as patch:  # a program far ahead of the page is stopped, with the reason
        patch.setattr(viewer.live_socket, "MAX_AHEAD_SECONDS", 1.0)
        assert "ahead of the page" in refusal(push_url(live_server), (np.zeros(3 * SPEECH_RATE) + 0.1).astype("<i2").tobytes())
    quiet = ViewerApp(ViewOptions(port=0))  # without --listen
    quiet.start()
    try:
        assert "--listen" in refusal(push_url(quiet))
    finally:
        quiet.stop()
