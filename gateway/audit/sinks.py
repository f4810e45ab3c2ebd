"""
First-party audit sinks: JSON lines to stdout or to a file.

Layer: auth (beside ``routing``). Both sinks buffer encoded lines in memory and
write them in a worker thread when ``flush()`` is called, so the event loop never
waits on a disk or a pipe. The ``Auditor`` calls ``flush()`` ``FLUSH_DELAY`` (50 ms)
after its queue runs empty, and a sink also flushes on its own once ``flush_bytes``
are buffered; ``close()`` flushes what is left.

Both sinks drop secret-named keys from every event before writing it (an event
that ``is_scrubbed`` is written as it is, any other goes through
``scrub_secrets``): the core never puts a secret in an event, and this is the
second line of defence for events that come from elsewhere.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final, Protocol, TextIO, runtime_checkable

import orjson

from gateway.audit.redaction import is_scrubbed, scrub_secrets

__all__ = ["DEFAULT_FLUSH_BYTES", "BufferedSink", "JsonLinesSink", "StdoutSink", "encode_line"]

DEFAULT_FLUSH_BYTES: Final = 64 * 1024
FILE_MODE: Final = 0o600

# SECURITY: ensure_ascii escapes every non-ASCII character, so U+2028 and friends
# cannot split the line in a viewer even if an event skipped sanitizing. Built once:
# json.dumps with options builds a new encoder on every call. No cycle check: a cycle
# makes is_scrubbed or scrub_secrets raise RecursionError before the encoder runs.
_ENCODER: Final = json.JSONEncoder(
    ensure_ascii=True, allow_nan=False, separators=(",", ":"), check_circular=False
)
# orjson writes the same compact JSON about ten times faster; what it would write
# differently from the stdlib encoder (datetimes, dataclasses, subclasses of the JSON
# types) it refuses with these options, and the stdlib encoder takes over.
_FAST_OPTIONS: Final = (
    orjson.OPT_APPEND_NEWLINE
    | orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_DATACLASS
    | orjson.OPT_PASSTHROUGH_SUBCLASS
)


@runtime_checkable
class BufferedSink(Protocol):
    """
    An audit sink that holds events until ``flush()``; the auditor flushes when idle.
    """

    async def emit(self, event: Mapping[str, Any]) -> None: ...

    async def flush(self) -> None: ...

    async def close(self) -> None: ...


def encode_line(event: Mapping[str, Any]) -> str:
    """
    Encode one event as a single ASCII JSON line, secret-named keys dropped.

    NaN and infinities are written as ``null``, as ``build_event`` writes them.

    Raises:
        TypeError: the event holds a value JSON cannot encode.
    """
    # Checking is cheaper than copying, and events from build_event always pass.
    clean = event if is_scrubbed(event) else scrub_secrets(event)
    try:
        line = orjson.dumps(clean, option=_FAST_OPTIONS)
    except orjson.JSONEncodeError:
        line = b""  # a type only the stdlib encoder takes, or an integer over 64 bits
    # orjson leaves DEL (0x7f) raw where the stdlib encoder escapes it (\\u007f): a line
    # holding one takes the slow path, so control characters never reach the file raw.
    if line and line.isascii() and b"\x7f" not in line:
        return line.decode("ascii")
    # Non-ASCII text is escaped (\\uXXXX) by the stdlib encoder, as are the rarer cases.
    return _ENCODER.encode(_finite(clean)) + "\n"


def _finite(value: Any) -> Any:
    # Only reached off the fast path: NaN and infinities become None, as orjson has it.
    if type(value) is float:
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value


class _LineSink:
    """
    Buffers JSON lines and writes them, in order, in a worker thread.
    """

    def __init__(self, *, flush_bytes: int) -> None:
        self._flush_bytes = flush_bytes
        self._buffer: list[str] = []
        self._buffered = 0
        self._lock = asyncio.Lock()

    async def emit(self, event: Mapping[str, Any]) -> None:
        """
        Buffer ``event``; write the buffer out once it holds ``flush_bytes``.
        """
        line = encode_line(event)
        self._buffer.append(line)
        self._buffered += len(line)
        if self._buffered >= self._flush_bytes:
            await self.flush()

    async def flush(self) -> None:
        """
        Write every buffered line, without blocking the event loop.
        """
        if not self._buffer:
            return
        # Take the lines before waiting: asyncio.Lock is FIFO, so writes keep event order.
        text = "".join(self._buffer)
        self._buffer.clear()
        self._buffered = 0
        async with self._lock:
            await asyncio.to_thread(self._write, text)

    async def close(self) -> None:
        """
        Flush what is buffered and release the output.
        """
        await self.flush()
        async with self._lock:
            await asyncio.to_thread(self._release)

    def _write(self, text: str) -> None:
        raise NotImplementedError

    def _release(self) -> None:
        return None


class StdoutSink(_LineSink):
    """
    Write each event as one JSON line to standard output (or to ``stream``).
    """

    def __init__(self, stream: TextIO | None = None, *, flush_bytes: int = DEFAULT_FLUSH_BYTES):
        super().__init__(flush_bytes=flush_bytes)
        self._stream = stream

    def _write(self, text: str) -> None:
        # Looked up on each write: tests and process managers may replace sys.stdout.
        stream = self._stream or sys.stdout
        stream.write(text)
        stream.flush()


class JsonLinesSink(_LineSink):
    """
    Append each event as one JSON line to a file created with mode 0600.

    The file is opened on the first write and kept open. When it has been renamed
    or removed (log rotation), the next write reopens ``path``, the way
    ``logging.handlers.WatchedFileHandler`` does.
    """

    def __init__(self, path: Path | str, *, flush_bytes: int = DEFAULT_FLUSH_BYTES) -> None:
        super().__init__(flush_bytes=flush_bytes)
        self.path = Path(path)
        self._fd: int | None = None

    def _write(self, text: str) -> None:
        fd = self._open()
        data = memoryview(text.encode("ascii"))
        while data:
            data = data[os.write(fd, data) :]

    def _open(self) -> int:
        if self._fd is not None:
            if self._is_current(self._fd):
                return self._fd
            self._release()
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, FILE_MODE)
        # SECURITY: O_CREAT's mode only applies to a new file; an existing audit file
        # readable by others is narrowed, since events name users, keys and resources.
        if os.fstat(fd).st_mode & 0o077:
            os.fchmod(fd, FILE_MODE)
        self._fd = fd
        return fd

    def _is_current(self, fd: int) -> bool:
        try:
            on_disk = os.stat(self.path)
        except FileNotFoundError:
            return False
        opened = os.fstat(fd)
        return (on_disk.st_dev, on_disk.st_ino) == (opened.st_dev, opened.st_ino)

    def _release(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)
