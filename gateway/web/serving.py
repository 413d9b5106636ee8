"""Serving the application on a socket, with limits on what clients can hold.

aiohttp's ``web.run_app`` accepts every connection and, by default, keeps an idle one for an
hour. Here the gateway's own site wraps each connection so that a :class:`ConnectionTable` can
count it: past the limit, the connection idle the longest is closed (a client that connects and
sends nothing, or sends its headers a byte at a time, is always idle). The limit stays below the
process's descriptor limit, leaving room for peer connections, the record and blobs.

Other limits, all passed to aiohttp's request handler:

- ``keepalive_timeout``: aiohttp starts this timer when a connection opens and does not restart it
  while headers trickle in, so it is also the time a client has to send its request headers
  (slowloris); and the time an idle kept-alive connection is kept.
- ``max_line_size`` / ``max_field_size`` / ``max_headers``: a request line or header beyond them
  is answered 400 by aiohttp's parser.
- anonymous requests (the caller's and login paths) must finish within ``ANONYMOUS_REQUEST_SECONDS``
  (a slowly sent body is answered 408 and its connection released).

The event loop is uvloop unless configured otherwise (``[server] event_loop``). asyncio's own
datagram transport reads one datagram per socket per pass of the loop; with a dozen callers'
video arriving while the loop is busy, their sockets' receive buffers overflow and the kernel drops
packets, which aiortc's jitter buffer then waits for. libuv reads what is waiting in one go.
"""

from __future__ import annotations

import asyncio
import logging
import resource
import signal
import time
from collections.abc import Callable
from typing import Any, cast

from aiohttp import web

from ..connections import ConnectionTable
from .security import Handler

log = logging.getLogger(__name__)

HEADER_TIMEOUT_SECONDS = 15.0
ANONYMOUS_REQUEST_SECONDS = 30.0
MAX_LINE_SIZE = 8190
MAX_FIELD_SIZE = 8190
MAX_HEADERS = 64
# Connections the kernel queues for accepting; asyncio also accepts up to this many at once, so
# the connection limit leaves this many descriptors free (running out would stop accepting).
BACKLOG = 256
# After the drain (app._drain: the callers have moved), requests still open get this long to end
# before they are cancelled. Long-lived ones (operators' event streams, MJPEG views) never end by
# themselves and reconnect through the proxy to another node; aiohttp's default of 60 s would only
# hold up a rolling restart.
SHUTDOWN_GRACE_SECONDS = 3.0
SSL_HANDSHAKE_SECONDS = 10.0
DEFAULT_MAX_CONNECTIONS = 4096
# Descriptors kept back from HTTP connections, for peer connections' UDP sockets, the record,
# blobs, logs and the listening socket itself.
RESERVED_DESCRIPTORS_SHARE = 4  # a quarter of the limit
RESERVED_DESCRIPTORS_MIN = 64

CONNECTIONS = web.AppKey("connections", ConnectionTable)
ANONYMOUS_PREFIXES = ("/c/", "/login", "/embed/")


def connection_limit(configured: int, descriptors: int | None = None) -> int:
    """The most HTTP connections to hold: ``configured``, and well below the descriptor limit."""
    if descriptors is None:
        descriptors = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        if descriptors == resource.RLIM_INFINITY:
            return configured
    reserve = max(RESERVED_DESCRIPTORS_MIN, descriptors // RESERVED_DESCRIPTORS_SHARE) + BACKLOG
    return max(1, min(configured, descriptors - reserve))


class _Guarded(asyncio.Protocol):
    """One connection: counted in the table, everything else passed to aiohttp's handler."""

    def __init__(self, inner: Any, table: ConnectionTable, transports: dict[Any, asyncio.Transport]) -> None:
        self.inner = inner
        self.table = table
        self.transports = transports

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream transport (uvloop's do not subclass asyncio.Transport, so no isinstance check).
        self.transports[self.inner] = cast(asyncio.Transport, transport)
        self.inner.connection_made(transport)
        for victim in self.table.opened(self.inner, time.monotonic()):
            closing = self.transports.get(victim)
            if closing is not None:
                closing.abort()

    def data_received(self, data: bytes) -> None:
        self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        self.table.closed(self.inner)
        self.transports.pop(self.inner, None)
        self.inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()


class GuardedSite(web.TCPSite):
    """A TCP site whose connections are counted and capped (see the module's description)."""

    def __init__(self, runner: web.AppRunner, host: str, port: int, table: ConnectionTable, **kwargs: Any) -> None:
        super().__init__(runner, host, port, **kwargs)
        self.table = table
        self._transports: dict[Any, asyncio.Transport] = {}

    async def start(self) -> None:
        self._runner._reg_site(self)
        server = self._runner.server
        assert server is not None
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: _Guarded(server(), self.table, self._transports),
            self._host, self._port, ssl=self._ssl_context, backlog=self._backlog,
            reuse_address=self._reuse_address, reuse_port=self._reuse_port,
            ssl_handshake_timeout=SSL_HANDSHAKE_SECONDS if self._ssl_context else None,
        )


@web.middleware
async def track_requests(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Mark the connection busy while a request is handled; bound anonymous requests in time."""
    table = request.app.get(CONNECTIONS)
    if table is None:
        return await handler(request)
    conn = request.protocol
    table.busy(conn)
    try:
        if request.path.startswith(ANONYMOUS_PREFIXES) and request.headers.get("Upgrade", "").lower() != "websocket":
            try:
                async with asyncio.timeout(ANONYMOUS_REQUEST_SECONDS):
                    return await handler(request)
            except TimeoutError:
                raise web.HTTPRequestTimeout(text="the request took too long") from None
        return await handler(request)
    finally:
        table.idle(conn, time.monotonic())


def loop_factory(name: str) -> Callable[[], asyncio.AbstractEventLoop]:
    """What makes the event loop called ``name`` ("uvloop" or "asyncio")."""
    if name == "uvloop":
        import uvloop

        return uvloop.new_event_loop
    if name == "asyncio":
        return asyncio.new_event_loop
    raise ValueError(f"unknown event loop {name!r}")


def loop_name(loop: asyncio.AbstractEventLoop) -> str:
    """The running loop's implementation as the log names it, e.g. ``uvloop.Loop``."""
    cls = type(loop)
    return f"{cls.__module__.split('.')[0]}.{cls.__name__}"


def serve(app: web.Application, host: str, port: int, ssl_context: Any, max_connections: int,
          access_log_class: type, event_loop: str = "uvloop") -> None:
    """Run ``app`` on the ``event_loop`` until SIGINT or SIGTERM, with the limits above."""
    table: ConnectionTable = ConnectionTable(connection_limit(max_connections))
    app[CONNECTIONS] = table
    log.info("serving with at most %d connections", table.limit)

    async def run() -> None:
        # The signals are ours, not aiohttp's: its handler raises GracefulExit (a SystemExit) out of
        # the event loop, and the drain then runs while asyncio cancels every task, peer
        # connections' own included, so closing them could wait for ever. Here the first SIGTERM
        # or SIGINT stops the node in the ordinary way; a second one cancels the drain.
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        main = asyncio.current_task()

        def on_signal(signum: int) -> None:
            if stop.is_set():
                log.warning("%s again: stopping without waiting for the drain", signal.Signals(signum).name)
                if main is not None:
                    main.cancel()
                return
            log.info("%s: stopping (draining first)", signal.Signals(signum).name)
            stop.set()

        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, on_signal, signum)
        runner = web.AppRunner(
            app, handle_signals=False, access_log_class=access_log_class,
            keepalive_timeout=HEADER_TIMEOUT_SECONDS, max_line_size=MAX_LINE_SIZE,
            max_field_size=MAX_FIELD_SIZE, max_headers=MAX_HEADERS,
            shutdown_timeout=SHUTDOWN_GRACE_SECONDS,
        )
        await runner.setup()
        log.info("event loop: %s", loop_name(loop))
        try:
            await GuardedSite(runner, host, port, table, ssl_context=ssl_context, backlog=BACKLOG).start()
            await stop.wait()
        finally:
            await runner.cleanup()

    try:
        with asyncio.Runner(loop_factory=loop_factory(event_loop)) as runner:
            runner.run(run())
    except (web.GracefulExit, KeyboardInterrupt, asyncio.CancelledError):
        pass  # a second signal: stopped without the drain
