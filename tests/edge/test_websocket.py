"""
WebSocket upgrades: authorized at the handshake, then relayed both ways.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.edge.conftest import Edge, Upstream

pytestmark = pytest.mark.anyio

ALLOW_WS = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Action": "backup:Get", "Resource": "arn:aws:backup:*:*:path/ws/*"}
    ],
}


async def _handshake(
    edge: Edge, path: str, headers: dict[str, str], messages: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    for message in [{"type": "websocket.connect"}, *messages]:
        inbox.put_nowait(message)
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        message = await inbox.get()
        if message["type"] == "pause":
            await asyncio.sleep(float(message["seconds"]))
            return await inbox.get()
        return message

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "websocket",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "scheme": "ws",
        "client": ("10.1.2.3", 5555),
        "server": ("gateway.test", 80),
        "subprotocols": [],
    }
    await asyncio.wait_for(edge.app(scope, receive, send), 10)
    return sent


async def test_authorized_handshake_is_relayed(edge: Edge, upstream: Upstream) -> None:
    """An allowed handshake is accepted and messages flow to the upstream and back."""
    await edge.iam.put_inline_policy("user", "backup", "ws", ALLOW_WS)
    headers = edge.signed("GET", "/backup/ws/room1")
    sent = await _handshake(
        edge,
        "/backup/ws/room1",
        headers,
        [
            {"type": "websocket.receive", "text": "hello"},
            {"type": "pause", "seconds": 0.3},
            {"type": "websocket.disconnect", "code": 1000},
        ],
    )
    assert sent[0]["type"] == "websocket.accept"
    assert {"type": "websocket.send", "text": "echo:hello"} in sent
    [seen] = upstream.seen
    assert seen["path"] == "/ws/room1"
    assert seen["headers"]["x-gateway-user"] == "backup"


async def test_denied_handshake_is_closed_and_never_forwarded(
    edge: Edge, upstream: Upstream
) -> None:
    """Without a policy allowing it, the handshake is refused before any upstream call."""
    headers = edge.signed("GET", "/backup/ws/room1")
    sent = await _handshake(edge, "/backup/ws/room1", headers, [])
    assert sent == [{"type": "websocket.close", "code": 1008}]
    assert upstream.seen == []


async def test_unsigned_handshake_is_refused(edge: Edge, upstream: Upstream) -> None:
    """A handshake with no credentials is closed with a policy-violation code."""
    sent = await _handshake(edge, "/backup/ws/room1", {"host": "gateway.test"}, [])
    assert sent == [{"type": "websocket.close", "code": 1008}]
    assert upstream.seen == []
