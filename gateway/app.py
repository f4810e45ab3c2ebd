"""
``create_app(settings)``: the gateway's own ASGI application (the edge).

The lifespan opens the store and loads the master key once; start-up fails
with a clear message when the store's schema is not the one this code knows.
The reserved prefix ``/_gateway/`` serves the gateway's own endpoints:

- ``/_gateway/health``: the process is alive (never touches the store)
- ``/_gateway/ready``: the store answers, its schema is current, config is loaded

Every other path is refused with 404 until an upstream is configured for it.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from gateway.config import Settings
from gateway.errors import GatewayError
from gateway.runtime import Runtime
from gateway.types import Receive, Scope, Send

log = logging.getLogger("gateway")

RESERVED_PREFIX = "/_gateway/"
NO_UPSTREAM = "no upstream is configured for this path"


async def send_json(send: Send, status: int, body: dict[str, Any]) -> None:
    """
    Send a complete JSON response.
    """
    payload = json.dumps(body).encode("utf-8")
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode("ascii")),
                (b"cache-control", b"no-store"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


class GatewayApp:
    """
    The edge application; one per process, created by ``create_app``.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.runtime: Runtime | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        path: str = scope["path"]
        if path == RESERVED_PREFIX + "health":
            await send_json(send, 200, {"status": "ok"})
        elif path == RESERVED_PREFIX + "ready":
            await self._ready(send)
        else:
            await send_json(
                send,
                404,
                {
                    "Error": {
                        "Code": "NotFound",
                        "Message": "no upstream is configured for this path",
                    }
                },
            )

    async def _ready(self, send: Send) -> None:
        runtime = self.runtime
        if runtime is None:
            await send_json(send, 503, {"status": "starting"})
            return
        try:
            await runtime.store.check_schema()
            generation = await runtime.store.generation()
        except GatewayError as exc:
            await send_json(send, 503, {"status": "unavailable", "reason": exc.message})
            return
        await send_json(send, 200, {"status": "ready", "generation": generation})

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    self.runtime = await Runtime.open(self.settings)
                except GatewayError as exc:
                    await send({"type": "lifespan.startup.failed", "message": exc.message})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.runtime is not None:
                    await self.runtime.close()
                    self.runtime = None
                await send({"type": "lifespan.shutdown.complete"})
                return


def create_app(settings: Settings) -> GatewayApp:
    """
    Build the gateway's ASGI application from validated settings.
    """
    return GatewayApp(settings)
