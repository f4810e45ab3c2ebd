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

On disk, under ``root``::

    <bucket>/                          the validated bucket name
      <sha256(key)>.json               key, size, etag, blob, storedBy, contentType
      <sha256(key)>.<token>.blob       the content; every PUT writes a new blob
      .upload-*  .meta-*               writes in progress

SECURITY: a key never becomes a path component. Files are named by the sha256
of the key, so no key can name a file outside its bucket, by construction. Keys
that look like traversal (``..``, absolute, NUL, backslash) are still refused
with 400, so that what the gateway authorized is unambiguously what is stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import re
import secrets
import socket
import tempfile
import threading
from collections.abc import Generator, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Self
from urllib.parse import parse_qs

import uvicorn

from gateway.types import ASGIApp, Receive, Scope, Send

DEFAULT_MAX_OBJECT_BYTES = 64 * 1024 * 1024
MAX_KEY_BYTES = 1024  # as S3: 1024 bytes of UTF-8
_CHUNK_BYTES = 64 * 1024
_BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_BLOB_NAME = re.compile(r"[0-9a-f]{64}\.[0-9a-f]{16}\.blob")
_CONTENT_TYPE = re.compile(r"[\x20-\x7e]{1,255}")
_IDENTITY_PREFIX = "x-gateway-"
_OBJECT_METHODS = ("GET", "HEAD", "PUT", "DELETE")
_READ_METHODS = ("GET", "HEAD")


class _Refusal(Exception):
    """
    A client error, answered as ``{"error": code, "message": message}``.
    """

    def __init__(
        self, status: int, code: str, message: str, *, allow: tuple[str, ...] = ()
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.allow = allow


@dataclass(frozen=True, slots=True)
class _ObjectMeta:
    key: str
    size: int
    etag: str
    blob: str
    stored_by: str | None
    content_type: str

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "size": self.size,
            "etag": self.etag,
            "blob": self.blob,
            "storedBy": self.stored_by,
            "contentType": self.content_type,
        }

    @classmethod
    def from_json(cls, data: Any) -> Self | None:
        if not isinstance(data, dict):
            return None
        key, size, etag = data.get("key"), data.get("size"), data.get("etag")
        blob, stored_by = data.get("blob"), data.get("storedBy")
        content_type = data.get("contentType")
        if not (isinstance(key, str) and isinstance(size, int) and isinstance(etag, str)):
            return None
        # SECURITY: the blob name comes from a file; accept only names we generate.
        if not (isinstance(blob, str) and _BLOB_NAME.fullmatch(blob)):
            return None
        if not (stored_by is None or isinstance(stored_by, str)):
            return None
        if not isinstance(content_type, str):
            return None
        return cls(key, size, etag, blob, stored_by, content_type)


class _Upload:
    """
    One PUT body on its way to disk: a temp file in the bucket directory and a running md5.
    """

    def __init__(self, directory: Path) -> None:
        fd, name = tempfile.mkstemp(dir=directory, prefix=".upload-")
        self.path = Path(name)
        self.file = os.fdopen(fd, "wb")
        self.size = 0
        self.md5 = hashlib.md5(usedforsecurity=False)  # S3-style ETag, not a security check

    def write(self, chunk: bytes) -> None:
        self.file.write(chunk)
        self.md5.update(chunk)
        self.size += len(chunk)

    def finish(self) -> None:
        self.file.flush()
        os.fsync(self.file.fileno())
        self.file.close()

    def discard(self) -> None:
        self.file.close()
        self.path.unlink(missing_ok=True)


class _Disk:
    """
    The folder of buckets. Blocking; the app calls it through ``asyncio.to_thread``.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        # INVARIANT: replacing an object's metadata and unlinking the blob it replaced
        # happen under this lock, so concurrent PUTs and DELETEs never orphan a blob.
        self._lock = threading.Lock()

    def list_buckets(self) -> list[str]:
        return sorted(
            entry.name
            for entry in self.root.iterdir()
            if entry.is_dir() and _BUCKET_NAME.fullmatch(entry.name)
        )

    def has_bucket(self, bucket: str) -> bool:
        return (self.root / bucket).is_dir()

    def create_bucket(self, bucket: str) -> None:
        (self.root / bucket).mkdir(exist_ok=True)

    def list_objects(self, bucket: str, prefix: str) -> list[_ObjectMeta]:
        found = []
        for path in (self.root / bucket).glob("*.json"):
            meta = self._read_meta(path)
            if meta is not None and meta.key.startswith(prefix):
                found.append(meta)
        return sorted(found, key=lambda meta: meta.key)

    def open_object(self, bucket: str, name: str) -> tuple[_ObjectMeta, BinaryIO] | None:
        directory = self.root / bucket
        # A PUT may replace the blob between reading the metadata and opening the blob;
        # reading the metadata again then finds the new one.
        for _ in range(3):
            meta = self._read_meta(directory / f"{name}.json")
            if meta is None:
                return None
            try:
                return meta, (directory / meta.blob).open("rb")
            except FileNotFoundError:
                continue
        return None

    def start_upload(self, bucket: str) -> _Upload:
        (self.root / bucket).mkdir(exist_ok=True)
        return _Upload(self.root / bucket)

    def commit(self, bucket: str, name: str, upload: _Upload, meta: _ObjectMeta) -> None:
        directory = self.root / bucket
        os.replace(upload.path, directory / meta.blob)
        with self._lock:
            old = self._read_meta(directory / f"{name}.json")
            self._write_meta(directory, name, meta)
            if old is not None and old.blob != meta.blob:
                (directory / old.blob).unlink(missing_ok=True)

    def delete(self, bucket: str, name: str) -> None:
        directory = self.root / bucket
        with self._lock:
            old = self._read_meta(directory / f"{name}.json")
            if old is not None:
                (directory / f"{name}.json").unlink(missing_ok=True)
                (directory / old.blob).unlink(missing_ok=True)

    @staticmethod
    def _read_meta(path: Path) -> _ObjectMeta | None:
        try:
            return _ObjectMeta.from_json(json.loads(path.read_bytes()))
        except (FileNotFoundError, ValueError):
            return None

    @staticmethod
    def _write_meta(directory: Path, name: str, meta: _ObjectMeta) -> None:
        fd, temp = tempfile.mkstemp(dir=directory, prefix=".meta-")
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(json.dumps(meta.to_json()).encode())
                file.flush()
                os.fsync(file.fileno())
            os.replace(temp, directory / f"{name}.json")
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise


def _check_bucket(bucket: str) -> None:
    if not _BUCKET_NAME.fullmatch(bucket):
        raise _Refusal(
            400,
            "InvalidBucketName",
            f"bucket `{bucket[:64]}`: expected 3 to 63 of a-z, 0-9, `.` and `-`, "
            "starting and ending with a letter or digit",
        )


def _object_name(key: str) -> str:
    """
    Check ``key`` and return the file stem that stores it (the sha256 of its UTF-8).
    """
    try:
        encoded = key.encode("utf-8")
    except UnicodeEncodeError:
        raise _Refusal(400, "InvalidKey", "key is not valid utf-8") from None
    if not 1 <= len(encoded) <= MAX_KEY_BYTES:
        raise _Refusal(400, "InvalidKey", f"key must be 1 to {MAX_KEY_BYTES} bytes of utf-8")
    if "\\" in key or any(ord(char) < 0x20 or ord(char) == 0x7F for char in key):
        raise _Refusal(400, "InvalidKey", "key must not contain backslashes or control characters")
    # SECURITY: the gateway collapses `.` and `..` before authorizing, so a key holding
    # them could not have been authorized as written; refuse rather than reinterpret.
    if key.startswith("/") or any(part in (".", "..") for part in key.split("/")):
        raise _Refusal(400, "InvalidKey", "key must be relative, without `.` or `..` segments")
    return hashlib.sha256(encoded).hexdigest()


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


class _ObjectStore:
    """
    The ASGI app; per-request values live in locals, never on ``self``.
    """

    def __init__(self, root: Path, *, max_object_bytes: int, buckets: Iterable[str]) -> None:
        if max_object_bytes < 0:
            raise ValueError("max_object_bytes must not be negative")
        self.max_object_bytes = max_object_bytes
        self.disk = _Disk(root)
        root.mkdir(parents=True, exist_ok=True)
        for bucket in buckets:
            if not _BUCKET_NAME.fullmatch(bucket):
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
        except _Refusal as refusal:
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
            raise _Refusal(404, "NotFound", f"no route for `{path[:200]}`")
        _check_bucket(bucket)
        if rest == "objects":
            _allow(method, _READ_METHODS)
            await self._list(scope, send, bucket)
            return
        _allow(method, _OBJECT_METHODS)
        key = rest.removeprefix("objects/")
        name = _object_name(key)
        if method == "PUT":
            await self._put(scope, receive, send, bucket, key, name)
            return
        if not await asyncio.to_thread(self.disk.has_bucket, bucket):
            raise _Refusal(404, "NoSuchBucket", f"bucket `{bucket}` does not exist")
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
            raise _Refusal(404, "NoSuchBucket", f"bucket `{bucket}` does not exist")
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
                raise _Refusal(400, "InvalidRequest", "content-length must be a number")
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
            meta = _ObjectMeta(
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
            raise _Refusal(404, "NoSuchKey", f"key `{key[:200]}` does not exist")
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

    def _too_large(self) -> _Refusal:
        return _Refusal(
            413, "EntityTooLarge", f"object is larger than {self.max_object_bytes} bytes"
        )


def _allow(method: str, allowed: tuple[str, ...]) -> None:
    if method not in allowed:
        raise _Refusal(
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
    return _ObjectStore(root, max_object_bytes=max_object_bytes, buckets=buckets)


class _EmbeddedServer(uvicorn.Server):
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
    server = _EmbeddedServer(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        await asyncio.shield(task)
    except asyncio.CancelledError:
        server.should_exit = True
        await task
        raise
    finally:
        sock.close()
