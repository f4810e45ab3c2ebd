"""
The demo object store's ASGI app: routes each request to list, put, get or delete.

Per-request values live in locals, never on the app; files are read and written by
``gateway.demo.storage`` in a worker thread. Routes and errors are described in
``gateway.demo.objectstore``, which builds this app. It imports only the ASGI
aliases from ``gateway.types``.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from gateway.demo.storage import (
    BUCKET_NAME,
    Disk,
    ObjectMeta,
    Refusal,
    check_bucket,
    object_name,
)
from gateway.types import Receive, Scope, Send

_CHUNK_BYTES = 64 * 1024
_CONTENT_TYPE = re.compile(r"[\x20-\x7e]{1,255}")
_IDENTITY_PREFIX = "x-gateway-"
_OBJECT_METHODS = ("GET", "HEAD", "PUT", "DELETE")
_READ_METHODS = ("GET", "HEAD")


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


async def _send_json(
    send: Send,
    status: int,
    payload: Any,
    *,
    head: bool = False,
    headers: Iterable[tuple[bytes, bytes]] = (),
) -> None:
    body = json.dumps(payload).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": b"" if head else body})


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


class ObjectStore:
    """
    The ASGI app; per-request values live in locals, never on ``self``.
    """

    def __init__(self, root: Path, *, max_object_bytes: int, buckets: Iterable[str]) -> None:
        if max_object_bytes < 0:
            raise ValueError("max_object_bytes must not be negative")
        self.max_object_bytes = max_object_bytes
        self.disk = Disk(root)
        root.mkdir(parents=True, exist_ok=True)
        for bucket in buckets:
            if not BUCKET_NAME.fullmatch(bucket):
                raise ValueError(f"invalid bucket name `{bucket}`")
            self.disk.create_bucket(bucket)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1000})  # no websocket routes
            return
        if scope["type"] != "http":
            return
        method = scope["method"]
        try:
            await self._route(scope, receive, send)
        except Refusal as refusal:
            allow = [(b"allow", ", ".join(refusal.allow).encode())] if refusal.allow else []
            payload = {"error": refusal.code, "message": refusal.message}
            await _send_json(send, refusal.status, payload, head=method == "HEAD", headers=allow)

    async def _route(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        method: str = scope["method"]
        if path == "/whoami":
            _allow(method, _READ_METHODS)
            await _send_json(send, 200, _identity_headers(scope), head=method == "HEAD")
            return
        if path == "/buckets":
            _allow(method, _READ_METHODS)
            buckets = await asyncio.to_thread(self.disk.list_buckets)
            await _send_json(send, 200, {"buckets": buckets}, head=method == "HEAD")
            return
        bucket, _, rest = path.removeprefix("/buckets/").partition("/")
        if not path.startswith("/buckets/") or not (
            rest == "objects" or rest.startswith("objects/")
        ):
            raise Refusal(404, "NotFound", f"no route for `{path[:200]}`")
        check_bucket(bucket)
        if rest == "objects":
            _allow(method, _READ_METHODS)
            await self._list(scope, send, bucket)
            return
        _allow(method, _OBJECT_METHODS)
        key = rest.removeprefix("objects/")
        name = object_name(key)
        if method == "PUT":
            await self._put(scope, receive, send, bucket, key, name)
            return
        if not await asyncio.to_thread(self.disk.has_bucket, bucket):
            raise Refusal(404, "NoSuchBucket", f"bucket `{bucket}` does not exist")
        if method == "DELETE":
            await asyncio.to_thread(self.disk.delete, bucket, name)
            await send({"type": "http.response.start", "status": 204, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            return
        await self._get(send, bucket, key, name, head=method == "HEAD")

    async def _list(self, scope: Scope, send: Send, bucket: str) -> None:
        query = parse_qs(scope["query_string"].decode("latin-1"), keep_blank_values=True)
        prefix = query.get("prefix", [""])[0]
        if not await asyncio.to_thread(self.disk.has_bucket, bucket):
            raise Refusal(404, "NoSuchBucket", f"bucket `{bucket}` does not exist")
        found = await asyncio.to_thread(self.disk.list_objects, bucket, prefix)
        objects = [
            {"key": meta.key, "size": meta.size, "etag": meta.etag, "storedBy": meta.stored_by}
            for meta in found
        ]
        payload = {"bucket": bucket, "prefix": prefix, "objects": objects}
        await _send_json(send, 200, payload, head=scope["method"] == "HEAD")

    async def _put(
        self, scope: Scope, receive: Receive, send: Send, bucket: str, key: str, name: str
    ) -> None:
        declared = _header(scope, b"content-length")
        if declared is not None:
            if not declared.isascii() or not declared.isdigit():
                raise Refusal(400, "InvalidRequest", "content-length must be a number")
            if int(declared) > self.max_object_bytes:
                raise self._too_large()
        upload = await asyncio.to_thread(self.disk.start_upload, bucket)
        try:
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    upload.discard()
                    return
                chunk: bytes = message.get("body", b"")
                # Counted as it streams: a chunked body declares no length up front.
                if upload.size + len(chunk) > self.max_object_bytes:
                    raise self._too_large()
                if chunk:
                    await asyncio.to_thread(upload.write, chunk)
                if not message.get("more_body", False):
                    break
            await asyncio.to_thread(upload.finish)
            content_type = _header(scope, b"content-type") or ""
            meta = ObjectMeta(
                key=key,
                size=upload.size,
                etag=f'"{upload.md5.hexdigest()}"',
                blob=f"{name}.{secrets.token_hex(8)}.blob",
                stored_by=_header(scope, b"x-gateway-principal-arn"),
                content_type=(
                    content_type
                    if _CONTENT_TYPE.fullmatch(content_type)
                    else "application/octet-stream"
                ),
            )
            await asyncio.to_thread(self.disk.commit, bucket, name, upload, meta)
        except BaseException:
            upload.discard()
            raise
        payload = {
            "bucket": bucket,
            "key": key,
            "size": meta.size,
            "etag": meta.etag,
            "storedBy": meta.stored_by,
        }
        await _send_json(send, 200, payload, headers=[(b"etag", meta.etag.encode())])

    async def _get(self, send: Send, bucket: str, key: str, name: str, *, head: bool) -> None:
        opened = await asyncio.to_thread(self.disk.open_object, bucket, name)
        if opened is None:
            raise Refusal(404, "NoSuchKey", f"key `{key[:200]}` does not exist")
        meta, file = opened
        try:
            headers = [
                (b"content-type", meta.content_type.encode()),
                (b"content-length", str(meta.size).encode()),
                (b"etag", meta.etag.encode()),
            ]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            remaining = 0 if head else meta.size
            while remaining > 0:
                chunk = await asyncio.to_thread(file.read, min(_CHUNK_BYTES, remaining))
                if not chunk:
                    break
                remaining -= len(chunk)
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
        finally:
            file.close()

    def _too_large(self) -> Refusal:
        return Refusal(
            413, "EntityTooLarge", f"object is larger than {self.max_object_bytes} bytes"
        )


def _allow(method: str, allowed: tuple[str, ...]) -> None:
    if method not in allowed:
        raise Refusal(
            405, "MethodNotAllowed", f"method `{method}` is not allowed here", allow=allowed
        )


def _identity_headers(scope: Scope) -> dict[str, str]:
    found: dict[str, str] = {}
    for raw_name, raw_value in scope["headers"]:
        name = raw_name.decode("latin-1").lower()
        if name.startswith(_IDENTITY_PREFIX):
            value = raw_value.decode("latin-1")
            found[name] = f"{found[name]}, {value}" if name in found else value
    return found
