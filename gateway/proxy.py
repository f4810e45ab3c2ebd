"""
The forwarder: send an authorized request upstream and stream the answer back.

One ``UpstreamPool`` (``gateway.upstream_client``, created in the app's lifespan,
with a connection limit per upstream) carries every upstream call; WebSocket
upgrades go through aiohttp's client. Bodies stream in both directions; only a
body whose signed hash had to be checked arrives here already buffered.

What the upstream receives: the normalized path that was authorized (re-encoded
canonically), the query without SigV4 presigning parameters, the client's
headers minus hop-by-hop headers, credentials (``Authorization``, ``X-Amz-*``,
the gateway's session cookie) and any client-sent ``X-Gateway-*`` or
``X-Forwarded-*`` copies, plus the gateway's identity headers and
``X-Forwarded-For/Proto/Host``.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Iterable
from dataclasses import dataclass

import aiohttp
from yarl import URL

from gateway.config import UpstreamSettings
from gateway.errors import GatewayError, UpstreamError
from gateway.normalize import encode_path
from gateway.types import Receive, RequestView, Send
from gateway.upstream_client import (
    ClientGone,
    UpstreamConnection,
    UpstreamPool,
    origin_of,
)

# RFC 9110 §7.6.1: connection-specific headers never cross a proxy.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
# The server in front (uvicorn) writes its own Date; a second one would break RFC 9110.
_DROPPED_RESPONSE = frozenset({"date"})
_DROPPED_RESPONSE_BYTES = frozenset(
    name.encode("latin-1") for name in HOP_BY_HOP | _DROPPED_RESPONSE
)
# Bodies up to this size (with a Content-Length) are read whole and sent in one message.
_SMALL_BODY = 64 * 1024
# SECURITY: credentials and identity claims from the client never reach upstreams.
_DROPPED_REQUEST = frozenset({"authorization", "host", "forwarded", "expect"})
_DROPPED_PREFIXES = ("x-amz-", "x-gateway-", "x-forwarded-")
# RFC 9110 §9.3: a POST, PUT or PATCH without a body still says so.
_BODY_EXPECTED = frozenset({"POST", "PUT", "PATCH"})


@dataclass(frozen=True, slots=True)
class Outcome:
    """
    What happened upstream: the status sent to the client and the bytes streamed.
    """

    status: int
    response_bytes: int


def forward_query(query_string: str) -> str:
    """
    Drop SigV4 presigning parameters (``X-Amz-*``) from a raw query, keeping the rest
    byte for byte.
    """
    if not query_string:
        return ""
    # A part's first six characters are its name's when they hold no `=`, and a name
    # shorter than that cannot start with `x-amz-`: no need to split the name out.
    kept = [part for part in query_string.split("&") if part and part[:6].lower() != "x-amz-"]
    return "&".join(kept)


def _connection_listed(values: Iterable[str]) -> set[str]:
    # RFC 9110 §7.6.1: headers named in Connection are hop-by-hop too.
    return {token.strip().lower() for value in values for token in value.split(",")}


def _strip_cookie(value: str, cookie_name: str) -> str:
    pieces = [piece.strip() for piece in value.split(";")]
    kept = [p for p in pieces if p and p.split("=", 1)[0].strip() != cookie_name]
    return "; ".join(kept)


def upstream_headers(
    view: RequestView,
    *,
    identity: Iterable[tuple[str, str]],
    cookie_name: str,
) -> list[tuple[str, str]]:
    """
    Return the headers to send upstream for ``view``.
    """
    listed = _connection_listed(view.header_values("connection"))
    headers: list[tuple[str, str]] = []
    for name, value in view.headers:
        if name in HOP_BY_HOP or name in listed or name in _DROPPED_REQUEST:
            continue
        if name.startswith(_DROPPED_PREFIXES):
            continue
        if "_" in name:
            # SECURITY: CGI/WSGI-style servers read `X_Gateway_User` as X-Gateway-User;
            # like nginx, never pass a header name with an underscore.
            continue
        if name == "cookie":
            value = _strip_cookie(value, cookie_name)
            if not value:
                continue
        headers.append((name, value))
    headers.extend(identity)
    headers.append(("x-forwarded-for", view.client_ip))
    headers.append(("x-forwarded-proto", view.scheme))
    if view.host:
        headers.append(("x-forwarded-host", view.host))
    return headers


def request_head(
    method: str, target: str, host: str, headers: list[tuple[str, str]], framing: str
) -> bytes:
    """
    Return the HTTP/1.1 request head for the upstream.

    Raises:
        GatewayError: 400 when a value would break the head's lines (defence in depth:
            the edge's parser already refuses line breaks in header values).
    """
    lines = "".join([f"{name}: {value}\r\n" for name, value in headers])
    text = f"{method} {target} HTTP/1.1\r\nhost: {host}\r\n{lines}{framing}\r\n"
    # SECURITY: exactly one CR and one LF per line, or a value smuggled a header in.
    expected = len(headers) + 3 + framing.count("\n")
    if text.count("\n") != expected or text.count("\r") != expected:
        raise GatewayError("a header value holds a line break", status=400, code="InvalidRequest")
    return text.encode("latin-1")


class Forwarder:
    """
    Forward requests to upstreams over one pool of keep-alive connections.
    """

    def __init__(self, pool: UpstreamPool) -> None:
        self._pool = pool

    async def forward(
        self,
        upstream: UpstreamSettings,
        view: RequestView,
        *,
        forward_path: str,
        headers: list[tuple[str, str]],
        body: bytes | None,
        receive: Receive,
        send: Send,
    ) -> Outcome:
        """
        Send the request upstream and stream the response to ``send``.

        Raises:
            UpstreamError: 502 when the upstream refuses or breaks the connection before
                answering, 504 when it does not answer in time, 400 when the client
                left before its body was complete. After the response has started, a
                failure ends the response early instead (nothing else can be sent then).
        """
        origin = origin_of(upstream.url, upstream.ca_file)
        target = origin.base_path + encode_path(forward_path)
        query = forward_query(view.query_string)
        if query:
            target += "?" + query
        method = view.method
        streamed = chunked = False
        framing = ""
        if body is not None:
            # The body was read to check its signed hash: it goes with its own length.
            headers = [(k, v) for k, v in headers if k != "content-length"]
            framing = f"content-length: {len(body)}\r\n"
        elif not view.has_body:
            if method in _BODY_EXPECTED and view.header("content-length") is None:
                framing = "content-length: 0\r\n"
        else:
            streamed = True
            chunked = view.header("content-length") is None
            if chunked:
                framing = "transfer-encoding: chunked\r\n"
        head = request_head(method, target, origin.host_header, headers, framing)
        pool = self._pool
        connect = upstream.connect_timeout_seconds
        read = upstream.read_timeout_seconds
        try:
            if streamed:
                conn = await pool.stream(
                    origin,
                    head,
                    chunked=chunked,
                    receive=receive,
                    connect_timeout=connect,
                    read_timeout=read,
                )
            else:
                conn = await pool.request(
                    origin,
                    head,
                    method=method,
                    body=body,
                    connect_timeout=connect,
                    read_timeout=read,
                )
        except TimeoutError:
            raise _timed_out(upstream) from None
        except ClientGone:
            raise UpstreamError(
                "the client closed the connection before sending its whole body",
                upstream=upstream.name,
                status=400,
                code="IncompleteBody",
            ) from None
        except OSError:
            raise UpstreamError(
                f"upstream `{upstream.name}` is unavailable", upstream=upstream.name
            ) from None
        try:
            return await _relay(conn, upstream, send)
        finally:
            pool.release(conn)


def _timed_out(upstream: UpstreamSettings) -> UpstreamError:
    return UpstreamError(
        f"upstream `{upstream.name}` did not answer in time",
        upstream=upstream.name,
        status=504,
        code="GatewayTimeout",
    )


async def _relay(conn: UpstreamConnection, upstream: UpstreamSettings, send: Send) -> Outcome:
    received = [(name.lower(), value) for name, value in conn.headers]
    dropped = _DROPPED_RESPONSE_BYTES
    listed = [value.decode("latin-1") for name, value in received if name == b"connection"]
    if listed:
        # Usually just `keep-alive`, already dropped: extend the set only when needed.
        named = {name.encode("latin-1") for name in _connection_listed(listed)}
        if not named <= dropped:
            dropped = dropped | named
    headers = []
    length: bytes | None = None
    for name, value in received:
        if name in dropped:
            continue
        if name == b"content-length":
            length = value
        headers.append((name, value))
    status = conn.status
    start = {"type": "http.response.start", "status": status, "headers": headers}
    read = upstream.read_timeout_seconds
    try:
        if length is not None and int(length) <= _SMALL_BODY:
            # A small body arrives with the headers: one write, not a stream of them.
            body = await conn.read_all(read)
            await send(start)
            await send({"type": "http.response.body", "body": body})
            return Outcome(status, len(body))
    except TimeoutError:
        raise _timed_out(upstream) from None
    except OSError:
        raise _broke_off(upstream) from None
    await send(start)
    sent = 0
    try:
        while chunk := await conn.read_chunk(read):
            sent += len(chunk)
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
    except OSError:
        # The start was sent: the only honest signal left is a cut stream.
        raise _broke_off(upstream) from None
    await send({"type": "http.response.body", "body": b"", "more_body": False})
    return Outcome(status, sent)


def _broke_off(upstream: UpstreamSettings) -> UpstreamError:
    return UpstreamError(
        f"upstream `{upstream.name}` broke off its response", upstream=upstream.name
    )


# Headers the WebSocket client library negotiates itself with the upstream.
_WEBSOCKET_OWN = frozenset(
    {
        "sec-websocket-key",
        "sec-websocket-version",
        "sec-websocket-extensions",
        "sec-websocket-protocol",
        "content-length",
    }
)


async def forward_websocket(
    session: aiohttp.ClientSession,
    upstream: UpstreamSettings,
    view: RequestView,
    *,
    forward_path: str,
    headers: list[tuple[str, str]],
    receive: Receive,
    send: Send,
    tls: ssl.SSLContext | None = None,
) -> int:
    """
    Open the upstream WebSocket for an admitted handshake, accept the client's, and
    relay messages both ways until either side closes. Returns the close code.

    The handshake was authorized like any request; the messages that follow are
    not re-authorized (as with any WebSocket proxy), so revoking access ends at the
    next handshake. A ``wss`` upstream is verified with ``tls`` (the context the pool
    uses for its origin) or, when None, the system's trust store.
    """
    base = upstream.url.rstrip("/").replace("http://", "ws://", 1).replace("https://", "wss://", 1)
    target = base + encode_path(forward_path)
    query = forward_query(view.query_string)
    if query:
        target += "?" + query
    protocols = [
        item.strip()
        for value in view.header_values("sec-websocket-protocol")
        for item in value.split(",")
        if item.strip()
    ]
    try:
        upstream_ws = await session.ws_connect(
            URL(target, encoded=True),
            headers=[(k, v) for k, v in headers if k not in _WEBSOCKET_OWN],
            protocols=protocols,
            timeout=aiohttp.ClientWSTimeout(ws_close=upstream.read_timeout_seconds),
            ssl=True if tls is None else tls,
            autoclose=False,
            autoping=True,
        )
    except (TimeoutError, aiohttp.ClientError, OSError):  # ssl.SSLError is an OSError
        await send({"type": "websocket.close", "code": 1011})
        return 1011
    await send({"type": "websocket.accept", "subprotocol": upstream_ws.protocol})

    async def client_to_upstream() -> None:
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                await upstream_ws.close(code=int(message.get("code", 1000)))
                return
            if message.get("text") is not None:
                await upstream_ws.send_str(message["text"])
            elif message.get("bytes") is not None:
                await upstream_ws.send_bytes(message["bytes"])

    async def upstream_to_client() -> int:
        async for message in upstream_ws:
            if message.type == aiohttp.WSMsgType.TEXT:
                await send({"type": "websocket.send", "text": message.data})
            elif message.type == aiohttp.WSMsgType.BINARY:
                await send({"type": "websocket.send", "bytes": message.data})
        code = upstream_ws.close_code or 1000
        await send({"type": "websocket.close", "code": code})
        return code

    inbound = asyncio.create_task(client_to_upstream())
    outbound = asyncio.create_task(upstream_to_client())
    done, pending = await asyncio.wait({inbound, outbound}, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    await upstream_ws.close()
    if outbound in done and not outbound.cancelled() and outbound.exception() is None:
        return outbound.result()
    return 1000
