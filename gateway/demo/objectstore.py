"""
The walkthrough's backup bucket: a tiny object store as a pure ASGI app.

It has no auth of its own. In the demo it sits behind the gateway, which
authenticates and authorizes every request and forwards identity headers; the
store echoes those back (``storedBy`` on PUT, ``GET /whoami``) so the demo can
show who did what. It imports only the ASGI aliases from ``gateway.types``.

Routes::

    GET    /buckets                           {"buckets": [...]}
    GET    /buckets/{bucket}/objects          {"bucket", "prefix", "objects": [...]}; ?prefix=
    PUT    /buckets/{bucket}/objects/{key}    store the body (creates the bucket)
    GET    /buckets/{bucket}/objects/{key}    the object; HEAD gives the same headers
    DELETE /buckets/{bucket}/objects/{key}    204, whether or not the key existed (as S3)
    GET    /whoami                            every ``x-gateway-*`` request header

Errors are JSON: ``{"error": "NoSuchKey", "message": "..."}``.

The app is ``gateway.demo.objectstore_app``; objects are stored on disk by
``gateway.demo.storage``, which also says why no key can name a file outside its
bucket.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Generator, Iterable
from pathlib import Path

import uvicorn

from gateway.demo.objectstore_app import ObjectStore
from gateway.demo.storage import MAX_KEY_BYTES
from gateway.types import ASGIApp

__all__ = [
    "DEFAULT_MAX_OBJECT_BYTES",
    "MAX_KEY_BYTES",
    "create_objectstore_app",
    "serve_objectstore",
]

DEFAULT_MAX_OBJECT_BYTES = 64 * 1024 * 1024


def create_objectstore_app(
    root: Path,
    *,
    max_object_bytes: int = DEFAULT_MAX_OBJECT_BYTES,
    buckets: Iterable[str] = (),
) -> ASGIApp:
    """
    Build the demo object store over the folder ``root`` (created if missing).

    It does no authentication: run it behind the gateway, which forwards the
    caller's identity in ``x-gateway-*`` headers.

    Args:
        root: folder that holds one directory per bucket.
        max_object_bytes: larger PUT bodies get 413 ``EntityTooLarge``.
        buckets: buckets to create up front; a PUT also creates its bucket.

    Raises:
        ValueError: a negative size limit or an invalid bucket name.
    """
    return ObjectStore(root, max_object_bytes=max_object_bytes, buckets=buckets)


class EmbeddedServer(uvicorn.Server):
    """
    A uvicorn server that leaves signal handling to the process embedding it.
    """

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        # The process that embeds this server owns the signals (the gateway's own
        # uvicorn, or `gateway demo`); it stops us by cancelling serve_objectstore.
        yield


async def serve_objectstore(
    root: Path,
    host: str,
    port: int,
    *,
    max_object_bytes: int = DEFAULT_MAX_OBJECT_BYTES,
    buckets: Iterable[str] = (),
) -> None:
    """
    Serve the demo object store with uvicorn until cancelled.

    The socket is bound before uvicorn starts, so a busy port is an ``OSError``
    here rather than uvicorn's ``sys.exit``. On cancellation the server shuts down
    gracefully and the cancellation propagates. It installs no signal handlers and
    leaves logging configuration to the caller.

    Raises:
        OSError: the address cannot be bound.
        ValueError: see ``create_objectstore_app``.
    """
    app = create_objectstore_app(root, max_object_bytes=max_object_bytes, buckets=buckets)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.create_server((host, port), family=family)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        interface="asgi3",
        lifespan="on",
        log_config=None,
        log_level=None,
        access_log=False,
        server_header=False,
        timeout_graceful_shutdown=5,
    )
    server = EmbeddedServer(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        await asyncio.shield(task)
    except asyncio.CancelledError:
        server.should_exit = True
        await task
        raise
    finally:
        sock.close()
