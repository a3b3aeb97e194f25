"""Websockets for live audio on the viewer's own port, beside viser's.

viser 1.1 serves its page and its websocket from one ``websockets`` server and offers no way to
add routes, so while it starts, ``extra_websockets`` wraps the connection handler it passes to
``websockets.asyncio.server.serve``: connections to our paths go to our handlers, every other
one to viser's. They pass the same request hook first (the access token, viewer.security).

Routes (all binary messages; see README, "Live speech"):
- ``/l2t/mic?tab=ID&rate=R``: a tab's microphone, 16-bit mono PCM at R Hz;
- ``/l2t/push?rate=R``: a program's speech (``view --listen``), 16-bit mono PCM at R Hz (default
  16000) or a WAV stream; the text message ``end`` ends an utterance (answered with
  ``{"event": "end", "frames": N, "seconds": S}``), closing the socket ends the stream;
- ``/l2t/play?tab=ID``: the page's player, which gets pushed speech back to play.

Audio2Mesh runs in a worker thread per message, so viser's event loop keeps serving pages.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable, Iterator
from urllib.parse import parse_qs, urlsplit

from avatar.errors import L2TError
from viewer.live import MAX_AHEAD_SECONDS
from viewer.live_audio import PcmDecoder

MAX_MESSAGE_BYTES = 1 << 20  # about 11 s of 48 kHz PCM: a larger message closes the socket
PLAYER_QUEUE = 2000  # messages a slow page may fall behind before its oldest audio is dropped
POLICY_VIOLATION, UNSUPPORTED, TOO_BIG = 1008, 1003, 1009

Handler = Callable[[object, dict[str, str]], Awaitable[None]]


@contextlib.contextmanager
def extra_websockets(routes: dict[str, Handler]) -> Iterator[None]:
    """While viser starts its server inside this block, websocket paths in ``routes`` go to
    ``handler(connection, query)`` instead of viser."""
    import websockets.asyncio.server as ws_server

    original_serve = ws_server.serve

    def routed_serve(handler, *args, **kwargs):
        async def route(connection) -> None:
            url = urlsplit(connection.request.path)
            ours = routes.get(url.path)
            if ours is None:
                await handler(connection)
                return
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            await ours(connection, query)

        return original_serve(route, *args, **kwargs)

    ws_server.serve = routed_serve
    try:
        yield
    finally:
        ws_server.serve = original_serve


def _int(query: dict[str, str], key: str, default: int | None = None) -> int:
    try:
        return int(query[key]) if key in query or default is None else default
    except (KeyError, ValueError):
        raise L2TError(f"the address needs {key}=<integer>") from None


async def _refuse(connection, code: int, reason: str) -> None:
    await connection.close(code, reason[:120])


class LiveRoutes:
    """The three routes, given how to find a tab's live state and the shared push hub."""

    def __init__(self, tab_voice: Callable[[int], object], hub, listening: bool):
        self.tab_voice, self.hub, self.listening = tab_voice, hub, listening

    def routes(self) -> dict[str, Handler]:
        return {"/l2t/mic": self.mic, "/l2t/push": self.push, "/l2t/play": self.play}

    async def _feed(self, connection, voice, decoder: PcmDecoder, on_audio=None, on_end=None) -> None:
        """Messages -> the voice until the socket closes; text ``end`` ends an utterance."""
        from websockets.exceptions import ConnectionClosed

        try:
            async for message in connection:
                if isinstance(message, str):
                    if message.strip() == "end":
                        decoder_tail = decoder.decode(b"", final=True)
                        if len(decoder_tail):
                            await asyncio.to_thread(voice.push, decoder_tail)
                        frames = await asyncio.to_thread(voice.end)
                        if on_end is not None:
                            await on_end(frames)
                        decoder = PcmDecoder(decoder.rate)
                    continue
                if len(message) > MAX_MESSAGE_BYTES:
                    await _refuse(connection, TOO_BIG, f"messages up to {MAX_MESSAGE_BYTES} bytes")
                    return
                try:
                    audio = decoder.decode(message)
                except L2TError as exc:
                    await _refuse(connection, UNSUPPORTED, str(exc))
                    return
                if voice.stopped:  # the tab stopped its microphone: close, and the page releases it
                    await connection.close(1000, "microphone stopped")
                    return
                if on_audio is not None:
                    on_audio(audio, voice.stream is None)
                await asyncio.to_thread(voice.push, audio)
                # Reading never pauses (a paused reader would hold back keepalive pongs too), so a program
                # sending far faster than speech is stopped instead: its audio would wait minutes to play.
                if voice.ahead_seconds() > MAX_AHEAD_SECONDS:
                    await _refuse(
                        connection,
                        POLICY_VIOLATION,
                        f"more than {MAX_AHEAD_SECONDS:.0f} s ahead of the page: push nearer the pace of speech",
                    )
                    return
        except ConnectionClosed:
            pass
        finally:
            await asyncio.to_thread(voice.end)

    async def mic(self, connection, query: dict[str, str]) -> None:
        try:
            tab, rate = _int(query, "tab"), _int(query, "rate", 16000)
            decoder = PcmDecoder(rate)
        except L2TError as exc:
            await _refuse(connection, POLICY_VIOLATION, str(exc))
            return
        voice = self.tab_voice(tab)
        if voice is None:
            await _refuse(connection, POLICY_VIOLATION, f"no open tab {tab}")
            return
        await self._feed(connection, voice, decoder)

    async def push(self, connection, query: dict[str, str]) -> None:
        if not self.listening:
            await _refuse(connection, POLICY_VIOLATION, "this viewer takes no pushed speech: start it with --listen")
            return
        try:
            decoder = PcmDecoder(_int(query, "rate", 16000))
        except L2TError as exc:
            await _refuse(connection, POLICY_VIOLATION, str(exc))
            return
        voice = self.hub.open_push()

        async def ended(frames: int) -> None:
            seconds = voice.last_utterance[1] if frames else 0.0
            await connection.send(json.dumps({"event": "end", "frames": frames, "seconds": round(seconds, 3)}))

        try:
            await self._feed(connection, voice, decoder, on_audio=self.hub.play, on_end=ended)
        finally:
            self.hub.close_push(voice)

    async def play(self, connection, query: dict[str, str]) -> None:
        try:
            tab = _int(query, "tab")
        except L2TError as exc:
            await _refuse(connection, POLICY_VIOLATION, str(exc))
            return
        loop, queue = asyncio.get_running_loop(), asyncio.Queue(PLAYER_QUEUE)

        def send(message: bytes | None) -> None:  # from any thread
            def put() -> None:
                if queue.full():
                    queue.get_nowait()
                queue.put_nowait(message)

            loop.call_soon_threadsafe(put)

        self.hub.add_player(tab, send)
        closed = asyncio.ensure_future(connection.wait_closed())
        try:
            while True:
                getter = asyncio.ensure_future(queue.get())
                done, _ = await asyncio.wait({getter, closed}, return_when=asyncio.FIRST_COMPLETED)
                if getter not in done:
                    getter.cancel()
                    return
                message = getter.result()
                if message is None:
                    await connection.close()
                    return
                await connection.send(message)
        except Exception:  # the page went away mid-send
            return
        finally:
            closed.cancel()
            self.hub.remove_player(tab, send)
