"""
Storage backends behind one async interface (see ``base``).

``open_store(url)`` picks the backend from the URL scheme. Only the IAM service
layer uses the store.
"""

from __future__ import annotations

from pathlib import Path

from gateway.store.base import Row, Store, StoreStats, Transaction, Value
from gateway.store.sql import Conflict


async def open_store(
    *,
    sqlite_path: Path | str | None = None,
    dsn: str | None = None,
    schema: str | None = None,
    pool_min_size: int = 1,
    pool_max_size: int = 10,
    busy_timeout_ms: int = 5000,
    connect_timeout: float = 10.0,
    listen: bool = False,
    outage_grace_seconds: float = 0.0,
) -> Store:
    """
    Open the SQLite store at ``sqlite_path`` or the PostgreSQL store at ``dsn``.

    On PostgreSQL, ``listen`` starts the change listener that keeps the
    generation marker in memory (for a long-running gateway), and
    ``outage_grace_seconds`` lets a recently confirmed marker stand in while the
    server is unreachable (0: fail closed at once). Both are ignored on SQLite.

    Raises:
        StoreError: the database cannot be reached or opened.
    """
    if dsn is not None:
        from gateway.store.postgresql import PostgresStore

        return await PostgresStore.open(
            dsn,
            schema=schema,
            min_size=pool_min_size,
            max_size=pool_max_size,
            connect_timeout=connect_timeout,
            listen=listen,
            outage_grace_seconds=outage_grace_seconds,
        )
    if sqlite_path is None:
        raise ValueError("open_store needs sqlite_path or dsn")
    from gateway.store.sqlite import SqliteStore

    return await SqliteStore.open(sqlite_path, busy_timeout_ms=busy_timeout_ms)


__all__ = ["Conflict", "Row", "Store", "StoreStats", "Transaction", "Value", "open_store"]
