"""
Where the demo object store keeps objects: one directory per bucket under ``root``.

On disk, under ``root``::

    <bucket>/                          the validated bucket name
      <sha256(key)>.json               key, size, etag, blob, storedBy, contentType
      <sha256(key)>.<token>.blob       the content; every PUT writes a new blob
      .upload-*  .meta-*               writes in progress

SECURITY: a key never becomes a path component. Files are named by the sha256
of the key, so no key can name a file outside its bucket, by construction. Keys
that look like traversal (``..``, absolute, NUL, backslash) are still refused
with 400, so that what the gateway authorized is unambiguously what is stored.

Blocking file I/O: the app (``gateway.demo.objectstore_app``) calls it through
``asyncio.to_thread``. It imports nothing from the gateway.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Self

MAX_KEY_BYTES = 1024  # as S3: 1024 bytes of UTF-8
BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_BLOB_NAME = re.compile(r"[0-9a-f]{64}\.[0-9a-f]{16}\.blob")


class Refusal(Exception):
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
class ObjectMeta:
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


class Upload:
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


class Disk:
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
            if entry.is_dir() and BUCKET_NAME.fullmatch(entry.name)
        )

    def has_bucket(self, bucket: str) -> bool:
        return (self.root / bucket).is_dir()

    def create_bucket(self, bucket: str) -> None:
        (self.root / bucket).mkdir(exist_ok=True)

    def list_objects(self, bucket: str, prefix: str) -> list[ObjectMeta]:
        found = []
        for path in (self.root / bucket).glob("*.json"):
            meta = self._read_meta(path)
            if meta is not None and meta.key.startswith(prefix):
                found.append(meta)
        return sorted(found, key=lambda meta: meta.key)

    def open_object(self, bucket: str, name: str) -> tuple[ObjectMeta, BinaryIO] | None:
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

    def start_upload(self, bucket: str) -> Upload:
        (self.root / bucket).mkdir(exist_ok=True)
        return Upload(self.root / bucket)

    def commit(self, bucket: str, name: str, upload: Upload, meta: ObjectMeta) -> None:
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
    def _read_meta(path: Path) -> ObjectMeta | None:
        try:
            return ObjectMeta.from_json(json.loads(path.read_bytes()))
        except (FileNotFoundError, ValueError):
            return None

    @staticmethod
    def _write_meta(directory: Path, name: str, meta: ObjectMeta) -> None:
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


def check_bucket(bucket: str) -> None:
    if not BUCKET_NAME.fullmatch(bucket):
        raise Refusal(
            400,
            "InvalidBucketName",
            f"bucket `{bucket[:64]}`: expected 3 to 63 of a-z, 0-9, `.` and `-`, "
            "starting and ending with a letter or digit",
        )


def object_name(key: str) -> str:
    """
    Check ``key`` and return the file stem that stores it (the sha256 of its UTF-8).
    """
    try:
        encoded = key.encode("utf-8")
    except UnicodeEncodeError:
        raise Refusal(400, "InvalidKey", "key is not valid utf-8") from None
    if not 1 <= len(encoded) <= MAX_KEY_BYTES:
        raise Refusal(400, "InvalidKey", f"key must be 1 to {MAX_KEY_BYTES} bytes of utf-8")
    if "\\" in key or any(ord(char) < 0x20 or ord(char) == 0x7F for char in key):
        raise Refusal(400, "InvalidKey", "key must not contain backslashes or control characters")
    # SECURITY: the gateway collapses `.` and `..` before authorizing, so a key holding
    # them could not have been authorized as written; refuse rather than reinterpret.
    if key.startswith("/") or any(part in (".", "..") for part in key.split("/")):
        raise Refusal(400, "InvalidKey", "key must be relative, without `.` or `..` segments")
    return hashlib.sha256(encoded).hexdigest()
