"""A scriptable HTTP server on 127.0.0.1 that provider SDKs talk to for real.

The server runs aiohttp in a background thread with its own event loop. A test
scripts it with a *responder*: a function from the received request to a
:class:`Reply` (a whole JSON body, or a list of SSE events), plus optional
latency and faults. Protocol modules (``openai_wire``, ``anthropic_wire``...)
build replies in each provider's wire format.

Faults a reply can inject: any status with headers (429 with ``Retry-After``,
500...), a delay before the response starts (latency, slow first byte), a pause
between stream events, a stream cut after ``cut_after`` events (the connection
is dropped without finishing the chunked body), and a raw body (malformed JSON).
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass(frozen=True)
class Received:
    """One request as the server saw it."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    peer: Any = None  # the client's (host, port): one per connection


@dataclass(frozen=True)
class Reply:
    """What the server answers.

    Attributes:
        status: HTTP status.
        body: JSON body (ignored when ``events`` or ``raw`` is set).
        events: SSE events: each a ``(event_name or None, data)`` pair where data
            is a dict (sent as JSON) or a str (sent as is).
        raw: Bytes sent as the body verbatim.
        headers: Extra response headers.
        delay: Seconds before the response starts (on top of server latency).
        event_delay: Seconds between stream events.
        cut_after: Drop the connection after this many events.
        content_type: Overrides the content type.
        json_lines: Send ``events`` as a JSON array streamed element by element
            (Gemini's non-SSE streaming) instead of SSE.
    """

    status: int = 200
    body: Any = None
    events: Sequence[tuple[str | None, Any]] | None = None
    raw: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    event_delay: float = 0.0
    cut_after: int | None = None
    content_type: str | None = None
    json_lines: bool = False


Responder = Callable[[Received], Reply]


class LoopbackServer:
    """The server; use :meth:`start`/:meth:`stop` or the pytest fixtures.

    Attributes:
        latency: Seconds every response waits before starting.
        requests: Every request received, in order (cleared by :meth:`reset`).
        responder: Builds the reply for each request.
    """

    def __init__(self, responder: Responder | None = None, *, latency: float = 0.0) -> None:
        self.latency = latency
        self.responder: Responder = responder or (lambda _: Reply(404, {"error": "unscripted"}))
        self.requests: list[Received] = []
        self._queue: list[Reply] = []
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self.port = 0
        self.open_streams = 0

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self.port}"

    def reset(self, responder: Responder | None = None, *, latency: float = 0.0) -> None:
        """Forget requests and queued replies; install ``responder``."""
        with self._lock:
            self.requests.clear()
            self._queue.clear()
        self.latency = latency
        if responder is not None:
            self.responder = responder

    def queue(self, *replies: Reply) -> None:
        """Answer the next requests with these replies, in order, then the responder."""
        with self._lock:
            self._queue.extend(replies)

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> LoopbackServer:
        """Start serving in a background thread; returns self once it listens."""
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            app = web.Application(client_max_size=64 * 1024 * 1024)
            app.router.add_route("*", "/{tail:.*}", self._handle)
            runner = web.AppRunner(app, access_log=None, handle_signals=False)
            loop.run_until_complete(runner.setup())
            site = web.TCPSite(runner, "127.0.0.1", 0, backlog=4096)
            loop.run_until_complete(site.start())
            self._runner = runner
            server = site._server
            assert server is not None
            self.port = server.sockets[0].getsockname()[1]
            ready.set()
            loop.run_forever()
            loop.run_until_complete(runner.cleanup())
            loop.close()

        self._thread = threading.Thread(target=run, name="loopback-server", daemon=True)
        self._thread.start()
        ready.wait(10)
        return self

    def stop(self) -> None:
        """Stop the server thread."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10)

    # -- serving -------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode(errors="replace")
        received = Received(
            request.method,
            request.path,
            dict(request.query),
            {k.lower(): v for k, v in request.headers.items()},
            body,
            request.transport.get_extra_info("peername") if request.transport else None,
        )
        with self._lock:
            self.requests.append(received)
            reply = self._queue.pop(0) if self._queue else None
        if reply is None:
            reply = self.responder(received)
        wait = self.latency + reply.delay
        if wait:
            await asyncio.sleep(wait)
        if reply.events is not None:
            return await self._stream(request, reply)
        if reply.raw is not None:
            if any(key.lower() == "content-type" for key in reply.headers):
                # Sent as given (a charset parameter, or none at all): aiohttp's
                # content_type argument would refuse or rewrite it.
                return web.Response(status=reply.status, body=reply.raw, headers=reply.headers)
            return web.Response(
                status=reply.status,
                body=reply.raw,
                headers=reply.headers,
                content_type=reply.content_type or "application/json",
            )
        return web.json_response(reply.body, status=reply.status, headers=reply.headers)

    async def _stream(self, request: web.Request, reply: Reply) -> web.StreamResponse:
        content_type = reply.content_type or (
            "application/json" if reply.json_lines else "text/event-stream"
        )
        response = web.StreamResponse(
            status=reply.status, headers={"Content-Type": content_type, **reply.headers}
        )
        await response.prepare(request)
        self.open_streams += 1
        try:
            events = list(reply.events or ())
            for i, (name, data) in enumerate(events):
                if reply.cut_after is not None and i >= reply.cut_after:
                    assert request.transport is not None
                    request.transport.close()  # a cut: the chunked body never ends
                    return response
                if reply.event_delay and i:
                    await asyncio.sleep(reply.event_delay)
                payload = data if isinstance(data, str) else json.dumps(data)
                if reply.json_lines:
                    prefix = "[" if i == 0 else ",\r\n"
                    chunk = f"{prefix}{payload}" + ("]" if i == len(events) - 1 else "")
                else:
                    chunk = (f"event: {name}\n" if name else "") + f"data: {payload}\n\n"
                await response.write(chunk.encode())
            await response.write_eof()
        except (ConnectionResetError, asyncio.CancelledError):
            pass  # the client went away (a cancelled stream): nothing left to send
        finally:
            self.open_streams -= 1
        return response


def serve_forever(responder: Responder, latency: float) -> None:  # pragma: no cover
    """Run a server in this process until killed; prints its port (for benchmarks)."""
    server = LoopbackServer(responder, latency=latency).start()
    print(server.port, flush=True)
    threading.Event().wait()
