"""
The storage interface used by the IAM service layer.

The store knows tables and rows (plain dicts of str, int and None), not
policies, principals or HTTP. Two backends implement it with the same SQL:
SQLite through aiosqlite (the embedded default) and PostgreSQL through asyncpg.
Table and column names are checked against the schema before any SQL is built,
so no caller-supplied name ever reaches a statement; values are always bound
parameters.

Every write happens in a write transaction, which first bumps the IAM
generation marker. That one row update doubles as a writer lock on both
backends, so a read-check-write sequence inside a write transaction (the
two-access-keys limit, an idempotent ``apply``) never loses an update.

Each store counts its work in a ``StoreStats`` (plain integers, read on a
metrics scrape or by the benchmark), so "store queries per request" is a number
anyone can print.

This module imports nothing from the gateway but ``gateway.errors``.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Final, Protocol

Value = str | int | None
Row = dict[str, Value]
Where = Mapping[str, Value | Sequence[str]]

# Upper bounds (seconds) of the store latency histogram's buckets; the last is +Inf.
LATENCY_BOUNDS: Final = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)


class StoreStats:
    """
    What one store did since it was opened: cheap counters, no locks.

    ``queries`` counts statements sent to the database (generation reads
    included); ``errors`` counts statements or connections that failed;
    ``latency`` counts transactions per ``LATENCY_BOUNDS`` bucket (one more slot
    for slower ones) and ``latency_sum`` adds their seconds. On PostgreSQL,
    ``notifications`` counts change notifications received and ``listening`` is
    true while the change listener is connected and in sync.
    """

    __slots__ = (
        "errors",
        "latency",
        "latency_sum",
        "listening",
        "notifications",
        "queries",
        "reconnects",
    )

    def __init__(self) -> None:
        self.queries = 0
        self.errors = 0
        self.latency = [0] * (len(LATENCY_BOUNDS) + 1)
        self.latency_sum = 0.0
        self.notifications = 0
        self.reconnects = 0
        self.listening = False

    def observe(self, seconds: float) -> None:
        """
        Count one transaction that took ``seconds``.
        """
        self.latency[bisect_left(LATENCY_BOUNDS, seconds)] += 1
        self.latency_sum += seconds


class Transaction(Protocol):
    """
    Row operations inside one database transaction.
    """

    async def get(self, table: str, where: Where) -> Row | None:
        """
        Return the one row matching ``where``, or None.
        """
        ...

    async def select(
        self,
        table: str,
        where: Where | None = None,
        *,
        order_by: Sequence[str] = (),
        limit: int | None = None,
    ) -> list[Row]:
        """
        Return the rows matching ``where``; a sequence value means ``IN``.
        """
        ...

    async def count(self, table: str, where: Where | None = None) -> int:
        """
        Return how many rows match ``where``.
        """
        ...

    async def insert(self, table: str, row: Mapping[str, Value]) -> None:
        """
        Insert one row; raises ``Conflict`` on a unique or primary-key clash.
        """
        ...

    async def update(self, table: str, where: Where, values: Mapping[str, Value]) -> int:
        """
        Update the matching rows and return how many changed.
        """
        ...

    async def delete(self, table: str, where: Where) -> int:
        """
        Delete the matching rows and return how many went.
        """
        ...


class Store(Protocol):
    """
    An IAM store: transactions, migrations and the change marker.
    """

    kind: str
    stats: StoreStats

    def transaction(
        self, *, write: bool = False, bump: bool = True
    ) -> AbstractAsyncContextManager[Transaction]:
        """
        Open a transaction; a write transaction bumps the generation marker.

        ``bump=False`` is for bookkeeping that no cache depends on (an access key's
        last-used time): it writes without telling every process that IAM changed.
        """
        ...

    async def generation(self) -> int:
        """
        Return the IAM change marker; every committed write increases it.

        Called on every request, so caches forget what changed in any process.
        SQLite reads the marker row (microseconds); PostgreSQL answers from
        memory while its change listener is in sync, and reads the row otherwise.

        Raises:
            StoreError: the store cannot be reached (and no value known fresh
                within the outage grace period may stand in).
        """
        ...

    async def schema_version(self) -> int:
        """
        Return the highest applied migration, 0 for an empty database.
        """
        ...

    async def migrate(self) -> list[int]:
        """
        Apply pending migrations in order and return the versions applied.
        """
        ...

    async def check_schema(self) -> None:
        """
        Raise ``StoreError`` unless the schema is exactly the one this code knows.
        """
        ...

    async def close(self) -> None:
        """
        Release connections.
        """
        ...
