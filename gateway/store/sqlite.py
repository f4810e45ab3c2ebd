"""
The SQLite backend (aiosqlite): the embedded default.

One connection per store, in WAL mode with foreign keys on and a busy timeout,
so several processes on one host can share the file. Transactions are managed
explicitly (``isolation_level=None``); a write transaction starts with
``BEGIN IMMEDIATE``, which takes the database's write lock up front, so two
writers never interleave a read-check-write sequence. Inside one process an
asyncio lock keeps transactions on the shared connection from interleaving.

The generation marker is read on every request. Reading the row means a WAL read
transaction (locks on the -shm file), so the store keeps a signal file beside the
database, ``<database>-generation``: every process appends one byte to it after a
write that bumped the marker has committed, and ``generation()`` reads the row
only when that file's identity, size or modification time differ from what it saw
at its last read (a ``stat``, a few times cheaper). Because the byte is appended
after the commit and the file is looked at before the row is read, a change is
seen by any request that starts after the writer's call returned. The row is read
anyway at least every ``RECHECK_SECONDS`` (a writer that died between its commit
and its append, a signal file that cannot be written), and on every call while
the signal file is missing.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiosqlite

from gateway.errors import StoreError
from gateway.store import sql
from gateway.store.base import Row, StoreStats, Value

log = logging.getLogger("gateway.store")

# The longest a cached generation is trusted without reading the row.
RECHECK_SECONDS = 1.0
# Past this size a writer empties the signal file (its identity key changes anyway).
SIGNAL_LIMIT = 1 << 20


class SqliteTransaction(sql.SqlTransaction):
    """
    Row operations on an open SQLite transaction.
    """

    def __init__(self, conn: aiosqlite.Connection, stats: StoreStats) -> None:
        self._conn = conn
        self._stats = stats

    async def _fetch(self, statement: str, args: Sequence[Value]) -> list[Row]:
        self._stats.queries += 1
        try:
            async with self._conn.execute(statement, list(args)) as cursor:
                rows = await cursor.fetchall()
        except sqlite3.Error as exc:
            raise StoreError("the store could not read", operation="select") from exc
        return [dict(row) for row in rows]

    async def _execute(self, statement: str, args: Sequence[Value], operation: str) -> int:
        self._stats.queries += 1
        try:
            async with self._conn.execute(statement, list(args)) as cursor:
                return cursor.rowcount
        except sqlite3.IntegrityError as exc:
            if "UNIQUE" in str(exc) or "PRIMARY KEY" in str(exc):
                raise sql.Conflict("the row already exists", operation=operation) from exc
            raise StoreError("the store refused the change", operation=operation) from exc
        except sqlite3.Error as exc:
            raise StoreError("the store could not write", operation=operation) from exc


class SqliteStore:
    """
    The embedded store: one SQLite file.
    """

    kind = "sqlite"

    def __init__(self, conn: aiosqlite.Connection, path: str) -> None:
        self._conn = conn
        self._lock = asyncio.Lock()
        self.path = path
        # The private read-only connection's one cursor, reused for every read.
        self._marker: sqlite3.Cursor | None = None
        self._signal = None if path == ":memory:" else path + "-generation"
        # What the signal file looked like when the row was last read, and the value.
        self._signal_seen: tuple[int, int, int] | None = None
        self._known = 0
        self._recheck_at = 0.0
        self.stats = StoreStats()

    @classmethod
    async def open(cls, path: Path | str, *, busy_timeout_ms: int = 5000) -> SqliteStore:
        """
        Open (creating if needed) the database file at ``path``.
        """
        target = str(path)
        if target != ":memory:":
            Path(target).parent.mkdir(parents=True, exist_ok=True)
            # SECURITY: the file holds password hashes and sealed secrets; SQLite gives
            # its -wal and -shm files the same mode as the database file.
            os.close(os.open(target, os.O_RDWR | os.O_CREAT, 0o600))
            try:
                os.close(os.open(target + "-generation", os.O_WRONLY | os.O_CREAT, 0o600))
            except OSError as exc:  # readers then read the row on every request
                log.warning("cannot create the generation signal file: %s", exc.strerror)
        try:
            conn = await aiosqlite.connect(target, isolation_level=None)
            conn.row_factory = sqlite3.Row
            await conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
            await conn.execute("PRAGMA foreign_keys = ON")
            await conn.execute("PRAGMA journal_mode = WAL")
            await conn.execute("PRAGMA synchronous = NORMAL")
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the SQLite store `{target}`: {exc}") from exc
        return cls(conn, target)

    @asynccontextmanager
    async def transaction(
        self, *, write: bool = False, bump: bool = True
    ) -> AsyncIterator[SqliteTransaction]:
        async with self._lock:
            started = time.perf_counter()
            try:
                await self._conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
                if write and bump:
                    await self._conn.execute(sql.GENERATION_BUMP)
            except sqlite3.Error as exc:
                raise StoreError("the store is unavailable", operation="begin") from exc
            try:
                yield SqliteTransaction(self._conn, self.stats)
            except BaseException:
                await self._conn.execute("ROLLBACK")
                self.stats.observe(time.perf_counter() - started)
                raise
            try:
                await self._conn.execute("COMMIT")
            except sqlite3.Error as exc:
                await self._conn.execute("ROLLBACK")
                raise StoreError("the store could not commit", operation="commit") from exc
            finally:
                self.stats.observe(time.perf_counter() - started)
            if write and bump:
                self._announce()

    def _announce(self) -> None:
        # INVARIANT: called only after COMMIT returned, so a reader that sees the
        # file change and then reads the row sees this commit.
        if self._signal is None:
            return
        try:
            fd = os.open(self._signal, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, b".")
                if os.fstat(fd).st_size >= SIGNAL_LIMIT:
                    os.ftruncate(fd, 0)
            finally:
                os.close(fd)
        except OSError as exc:
            # Other processes see the change within RECHECK_SECONDS instead.
            log.warning("cannot signal an IAM change to other processes: %s", exc.strerror)

    async def generation(self) -> int:
        # Called on every request, so it must be cheap: the row is read only when the
        # signal file changed (see the module's doc), or at least every RECHECK_SECONDS.
        if self._signal is None:
            return await self._read_generation()
        seen: tuple[int, int, int] | None
        try:
            info = os.stat(self._signal)
            seen = (info.st_ino, info.st_size, info.st_mtime_ns)
        except OSError:
            seen = None
        now = time.monotonic()
        if seen is not None and seen == self._signal_seen and now < self._recheck_at:
            return self._known
        # ORDER: the file was looked at before the row is read; a write landing in
        # between is read now and, its append not yet seen, read again next time.
        value = await self._read_generation()
        self._signal_seen, self._known, self._recheck_at = seen, value, now + RECHECK_SECONDS
        return value

    async def _read_generation(self) -> int:
        # A hop through aiosqlite's thread costs ~250 us, a direct read on a private
        # read-only connection a few us. In WAL mode a reader never waits for a writer,
        # so this cannot stall the event loop behind a long transaction; the short
        # busy timeout bounds a checkpoint race.
        self.stats.queries += 1
        if self.path == ":memory:":
            async with self._lock, self._conn.execute(sql.GENERATION_READ) as cursor:
                row = await cursor.fetchone()
            return int(row[0]) if row is not None else 0
        try:
            if self._marker is None:
                self._marker = self._open_marker()
            # INVARIANT: no await between execute and fetchone, so no other request uses
            # the cursor mid-read; fetching the only row resets the statement, which ends
            # the read transaction (an open one would keep WAL checkpoints from finishing).
            row = self._marker.execute(sql.GENERATION_READ).fetchone()
        except sqlite3.Error as exc:
            self._close_marker()
            raise StoreError("the store is unavailable", operation="generation") from exc
        return int(row[0]) if row is not None else 0

    def _open_marker(self) -> sqlite3.Cursor:
        uri = Path(self.path).absolute().as_uri() + "?mode=ro"
        marker = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
        marker.execute("PRAGMA busy_timeout = 200")
        # Connection.execute makes a cursor per call; reusing one makes a read ~25% cheaper.
        return marker.cursor()

    def _close_marker(self) -> None:
        if self._marker is not None:
            self._marker.connection.close()
            self._marker = None

    async def schema_version(self) -> int:
        async with self._lock:
            await self._conn.execute(sql.MIGRATIONS_TABLE)
            async with self._conn.execute("SELECT MAX(version) FROM schema_migrations") as cur:
                row = await cur.fetchone()
        return int(row[0]) if row is not None and row[0] is not None else 0

    async def migrate(self) -> list[int]:
        applied: list[int] = []
        async with self._lock:
            await self._conn.execute("BEGIN IMMEDIATE")
            try:
                await self._conn.execute(sql.MIGRATIONS_TABLE)
                async with self._conn.execute(
                    "SELECT MAX(version) FROM schema_migrations"
                ) as cursor:
                    row: Any = await cursor.fetchone()
                current = int(row[0]) if row[0] is not None else 0
                for version, name, statements in sql.migrations():
                    if version <= current:
                        continue
                    for statement in statements:
                        await self._conn.execute(statement)
                    await self._conn.execute(
                        sql.RECORD_MIGRATION,
                        (version, name, datetime.now(UTC).isoformat()),
                    )
                    applied.append(version)
                await self._conn.execute("COMMIT")
            except BaseException:
                await self._conn.execute("ROLLBACK")
                raise
        return applied

    async def check_schema(self) -> None:
        sql.check_version(await self.schema_version())

    async def close(self) -> None:
        self._close_marker()
        await self._conn.close()
