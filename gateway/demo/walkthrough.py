"""
The running half of ``gateway demo``: both servers in one event loop, and the scripted calls.

``running()`` serves the gateway and the demo object store side by side with
uvicorn (the caller picks the event loop: uvloop when it is installed). Neither
server installs signal handlers; the caller owns the signals and leaves the
context to stop both, the gateway first so that no request is cut off on its way
upstream. ``signed_call()`` makes one SigV4-signed request the way an AWS SDK
would, and ``read_audit()`` collects the audit lines a run appended.

Outside the gateway's layers, like the rest of ``gateway.demo``: it drives the
edge application over HTTP and signs with ``gateway.auth.sigv4_sign``.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import json
import os
import re
import socket
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import uvicorn

from gateway.auth.sigv4_sign import sign_request
from gateway.demo.objectstore import EmbeddedServer, serve_objectstore
from gateway.errors import ConfigError, GatewayError
from gateway.iam.naming import now as utc_now
from gateway.types import ASGIApp

READY_TIMEOUT_SECONDS = 30.0
AUDIT_WAIT_SECONDS = 5.0
_POLL_SECONDS = 0.05
_PROBE_TIMEOUT = aiohttp.ClientTimeout(total=2)
_XML_FIELD = r"<{0}>(.*?)</{0}>"


@dataclass(frozen=True, slots=True)
class Exchange:
    """
    One request the demo made and what came back.
    """

    method: str
    path: str
    status: int
    reason: str
    code: str | None  # the AWS error code of an error response
    detail: str  # the error message, or the response body

    def __str__(self) -> str:
        head = f"{self.status} {self.reason}"
        return f"{head} {self.code}: {self.detail}" if self.code else f"{head} {self.detail}"


@dataclass(slots=True)
class Servers:
    """
    The two running servers; ``check()`` raises when one of them has stopped.
    """

    gateway: asyncio.Task[None]
    upstream: asyncio.Task[None]
    host: str
    upstream_port: int

    def check(self) -> None:
        if self.upstream.done() and not self.upstream.cancelled():
            error = self.upstream.exception()
            if isinstance(error, OSError):
                reason = _reason(error)
                raise ConfigError(
                    f"the object store cannot listen on {self.host}:{self.upstream_port}: "
                    f"{reason}; pick another port with --upstream-port"
                )
            raise GatewayError(f"the demo object store stopped: {error!r}")
        if self.gateway.done():
            # uvicorn returns without serving when the application's startup failed
            # (it has logged why on stderr).
            raise GatewayError("the gateway did not start (see the messages above)")


@contextlib.asynccontextmanager
async def running(
    app: ASGIApp,
    *,
    host: str,
    port: int,
    upstream_root: Path,
    upstream_port: int,
    buckets: Sequence[str],
    grace_seconds: float,
) -> AsyncIterator[Servers]:
    """
    Serve ``app`` on ``host:port`` and the object store on ``host:upstream_port``.

    Raises:
        ConfigError: the gateway's port cannot be bound.
    """
    try:
        sock = socket.create_server((host, port))
    except OSError as exc:
        reason = _reason(exc)
        raise ConfigError(
            f"the gateway cannot listen on {host}:{port}: {reason}; pick another port with --port"
        ) from None
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        http="httptools",
        lifespan="on",
        log_config=None,
        access_log=False,
        proxy_headers=False,
        server_header=False,
        timeout_graceful_shutdown=max(1, int(grace_seconds)),
    )
    server = EmbeddedServer(config)
    upstream = asyncio.create_task(
        serve_objectstore(upstream_root, host, upstream_port, buckets=buckets)
    )
    gateway = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        yield Servers(gateway, upstream, host, upstream_port)
    finally:
        server.should_exit = True
        with contextlib.suppress(Exception):
            await gateway
        upstream.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await upstream
        sock.close()


async def wait_until_ready(
    session: aiohttp.ClientSession,
    servers: Servers,
    urls: Sequence[str],
) -> None:
    """
    Return once every URL answers 200 (waiting up to ``READY_TIMEOUT_SECONDS``).

    Raises:
        GatewayError, ConfigError: a server stopped, or one did not answer in time.
    """
    for url in urls:
        try:
            async with asyncio.timeout(READY_TIMEOUT_SECONDS):
                while True:
                    servers.check()  # first: a server that failed to bind has stopped
                    if await _answers(session, url):
                        break
                    await asyncio.sleep(_POLL_SECONDS)
        except TimeoutError:
            raise GatewayError(
                f"no answer from {url} after {READY_TIMEOUT_SECONDS:.0f} seconds"
            ) from None


async def _answers(session: aiohttp.ClientSession, url: str) -> bool:
    try:
        async with session.get(url, timeout=_PROBE_TIMEOUT) as response:
            return response.status == 200
    except (aiohttp.ClientError, TimeoutError):
        return False


async def signed_call(
    session: aiohttp.ClientSession,
    method: str,
    url: str,
    *,
    access_key_id: str,
    secret_access_key: str,
    region: str,
    service: str,
    body: bytes = b"",
    headers: Mapping[str, str] | None = None,
) -> Exchange:
    """
    Send one request signed with AWS Signature Version 4 (header form) and describe the answer.
    """
    signed = sign_request(
        method,
        url,
        dict(headers or {}),
        body,
        access_key_id,
        secret_access_key,
        region,
        service,
        utc_now(),
    )
    async with session.request(method, url, headers=signed, data=body or None) as response:
        text = await response.text(errors="replace")
        code, detail = _error_of(text) if response.status >= 400 else (None, _compact(text))
        return Exchange(
            method=method,
            path=response.url.path,
            status=response.status,
            reason=response.reason or "",
            code=code,
            detail=detail,
        )


async def has_route(session: aiohttp.ClientSession, url: str) -> bool:
    """
    True unless the gateway answers ``url`` with 404 (the route does not exist yet).
    """
    async with session.get(url, allow_redirects=False) as response:
        return response.status != 404


def audit_offset(path: Path) -> int:
    """
    Return the audit file's current size: where the lines of this run will start.
    """
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


async def read_audit(path: Path, offset: int, count: int) -> list[str]:
    """
    Return the complete lines appended to ``path`` after ``offset``, waiting up to
    ``AUDIT_WAIT_SECONDS`` for ``count`` of them (the file sink writes in batches).
    """
    lines: list[str] = []
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(AUDIT_WAIT_SECONDS):
            while True:
                lines = await asyncio.to_thread(_lines_after, path, offset)
                if len(lines) >= count:
                    break
                # Polled: the file is written by the audit sink's worker thread.
                await asyncio.sleep(_POLL_SECONDS)
    return lines


def _lines_after(path: Path, offset: int) -> list[str]:
    try:
        with path.open("rb") as file:
            file.seek(offset)
            data = file.read()
    except FileNotFoundError:
        return []
    complete = data[: data.rfind(b"\n") + 1]
    return [line for line in complete.decode("utf-8", "replace").splitlines() if line]


def _reason(error: OSError) -> str:
    # `strerror` of a failed bind also names the address; the message already does.
    return os.strerror(error.errno).lower() if error.errno else type(error).__name__


def _error_of(text: str) -> tuple[str | None, str]:
    """
    Return (code, message) of an AWS error body, XML or JSON.
    """
    with contextlib.suppress(ValueError):
        data = json.loads(text)
        error = data.get("Error", data) if isinstance(data, dict) else {}
        if isinstance(error, dict):
            code = error.get("Code") or error.get("error")
            message = error.get("Message") or error.get("message")
            if isinstance(code, str) and isinstance(message, str):
                return code, message
    code_match = re.search(_XML_FIELD.format("Code"), text, re.DOTALL)
    message_match = re.search(_XML_FIELD.format("Message"), text, re.DOTALL)
    if code_match and message_match:
        return html.unescape(code_match.group(1)), html.unescape(message_match.group(1))
    return None, _compact(text)


def _compact(text: str) -> str:
    with contextlib.suppress(ValueError):
        return json.dumps(json.loads(text))
    return " ".join(text.split())[:500]
