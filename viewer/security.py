"""What keeps ``l2t-avatar view`` safe to serve beyond this machine.

- An access token: every HTTP request and the websocket handshake must carry it, as
  ``?token=...`` in the URL the viewer prints or as the cookie that URL sets. Anything else
  gets 403 before viser sees it.
- GUI messages are checked before viser applies them: a client may only set a control's
  value, never its options or limits, and the value must be one the control offers (a
  dropdown option, a slider value within its range, a short text, a click on an enabled button).
- Uploads are refused while their parts arrive: a declared or received size over the limit
  stops the transfer, so nothing larger is ever buffered.

viser 1.1 has no hooks for these, so they wrap its message handlers and its websocket
server's request hook; pyproject pins viser to 1.1.x and tests/test_viewer_security.py
checks each one.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import http
import inspect
import ipaddress
import math
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from avatar.errors import L2TError

MAX_TEXT_CHARS = 4096  # longest text a GUI field accepts (a path, the audio clock's reports)
REFUSED_BODY = b"l2t-avatar view: open the address with its access token, as printed when the viewer started\n"


def is_loopback(host: str) -> bool:
    """Whether `host` only listens on this machine (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def new_token() -> str:
    return secrets.token_urlsafe(18)


def cookie_name(token: str) -> str:
    """A cookie per token, so two viewers on one host (cookies ignore the port) keep theirs apart."""
    return "l2t_view_" + hashlib.sha256(token.encode()).hexdigest()[:10]


def request_has_token(path: str, cookie_header: str | None, token: str) -> tuple[bool, bool]:
    """(allowed, token came in the URL) for a request path and its Cookie header."""
    given = parse_qs(urlsplit(path).query).get("token", [""])[0]
    if given and hmac.compare_digest(given.encode(), token.encode()):
        return True, True
    name = cookie_name(token)
    for part in (cookie_header or "").split(";"):
        key, _, value = part.strip().partition("=")
        if key == name and hmac.compare_digest(value.encode(), token.encode()):
            return True, False
    return False, False


@contextlib.contextmanager
def token_required(token: str) -> Iterator[None]:
    """While viser starts its server inside this block, its request hook first checks the token."""
    import websockets.asyncio.server as ws_server
    from websockets.datastructures import Headers
    from websockets.http11 import Response

    original_serve = ws_server.serve

    def guarded_serve(*args, **kwargs):
        inner = kwargs.get("process_request")

        def process_request(connection, request):
            allowed, in_url = request_has_token(request.path, request.headers.get("Cookie"), token)
            if not allowed:
                return Response(http.HTTPStatus.FORBIDDEN, "Forbidden", Headers({"Content-Type": "text/plain"}), REFUSED_BODY)
            response = inner(connection, request) if inner is not None else None
            if in_url and response is not None:  # the page's own requests and its websocket then carry the cookie
                response.headers["Set-Cookie"] = f"{cookie_name(token)}={token}; Path=/; HttpOnly; SameSite=Strict"
            return response

        kwargs["process_request"] = process_request
        return original_serve(*args, **kwargs)

    ws_server.serve = guarded_serve
    try:
        yield
    finally:
        ws_server.serve = original_serve


def _wrap_handlers(server, message_cls, allow: Callable[[int, object], bool]) -> None:
    """Put `allow(client_id, message)` in front of viser's own handlers of one message type."""
    interface = server._websock_server
    originals = list(interface._incoming_handlers.get(message_cls, []))
    if not originals:
        raise RuntimeError(f"viser registers no handler for {message_cls.__name__}: this viser is not 1.1.x")
    interface.unregister_handler(message_cls)

    async def guarded(client_id, message) -> None:
        if not allow(client_id, message):
            return
        for handler in originals:
            if inspect.iscoroutinefunction(handler):
                await handler(client_id, message)
            else:
                handler(client_id, message)

    interface.register_handler(message_cls, guarded)


def gui_value_allowed(handle, updates: dict) -> bool:
    """Whether a client may apply `updates` to `handle`: its value alone, and one the control offers."""
    from viser import _gui_handles as h

    if set(updates) != {"value"}:
        return False
    value, props = updates["value"], handle._impl.props
    if getattr(props, "disabled", False):
        return False
    if isinstance(handle, h.GuiUploadButtonHandle):
        return False  # files arrive through the transfer messages only
    if isinstance(handle, h.GuiButtonHandle):
        return value is True
    if isinstance(handle, (h.GuiDropdownHandle, h.GuiButtonGroupHandle)):
        return isinstance(value, str) and value in props.options
    if isinstance(handle, h.GuiCheckboxHandle):
        return isinstance(value, bool)
    if isinstance(handle, h.GuiTextHandle):
        return isinstance(value, str) and len(value) <= MAX_TEXT_CHARS
    if isinstance(handle, (h.GuiSliderHandle, h.GuiNumberHandle)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            return False
        low, high = props.min, props.max
        return (low is None or value >= low) and (high is None or value <= high)
    return False  # a control the viewer does not use


class ServerGuards:
    """Installs the GUI and upload checks on a started viser server.

    `on_upload_refused(client_id, filename, reason)` tells the tab why its upload stopped."""

    def __init__(self, server, max_upload_bytes: int, on_upload_refused: Callable[[int, str, str], None]):
        from viser import _messages as m

        self.server, self.max_upload_bytes, self.on_upload_refused = server, max_upload_bytes, on_upload_refused
        self.transfers: dict[str, tuple[int, str, int]] = {}  # transfer -> (client, file name, bytes so far)
        self.refused_messages = 0
        _wrap_handlers(server, m.GuiUpdateMessage, self._gui_update)
        _wrap_handlers(server, m.FileTransferStartUpload, self._upload_start)
        _wrap_handlers(server, m.FileTransferPart, self._upload_part)

    def client_gone(self, client_id: int) -> None:
        """Forget a closed tab's unfinished transfers (viser drops their parts itself)."""
        for transfer in [t for t, (c, _, _) in self.transfers.items() if c == client_id]:
            self.transfers.pop(transfer, None)

    def _refuse(self, client_id: int, name: str, reason: str) -> bool:
        self.refused_messages += 1
        self.on_upload_refused(client_id, name, reason)
        return False

    def _gui_update(self, client_id: int, message) -> bool:
        handle = self.server.gui._gui_input_handle_from_uuid.get(message.uuid)
        if handle is None:
            return True  # viser ignores it
        ok = gui_value_allowed(handle, message.updates)
        self.refused_messages += not ok
        return ok

    def _upload_start(self, client_id: int, message) -> bool:
        if not 0 <= message.size_bytes <= self.max_upload_bytes:
            return self._refuse(
                client_id,
                message.filename,
                f"{message.size_bytes / 2**20:.0f} MB is over the viewer's {self.max_upload_bytes / 2**20:.0f} MB limit",
            )
        self.transfers[message.transfer_uuid] = (client_id, message.filename, 0)
        return True

    def _upload_part(self, client_id: int, message) -> bool:
        known = self.transfers.get(message.transfer_uuid)
        if known is None or known[0] != client_id:
            return False  # refused at its start, never started, or another tab's
        _, name, received = known
        received += len(message.content)
        states = self.server.gui._current_file_upload_states
        if received > self.max_upload_bytes:  # more than it declared: stop, and free what viser buffered
            self.transfers.pop(message.transfer_uuid, None)
            states.pop(message.transfer_uuid, None)
            return self._refuse(client_id, name, f"more than the viewer's {self.max_upload_bytes / 2**20:.0f} MB limit")
        self.transfers[message.transfer_uuid] = (client_id, name, received)
        state = states.get(message.transfer_uuid)
        if state is None or len(state["parts"]) + 1 >= state["part_count"]:  # finished with this part
            self.transfers.pop(message.transfer_uuid, None)
        return True


class AvatarFolderPolicy:
    """Which folders "Load avatar folder" may open: those given on the command line and any
    folder inside `root`. Every refusal reads the same, so a visitor learns nothing of what
    exists elsewhere on the server."""

    REFUSAL = "not an avatar folder this viewer offers"

    def __init__(self, allowed: list[str | Path], root: str | Path | None = None):
        self.allowed = {Path(p).resolve() for p in allowed}
        self.root = Path(root).resolve() if root is not None else None

    def resolve(self, text: str) -> Path:
        """The resolved folder a visitor asked for; L2TError(REFUSAL) unless it is allowed and exists."""
        if not text or len(text) > MAX_TEXT_CHARS or "\x00" in text:
            raise L2TError(self.REFUSAL)
        path = Path(text).expanduser()
        if not path.is_absolute() and self.root is not None:
            path = self.root / path
        try:
            path = path.resolve()
        except (OSError, RuntimeError):
            raise L2TError(self.REFUSAL) from None
        inside = self.root is not None and path.is_relative_to(self.root) and path != self.root
        if not (path in self.allowed or inside) or not (path / "avatar.json").is_file():
            raise L2TError(self.REFUSAL)
        return path
