"""
A minimal pass-through proxy: the floor the gateway is compared against.

A raw ASGI app (no framework) that forwards every request to one upstream over one
shared ``aiohttp.ClientSession`` (opened in the lifespan with the same connector
settings as ``gateway.app``) and streams the response back. No authentication, no
routing, no audit: what is left is the cost of uvicorn + aiohttp's client, which the
gateway pays too.

`--client native` swaps aiohttp's client for the gateway's own upstream client
(``gateway.upstream_client``), so the benchmark can also show the gateway against a
pass-through that forwards the same way it does.

Run: `PASSTHROUGH_UPSTREAM=http://127.0.0.1:9100 python benchmarks/passthrough.py
[--port 9200] [--client aiohttp|native]` (uvicorn, uvloop, httptools, one worker).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterable
from typing import Any

import aiohttp
from yarl import URL

from gateway.proxy import request_head
from gateway.upstream_client import UpstreamPool, origin_of

HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
        b"host",
    }
)


class _PassThroughApp:
    """A raw ASGI app: lifespan opens the client, each request is forwarded as is."""

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    self.open()
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await self.close()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        target = scope["raw_path"].decode("latin-1")
        if scope["query_string"]:
            target += "?" + scope["query_string"].decode("latin-1")
        headers = [
            (name.decode("latin-1"), value.decode("latin-1"))
            for name, value in scope["headers"]
            if name not in HOP_BY_HOP
        ]
        await self.forward(scope["method"], target, headers, send)

    def open(self) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError

    async def forward(
        self, method: str, target: str, headers: list[tuple[str, str]], send: Any
    ) -> None:
        raise NotImplementedError


def _start(status: int, headers: Iterable[tuple[bytes, bytes]]) -> dict[str, Any]:
    kept = [(name.lower(), value) for name, value in headers if name.lower() not in HOP_BY_HOP]
    return {"type": "http.response.start", "status": status, "headers": kept}


class PassThrough(_PassThroughApp):
    """Forward every HTTP request over one ``aiohttp.ClientSession``."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.session: aiohttp.ClientSession | None = None

    def open(self) -> None:
        # The same pool settings as gateway.app's upstream session.
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=1000, limit_per_host=256, ttl_dns_cache=60),
            auto_decompress=False,
            cookie_jar=aiohttp.DummyCookieJar(),
            skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding", "Content-Type"),
        )

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()

    async def forward(
        self, method: str, target: str, headers: list[tuple[str, str]], send: Any
    ) -> None:
        assert self.session is not None
        async with self.session.request(
            method,
            URL(self.upstream + target, encoded=True),
            headers=headers,
            allow_redirects=False,
            auto_decompress=False,
        ) as response:
            await send(_start(response.status, response.raw_headers))
            async for chunk in response.content.iter_any():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})


class NativePassThrough(_PassThroughApp):
    """The same pass-through over the gateway's own upstream client."""

    def __init__(self, upstream: str) -> None:
        self.origin = origin_of(upstream)
        self.pool: UpstreamPool | None = None

    def open(self) -> None:
        self.pool = UpstreamPool()

    async def close(self) -> None:
        if self.pool is not None:
            await self.pool.close()

    async def forward(
        self, method: str, target: str, headers: list[tuple[str, str]], send: Any
    ) -> None:
        assert self.pool is not None
        origin = self.origin
        head = request_head(method, origin.base_path + target, origin.host_header, headers, "")
        conn = await self.pool.request(
            origin, head, method=method, body=None, connect_timeout=5, read_timeout=30
        )
        try:
            await send(_start(conn.status, conn.headers))
            while chunk := await conn.read_chunk(30):
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            self.pool.release(conn)


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description="minimal pass-through proxy")
    parser.add_argument("--port", type=int, default=9200)
    parser.add_argument("--upstream", default=os.environ.get("PASSTHROUGH_UPSTREAM"))
    parser.add_argument("--client", choices=("aiohttp", "native"), default="aiohttp")
    args = parser.parse_args()
    if not args.upstream:
        parser.error("give --upstream URL or set PASSTHROUGH_UPSTREAM")
    app = NativePassThrough if args.client == "native" else PassThrough
    uvicorn.run(
        app(args.upstream),
        host="127.0.0.1",
        port=args.port,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        log_level="warning",
        access_log=False,
        server_header=False,
    )


if __name__ == "__main__":
    main()
