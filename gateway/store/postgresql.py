"""
The PostgreSQL backend (asyncpg, pooled), for several replicas sharing state.

Write transactions start by bumping the generation row; its row lock is held
until commit, so IAM writers are serialized across every replica while readers
are never blocked. An optional schema name isolates one deployment (or one
test) inside a database.

Change notifications. The bump also calls ``pg_notify(<channel>, <new value>)``
in the same transaction: PostgreSQL delivers it at commit (never for a rolled
back transaction) to every session listening on the channel, in commit order.
Opened with ``listen=True``, the store keeps one dedicated connection that
LISTENs and holds the marker in memory, so ``generation()`` costs no query while
that connection is in sync. The channel is named after the connection's current
schema, so deployments (or tests) in separate schemas of one database never hear
each other; notifications never cross databases.

INVARIANT: no notification is lost while the listening connection lives.
PostgreSQL queues every notification for every session that was listening when
it committed, and the session receives them all, in order; if the queue (8 GB)
is ever full, the notifying transaction fails at commit instead of being
dropped. So a change can only go unheard when the connection dies, and then:

- ``generation()`` reads the marker row on every call until the listener is
  back, so nothing is decided on the in-memory value meanwhile;
- on reconnecting, the listener LISTENs first and reads the marker second, so a
  change committed in the gap is in that read or in a later notification;
- a ping on the listener's connection every ``LISTENER_PING_SECONDS`` bounds how
  long a half-open connection (no FIN, no RST reached us) can go unnoticed.

Store outages. Every driver or socket error becomes ``StoreError`` (503
``ServiceUnavailable``). With ``outage_grace_seconds`` > 0, ``generation()``
answers the last marker value that was known fresh at most that many seconds
ago instead of failing, so caches keep serving what they hold; anything not
cached still needs the store and fails closed. The pool reconnects on the next
acquire and the listener reconnects with a capped exponential backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any, Final

import asyncpg

from gateway.errors import StoreError
from gateway.store import sql
from gateway.store.base import Row, StoreStats, Value

log = logging.getLogger("gateway.store")

_SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
_CHANNEL_PREFIX: Final = "gateway_iam_"
# Everything asyncpg or the socket raises when the server is gone or refuses.
_UNAVAILABLE: Final = (
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
    OSError,
    TimeoutError,
)
# One statement: bump the marker, announce the new value (delivered at commit).
_BUMP_AND_NOTIFY: Final = (
    "WITH bumped AS (UPDATE iam_generation SET value = value + 1 WHERE id = 1 RETURNING value) "
    "SELECT value, pg_notify($1, value::text) FROM bumped"
)

LISTENER_PING_SECONDS: Final = 2.0
LISTENER_PING_TIMEOUT_SECONDS: Final = 2.0
LISTENER_BACKOFF_SECONDS: Final = (0.1, 5.0)
# A writer with a listener waits this long at most for its own notification.
OWN_NOTIFICATION_WAIT_SECONDS: Final = 1.0
CLOSE_TIMEOUT_SECONDS: Final = 5.0


def channel_for(schema: str) -> str:
    """
    Return the notification channel of the store in ``schema``.

    A channel name is an identifier: at most 63 bytes. A long or unusual schema
    name is replaced by its hash, so two schemas never share a channel.
    """
    name = _CHANNEL_PREFIX + schema
    if len(name) <= 63 and re.fullmatch(r"[a-z0-9_]+", name):
        return name
    return _CHANNEL_PREFIX + hashlib.sha256(schema.encode("utf-8")).hexdigest()[:32]


class PostgresTransaction(sql.SqlTransaction):
    """
    Row operations on an open PostgreSQL transaction.
    """

    def __init__(self, conn: asyncpg.Connection, stats: StoreStats) -> None:
        self._conn = conn
        self._stats = stats

    async def _fetch(self, statement: str, args: Sequence[Value]) -> list[Row]:
        self._stats.queries += 1
        try:
            records = await self._conn.fetch(sql.to_dollar_params(statement), *args)
        except _UNAVAILABLE as exc:
            self._stats.errors += 1
            raise StoreError("the store could not read", operation="select") from exc
        return [dict(record) for record in records]

    async def _execute(self, statement: str, args: Sequence[Value], operation: str) -> int:
        self._stats.queries += 1
        try:
            status = await self._conn.execute(sql.to_dollar_params(statement), *args)
        except asyncpg.UniqueViolationError as exc:
            raise sql.Conflict("the row already exists", operation=operation) from exc
        except _UNAVAILABLE as exc:
            self._stats.errors += 1
            raise StoreError("the store could not write", operation=operation) from exc
        tail = status.rsplit(" ", 1)[-1]
        return int(tail) if tail.isdigit() else 0


class PostgresStore:
    """
    The shared store: a pool of connections to one PostgreSQL database, and
    optionally a listener that keeps the generation marker in memory.
    """

    kind = "postgresql"

    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        channel: str,
        connect: Callable[[], Awaitable[asyncpg.Connection]] | None = None,
        outage_grace_seconds: float = 0.0,
    ) -> None:
        self._pool = pool
        self.channel = channel
        self.stats = StoreStats()
        self._connect = connect
        self._grace = outage_grace_seconds
        self._generation = 0
        # monotonic time at which _generation was last known to be the store's value
        self._fresh_at = float("-inf")
        self._heard = 0  # the highest value a notification announced
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._listener: asyncio.Task[None] | None = None
        # The listener's server process id, while connected (for operators and tests).
        self.listener_pid: int | None = None

    def __repr__(self) -> str:
        # SECURITY: never the DSN (it may hold a password).
        return f"PostgresStore(channel={self.channel!r}, listening={self.stats.listening})"

    @classmethod
    async def open(
        cls,
        dsn: str,
        *,
        schema: str | None = None,
        min_size: int = 1,
        max_size: int = 10,
        connect_timeout: float = 10.0,
        listen: bool = False,
        outage_grace_seconds: float = 0.0,
    ) -> PostgresStore:
        """
        Connect a pool to ``dsn``; with ``schema``, every connection uses that schema.

        With ``listen``, also start the change listener (see the module docstring);
        until it is in sync, ``generation()`` reads the marker row.

        Raises:
            StoreError: the server cannot be reached (the DSN is never in the message).
        """
        settings: dict[str, str] = {}
        if schema is not None:
            if not _SCHEMA_NAME.fullmatch(schema):
                raise StoreError(f"invalid schema name `{schema}`")
            settings["search_path"] = schema
        try:
            pool = await asyncpg.create_pool(
                dsn,
                min_size=min_size,
                max_size=max_size,
                timeout=connect_timeout,
                server_settings=settings,
            )
        except _UNAVAILABLE as exc:
            # SECURITY: the DSN may hold a password; name only the failure's type.
            raise StoreError(
                f"cannot connect to the PostgreSQL store: {type(exc).__name__}",
                operation="connect",
            ) from exc
        try:
            current = await pool.fetchval("SELECT current_schema()")
        except _UNAVAILABLE as exc:
            await _close_pool(pool)
            raise StoreError(
                f"cannot connect to the PostgreSQL store: {type(exc).__name__}",
                operation="connect",
            ) from exc

        async def connect() -> asyncpg.Connection:
            return await asyncpg.connect(dsn, timeout=connect_timeout, server_settings=settings)

        store = cls(
            pool,
            channel=channel_for(str(current or "public")),
            connect=connect,
            outage_grace_seconds=outage_grace_seconds,
        )
        if listen:
            store.listen()
        return store

    def listen(self) -> None:
        """
        Start the change listener (idempotent); it runs until ``close``.
        """
        if self._connect is None:
            raise RuntimeError("this store was built without a way to connect a listener")
        if self._listener is None:
            self._listener = asyncio.create_task(self._follow())

    @asynccontextmanager
    async def transaction(
        self, *, write: bool = False, bump: bool = True
    ) -> AsyncIterator[PostgresTransaction]:
        stats = self.stats
        started = time.perf_counter()
        try:
            conn = await self._pool.acquire()
        except _UNAVAILABLE as exc:
            stats.errors += 1
            raise StoreError("the store is unavailable", operation="acquire") from exc
        bumped: int | None = None
        try:
            tx = conn.transaction()
            try:
                await tx.start()
            except _UNAVAILABLE as exc:
                stats.errors += 1
                raise StoreError("the store is unavailable", operation="begin") from exc
            try:
                if write and bump:
                    stats.queries += 1
                    try:
                        bumped = int(await conn.fetchval(_BUMP_AND_NOTIFY, self.channel))
                    except _UNAVAILABLE as exc:
                        stats.errors += 1
                        raise StoreError("the store is unavailable", operation="bump") from exc
                yield PostgresTransaction(conn, stats)
            except BaseException:
                # The connection may be gone; the server rolls back on its own then.
                with contextlib.suppress(*_UNAVAILABLE):
                    await tx.rollback()
                raise
            try:
                await tx.commit()
            except _UNAVAILABLE as exc:
                stats.errors += 1
                raise StoreError("the store could not commit", operation="commit") from exc
        finally:
            with contextlib.suppress(*_UNAVAILABLE):
                await self._pool.release(conn)
            stats.observe(time.perf_counter() - started)
        if bumped is not None:
            await self._committed(bumped)

    async def _committed(self, value: int) -> None:
        # Read-your-writes in this process at once; then, with a listener, wait for
        # the notification to come back: by then PostgreSQL has queued it for and
        # signalled every listening replica, so a client told "done" that calls
        # another replica next is all but certain to find it invalidated there.
        if not self.stats.listening:
            return
        if self._generation < value:
            self._generation = value
        if self._heard >= value:
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append((value, waiter))
        try:
            await asyncio.wait_for(waiter, OWN_NOTIFICATION_WAIT_SECONDS)
        except TimeoutError:
            log.warning("change notification %d did not come back in time", value)
        finally:
            self._waiters = [(v, w) for v, w in self._waiters if w is not waiter]

    async def generation(self) -> int:
        stats = self.stats
        if stats.listening:
            return self._generation
        stats.queries += 1
        try:
            value = int(await self._pool.fetchval(sql.GENERATION_READ) or 0)
        except _UNAVAILABLE as exc:
            stats.errors += 1
            if self._grace > 0 and time.monotonic() - self._fresh_at <= self._grace:
                # Bounded, opt-in: cached keys and grants known fresh that recently
                # keep serving; a cache miss still needs the store and fails closed.
                return self._generation
            raise StoreError("the store is unavailable", operation="generation") from exc
        self._generation = value
        self._fresh_at = time.monotonic()
        return value

    # --- the change listener ---------------------------------------------------------------------

    def _notified(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        self.stats.notifications += 1
        self._fresh_at = time.monotonic()
        try:
            value = int(payload)
        except ValueError:
            # Not ours (anyone with access to the database may NOTIFY): treat it as a
            # change of unknown size, so every cache forgets.
            value = self._generation + 1
        # Values arrive in commit order; assigning (not max) means any change, even
        # a surprising one, is a different value and empties the caches.
        self._generation = value
        self._heard = max(self._heard, value)
        for target, waiter in self._waiters:
            if target <= value and not waiter.done():
                waiter.set_result(None)

    async def _follow(self) -> None:
        delay = LISTENER_BACKOFF_SECONDS[0]
        while self._connect is not None:
            conn: asyncpg.Connection | None = None
            try:
                conn = await self._connect()
                await self._listen_on(conn)
                delay = LISTENER_BACKOFF_SECONDS[0]
            except _UNAVAILABLE as exc:
                self.stats.errors += 1
                log.log(
                    logging.WARNING if delay == LISTENER_BACKOFF_SECONDS[0] else logging.DEBUG,
                    "store change listener unavailable (%s); reading the marker on every "
                    "request until it is back",
                    type(exc).__name__,
                )
            except Exception:
                # Not a decision path: whatever broke, the store falls back to reading
                # the marker (always correct) and the listener tries again.
                log.exception("store change listener failed")
            finally:
                self._unsync()
                self.listener_pid = None
                if conn is not None:
                    conn.terminate()
            self.stats.reconnects += 1
            await asyncio.sleep(delay)
            delay = min(delay * 2, LISTENER_BACKOFF_SECONDS[1])

    async def _listen_on(self, conn: asyncpg.Connection) -> None:
        # Returns when the connection is lost; raises when a statement fails.
        lost = asyncio.Event()
        conn.add_termination_listener(lambda _conn: lost.set())
        await conn.add_listener(self.channel, self._notified)
        self.listener_pid = conn.get_server_pid()
        # INVARIANT: LISTEN first, read second (see the module docstring).
        await self._sync(conn)
        self.stats.listening = True
        log.info("store change listener in sync on channel %s", self.channel)
        while not lost.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(lost.wait(), LISTENER_PING_SECONDS)
                return
            await asyncio.wait_for(self._sync(conn), LISTENER_PING_TIMEOUT_SECONDS)

    async def _sync(self, conn: asyncpg.Connection) -> None:
        self.stats.queries += 1
        value = int(await conn.fetchval(sql.GENERATION_READ) or 0)
        if value != self._generation:
            self._generation = value
        self._fresh_at = time.monotonic()

    def _unsync(self) -> None:
        if self.stats.listening:
            log.warning("store change listener lost; reading the marker on every request")
        self.stats.listening = False

    # --- schema and lifecycle --------------------------------------------------------------------

    async def schema_version(self) -> int:
        # A plain read (no DDL): readiness probes call this every few seconds.
        self.stats.queries += 1
        try:
            value = await self._pool.fetchval("SELECT MAX(version) FROM schema_migrations")
        except asyncpg.UndefinedTableError:
            return 0
        except _UNAVAILABLE as exc:
            self.stats.errors += 1
            raise StoreError("the store is unavailable", operation="schema_version") from exc
        return int(value or 0)

    async def migrate(self) -> list[int]:
        applied: list[int] = []
        async with self._pool.acquire() as conn, conn.transaction():
            # Two replicas starting at once: the advisory lock makes one wait for the other.
            await conn.execute("SELECT pg_advisory_xact_lock(727274)")
            await conn.execute(sql.MIGRATIONS_TABLE)
            current = int(await conn.fetchval("SELECT MAX(version) FROM schema_migrations") or 0)
            for version, name, statements in sql.migrations():
                if version <= current:
                    continue
                for statement in statements:
                    await conn.execute(statement)
                await conn.execute(
                    sql.to_dollar_params(sql.RECORD_MIGRATION),
                    version,
                    name,
                    datetime.now(UTC).isoformat(),
                )
                applied.append(version)
        return applied

    async def check_schema(self) -> None:
        sql.check_version(await self.schema_version())

    async def close(self) -> None:
        listener, self._listener = self._listener, None
        self.stats.listening = False  # closing is not losing: no warning
        if listener is not None:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener
        self.stats.listening = False
        await _close_pool(self._pool)


async def _close_pool(pool: asyncpg.Pool) -> None:
    # A graceful close waits for the server; during an outage, give up and drop.
    try:
        await asyncio.wait_for(pool.close(), CLOSE_TIMEOUT_SECONDS)
    except _UNAVAILABLE:
        pool.terminate()
