"""
The upstream HTTP/1.1 client against scripted raw-socket upstreams: keep-alive and
its limits, response framing (length, chunked, close-delimited, HEAD, 1xx, 204),
streamed request bodies, timeouts, retries, back-pressure, and hostile upstreams.
"""

from __future__ import annotations

import asyncio
import dataclasses
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from gateway.config import UpstreamSettings
from gateway.errors import GatewayError, UpstreamError
from gateway.proxy import Forwarder, request_head
from gateway.types import Message, RequestView
from gateway.upstream_client import (
    MAX_RESPONSE_HEAD_BYTES,
    ClientGone,
    Origin,
    UpstreamPool,
    UpstreamProtocolError,
    origin_of,
)
from tests.conftest import SelfSigned

pytestmark = pytest.mark.anyio

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter, "Server"], Awaitable[None]]


@dataclass
class Server:
    """A raw upstream: counts connections and keeps every request head it read."""

    handler: Handler
    connections: int = 0
    ended: int = 0  # connections whose handler returned (the client closed, or it did)
    heads: list[bytes] = field(default_factory=list)
    bodies: list[bytes] = field(default_factory=list)
    origin: Origin | None = None

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            await self.handler(reader, writer, self)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self.ended += 1
            writer.close()

    async def read_request(self, reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
        head = await reader.readuntil(b"\r\n\r\n")
        self.heads.append(head)
        body = b""
        lowered = head.lower()
        if b"content-length:" in lowered:
            length = int(lowered.split(b"content-length:")[1].split(b"\r\n")[0])
            body = await reader.readexactly(length)
        elif b"transfer-encoding: chunked" in lowered:
            while True:
                size = int((await reader.readuntil(b"\r\n"))[:-2], 16)
                chunk = await reader.readexactly(size + 2)
                if size == 0:
                    break
                body += chunk[:-2]
        self.bodies.append(body)
        return head, body


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[Handler], Awaitable[Server]]]:
    servers: list[asyncio.Server] = []

    async def start(handler: Handler) -> Server:
        server = Server(handler)
        listener = await asyncio.start_server(server.serve, "127.0.0.1", 0)
        servers.append(listener)
        port = listener.sockets[0].getsockname()[1]
        server.origin = origin_of(f"http://127.0.0.1:{port}")
        return server

    yield start
    for listener in servers:
        listener.close()


def _head(method: str = "GET", target: str = "/", extra: str = "") -> bytes:
    return f"{method} {target} HTTP/1.1\r\nhost: upstream\r\n{extra}\r\n".encode()


async def _get(pool: UpstreamPool, origin: Origin, method: str = "GET", **kw: float) -> bytes:
    conn = await pool.request(
        origin,
        _head(method),
        method=method,
        body=None,
        connect_timeout=kw.get("connect", 2.0),
        read_timeout=kw.get("read", 2.0),
    )
    try:
        return await conn.read_all(2.0)
    finally:
        pool.release(conn)


def ok(body: bytes = b"hello", extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n%b\r\n%b" % (len(body), extra, body)


async def keep_answering(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, s: Server
) -> None:
    while True:
        await s.read_request(reader)
        writer.write(ok())
        await writer.drain()


async def test_connections_are_kept_alive_and_reused(serve) -> None:
    server = await serve(keep_answering)
    pool = UpstreamPool()
    for _ in range(5):
        assert await _get(pool, server.origin) == b"hello"
    assert server.connections == 1
    await pool.close()


async def test_idle_connections_are_closed_without_a_request_to_take_them(serve) -> None:
    """Past idle_seconds, a pooled connection is closed even if no request comes along."""
    server = await serve(keep_answering)
    pool = UpstreamPool(idle_seconds=0.2)
    assert await _get(pool, server.origin) == b"hello"
    await asyncio.sleep(0.05)
    assert server.ended == 0  # still pooled
    await asyncio.sleep(0.4)
    assert server.ended == 1  # closed by the pool's sweep, with no request since
    assert await _get(pool, server.origin) == b"hello"  # a new connection
    assert server.connections == 2
    await pool.close()


async def test_a_connection_idle_too_long_is_not_reused(serve, monkeypatch) -> None:
    """The check when a connection is taken refuses an expired one on its own."""
    server = await serve(keep_answering)
    pool = UpstreamPool(idle_seconds=0.2)
    # The sweep off: a late timer (a busy loop) must not be what keeps this rule.
    monkeypatch.setattr(pool, "_prune", lambda: None)
    assert await _get(pool, server.origin) == b"hello"
    assert await _get(pool, server.origin) == b"hello"  # within the idle time: reused
    assert server.connections == 1
    await asyncio.sleep(0.3)
    assert await _get(pool, server.origin) == b"hello"  # past it: a new connection
    assert server.connections == 2
    await pool.close()


async def test_connection_close_is_honoured(serve) -> None:
    async def closing(reader, writer, s):
        await s.read_request(reader)
        writer.write(ok(extra=b"connection: close\r\n"))
        await writer.drain()

    server = await serve(closing)
    pool = UpstreamPool()
    assert await _get(pool, server.origin) == b"hello"
    assert await _get(pool, server.origin) == b"hello"
    assert server.connections == 2
    await pool.close()


async def test_head_response_has_no_body_and_the_connection_stays_usable(serve) -> None:
    async def head_then_get(reader, writer, s):
        await s.read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n")
        await s.read_request(reader)
        writer.write(ok(b"after"))
        await writer.drain()
        await reader.read()

    server = await serve(head_then_get)
    pool = UpstreamPool()
    assert await _get(pool, server.origin, "HEAD") == b""
    assert await _get(pool, server.origin) == b"after"
    assert server.connections == 1
    await pool.close()


async def test_interim_responses_are_skipped(serve) -> None:
    async def early_hints(reader, writer, s):
        await s.read_request(reader)
        writer.write(b"HTTP/1.1 103 Early Hints\r\nlink: </a.css>\r\n\r\n" + ok(b"final"))
        await writer.drain()
        await reader.read()

    server = await serve(early_hints)
    pool = UpstreamPool()
    conn = await pool.request(
        server.origin, _head(), method="GET", body=None, connect_timeout=2, read_timeout=2
    )
    assert conn.status == 200
    assert conn.headers == [(b"content-length", b"5")]
    assert await conn.read_all(2) == b"final"
    pool.release(conn)
    await pool.close()


async def test_chunked_and_close_delimited_bodies(serve) -> None:
    async def chunked(reader, writer, s):
        await s.read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n")
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.write(b"6\r\n world\r\n0\r\n\r\n")
        await s.read_request(reader)
        writer.write(b"HTTP/1.0 200 OK\r\n\r\nuntil the end")
        await writer.drain()
        writer.close()

    server = await serve(chunked)
    pool = UpstreamPool()
    assert await _get(pool, server.origin) == b"hello world"
    assert await _get(pool, server.origin) == b"until the end"
    assert server.connections == 1
    await pool.close()


async def test_no_content_needs_no_body(serve) -> None:
    async def no_content(reader, writer, s):
        while True:
            await s.read_request(reader)
            writer.write(b"HTTP/1.1 204 No Content\r\n\r\n")

    server = await serve(no_content)
    pool = UpstreamPool()
    assert await _get(pool, server.origin) == b""
    assert await _get(pool, server.origin) == b""
    assert server.connections == 1
    await pool.close()


@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nshort",
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhel",
        b"garbage that is not http\r\n\r\n",
        b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\ncontent-length: 6\r\n\r\nhello!",
        b"HTTP/1.1 200 OK\r\ncontent-length: 3\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nbad header line\r\n\r\n",
    ],
    ids=["cut-length", "cut-chunked", "garbage", "two-lengths", "length-and-chunked", "bad-line"],
)
async def test_broken_responses_raise_and_are_not_reused(serve, answer: bytes) -> None:
    async def broken(reader, writer, s):
        await s.read_request(reader)
        writer.write(answer)
        await writer.drain()
        writer.close()

    server = await serve(broken)
    pool = UpstreamPool()
    with pytest.raises(UpstreamProtocolError):
        await _get(pool, server.origin)
    assert pool._open == set()
    await pool.close()


async def test_an_oversized_response_head_is_refused(serve) -> None:
    async def huge(reader, writer, s):
        await s.read_request(reader)
        filler = b"x-filler: " + b"a" * 1000 + b"\r\n"
        writer.write(b"HTTP/1.1 200 OK\r\n" + filler * (MAX_RESPONSE_HEAD_BYTES // 1000 + 2))
        writer.write(b"content-length: 0\r\n\r\n")
        await writer.drain()
        await reader.read()

    server = await serve(huge)
    pool = UpstreamPool()
    with pytest.raises(UpstreamProtocolError, match="too large"):
        await _get(pool, server.origin)
    await pool.close()


async def test_data_after_the_response_spoils_the_connection(serve) -> None:
    async def two_answers(reader, writer, s):
        if s.connections == 1:
            await s.read_request(reader)
            writer.write(ok(b"one") + ok(b"smuggled"))
            await writer.drain()
        while True:
            await s.read_request(reader)
            writer.write(ok(b"two"))

    server = await serve(two_answers)
    pool = UpstreamPool()
    first = await _get(pool, server.origin)
    assert first == b"one"
    # The smuggled second answer is never taken for the next request's.
    assert await _get(pool, server.origin) == b"two"
    assert server.connections == 2
    await pool.close()


async def test_a_silent_upstream_times_out(serve) -> None:
    async def silent(reader, writer, s):
        await s.read_request(reader)
        await asyncio.sleep(5)

    server = await serve(silent)
    pool = UpstreamPool()
    with pytest.raises(TimeoutError):
        await _get(pool, server.origin, read=0.2)
    await pool.close()


async def test_a_refused_connection_is_an_os_error() -> None:
    pool = UpstreamPool()
    with pytest.raises(OSError):
        await _get(pool, origin_of("http://127.0.0.1:1"))
    await pool.close()


async def test_a_stale_connection_is_retried_for_idempotent_requests_only(serve) -> None:
    async def one_per_connection(reader, writer, s):
        # Answers with keep-alive, then closes as the next request arrives, unanswered:
        # the race of an upstream closing an idle connection the pool just took.
        await s.read_request(reader)
        writer.write(ok())
        await writer.drain()
        await reader.read(1)

    server = await serve(one_per_connection)
    pool = UpstreamPool()
    assert await _get(pool, server.origin) == b"hello"
    assert await _get(pool, server.origin, "PUT") == b"hello"
    # The PUT went out on the kept-alive connection, which the upstream then closed
    # unanswered; the retry on a second connection got the answer.
    assert server.connections == 2
    assert [head.split(b" ")[0] for head in server.heads] == [b"GET", b"PUT"]

    with pytest.raises(UpstreamProtocolError):
        await _get(pool, server.origin, "POST")
    assert server.connections == 2
    await pool.close()


async def test_the_limit_queues_requests_and_times_them_out(serve) -> None:
    gate = asyncio.Event()

    async def slow(reader, writer, s):
        while True:
            await s.read_request(reader)
            await gate.wait()
            writer.write(ok())
            await writer.drain()

    server = await serve(slow)
    pool = UpstreamPool(limit_per_origin=1)
    first = asyncio.create_task(_get(pool, server.origin))
    await asyncio.sleep(0.05)
    with pytest.raises(TimeoutError):
        await _get(pool, server.origin, connect=0.1)
    second = asyncio.create_task(_get(pool, server.origin))
    await asyncio.sleep(0.05)
    gate.set()
    assert await first == b"hello"
    assert await second == b"hello"
    assert server.connections == 1
    await pool.close()


def _receiver(chunks: list[bytes], *, disconnect: bool = False) -> Callable[[], Awaitable[Message]]:
    messages: list[Message] = [
        {"type": "http.request", "body": chunk, "more_body": i < len(chunks) - 1 or disconnect}
        for i, chunk in enumerate(chunks)
    ]
    if disconnect:
        messages.append({"type": "http.disconnect"})

    async def receive() -> Message:
        return messages.pop(0)

    return receive


@pytest.mark.parametrize("chunked", [True, False])
async def test_streamed_request_bodies_arrive_whole(serve, chunked: bool) -> None:
    server = await serve(keep_answering)
    pool = UpstreamPool()
    framing = "transfer-encoding: chunked\r\n" if chunked else "content-length: 11\r\n"
    conn = await pool.stream(
        server.origin,
        _head("PUT", extra=framing),
        chunked=chunked,
        receive=_receiver([b"hello", b" ", b"world"]),
        connect_timeout=2,
        read_timeout=2,
    )
    assert await conn.read_all(2) == b"hello"
    pool.release(conn)
    assert server.bodies == [b"hello world"]
    assert pool._idle[server.origin.key], "a complete exchange keeps the connection"
    await pool.close()


async def test_a_client_leaving_mid_body_never_completes_the_upstream_request(serve) -> None:
    server = await serve(keep_answering)
    pool = UpstreamPool()
    with pytest.raises(ClientGone):
        await pool.stream(
            server.origin,
            _head("PUT", extra="transfer-encoding: chunked\r\n"),
            chunked=True,
            receive=_receiver([b"partial"], disconnect=True),
            connect_timeout=2,
            read_timeout=2,
        )
    await asyncio.sleep(0.05)
    # The upstream saw the connection reset before the last chunk: no request completed.
    assert server.bodies == []
    assert pool._open == set()
    await pool.close()


async def test_an_early_answer_stops_the_body_and_drops_the_connection(serve) -> None:
    async def refuse_early(reader, writer, s):
        await reader.readuntil(b"\r\n\r\n")
        writer.write(
            ok(b"too big", extra=b"connection: keep-alive\r\n").replace(b"200 OK", b"413 Too Large")
        )
        await writer.drain()
        await reader.read()

    server = await serve(refuse_early)
    pool = UpstreamPool()
    sent = 0

    async def endless() -> Message:
        nonlocal sent
        await asyncio.sleep(0.01)
        sent += 1
        return {"type": "http.request", "body": b"x" * 1024, "more_body": True}

    conn = await pool.stream(
        server.origin,
        _head("PUT", extra="transfer-encoding: chunked\r\n"),
        chunked=True,
        receive=endless,
        connect_timeout=2,
        read_timeout=2,
    )
    assert conn.status == 413
    assert await conn.read_all(2) == b"too big"
    pool.release(conn)
    assert sent < 50
    assert server.origin.key not in pool._idle or not pool._idle[server.origin.key]
    await pool.close()


async def test_reading_pauses_while_the_relay_is_behind(serve) -> None:
    size = 8 * 1024 * 1024

    async def big(reader, writer, s):
        await s.read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n" % size)
        for _ in range(size // 65536):
            writer.write(b"z" * 65536)
            await writer.drain()

    server = await serve(big)
    pool = UpstreamPool()
    conn = await pool.request(
        server.origin, _head(), method="GET", body=None, connect_timeout=2, read_timeout=2
    )
    await asyncio.sleep(0.3)
    # Nothing is read yet: what the client holds is bounded, not the whole body.
    assert conn._buffered <= 2 * 1024 * 1024
    total = 0
    while chunk := await conn.read_chunk(2):
        total += len(chunk)
    assert total == size
    pool.release(conn)
    await pool.close()


def test_origins_are_parsed_once_with_their_host_header() -> None:
    assert origin_of("http://svc:8080/base/") == Origin("http", "svc", 8080, "/base", "svc:8080")
    assert origin_of("https://svc") == Origin("https", "svc", 443, "", "svc")
    assert origin_of("http://[::1]:81").host_header == "[::1]:81"
    with pytest.raises(ValueError):
        origin_of("ftp://svc")


@pytest.mark.parametrize("value", ["a\r\nx-gateway-user: admin", "a\nb", "a\rb"])
def test_a_line_break_in_a_header_value_never_reaches_the_upstream(value: str) -> None:
    with pytest.raises(GatewayError) as refused:
        request_head("GET", "/", "svc", [("x-custom", value)], "")
    assert refused.value.status == 400
    assert request_head("GET", "/", "svc", [("x-custom", "fine")], "").endswith(b"\r\n\r\n")


async def test_https_upstreams_are_verified(tmp_path: Path, self_signed: SelfSigned) -> None:
    cert_file, key_file = self_signed(tmp_path)
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert_file, key_file)
    server = Server(keep_answering)
    listener = await asyncio.start_server(server.serve, "127.0.0.1", 0, ssl=server_tls)
    port = listener.sockets[0].getsockname()[1]
    origin = origin_of(f"https://localhost:{port}")
    try:
        # The system's trust store does not know this certificate: no request is sent.
        untrusting = UpstreamPool()
        with pytest.raises(OSError):
            await _get(untrusting, origin)
        await untrusting.close()
        assert server.heads == []

        trusting = UpstreamPool(tls=ssl.create_default_context(cafile=str(cert_file)))
        assert await _get(trusting, origin) == b"hello"
        assert await _get(trusting, origin) == b"hello"
        assert server.connections <= 2  # the failed handshake, then one kept-alive connection
        assert server.heads[0].startswith(b"GET / HTTP/1.1\r\n")
        await trusting.close()
    finally:
        listener.close()


def test_origins_pool_by_scheme_host_and_port() -> None:
    """Upstreams on one host and port share connections whatever their base path; a
    different scheme or port is another pool."""
    assert origin_of("http://svc:8080/a").key == origin_of("http://svc:8080/b/").key
    assert origin_of("http://svc").key == origin_of("http://svc:80").key
    assert origin_of("http://svc:8080").key != origin_of("https://svc:8080").key
    assert origin_of("http://svc:8080").key != origin_of("http://svc:8081").key


async def _tls_listener(cert_file: Path, key_file: Path) -> tuple[asyncio.Server, Server, int]:
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert_file, key_file)
    server = Server(keep_answering)
    listener = await asyncio.start_server(server.serve, "127.0.0.1", 0, ssl=server_tls)
    return listener, server, listener.sockets[0].getsockname()[1]


async def test_an_upstream_ca_file_is_its_trust_store(
    tmp_path: Path, self_signed: SelfSigned
) -> None:
    """An origin with a CA bundle verifies with it; without one, the system's store refuses."""
    cert_file, key_file = self_signed(tmp_path)
    listener, server, port = await _tls_listener(cert_file, key_file)
    pool = UpstreamPool()
    try:
        with pytest.raises(OSError):
            await _get(pool, origin_of(f"https://localhost:{port}"))
        trusted = origin_of(f"https://localhost:{port}", cert_file)
        assert await _get(pool, trusted) == b"hello"
        assert await _get(pool, trusted) == b"hello"  # pooled under its own key
        assert len(server.heads) == 2
    finally:
        await pool.close()
        listener.close()


async def test_a_replaced_ca_file_is_read_again_after_reload_tls(
    tmp_path: Path, self_signed: SelfSigned
) -> None:
    """New connections keep the bundle read first until reload_tls(), then read it again."""
    cert_file, key_file = self_signed(tmp_path / "upstream")
    other_cert, _ = self_signed(tmp_path / "other")
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(other_cert.read_bytes())
    listener, _server, port = await _tls_listener(cert_file, key_file)
    origin = origin_of(f"https://localhost:{port}", bundle)
    pool = UpstreamPool()
    try:
        with pytest.raises(OSError):
            await _get(pool, origin)
        bundle.write_bytes(cert_file.read_bytes())
        with pytest.raises(OSError):
            await _get(pool, origin)  # the bundle read before is still the one used
        pool.reload_tls()
        assert await _get(pool, origin) == b"hello"
        bundle.unlink()
        pool.reload_tls()
        assert await _get(pool, origin) == b"hello"  # a pooled connection stays usable
    finally:
        await pool.close()
        listener.close()


def test_origins_with_another_trust_store_pool_apart(tmp_path: Path) -> None:
    """A CA bundle is part of an https origin's pool key; http origins ignore it."""
    bundle = tmp_path / "ca.pem"
    plain = origin_of("https://files.internal")
    custom = origin_of("https://files.internal", bundle)
    assert plain.key != custom.key
    assert custom.ca_file == str(bundle)
    assert origin_of("http://files.internal", bundle).key == origin_of("http://files.internal").key


async def test_the_forwarder_verifies_with_the_upstream_ca_file(
    tmp_path: Path, self_signed: SelfSigned
) -> None:
    """A request to an https upstream with `ca_file` reaches it; without, it is a 502."""
    cert_file, key_file = self_signed(tmp_path)
    listener, server, port = await _tls_listener(cert_file, key_file)
    url = f"https://localhost:{port}"
    view = RequestView(
        method="GET",
        path="/items/1",
        raw_path="/items/1",
        query_string="",
        headers=(("host", "gateway"),),
    )
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    async def receive() -> Message:
        return {"type": "http.disconnect"}

    pool = UpstreamPool()
    forwarder = Forwarder(pool)

    async def forward(upstream: UpstreamSettings) -> int:
        outcome = await forwarder.forward(
            upstream,
            view,
            forward_path="/items/1",
            headers=[],
            body=None,
            receive=receive,
            send=send,
        )
        return outcome.status

    try:
        trusting = UpstreamSettings("files", url, "/files", None, "files", ca_file=cert_file)
        assert await forward(trusting) == 200
        assert server.heads[0].startswith(b"GET /items/1 HTTP/1.1\r\n")
        with pytest.raises(UpstreamError) as refused:
            await forward(dataclasses.replace(trusting, ca_file=None))
        assert refused.value.status == 502
        assert len(server.heads) == 1
    finally:
        await pool.close()
        listener.close()
