"""`l2t-avatar view` driven from headless Chromium (Debian's, through Playwright; no browser download).

The viewer runs in this process on a free loopback port; the page renders the splats with
Chromium's software WebGL. Screenshots are saved to $L2T_TEST_ARTIFACTS (or the test's tmp dir).
"""

import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from avatar.io.audio import write_wav
from tests.test_speak import speech

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--enable-unsafe-swiftshader",
    "--autoplay-policy=no-user-gesture-required",
]

if CHROMIUM is None and os.environ.get("L2T_REQUIRE_BROWSER") != "1":
    pytest.skip("needs Debian's chromium (CI installs it; set L2T_REQUIRE_BROWSER=1 to fail instead)", allow_module_level=True)
playwright_api = pytest.importorskip("playwright.sync_api")


def wait_for(condition, timeout=30.0, what="condition"):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory) -> Path:
    folder = Path(os.environ.get("L2T_TEST_ARTIFACTS") or tmp_path_factory.mktemp("viewer_artifacts"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


TOKEN = "browser-test-token-0123456789"


@pytest.fixture(scope="module")
def avatar_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("avatar_root")


@pytest.fixture(scope="module")
def app(avatar_root):
    """The viewer as served beyond loopback: with an access token, and an avatar root for "Load avatar folder"."""
    from viewer.app import ViewerApp, ViewOptions

    viewer = ViewerApp(ViewOptions(port=0, device="cpu", token=TOKEN, avatar_root=str(avatar_root)))
    viewer.url = viewer.start()
    assert viewer.url.endswith(f"/?token={TOKEN}")
    yield viewer
    viewer.stop()


@pytest.fixture(scope="module")
def browser():
    with playwright_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def tab(app, browser):
    """Opens tabs on the viewer; closes them after the test, passed or failed."""
    pages = []

    def opener(size=(800, 500)):
        page, session = open_tab(app, browser, size)
        pages.append(page)
        return page, session

    yield opener
    for page in pages:
        if not page.is_closed():
            page.close()


def open_tab(app, browser, size=(800, 500)):
    """A new page on the viewer, and its server-side session once the avatar is on screen."""
    before = set(app.sessions)
    page = browser.new_page(viewport={"width": size[0], "height": size[1]})
    page.goto(app.url)
    new = wait_for(lambda: sorted(set(app.sessions) - before), what="the tab's session")
    session = app.sessions[new[0]]
    wait_for(lambda: session.updates.count, what=f"the first update of tab {new[0]}")
    return page, session


def control(page, label: str):
    """The row of the viser control labelled `label` (its input or slider inside)."""
    import re

    return page.locator("label", has_text=re.compile(f"^{re.escape(label)}$")).locator(
        "xpath=ancestor::div[contains(@class,'mantine-Flex-root')][1]"
    )


def canvas_image(page) -> np.ndarray:
    import io

    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(page.locator("canvas").first.screenshot())).convert("RGB")).astype(np.int16)


def avatar_pixels(image: np.ndarray) -> float:
    """Share of non-background pixels round the middle of the canvas, where the face is (the background is white)."""
    h, w = image.shape[:2]
    centre = image[int(0.35 * h) : int(0.65 * h), int(0.42 * w) : int(0.56 * w)]
    return float((np.abs(centre - 255).sum(-1) > 60).mean())


def settle(page, seconds=1.0) -> np.ndarray:
    """A screenshot once two in a row agree (the splats are sorted and drawn)."""
    last = canvas_image(page)
    end = time.monotonic() + 20
    while time.monotonic() < end:
        time.sleep(seconds)
        now = canvas_image(page)
        if np.abs(now - last).mean() < 0.5:
            return now
        last = now
    return last


def test_avatar_is_visible_and_the_jaw_slider_moves_it(app, tab, artifacts):
    page, session = tab(size=(960, 600))
    page.get_by_text("idle motion (blinks, sway)").click()  # hold still
    wait_for(lambda: not session.speech_panel.idle.value and session.speech_panel.playback is None, what="idle off")
    before = settle(page)
    page.screenshot(path=str(artifacts / "viewer_neutral.png"))
    assert avatar_pixels(before) > 0.5, "the avatar is not on screen"

    page.get_by_text("Rig", exact=True).click()  # open the folder
    slider = control(page, "jaw open").get_by_role("slider")
    slider.focus()
    slider.press("End")
    wait_for(lambda: session.controls.jaw_open.value == pytest.approx(0.5), what="the jaw slider's value on the server")
    after = settle(page)
    page.screenshot(path=str(artifacts / "viewer_jaw_open.png"))
    changed = np.abs(after - before).sum(-1) > 60
    assert changed.mean() > 0.005, "moving the jaw slider did not change the image"
    h = changed.shape[0]
    assert changed[h // 2 :].sum() > changed[: h // 2].sum()  # and what changed is low on the face


def test_avatars_load_from_a_folder_and_the_wireframe_shows(app, tab, tmp_path, avatar_root):
    from avatar.io.avatar_folder import DEFAULT_AVATAR_DIR
    from viewer.security import AvatarFolderPolicy

    page, session = tab()
    mine = avatar_root / "my_avatar"
    shutil.copytree(DEFAULT_AVATAR_DIR, mine)
    outside = tmp_path / "outside"
    shutil.copytree(DEFAULT_AVATAR_DIR, outside)
    # A folder outside the root is refused with a message, not a crash (every kind of refusal:
    # tests/test_viewer_security.py, without a browser).
    control(page, "folder").locator("input").fill(str(outside))
    page.get_by_role("button", name="Load avatar folder").click()
    page.get_by_text(AvatarFolderPolicy.REFUSAL).first.wait_for(timeout=30_000)
    assert "outside" not in app.library
    control(page, "folder").locator("input").fill("my_avatar")  # relative to the root
    page.get_by_role("button", name="Load avatar folder").click()
    wait_for(lambda: session.entry.name == "my_avatar", what="the loaded avatar to be shown")
    assert "my_avatar" in app.library and session.avatar_panel.menu.value == "my_avatar"
    assert set(session.avatar_panel.menu.options) >= {"default", "my_avatar"}
    page.get_by_text("mesh wireframe").click()
    count = session.updates.count
    wait_for(lambda: session.view.wireframe.value and session.updates.count > count, what="an update with the wireframe")
    assert session.nodes.wire.visible and np.abs(session.nodes.wire.vertices).max() > 0.01


def upload(page, path: Path) -> None:
    page.locator("input[type=file]").first.set_input_files(str(path))


def audio_state(page) -> tuple[float, bool]:
    return tuple(page.evaluate("(function(){var a=document.querySelector('audio');return [a.currentTime,a.paused]})()"))


def test_uploaded_speech_fills_the_timeline_and_plays_in_sync(app, tab, tmp_path):
    page, session = tab()
    # 10 s: long enough that a loaded machine still clicks pause before the sound ends
    wav = write_wav(tmp_path / "talk.wav", speech(10.0))
    upload(page, wav)
    wait_for(lambda: session.speech is not None, what="the upload to be animated")
    assert session.motion.num_frames == 250 and session.speech_panel.timeline.max == pytest.approx(10.0)
    page.get_by_text("250 frames at 25 fps").wait_for(timeout=10_000)

    page.get_by_role("button", name="Play / pause").click()
    wait_for(
        lambda: session.speech_panel.audio_reports >= 1 and session.speech_panel.playback.playing,
        timeout=40,
        what="the page's audio to report playing",
    )
    frames, end = set(), time.monotonic() + 5.0  # a loaded machine sends fewer updates a second
    while len(frames) < 3 and time.monotonic() < end:
        frames.add(session.updates.shown_frame)
        time.sleep(0.1)
    assert len(frames) >= 3, "the animation does not advance while the audio plays"
    print(f"playhead - audio at each report: {[round(e, 3) for e in session.speech_panel.sync_errors]}")

    page.get_by_role("button", name="Play / pause").click()
    try:
        wait_for(lambda: not session.speech_panel.playback.playing and audio_state(page)[1], timeout=60, what="pause")
    except AssertionError:
        raise AssertionError(
            f"no pause: the server {'plays' if session.speech_panel.playback.playing else 'paused'}, "
            f"the page's audio is at {audio_state(page)}, {session.speech_panel.audio_reports} reports heard"
        ) from None
    audio_time, _ = audio_state(page)
    # The page's pause report puts the playhead on the audio's time, within a frame.
    wait_for(
        lambda: abs(session.speech_panel.playback.time() - audio_time) < 0.04,
        timeout=10,
        what=f"the playhead ({session.speech_panel.playback.time():.3f} s) to stop on the audio's time ({audio_time:.3f} s)",
    )
    wait_for(lambda: session.updates.shown_frame == session.speech_panel.playback.frame(), what="the paused frame on screen")

    slider = control(page, "time (s)").get_by_role("slider")
    slider.focus()
    slider.press("Home")  # the timeline seeks the audio too
    wait_for(
        lambda: audio_state(page)[0] < 0.02 and session.speech_panel.playback.time() < 0.02,
        what="a seek to the start in the page and on the server",
    )


def test_bad_uploads_get_a_message_and_the_server_carries_on(app, tab, tmp_path):
    page, session = tab()
    text = tmp_path / "notes.txt"
    text.write_text("not audio")
    silent = write_wav(tmp_path / "silence.wav", np.zeros(16000, np.float32))
    fake = tmp_path / "fake.wav"
    fake.write_bytes(b"RIFF" + bytes(100))
    for path, message in ((text, "not an audio file"), (silent, "is silent"), (fake, "fake.wav")):
        upload(page, path)
        wait_for(lambda message=message: message in session.speech_panel.status.content, what=f"the message for {path.name}")
        page.get_by_text(f"Could not use {path.name}").first.wait_for(timeout=10_000)
    assert session.speech is None and session.thread.is_alive()
    count = session.updates.count
    session.controls.jaw_open.value = 0.25
    wait_for(lambda: session.updates.count > count, what="an update after the bad uploads")


def test_tabs_have_their_own_camera_and_a_closed_tab_is_let_go(app, tab):
    page1, first = tab()
    page2, second = tab()
    assert first is not second and len(app.sessions) >= 2
    page2.get_by_role("button", name="profile").click(
        timeout=90_000
    )  # two tabs of software WebGL on 2 cores can keep a page busy for a while
    wait_for(lambda: abs(second.client.camera.position[0]) > 0.3, what="tab 2's camera to swing to the profile")
    assert abs(first.client.camera.position[0]) < 0.05  # tab 1 still looks from the front
    assert second.speech_panel.playback is not None and second.speech_panel.playback.playing  # idle motion is animating
    page2.close()  # mid-animation
    wait_for(lambda: second.client.client_id not in app.sessions, what="the closed tab's session to go")
    wait_for(lambda: not second.thread.is_alive(), timeout=5, what="its update loop to end")
    count = first.updates.count
    wait_for(lambda: first.updates.count > count + 5, what="tab 1 to keep updating")


def test_render_mp4_offers_a_download(app, tab, tmp_path):
    from avatar.io.video import probe_video

    page, session = tab()
    upload(page, write_wav(tmp_path / "short.wav", speech(0.4)))
    wait_for(lambda: session.speech is not None, what="the upload")
    session.render_panel.size.value = "256"
    taken = 0
    while app.settings.render_slots.acquire(blocking=False):  # other tabs' renders fill every slot...
        taken += 1
    page.get_by_role("button", name="Render MP4").click()
    wait_for(lambda: "busy" in session.render_panel.status.content, what="the busy message")  # ...so this one waits its turn
    assert not session.render_panel.rendering
    for _ in range(taken):
        app.settings.render_slots.release()
    page.get_by_role("button", name="Render MP4").click()
    with page.expect_download(timeout=120_000) as download:
        page.get_by_role("link").filter(has_text="mp4").first.click(timeout=120_000)
    out = tmp_path / "render.mp4"
    download.value.save_as(out)
    info = probe_video(out)
    assert info["frames"] == 10 and info["width"] == 256 and abs(info["audio_seconds"] - 0.4) < 0.1
    assert "10 frames" in session.render_panel.status.content


def test_an_avatar_with_a_speaking_style_speaks_in_it(app, tab, tmp_path, avatar_root):
    from avatar.io.avatar_folder import DEFAULT_AVATAR_DIR
    from avatar.speaking_style import JAW, SpeakingStyle

    page, session = tab()
    styled = avatar_root / "styled"
    shutil.copytree(DEFAULT_AVATAR_DIR, styled)
    SpeakingStyle([JAW], [2.0], [0.05], 0).save(styled)
    control(page, "folder").locator("input").fill("styled")
    page.get_by_role("button", name="Load avatar folder").click()
    wait_for(lambda: session.entry.name == "styled", what="the styled avatar to be shown")
    upload(page, write_wav(tmp_path / "talk.wav", speech(2.0)))
    wait_for(lambda: session.speech is not None and session.motion is not None, what="the upload to be animated")
    generic = session.speech.motion.params["jaw"][:, 0]
    assert torch.allclose(session.motion.params["jaw"][:, 0], 2.0 * generic + 0.05, atol=1e-5)
