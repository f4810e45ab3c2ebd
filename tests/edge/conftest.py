"""
Fixtures for the edge: a real upstream on a socket, a gateway app in front of it,
an account with the walkthrough's `backup` user and its access key.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web

from gateway.app import GatewayApp, create_app
from gateway.auth.sigv4_sign import presign_url, sign_request
from gateway.config import settings_from_mapping
from gateway.iam import IAM, create_account, write_master_key
from gateway.runtime import Runtime
from gateway.store import open_store

REGION = "us-east-1"
WRITE_BACKUPS = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Action": "backup:PutObject",
            "Resource": "arn:aws:backup:*:*:bucket/backup/*",
        }
    ],
}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Upstream:
    """A real HTTP server that records what reached it."""

    port: int
    seen: list[dict[str, Any]] = field(default_factory=list)
    behaviour: str = "echo"


UPSTREAM_KEY = web.AppKey("upstream", Upstream)


async def _handler(request: web.Request) -> web.StreamResponse:
    upstream = request.app[UPSTREAM_KEY]
    body = await request.read()
    upstream.seen.append(
        {
            "method": request.method,
            "path": request.raw_path,
            "headers": {k.lower(): v for k, v in request.headers.items()},
            "body": body,
        }
    )
    if upstream.behaviour == "hang":
        import asyncio

        await asyncio.sleep(2)
    if upstream.behaviour == "garbage":
        assert request.transport is not None
        request.transport.write(b"NOT HTTP AT ALL\r\n\r\n")
        request.transport.close()
        raise web.HTTPInternalServerError()
    if upstream.behaviour == "truncated":
        # Promises 100 bytes, sends 10, hangs up.
        assert request.transport is not None
        request.transport.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789")
        request.transport.close()
        raise web.HTTPInternalServerError()
    if upstream.behaviour == "hop":
        # Hop-by-hop headers, one of them named only by the Connection header.
        assert request.transport is not None
        request.transport.write(
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive, X-Hop-Only\r\n"
            b"Keep-Alive: timeout=5\r\nX-Hop-Only: 1\r\nX-Kept: yes\r\n\r\nok"
        )
        request.transport.close()
        raise web.HTTPInternalServerError()
    if upstream.behaviour == "large":
        # Larger than what is relayed in one piece: streamed in chunks.
        return web.Response(body=bytes(range(256)) * 1024, content_type="application/octet-stream")
    return web.json_response({"ok": True, "path": request.raw_path, "size": len(body)})


async def _websocket_echo(request: web.Request) -> web.WebSocketResponse:
    upstream = request.app[UPSTREAM_KEY]
    upstream.seen.append(
        {
            "method": "WS",
            "path": request.raw_path,
            "headers": {k.lower(): v for k, v in request.headers.items()},
            "body": b"",
        }
    )
    socket = web.WebSocketResponse()
    await socket.prepare(request)
    async for message in socket:
        if message.type == web.WSMsgType.TEXT:
            await socket.send_str(f"echo:{message.data}")
    return socket


@pytest.fixture
async def upstream() -> AsyncIterator[Upstream]:
    app = web.Application()
    record = Upstream(free_port())
    app[UPSTREAM_KEY] = record
    app.router.add_get("/ws/{room}", _websocket_echo)
    app.router.add_route("*", "/{tail:.*}", _handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", record.port)
    await site.start()
    yield record
    await runner.cleanup()


@dataclass
class Edge:
    """The gateway in front of the upstream, and how to call it as `backup`."""

    app: GatewayApp
    client: httpx.AsyncClient
    iam: IAM
    key_id: str
    secret: str = field(repr=False)
    audit_file: Path = Path()

    def signed(
        self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> dict[str, str]:
        return sign_request(
            method,
            f"http://gateway.test{path}",
            headers or {},
            body,
            self.key_id,
            self.secret,
            REGION,
            "backup",
            datetime.now(UTC),
        )

    async def call(
        self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> httpx.Response:
        return await self.client.request(
            method, path, content=body, headers=self.signed(method, path, body, headers)
        )

    def presigned(self, method: str, path: str, *, expires: int = 300) -> str:
        url = presign_url(
            method,
            f"http://gateway.test{path}",
            self.key_id,
            self.secret,
            REGION,
            "backup",
            datetime.now(UTC),
            expires=expires,
        )
        return url.removeprefix("http://gateway.test")


EdgeFactory = Callable[..., Awaitable[Edge]]


@contextlib.asynccontextmanager
async def make_edge(
    tmp_path: Path,
    upstream: Upstream,
    *,
    server: dict[str, Any] | None = None,
    upstream_extra: dict[str, Any] | None = None,
) -> AsyncIterator[Edge]:
    """Start a gateway app in front of ``upstream``; `backup` may PutObject into `backup`."""
    write_master_key(tmp_path / "master.key")
    settings = settings_from_mapping(
        {
            "store": {"url": "sqlite:///gw.db"},
            "secrets": {"master_key_file": "master.key"},
            "server": {"max_body_bytes": 1024 * 1024, **(server or {})},
            "audit": {"sink": "file", "file": "audit.jsonl"},
            "upstreams": [
                {
                    **(upstream_extra or {}),
                    "name": "backup",
                    "url": f"http://127.0.0.1:{upstream.port}",
                    "prefix": "/backup",
                    "service": "backup",
                    "read_timeout_seconds": 1.0,
                    "routes": [
                        {
                            "methods": ["PUT"],
                            "path": "/buckets/{bucket}/objects/{key:path}",
                            "action": "backup:PutObject",
                            "resource": "arn:aws:backup:{region}:{account}:bucket/{bucket}/{key}",
                        },
                        {
                            "methods": ["GET"],
                            "path": "/buckets/{bucket}/objects/{key:path}",
                            "action": "backup:GetObject",
                            "resource": "arn:aws:backup:{region}:{account}:bucket/{bucket}/{key}",
                        },
                    ],
                }
            ],
        },
        base_dir=tmp_path,
        environ={},
    )
    store = await open_store(sqlite_path=tmp_path / "gw.db")
    await store.migrate()
    account = await create_account(
        store, root_email="root@example.com", root_password="Root-Passw0rd!"
    )
    await store.close()
    app = create_app(settings)
    await app.start()
    assert app.services is not None
    runtime: Runtime = app.services.runtime
    iam = IAM(runtime.store, runtime.cipher, account_id=account.account_id)
    await iam.seed_builtin_policies()
    await iam.create_user("backup")
    policy = await iam.create_policy("backup-write", WRITE_BACKUPS)
    await iam.attach_policy("user", "backup", policy.arn)
    key = await iam.create_access_key("backup")
    transport = httpx.ASGITransport(app=app, client=("10.1.2.3", 5555))
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as client:
        yield Edge(
            app,
            client,
            iam,
            key.key.access_key_id,
            key.secret_access_key,
            tmp_path / "audit.jsonl",
        )
    await app.stop()


@pytest.fixture
async def edge(tmp_path: Path, upstream: Upstream) -> AsyncIterator[Edge]:
    """A started gateway app; `backup` may only PutObject into the backup bucket."""
    async with make_edge(tmp_path, upstream) as started:
        yield started
