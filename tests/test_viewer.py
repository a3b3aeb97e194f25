"""The viewer's parts without a browser: splat posing and chunks, the playhead, the audio
channel's HTML, speech uploads, rig sliders, and the `view` command's refusals."""

import numpy as np
import pytest
import torch

from avatar.avatar import Avatar
from avatar.errors import L2TError
from avatar.io.audio import write_wav
from avatar.io.avatar_folder import load_avatar
from avatar.rig.rotations import quaternion_to_matrix
from l2t_avatar.cli import main
from tests.test_speak import speech
from viewer.browser_audio import audio_html, command_html, parse_report
from viewer.playback import Playback
from viewer.speech import SpeechEngine
from viewer.splats import ChunkTracker, SplatPoser


@pytest.fixture(scope="module")
def avatar() -> Avatar:
    return load_avatar(None, device="cpu")


@pytest.fixture(scope="module")
def poser(avatar) -> SplatPoser:
    return SplatPoser(avatar)


def expression(avatar, **values) -> torch.Tensor:
    e = torch.zeros(avatar.rig.num_expressions)
    for name, v in values.items():
        e[avatar.rig.expression_index(name)] = v
    return e


def test_posed_splats_match_the_avatars_world_gaussians(avatar, poser):
    params = {
        "jaw": torch.tensor([0.2, 0.02, 0.0]),
        "expression": expression(avatar, mouthSmile_L=0.8, eyeBlink_R=0.6),
        "neck": torch.tensor([0.1, -0.2, 0.0]),
        "rotation": torch.tensor([0.1, 0.3, -0.05]),
        "translation": torch.tensor([0.01, 0.0, -0.02]),
    }
    posed = poser.pose(params)
    everything = poser.chunk(np.arange(poser.num_gaussians))
    centers, cov = (t.numpy() for t in poser.geometry(posed.vertices, everything))
    rot = quaternion_to_matrix(torch.tensor(posed.wxyz, dtype=torch.float32)).numpy()
    with torch.no_grad():
        world = avatar.world(avatar.rig(**{k: v[None] for k, v in params.items()}).vertices)
    w_rot = quaternion_to_matrix(world.quats[0])
    w_cov = (w_rot @ torch.diag_embed(world.scales[0] ** 2) @ w_rot.transpose(-1, -2)).numpy()
    np.testing.assert_allclose(centers @ rot.T + posed.position, world.means[0].numpy(), atol=2e-6)
    np.testing.assert_allclose(rot @ cov @ rot.T, w_cov, atol=1e-9, rtol=1e-3)
    assert poser.rgbs.shape == (poser.num_gaussians, 3) and 0 <= poser.rgbs.min() and poser.rgbs.max() <= 1
    packed = poser.pack(posed.vertices, everything)  # viser's layout: centre f32, reserved, cov triu f16, rgba
    assert packed.shape == (poser.num_gaussians, 8) and packed.dtype == np.uint32
    np.testing.assert_array_equal(packed[:, 0:3].view(np.float32), centers)
    triu = packed[:, 4:7].copy().view(np.float16).astype(np.float32)
    np.testing.assert_allclose(triu, cov.reshape(-1, 9)[:, [0, 1, 2, 4, 5, 8]], rtol=2e-3, atol=1e-7)
    rgba = packed[:, 7:8].copy().view(np.uint8)
    np.testing.assert_array_equal(rgba[:, :3], np.round(poser.rgbs * 255).astype(np.uint8))


def test_chunks_cover_every_gaussian_once(poser):
    every = np.concatenate([c.gaussians for c in poser.chunks])
    assert len(every) == poser.num_gaussians and len(np.unique(every)) == poser.num_gaussians
    assert len(poser.chunks) == 9  # the rest of the head + 8 bands of what the face rig moves


def test_only_moved_chunks_are_sent(avatar, poser):
    tracker = ChunkTracker(poser)
    neutral = poser.pose({})
    assert tracker.dirty(neutral.vertices) == list(range(len(poser.chunks)))  # the first update sends all
    assert tracker.dirty(poser.pose({}).vertices) == []  # nothing moved: nothing sent
    assert tracker.dirty(poser.pose({"rotation": torch.tensor([0.0, 0.5, 0.0])}).vertices) == []  # a head turn is the node's transform
    jaw = tracker.dirty(poser.pose({"jaw": torch.tensor([0.3, 0.0, 0.0])}).vertices)
    blink = tracker.dirty(
        poser.pose({"jaw": torch.tensor([0.3, 0.0, 0.0]), "expression": expression(avatar, eyeBlink_L=1.0, eyeBlink_R=1.0)}).vertices
    )
    assert jaw and 0 not in jaw and max(jaw) < 6  # the jaw moves the lower bands, never the back of the head
    assert blink and min(blink) >= 4  # a blink moves the upper bands only
    assert tracker.dirty(poser.pose({"neck": torch.tensor([0.3, 0.0, 0.0])}).vertices)[0] == 0  # the neck moves the rest


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_playback_play_pause_seek_loop_and_speed():
    clock = FakeClock()
    pb = Playback(num_frames=50, fps=25.0, clock=clock)  # 2 s
    pb.play()
    clock.now += 0.5
    assert pb.time() == pytest.approx(0.5) and pb.frame() == 12
    pb.set_speed(2.0)
    clock.now += 0.5
    assert pb.time() == pytest.approx(1.5)
    pb.pause()
    clock.now += 5
    assert pb.time() == pytest.approx(1.5) and not pb.playing
    pb.seek(1.9)
    pb.set_speed(1.0)
    pb.play()
    clock.now += 0.3
    assert pb.time() == pytest.approx(0.2)  # looped round
    pb.loop = False
    clock.now += 3
    assert pb.time() == pytest.approx(2.0) and not pb.playing and pb.frame() == 49  # stopped at the end
    pb.play()
    assert pb.time() == 0.0 and pb.playing  # play at the end starts over


def test_audio_reports_are_anchored_when_read_not_when_heard():
    """The page's audio reports arrive 30-300 ms late; the playhead must still follow the audio."""
    clock = FakeClock()
    pb = Playback(num_frames=250, fps=25.0, clock=clock)
    browser_minus_server = 5000.0
    audio_start = clock.now
    errors = []
    for i, delay in enumerate([0.03, 0.25, 0.12, 0.3, 0.05, 0.2, 0.03, 0.15]):
        read = audio_start + 0.5 * i + 0.01
        clock.now = read + delay
        error = pb.report(read - audio_start, True, stamp=read + browser_minus_server)
        if error is not None:
            errors.append(error)
        clock.now += 0.1
        assert pb.time() == pytest.approx(clock.now - audio_start, abs=0.03 + 1e-9)  # within the least delay seen
    assert max(abs(e) for e in errors) <= 0.03 + 1e-9  # one frame is 0.04 s
    pb.report(3.0, False, stamp=clock.now + browser_minus_server)
    clock.now += 1
    assert not pb.playing and pb.time() == pytest.approx(3.0)


def test_audio_channel_html():
    assert parse_report("1.250 1 1700000000123") == (1.25, True, 1700000000.123)
    assert parse_report("0.5 0 12") == (0.5, False, 0.012)
    assert parse_report("garbage") is None and parse_report("a b c") is None
    page = audio_html("l2t-audio-3", "clock l2t-audio-3", "data:audio/wav;base64,AAAA")
    assert page.count("<audio ") == 1 and 'id="l2t-audio-3"' in page and "onplaying=" in page
    assert '"clock' not in page.split("src=")[1].split("></audio>")[0].replace("&quot;", "")  # handlers are attribute-safe
    cmd = command_html("l2t-audio-3", 7, seek=1.5, speed=2.0, loop=False, play=True)
    assert 'data-n="7"' in cmd and "currentTime=1.5" in cmd and "playbackRate=2.0" in cmd and "loop=false" in cmd and "play()" in cmd
    assert "pause()" in command_html("x", 8, play=False)


@pytest.fixture(scope="module")
def engine():
    return SpeechEngine(torch.device("cpu"), max_audio_seconds=5.0)


def test_speech_upload_makes_motion_and_refuses_bad_files(engine, avatar, tmp_path):
    names, label = avatar.rig.data.expression_names, avatar.rig.data.name
    uploads = tmp_path / "tab"
    uploads.mkdir()
    good = write_wav(tmp_path / "hi.wav", speech(1.2)).read_bytes()
    got = engine.from_upload("hi.wav", good, names, label, into=uploads)
    assert got.motion.num_frames == 30 and got.name == "hi.wav" and got.wav_data_uri.startswith("data:audio/wav;base64,")
    assert float(got.motion.params["jaw"][:, 0].max()) > 0.02
    silent = write_wav(tmp_path / "quiet.wav", np.zeros(16000, np.float32)).read_bytes()
    cases = {
        "notes.txt": (b"hello", "not an audio file"),
        "empty.wav": (b"", "is empty"),
        "fake.wav": (b"RIFF" + bytes(200), "fake.wav"),
        "quiet.wav": (silent, "silent"),
        "long.wav": (write_wav(tmp_path / "long.wav", speech(6.5)).read_bytes(), "longer than 5 s"),
    }
    for name, (content, message) in cases.items():
        with pytest.raises(L2TError, match=message) as err:
            engine.from_upload(name, content, names, label, into=uploads)
        assert str(uploads) not in str(err.value)  # the message names the upload, not a temp path
    leftovers = [p for p in uploads.rglob("*") if p.is_file()]
    assert len(leftovers) == 1  # only the good upload is kept (for Render MP4's audio track)


def test_rig_sliders_offset_the_animation(avatar):
    import viser

    from viewer.rig_controls import RigControls

    server = viser.ViserServer(port=0, verbose=False)
    try:
        changes = []
        controls = RigControls(server.gui, avatar.rig, avatar.shape, on_change=lambda: changes.append(1))
        controls.jaw_open.value = 0.2
        controls.expressions[avatar.rig.expression_index("mouthSmile_L")].value = 0.5
        controls.neck[1].value = 0.3
        assert controls.version == 3 and len(changes) == 3
        frame = controls.pose({"jaw": torch.tensor([0.1, 0.0, 0.0]), "expression": torch.ones(5)})
        assert frame["jaw"][0] == pytest.approx(0.3) and frame["neck"][1] == pytest.approx(0.3)
        assert frame["expression"][0] == 1.0 and frame["expression"][avatar.rig.expression_index("mouthSmile_L")] == pytest.approx(0.5)
        frames = controls.pose({"jaw": torch.zeros(4, 3), "expression": torch.zeros(4, 39)})
        assert frames["jaw"].shape == (4, 3) and frames["expression"].shape == (4, 39) and frames["neck"].shape == (4, 3)
        controls.reset()
        still = controls.pose(None)
        assert float(still["jaw"].abs().sum()) == 0 and "neck" not in still and controls.shape().shape == (avatar.rig.num_shapes,)
    finally:
        server.stop()


def test_view_refuses_bad_arguments(tmp_path, capsys):
    assert main(["view", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err
    assert "avatar folder not found" in err and len(err.strip().splitlines()) == 1
    assert main(["view", "--port", "70000"]) == 2
    assert main(["view", "--audio", str(tmp_path / "missing.wav"), "--device", "cpu"]) == 2


def viser_camera(world_to_cam: torch.Tensor, fov_y: float, aspect: float = 1.0):
    """What viser reports for a camera (OpenCV axes, pose as T_world_camera)."""
    from viewer.server_render import BrowserCamera

    return BrowserCamera.from_world_to_cam(world_to_cam, fov_y, aspect)


def test_server_render_sees_what_the_browser_camera_sees(avatar):
    from avatar.render.animate import head_framing
    from avatar.render.cameras import orbit_camera
    from viewer.server_render import render_view, viser_camera_matrices

    target, distance = head_framing(avatar)
    cam = orbit_camera(target, distance, 30.0, 5.0, fov_deg=20.0, width=48, height=48)
    view = viser_camera(cam.world_to_cam, fov_y=np.radians(20.0))
    world_to_cam, K, width, height = viser_camera_matrices(view.wxyz, view.position, view.fov, view.aspect, 48)
    assert (width, height) == (48, 48)
    torch.testing.assert_close(world_to_cam, cam.world_to_cam, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(K, cam.K, atol=1e-3, rtol=1e-4)
    image = render_view(avatar, {}, avatar.shape, view, height=48)
    assert image.shape == (48, 48, 3) and image.dtype == np.uint8
    assert (np.abs(image[16:32, 16:32].astype(int) - 255).sum(-1) > 60).mean() > 0.8  # the face fills the middle


def test_a_looping_playhead_waits_for_the_audio_to_come_round():
    clock = FakeClock()
    pb = Playback(num_frames=50, fps=25.0, clock=clock)  # 2 s
    pb.report(1.9, True, stamp=clock.now)
    clock.now += 0.5
    assert pb.time() == pytest.approx(2.0) and pb.frame() == 49  # held on the last frame
    pb.report(0.05, True, stamp=clock.now)  # the audio restarted
    clock.now += 0.1
    assert pb.time() == pytest.approx(0.15)
    clock.now += 3.0  # past the end with the audio quiet for 3 s: the server's clock takes over
    assert pb.time() == pytest.approx(1.15)
