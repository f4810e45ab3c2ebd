"""
The upstream HTTP/1.1 client: pooled keep-alive connections on asyncio protocols,
with httptools (llhttp, the parser uvicorn uses) reading the responses.

Every forwarded request passes through here, so it is built for the one thing the
proxy does: write a request head (and a body) that the gateway already validated,
read one response, relay it, and put the connection back. It replaces aiohttp's
client on that path because aiohttp's request machinery (URL objects, header
multidicts, per-request timers and tasks) cost about as much CPU per request as the
whole rest of the gateway; `benchmarks/proxy_bench.py` shows both side by side.
aiohttp's client is still used for WebSocket upgrades.

Rules it keeps:

- One request at a time per connection (no pipelining); a connection is reused only
  after a complete response that allows keep-alive and a fully sent request, and
  one left idle for ``IDLE_SECONDS`` is closed (a timer sweeps the pool, so an upstream
  that never closes idle connections is not left holding them).
- A response that is malformed, too large in its head, or cut short raises
  ``UpstreamProtocolError`` (an ``OSError``); no answer within the read timeout raises
  ``TimeoutError``. The caller maps them to 502 and 504.
- An idempotent request with a replayable body that failed on a reused connection
  before any response byte arrived is retried once on a new connection (the upstream
  closed the idle connection as it was taken); nothing else is retried (RFC 9110 §9.2.2).
- A request body streamed from the client is never completed on the client's behalf:
  if the client goes away mid-body, the upstream connection is dropped, not finished.
- An https origin's certificate is verified with the system's trust store, or with the
  origin's own CA bundle (``ca_file``), which is part of its pool key: a connection
  verified against one trust store is never handed to an origin that uses another.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import ssl
from collections import deque
from dataclasses import dataclass, field
from typing import cast
from urllib.parse import urlsplit

import httptools

from gateway.types import Receive

log = logging.getLogger("gateway")

# A response head larger than this (status line excluded) is refused as malformed.
MAX_RESPONSE_HEAD_BYTES = 64 * 1024
MAX_RESPONSE_HEADERS = 256
# Reading from the upstream pauses while this much response body waits to be relayed.
_READ_HIGH_WATER = 1024 * 1024
_READ_LOW_WATER = 256 * 1024
# A pooled connection idle for longer is closed instead of reused.
IDLE_SECONDS = 15.0
_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"})
_BODY_EXPECTED = frozenset({"POST", "PUT", "PATCH"})


class UpstreamProtocolError(ConnectionError):
    """
    The upstream broke HTTP/1.1: a malformed or oversized response, or one cut short.
    """


class ClientGone(Exception):
    """
    The client disconnected while its request body was being forwarded.
    """


@dataclass(frozen=True, slots=True)
class Origin:
    """
    Where an upstream lives: what connections are pooled by.
    """

    scheme: str
    host: str
    port: int
    base_path: str
    host_header: str
    # https only: the CA bundle its certificate is verified with ("" for the system's).
    ca_file: str = ""
    # What the pool's dicts are keyed by (scheme, host, port and CA bundle): a str caches
    # its hash, where the dataclass would build and hash a tuple of its fields on every
    # lookup. Connections verified with one trust store are never handed to another.
    key: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        key = f"{self.scheme}://{self.host}:{self.port}"
        object.__setattr__(self, "key", f"{key} ca={self.ca_file}" if self.ca_file else key)

    @property
    def tls(self) -> bool:
        return self.scheme == "https"


@functools.lru_cache(maxsize=256)
def origin_of(url: str, ca_file: str | os.PathLike[str] | None = None) -> Origin:
    """
    Parse an upstream URL (``http[s]://host[:port][/base]``) once; an https
    upstream's certificate is verified with ``ca_file`` when given.

    Raises:
        ValueError: not an http(s) URL with a host.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {url!r}")
    default = 443 if parts.scheme == "https" else 80
    port = parts.port or default
    host = parts.hostname
    shown = f"[{host}]" if ":" in host else host
    host_header = shown if port == default else f"{shown}:{port}"
    ca = os.fspath(ca_file) if ca_file is not None and parts.scheme == "https" else ""
    return Origin(parts.scheme, host, port, parts.path.rstrip("/"), host_header, ca)


def _expire(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError())


class UpstreamConnection(asyncio.Protocol):
    """
    One upstream connection; it parses the response to the request in flight.
    """

    def __init__(self, origin: Origin, loop: asyncio.AbstractEventLoop) -> None:
        self.origin = origin
        self._loop = loop
        self._transport: asyncio.Transport | None = None
        self.closed = False
        self.idle_since = 0.0
        self._waiter: asyncio.Future[None] | None = None
        self._error: BaseException | None = None
        self._spoilt = False
        self._write_paused = False
        # None while idle: bytes that arrive then are out of turn.
        self._parser: httptools.HttpResponseParser | None = None
        # False while a streamed request body is still on its way to the upstream.
        self.sent_all = True
        self._reset(head_only=False)

    def _reset(self, *, head_only: bool) -> None:
        # The state of one exchange, from the request's head to the response's end.
        self._head_only = head_only
        self._interim = False
        self.status = 0
        self.headers: list[tuple[bytes, bytes]] = []
        self._head_bytes = 0
        self.headers_done = False
        self.complete = False
        self._framed = False
        self._chunks: deque[bytes] = deque()
        self._buffered = 0
        self._reading_paused = False
        self.got_data = False
        self.keep_alive = False

    # --- asyncio.Protocol ---------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but have its methods.
        self._transport = cast(asyncio.Transport, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._parser is not None and not self.complete and self._error is None:
            if self.headers_done and not self._framed:
                # RFC 9112 §6.3: without Content-Length or chunking, the body ends at close.
                self.complete = True
            else:
                self._error = UpstreamProtocolError("the upstream closed the connection")
        self._wake()

    def data_received(self, data: bytes) -> None:
        parser = self._parser
        if parser is None or self.complete:
            # Bytes nobody asked for: this connection cannot be trusted any more.
            self._fail(UpstreamProtocolError("the upstream sent data out of turn"))
            return
        self.got_data = True
        try:
            parser.feed_data(data)
        except httptools.HttpParserError:
            if self._spoilt and self.complete:
                self.abort()
                return
            if self._error is None:
                self._error = UpstreamProtocolError("the upstream sent a malformed response")
            self._fail(self._error)

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        self._wake()

    # --- httptools callbacks ------------------------------------------------------------

    def on_message_begin(self) -> None:
        if self.headers_done:
            # A second response to one request: this one stands, the connection is spoilt.
            self._spoilt = True
            raise UpstreamProtocolError("the upstream sent a second response")
        self.headers = []
        self._head_bytes = 0

    def on_header(self, name: bytes, value: bytes) -> None:
        self._head_bytes += len(name) + len(value) + 4
        if self._head_bytes > MAX_RESPONSE_HEAD_BYTES or len(self.headers) >= MAX_RESPONSE_HEADERS:
            self._error = UpstreamProtocolError("the upstream's response head is too large")
            raise self._error
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        assert self._parser is not None
        status = self._parser.get_status_code()
        if 100 <= status < 200:
            # An interim response (103 Early Hints, a stray 100): the real one follows.
            self._interim = True
            return
        self.status = status
        self.headers_done = True
        for name, value in self.headers:
            lowered = name.lower()
            if lowered == b"content-length" or (
                lowered == b"transfer-encoding" and value.strip().lower().endswith(b"chunked")
            ):
                self._framed = True
        if self._head_only:
            # A HEAD response has no body whatever its Content-Length says.
            self._finish()
        self._wake()

    def on_body(self, body: bytes) -> None:
        self._chunks.append(body)
        self._buffered += len(body)
        if self._buffered > _READ_HIGH_WATER and not self._reading_paused:
            self._reading_paused = True
            assert self._transport is not None
            self._transport.pause_reading()
        self._wake()

    def on_message_complete(self) -> None:
        if self._interim:
            self._interim = False
            self.headers = []
            return
        if not self.complete:
            self._finish()
        self._wake()

    def _finish(self) -> None:
        assert self._parser is not None
        self.complete = True
        self.keep_alive = self._parser.should_keep_alive()

    # --- used by the pool and the forwarder -----------------------------------------------

    def start(self, head: bytes, *, head_only: bool, sent_all: bool = True) -> None:
        # A fresh parser per response: nothing of the last one's state carries over.
        self._parser = httptools.HttpResponseParser(self)
        self._reset(head_only=head_only)
        self.sent_all = sent_all
        self.write(head)

    def write(self, data: bytes) -> None:
        if self._error is not None:
            raise self._error
        if self.closed or self._transport is None:
            raise UpstreamProtocolError("the upstream closed the connection")
        self._transport.write(data)

    async def drain(self, seconds: float) -> None:
        """
        Wait until the upstream takes more of the request body, or has answered already.
        """
        while self._write_paused and not self.headers_done:
            await self._wait(seconds)

    async def read_head(self, seconds: float) -> None:
        while not self.headers_done:
            await self._wait(seconds)

    async def read_chunk(self, seconds: float) -> bytes:
        """
        Return the body that arrived (joined), waiting for some; b"" at its end.
        """
        while True:
            if self._chunks:
                chunks = self._chunks
                data = chunks.popleft() if len(chunks) == 1 else b"".join(chunks)
                chunks.clear()
                self._buffered = 0
                if self._reading_paused:
                    self._reading_paused = False
                    if self._transport is not None and not self.closed:
                        self._transport.resume_reading()
                return data
            if self.complete:
                return b""
            await self._wait(seconds)

    async def read_all(self, seconds: float) -> bytes:
        parts = []
        while chunk := await self.read_chunk(seconds):
            parts.append(chunk)
        return parts[0] if len(parts) == 1 else b"".join(parts)

    @property
    def reusable(self) -> bool:
        return (
            self.complete
            and self.keep_alive
            and self.sent_all
            and not self.closed
            and self._error is None
        )

    async def _wait(self, seconds: float) -> None:
        if self._error is not None:
            raise self._error
        if self.closed:
            raise UpstreamProtocolError("the upstream closed the connection")
        waiter = self._loop.create_future()
        self._waiter = waiter
        timer = self._loop.call_later(seconds, _expire, waiter)
        try:
            await waiter
        finally:
            timer.cancel()
            self._waiter = None
        if self._error is not None:
            raise self._error

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _fail(self, error: BaseException) -> None:
        self._error = error
        self.abort()
        self._wake()

    def idle(self) -> None:
        self._parser = None
        self._chunks.clear()
        self.idle_since = self._loop.time()

    def idle_for(self) -> float:
        """
        Seconds since the connection was last given back to the pool.
        """
        return self._loop.time() - self.idle_since

    def abort(self) -> None:
        self.closed = True
        if self._transport is not None:
            self._transport.abort()

    def close(self) -> None:
        self.closed = True
        if self._transport is not None:
            self._transport.close()


class UpstreamPool:
    """
    Keep-alive connections per origin, at most ``limit_per_origin`` in use at once.
    """

    def __init__(
        self,
        *,
        limit_per_origin: int = 256,
        idle_seconds: float = IDLE_SECONDS,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self._limit = limit_per_origin
        self._idle_seconds = idle_seconds
        # Keyed by Origin.key.
        self._idle: dict[str, deque[UpstreamConnection]] = {}
        self._busy: dict[str, int] = {}
        self._queued: dict[str, deque[asyncio.Future[None]]] = {}
        self._open: set[UpstreamConnection] = set()
        self._closed = False
        # https upstreams: the system's trust store unless a context is given, or the
        # origin's own CA bundle (read when a connection first needs it).
        self._ssl = tls
        self._ca_contexts: dict[str, ssl.SSLContext] = {}
        # Closes idle connections past their time when no request comes to take them.
        self._sweep: asyncio.TimerHandle | None = None

    async def request(
        self,
        origin: Origin,
        head: bytes,
        *,
        method: str,
        body: bytes | None,
        connect_timeout: float,
        read_timeout: float,
    ) -> UpstreamConnection:
        """
        Send ``head`` (and ``body``) and return the connection once the response head
        has arrived. The caller reads the body and must ``release`` the connection.

        Raises:
            TimeoutError: no connection or no response head within the timeouts.
            OSError: the upstream refused, reset or answered with a malformed head.
        """
        retry = method in _IDEMPOTENT
        while True:
            conn, reused = await self.acquire(origin, connect_timeout)
            try:
                conn.start(head if body is None else head + body, head_only=method == "HEAD")
                await conn.read_head(read_timeout)
                return conn
            except TimeoutError:
                self.release(conn)
                raise
            except OSError:
                self.release(conn)
                if not (retry and reused and not conn.got_data):
                    raise
                retry = False
            except BaseException:
                self.release(conn)
                raise

    async def stream(
        self,
        origin: Origin,
        head: bytes,
        *,
        chunked: bool,
        receive: Receive,
        connect_timeout: float,
        read_timeout: float,
    ) -> UpstreamConnection:
        """
        Send ``head``, then the client's body as it arrives from ``receive`` (framed
        by its Content-Length, or re-chunked), and return the connection once the
        response head has arrived.

        Raises:
            ClientGone: the client disconnected before its body was complete.
            TimeoutError, OSError: as for ``request``.
        """
        conn, _ = await self.acquire(origin, connect_timeout)
        try:
            conn.start(head, head_only=False, sent_all=False)
            while not conn.headers_done:
                message = await receive()
                if message["type"] == "http.disconnect":
                    raise ClientGone
                chunk: bytes = message.get("body", b"")
                if chunk:
                    conn.write(b"%x\r\n%b\r\n" % (len(chunk), chunk) if chunked else chunk)
                    await conn.drain(read_timeout)
                if not message.get("more_body", False):
                    if chunked:
                        conn.write(b"0\r\n\r\n")
                    conn.sent_all = True
                    break
            await conn.read_head(read_timeout)
            return conn
        except BaseException:
            self.release(conn)
            raise

    async def acquire(
        self, origin: Origin, connect_timeout: float
    ) -> tuple[UpstreamConnection, bool]:
        """
        Return a pooled connection (True) or a new one (False), waiting for a free slot.
        """
        if self._closed:
            raise UpstreamProtocolError("the upstream pool is closed")
        # asyncio.get_running_loop() makes a getpid() system call on Python 3.11: the
        # pooled path below reads the loop's clock through the connection instead.
        while self._busy.get(origin.key, 0) >= self._limit:
            loop = asyncio.get_running_loop()
            waiter = loop.create_future()
            self._queued.setdefault(origin.key, deque()).append(waiter)
            timer = loop.call_later(connect_timeout, _expire, waiter)
            try:
                await waiter
            finally:
                timer.cancel()
        key = origin.key
        self._busy[key] = self._busy.get(key, 0) + 1
        idle = self._idle.get(key)
        while idle:
            conn = idle.pop()
            if not conn.closed and conn.idle_for() < self._idle_seconds:
                return conn, True
            self._drop(conn)
        loop = asyncio.get_running_loop()
        conn = UpstreamConnection(origin, loop)
        try:
            await asyncio.wait_for(
                loop.create_connection(
                    lambda: conn,
                    origin.host,
                    origin.port,
                    ssl=self.tls_for(origin),
                ),
                connect_timeout,
            )
        except BaseException:
            self._free_slot(origin)
            raise
        self._open.add(conn)
        return conn, False

    def release(self, conn: UpstreamConnection) -> None:
        """
        Give a connection back: pooled when its exchange completed cleanly, else closed.
        """
        origin = conn.origin
        if conn.reusable and not self._closed:
            conn.idle()
            idle = self._idle.setdefault(origin.key, deque())
            idle.append(conn)
            # The oldest idle connection goes once it is closed or past its time.
            oldest = idle[0]
            if oldest.closed or oldest.idle_for() >= self._idle_seconds:
                self._drop(idle.popleft())
            if self._sweep is None:
                self._sweep = conn._loop.call_later(self._idle_seconds, self._prune)
        else:
            self._drop(conn)
        self._free_slot(origin)

    def _prune(self) -> None:
        # An upstream that never times out idle connections would otherwise keep every
        # one of them open until the next request to it; the oldest are at the left.
        self._sweep = None
        if self._closed:
            return
        oldest: UpstreamConnection | None = None  # of those that stay
        for key, idle in list(self._idle.items()):
            while idle and (idle[0].closed or idle[0].idle_for() >= self._idle_seconds):
                self._drop(idle.popleft())
            if not idle:
                del self._idle[key]
            elif oldest is None or idle[0].idle_since < oldest.idle_since:
                oldest = idle[0]
        if oldest is not None:
            due = max(self._idle_seconds - oldest.idle_for(), 0.0)
            self._sweep = oldest._loop.call_later(due, self._prune)

    def _free_slot(self, origin: Origin) -> None:
        key = origin.key
        self._busy[key] -= 1
        queued = self._queued.get(key)
        while queued:
            waiter = queued.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def _drop(self, conn: UpstreamConnection) -> None:
        # A connection in the middle of an exchange is reset, a finished one closed.
        if conn.complete:
            conn.close()
        else:
            conn.abort()
        self._open.discard(conn)

    def tls_for(self, origin: Origin) -> ssl.SSLContext | None:
        """
        Return the TLS context connections to ``origin`` verify with (None for http).

        Raises:
            OSError, ssl.SSLError: the origin's CA bundle cannot be read (a new
                connection then fails like a refused one: 502).
        """
        if not origin.tls:
            return None
        if origin.ca_file:
            context = self._ca_contexts.get(origin.ca_file)
            if context is None:
                try:
                    context = ssl.create_default_context(cafile=origin.ca_file)
                except OSError as exc:  # ssl.SSLError included
                    log.warning("cannot read the CA bundle %s: %s", origin.ca_file, exc)
                    raise
                self._ca_contexts[origin.ca_file] = context
            return context
        if self._ssl is None:
            self._ssl = ssl.create_default_context()
        return self._ssl

    def reload_tls(self) -> None:
        """
        Read CA bundles again for new connections (a reload: a bundle may have been
        replaced); pooled connections, verified when they opened, stay.
        """
        self._ca_contexts.clear()

    async def close(self) -> None:
        """
        Close every connection; requests in flight fail, new ones are refused.
        """
        self._closed = True
        if self._sweep is not None:
            self._sweep.cancel()
            self._sweep = None
        for conn in list(self._open):
            conn.close()
        self._open.clear()
        self._idle.clear()
