"""
The PostgreSQL backend (asyncpg, pooled), for several replicas sharing state.

Write transactions start by bumping the generation row; its row lock is held
until commit, so IAM writers are serialized across every replica while readers
are never blocked. An optional schema name isolates one deployment (or one
test) inside a database.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import asyncpg

from gateway.errors import StoreError
from gateway.store import sql
from gateway.store.base import Row, Value

_SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


class PostgresTransaction(sql.SqlTransaction):
    """
    Row operations on an open PostgreSQL transaction.
    """

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def _fetch(self, statement: str, args: Sequence[Value]) -> list[Row]:
        try:
            records = await self._conn.fetch(sql.to_dollar_params(statement), *args)
        except (asyncpg.PostgresError, OSError) as exc:
            raise StoreError("the store could not read", operation="select") from exc
        return [dict(record) for record in records]

    async def _execute(self, statement: str, args: Sequence[Value], operation: str) -> int:
        try:
            status = await self._conn.execute(sql.to_dollar_params(statement), *args)
        except asyncpg.UniqueViolationError as exc:
            raise sql.Conflict("the row already exists", operation=operation) from exc
        except (asyncpg.PostgresError, OSError) as exc:
            raise StoreError("the store could not write", operation=operation) from exc
        tail = status.rsplit(" ", 1)[-1]
        return int(tail) if tail.isdigit() else 0


class PostgresStore:
    """
    The shared store: a pool of connections to one PostgreSQL database.
    """

    kind = "postgresql"

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @classmethod
    async def open(
        cls,
        dsn: str,
        *,
        schema: str | None = None,
        min_size: int = 1,
        max_size: int = 10,
        connect_timeout: float = 10.0,
    ) -> PostgresStore:
        """
        Connect a pool to ``dsn``; with ``schema``, every connection uses that schema.

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
        except (asyncpg.PostgresError, OSError, TimeoutError) as exc:
            # SECURITY: the DSN may hold a password; name only the failure's type.
            raise StoreError(
                f"cannot connect to the PostgreSQL store: {type(exc).__name__}",
                operation="connect",
            ) from exc
        return cls(pool)

    @asynccontextmanager
    async def transaction(
        self, *, write: bool = False, bump: bool = True
    ) -> AsyncIterator[PostgresTransaction]:
        try:
            conn = await self._pool.acquire()
        except (asyncpg.PostgresError, OSError, TimeoutError) as exc:
            raise StoreError("the store is unavailable", operation="acquire") from exc
        try:
            tx = conn.transaction()
            await tx.start()
            try:
                if write and bump:
                    await conn.execute(sql.GENERATION_BUMP)
                yield PostgresTransaction(conn)
            except BaseException:
                await tx.rollback()
                raise
            try:
                await tx.commit()
            except asyncpg.PostgresError as exc:
                raise StoreError("the store could not commit", operation="commit") from exc
        finally:
            await self._pool.release(conn)

    async def generation(self) -> int:
        try:
            value = await self._pool.fetchval(sql.GENERATION_READ)
        except (asyncpg.PostgresError, OSError) as exc:
            raise StoreError("the store is unavailable", operation="generation") from exc
        return int(value or 0)

    async def schema_version(self) -> int:
        async with self._pool.acquire() as conn:
            await conn.execute(sql.MIGRATIONS_TABLE)
            value = await conn.fetchval("SELECT MAX(version) FROM schema_migrations")
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
        await self._pool.close()
