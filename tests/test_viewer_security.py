"""The viewer served beyond loopback: access token, checked GUI values, bounded uploads, avatar folders."""

import asyncio
import http.client
import shutil

import pytest
import viser
from viser import _messages as m

from avatar.errors import L2TError
from avatar.io.avatar_folder import DEFAULT_AVATAR_DIR
from viewer.security import AvatarFolderPolicy, ServerGuards, cookie_name, gui_value_allowed, is_loopback, token_required

TOKEN = "unit-test-token-0123456789"


def http_get(port: int, path: str, cookie: str | None = None) -> tuple[int, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", path, headers={"Cookie": cookie} if cookie else {})
    response = conn.getresponse()
    response.read()
    conn.close()
    return response.status, dict(response.getheaders())


def websocket_opens(port: int, cookie: str | None = None) -> bool:
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    try:
        with connect(
            f"ws://127.0.0.1:{port}",
            subprotocols=[f"viser-v{viser.__version__}"],
            additional_headers={"Cookie": cookie} if cookie else None,
            open_timeout=10,
        ):
            return True
    except InvalidStatus as exc:
        assert exc.response.status_code == 403
        return False


@pytest.fixture
def guarded_server():
    with token_required(TOKEN):
        server = viser.ViserServer(host="127.0.0.1", port=0, verbose=False)
    yield server
    server.stop()


def test_loopback_detection():
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost") and is_loopback("127.3.2.1")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.4") and not is_loopback("example.org")


def test_pages_and_the_websocket_need_the_token(guarded_server):
    port = guarded_server.get_port()
    assert http_get(port, "/")[0] == 403
    assert http_get(port, "/?token=wrong")[0] == 403
    assert http_get(port, "/", cookie=f"{cookie_name(TOKEN)}=wrong")[0] == 403
    status, headers = http_get(port, f"/?token={TOKEN}")
    assert status == 200 and f"{cookie_name(TOKEN)}={TOKEN}" in headers["Set-Cookie"] and "HttpOnly" in headers["Set-Cookie"]
    cookie = f"other=1; {cookie_name(TOKEN)}={TOKEN}"
    assert http_get(port, "/", cookie=cookie)[0] == 200  # the page's later requests carry the cookie
    assert not websocket_opens(port)
    assert not websocket_opens(port, cookie=f"{cookie_name(TOKEN)}=nope")
    assert websocket_opens(port, cookie=cookie)


def test_the_hook_is_only_installed_while_the_server_starts():
    import websockets.asyncio.server as ws_server

    original = ws_server.serve
    with token_required(TOKEN):
        assert ws_server.serve is not original
    assert ws_server.serve is original
    server = viser.ViserServer(host="127.0.0.1", port=0, verbose=False)  # an unguarded one stays open
    try:
        assert http_get(server.get_port(), "/")[0] == 200
    finally:
        server.stop()


def test_viewer_app_makes_a_token_beyond_loopback_and_none_on_it():
    from viewer.app import ViewerApp, ViewOptions

    public = ViewerApp(ViewOptions(host="0.0.0.0", port=0, device="cpu"))
    try:
        url = public.start()
        assert public.token and url.endswith(f"/?token={public.token}") and len(public.token) >= 20
        assert http_get(public.server.get_port(), "/")[0] == 403
    finally:
        public.stop()
    local = ViewerApp(ViewOptions(port=0, device="cpu"))
    try:
        assert "token" not in local.start() and local.token is None
        assert http_get(local.server.get_port(), "/")[0] == 200
    finally:
        local.stop()


@pytest.fixture
def gui_server():
    server = viser.ViserServer(host="127.0.0.1", port=0, verbose=False)
    refused = []
    guards = ServerGuards(server, max_upload_bytes=1000, on_upload_refused=lambda c, name, why: refused.append((c, name, why)))
    yield server, guards, refused
    server.stop()


def deliver(server, message, client_id=0) -> None:
    """Hand a message to the server's handlers as if a tab had sent it."""
    asyncio.run(server._websock_server._handle_incoming_message(client_id, message))


def test_gui_values_must_be_ones_the_control_offers(gui_server):
    server, guards, _ = gui_server
    gui = server.gui
    size = gui.add_dropdown("size", ("256", "512"), initial_value="256")
    slider = gui.add_slider("jaw", -0.1, 0.5, 0.01, 0.0)
    check = gui.add_checkbox("loop", True)
    text = gui.add_text("folder", "")
    button = gui.add_button("Render MP4", disabled=True)
    clicks = []
    button.on_click(lambda _: clicks.append(1))
    assert gui_value_allowed(size, {"value": "512"}) and not gui_value_allowed(size, {"value": "40000"})
    assert gui_value_allowed(slider, {"value": 0.3})
    for bad in (0.6, -1.0, float("nan"), float("inf"), "0.3", True):
        assert not gui_value_allowed(slider, {"value": bad}), bad
    assert not gui_value_allowed(slider, {"max": 100.0}) and not gui_value_allowed(slider, {"value": 0.1, "max": 100.0})
    assert gui_value_allowed(check, {"value": False}) and not gui_value_allowed(check, {"value": "yes"})
    assert gui_value_allowed(text, {"value": "a/b"}) and not gui_value_allowed(text, {"value": "x" * 5000})
    assert not gui_value_allowed(button, {"value": True})  # disabled

    deliver(server, m.GuiUpdateMessage(uuid=size._impl.uuid, updates={"value": "40000"}))
    deliver(server, m.GuiUpdateMessage(uuid=slider._impl.uuid, updates={"max": 1e9}))
    deliver(server, m.GuiUpdateMessage(uuid=button._impl.uuid, updates={"value": True}))
    assert size.value == "256" and slider.max == 0.5 and guards.refused_messages == 3
    deliver(server, m.GuiUpdateMessage(uuid=size._impl.uuid, updates={"value": "512"}))
    assert size.value == "512"  # a fair value still goes through
    assert clicks == []


def test_uploads_are_stopped_while_they_arrive(gui_server):
    server, guards, refused = gui_server
    button = server.gui.add_upload_button("Upload audio")
    uuid = button._impl.uuid
    states = server.gui._current_file_upload_states

    deliver(server, m.FileTransferStartUpload(uuid, "big", "big.wav", "audio/wav", part_count=3, size_bytes=5000))
    assert "big" not in states and refused[-1][1] == "big.wav" and "over the viewer's" in refused[-1][2]

    # A client that declares 600 bytes and sends more is cut off at the limit, and viser's buffer freed.
    deliver(server, m.FileTransferStartUpload(uuid, "liar", "liar.wav", "audio/wav", part_count=3, size_bytes=600))
    deliver(server, m.FileTransferPart(uuid, "liar", 0, b"a" * 600))
    assert "liar" in states
    deliver(server, m.FileTransferPart(uuid, "liar", 1, b"b" * 600))
    assert "liar" not in states and refused[-1][1] == "liar.wav" and len(refused) == 2
    deliver(server, m.FileTransferPart(uuid, "liar", 2, b"c" * 10))  # nothing more is taken

    deliver(server, m.FileTransferStartUpload(uuid, "ok", "ok.wav", "audio/wav", part_count=2, size_bytes=800))
    deliver(server, m.FileTransferPart(uuid, "ok", 0, b"x" * 400))
    deliver(server, m.FileTransferPart(uuid, "ok", 1, b"y" * 400))
    assert button.value.name == "ok.wav" and button.value.content == b"x" * 400 + b"y" * 400  # (no live tab: no callback)
    assert guards.transfers == {} and "ok" not in states


def test_avatar_folders_only_from_the_command_line_or_inside_the_root(tmp_path):
    root = tmp_path / "root"
    inside = root / "people" / "ann"
    shutil.copytree(DEFAULT_AVATAR_DIR, inside)
    given = tmp_path / "given"
    shutil.copytree(DEFAULT_AVATAR_DIR, given)
    outside = tmp_path / "outside"
    shutil.copytree(DEFAULT_AVATAR_DIR, outside)
    (root / "escape").symlink_to(outside, target_is_directory=True)
    policy = AvatarFolderPolicy([given], root)
    assert policy.resolve(str(inside)) == inside.resolve()
    assert policy.resolve("people/ann") == inside.resolve()
    assert policy.resolve(str(given)) == given.resolve()
    messages = set()
    for bad in (
        str(outside),
        "../outside",
        str(root / "escape"),
        "escape",
        str(root / "nothing"),
        "/etc",
        str(root),
        "",
        "people/../../outside",
        "a\x00b",
    ):
        with pytest.raises(L2TError) as err:
            policy.resolve(bad)
        messages.add(str(err.value))
    assert messages == {AvatarFolderPolicy.REFUSAL}  # one message for every refusal
    with pytest.raises(L2TError):
        AvatarFolderPolicy([given]).resolve(str(inside))  # no root: only what was given
