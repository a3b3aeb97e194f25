"""Live speech in headless Chromium: a fake microphone fed from a wav file drives the avatar, and
the page plays pushed speech. Chromium loops the file: 4 s of speech, then 3 s of silence."""

import json
import time

import numpy as np
import pytest

from avatar.io.audio import SPEECH_RATE, read_audio, write_wav
from tests.test_live import HELLO
from tests.test_viewer_browser import CHROMIUM, FLAGS, open_tab, playwright_api, wait_for
from viewer.live import LISTEN_AFTER, LISTEN_FADE, LiveLayer

SILENCE_SECONDS = 3.0


@pytest.fixture(scope="module")
def mic_file(tmp_path_factory):
    silence = np.zeros(int(SILENCE_SECONDS * SPEECH_RATE), np.float32)
    return write_wav(tmp_path_factory.mktemp("mic") / "mic.wav", np.concatenate([read_audio(HELLO), silence]))


@pytest.fixture(scope="module")
def live_app():
    from viewer.app import ViewerApp, ViewOptions

    app = ViewerApp(ViewOptions(port=0, device="cpu", listen=True))
    app.url = app.start()
    yield app
    app.stop()


@pytest.fixture(scope="module")
def page_and_session(live_app, mic_file):
    fake_mic = ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream", f"--use-file-for-fake-audio-capture={mic_file}"]
    flags = FLAGS + fake_mic
    with playwright_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=flags, headless=True)
        page, session = open_tab(live_app, chromium)
        yield page, session
        page.close()
        chromium.close()


def test_the_microphone_moves_the_mouth_while_the_file_speaks_and_rests_in_silence(page_and_session, monkeypatch):
    page, session = page_and_session
    shown = []  # (seconds since voice was heard, jaw opening) of every pose the tab composed
    compose = LiveLayer.compose

    def recording_compose(self, spoken, silent_for, idle):
        out = compose(self, spoken, silent_for, idle)
        shown.append((silent_for, float(out["jaw"][0])))
        return out

    monkeypatch.setattr(LiveLayer, "compose", recording_compose)
    page.get_by_role("button", name="Live mic").click()
    voice = wait_for(lambda: session.mic_voice, what="the page's microphone stream")

    def speaking_and_resting():
        silent_for, opening = np.array(list(shown)).reshape(-1, 2).T
        return opening[silent_for < 0.1], opening[silent_for > LISTEN_AFTER + LISTEN_FADE + 0.5]

    time.sleep(12.0)  # more than one loop of the file; a loaded machine composes fewer poses, so wait for enough of both

    def enough() -> bool:
        speaking, resting = speaking_and_resting()
        sent = voice.latency_ms("shown")
        return len(speaking) > 40 and len(resting) > 20 and sent is not None and sent["frames"] > 100

    wait_for(enough, timeout=40, what="speech and silence from the fake microphone")
    assert "Microphone on" in session.live_panel.status.content
    speaking, resting = speaking_and_resting()
    assert speaking.mean() > 0.03 and speaking.max() > 0.06  # the mouth moves while the file speaks (a loaded machine shows fewer frames)
    assert np.abs(resting).max() < 1e-3  # and rests in the file's silences (the listening pose)

    page.get_by_role("button", name="Stop mic").click()
    wait_for(lambda: session.mic_voice is None and not session.live_panel.mic_on, what="the microphone to stop")
    wait_for(lambda: page.evaluate("window._l2tMic === null"), what="the page to release the microphone")


def test_the_page_plays_pushed_speech(live_app, page_and_session):
    from websockets.sync.client import connect

    page, _ = page_and_session
    hello = read_audio(HELLO)
    wait_for(lambda: live_app.hub.players, what="the page's player")
    with connect(f"ws://127.0.0.1:{live_app.server.get_port()}/l2t/push") as pusher:
        pcm = (hello * 32767).astype("<i2").tobytes()
        for i in range(0, len(pcm), 6400):
            pusher.send(pcm[i : i + 6400])
        pusher.send("end")
        assert json.loads(pusher.recv(timeout=60))["frames"] > 90
    wait_for(lambda: page.evaluate("window._l2tPlayer.played") == len(hello), what="the page to schedule every pushed sample")
