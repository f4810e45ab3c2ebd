"""
The store contract, run against SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from gateway.errors import StoreError
from gateway.store import Conflict, Store, open_store
from gateway.store import sql as store_sql
from gateway.store import sqlite as store_sqlite
from tests.conftest import StoreFactory

pytestmark = pytest.mark.anyio

ACCOUNT = {
    "id": "123456789012",
    "alias": None,
    "root_email": "root@example.com",
    "root_email_lower": "root@example.com",
    "root_password_hash": "x",
    "root_password_changed_at": "2026-01-01T00:00:00.000000Z",
    "created_at": "2026-01-01T00:00:00.000000Z",
}


def _user(user_id: str, name: str) -> dict[str, str | int | None]:
    return {
        "id": user_id,
        "account_id": "123456789012",
        "name": name,
        "name_lower": name.lower(),
        "path": "/",
        "permissions_boundary": None,
        "tags": "[]",
        "created_at": "2026-01-01T00:00:00.000000Z",
    }


async def _seed(store: Store) -> None:
    async with store.transaction(write=True) as tx:
        await tx.insert("accounts", ACCOUNT)


async def test_insert_get_select_update_delete(store: Store) -> None:
    """Rows written in a transaction read back, update and delete as expected."""
    await _seed(store)
    async with store.transaction(write=True) as tx:
        await tx.insert("users", _user("AIDA1", "steve"))
        await tx.insert("users", _user("AIDA2", "backup"))
    async with store.transaction() as tx:
        row = await tx.get("users", {"name_lower": "steve"})
        both = await tx.select("users", {"id": ["AIDA1", "AIDA2"]}, order_by=["name_lower"])
        none = await tx.select("users", {"id": []})
        assert await tx.count("users") == 2
    assert row is not None and row["name"] == "steve"
    assert [r["name"] for r in both] == ["backup", "steve"]
    assert none == []
    async with store.transaction(write=True) as tx:
        assert await tx.update("users", {"id": "AIDA1"}, {"path": "/ops/"}) == 1
        assert await tx.delete("users", {"id": "AIDA2"}) == 1
        assert await tx.delete("users", {"id": "AIDA2"}) == 0
    async with store.transaction() as tx:
        assert [r["path"] for r in await tx.select("users")] == ["/ops/"]


async def test_null_where_matches_null(store: Store) -> None:
    """A None in a where clause means IS NULL, not `= NULL`."""
    await _seed(store)
    async with store.transaction() as tx:
        assert await tx.count("accounts", {"alias": None}) == 1


async def test_unique_clash_raises_conflict(store: Store) -> None:
    """A case-insensitive duplicate name is refused by the unique constraint."""
    await _seed(store)
    async with store.transaction(write=True) as tx:
        await tx.insert("users", _user("AIDA1", "steve"))
    with pytest.raises(Conflict):
        async with store.transaction(write=True) as tx:
            await tx.insert("users", _user("AIDA2", "STEVE"))


async def test_error_rolls_back_whole_transaction(store: Store) -> None:
    """A failure mid-transaction leaves no trace of its earlier writes."""
    await _seed(store)
    before = await store.generation()
    with pytest.raises(RuntimeError):
        async with store.transaction(write=True) as tx:
            await tx.insert("users", _user("AIDA1", "steve"))
            raise RuntimeError("boom")
    async with store.transaction() as tx:
        assert await tx.count("users") == 0
    assert await store.generation() == before


async def test_generation_bumps_on_writes_only(store: Store) -> None:
    """Every committed write transaction bumps the marker; reads leave it alone."""
    first = await store.generation()
    async with store.transaction() as tx:
        await tx.count("accounts")
    assert await store.generation() == first
    await _seed(store)
    assert await store.generation() == first + 1


async def test_generation_visible_to_another_connection(store_factory: StoreFactory) -> None:
    """A write through one store is seen by another store on the same database."""
    writer = await store_factory()
    await writer.migrate()
    reader = await store_factory()
    before = await reader.generation()
    await _seed(writer)
    assert await reader.generation() == before + 1


async def test_unknown_table_or_column_is_refused(store: Store) -> None:
    """Names outside the schema whitelist never reach SQL."""
    async with store.transaction() as tx:
        with pytest.raises(ValueError, match="unknown table"):
            await tx.select("users; DROP TABLE users")
        with pytest.raises(ValueError, match="unknown column"):
            await tx.select("users", {"name OR 1=1": "x"})


async def test_values_are_bound_not_interpolated(store: Store) -> None:
    """A value full of SQL is stored and matched literally."""
    await _seed(store)
    hostile = "x'); DROP TABLE users; --"
    async with store.transaction(write=True) as tx:
        await tx.insert("users", _user("AIDA1", hostile))
    async with store.transaction() as tx:
        row = await tx.get("users", {"name": hostile})
    assert row is not None and row["name"] == hostile


async def test_migrate_is_idempotent_and_current(store: Store) -> None:
    """Migrating twice applies nothing the second time; the schema is then current."""
    assert await store.migrate() == []
    assert await store.schema_version() == store_sql.latest_version()
    await store.check_schema()


async def test_refuses_newer_schema(store: Store) -> None:
    """A database migrated by a newer gateway is refused with a clear message."""
    async with store.transaction(write=True) as tx:
        await tx._execute(  # type: ignore[attr-defined]
            store_sql.RECORD_MIGRATION, [9999, "future", "2030-01-01"], "test"
        )
    with pytest.raises(StoreError, match="newer than this gateway knows"):
        await store.check_schema()


async def test_refuses_unmigrated_schema(store_factory: StoreFactory) -> None:
    """An empty database is refused until `gateway init` migrates it."""
    empty = await store_factory()
    with pytest.raises(StoreError, match="gateway init"):
        await empty.check_schema()


async def test_schema_whitelist_matches_database(store: Store) -> None:
    """The column whitelist mirrors exactly what the migrations create."""
    if store.kind == "sqlite":
        query = "SELECT name FROM pragma_table_info(?)"
    else:
        query = (
            "SELECT column_name AS name FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = ?"
        )
    async with store.transaction() as tx:
        for table, columns in store_sql.TABLES.items():
            rows = await tx._fetch(query, [table])  # type: ignore[attr-defined]
            assert {row["name"] for row in rows} == columns, table


async def test_writers_are_serialized(store_factory: StoreFactory) -> None:
    """Two stores doing read-check-write at once never both pass the check."""
    first = await store_factory()
    await first.migrate()
    await _seed(first)
    second = await store_factory()

    async def claim(store: Store, user_id: str) -> bool:
        async with store.transaction(write=True) as tx:
            if await tx.count("users") >= 1:
                return False
            await asyncio.sleep(0.05)  # widen the race window
            await tx.insert("users", _user(user_id, user_id))
            return True

    results = await asyncio.gather(claim(first, "a"), claim(second, "b"))
    assert sorted(results) == [False, True]


async def test_sqlite_file_is_private(tmp_path: Path) -> None:
    """A new SQLite store file is readable by its owner only."""
    store = await open_store(sqlite_path=tmp_path / "new" / "gw.db")
    await store.migrate()
    await store.close()
    assert (tmp_path / "new" / "gw.db").stat().st_mode & 0o777 == 0o600


async def _two_sqlite_stores(tmp_path: Path) -> tuple[Store, Store]:
    # Two connections to one file, as two gateway processes on one host have.
    writer = await open_store(sqlite_path=tmp_path / "gw.db")
    await writer.migrate()
    reader = await open_store(sqlite_path=tmp_path / "gw.db")
    return writer, reader


async def test_sqlite_marker_reads_leave_no_read_transaction_open(tmp_path: Path) -> None:
    """Between reads of the generation, a WAL checkpoint completes: no snapshot is held."""
    writer, reader = await _two_sqlite_stores(tmp_path)
    try:
        before = await reader.generation()
        await _seed(writer)
        assert await reader.generation() == before + 1
        checkpoint = sqlite3.connect(tmp_path / "gw.db")
        try:
            busy, _, _ = checkpoint.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        finally:
            checkpoint.close()
        assert busy == 0
    finally:
        await reader.close()
        await writer.close()


async def test_sqlite_unchanged_signal_skips_the_row_read(tmp_path: Path) -> None:
    """While nothing was written, the generation comes from memory, not a query."""
    writer, reader = await _two_sqlite_stores(tmp_path)
    try:
        first = await reader.generation()
        queries = reader.stats.queries
        for _ in range(10):
            assert await reader.generation() == first
        assert reader.stats.queries == queries
    finally:
        await reader.close()
        await writer.close()


async def test_sqlite_write_in_another_process_is_seen_on_the_next_read(
    tmp_path: Path,
) -> None:
    """A committed write elsewhere is seen at once, without waiting for the recheck."""
    writer, reader = await _two_sqlite_stores(tmp_path)
    try:
        before = await reader.generation()
        await reader.generation()  # now cached
        await _seed(writer)
        assert await reader.generation() == before + 1
        async with writer.transaction(write=True) as tx:
            await tx.insert("users", _user("AIDAEXAMPLE0000000001", "alice"))
        assert await reader.generation() == before + 2
    finally:
        await reader.close()
        await writer.close()


async def test_sqlite_bookkeeping_writes_do_not_signal(tmp_path: Path) -> None:
    """A write that does not bump the marker leaves the signal file alone."""
    writer, reader = await _two_sqlite_stores(tmp_path)
    try:
        await _seed(writer)
        signal = tmp_path / "gw.db-generation"
        size = signal.stat().st_size
        async with writer.transaction(write=True, bump=False) as tx:
            await tx.insert("users", _user("AIDAEXAMPLE0000000001", "alice"))
        assert signal.stat().st_size == size
        async with writer.transaction(write=True) as tx:
            await tx.delete("users", {"id": "AIDAEXAMPLE0000000001"})
        assert signal.stat().st_size == size + 1
    finally:
        await reader.close()
        await writer.close()


async def test_sqlite_write_without_signal_is_seen_within_the_recheck(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A change whose signal was lost (a writer that died after its commit) is still read
    once the recheck interval has passed, and the row is read on every call while the
    signal file is missing."""
    monkeypatch.setattr(store_sqlite, "RECHECK_SECONDS", 0.5)
    writer, reader = await _two_sqlite_stores(tmp_path)
    try:
        before = await reader.generation()
        monkeypatch.setattr(writer, "_announce", lambda: None)
        await _seed(writer)
        assert await reader.generation() == before  # within the interval: cached
        await asyncio.sleep(0.6)
        assert await reader.generation() == before + 1
        monkeypatch.setattr(store_sqlite, "RECHECK_SECONDS", 3600.0)
        (tmp_path / "gw.db-generation").unlink()
        async with writer.transaction(write=True) as tx:
            await tx.insert("users", _user("AIDAEXAMPLE0000000001", "alice"))
        assert await reader.generation() == before + 2
        queries = reader.stats.queries
        await reader.generation()
        assert reader.stats.queries == queries + 1
    finally:
        await reader.close()
        await writer.close()


async def test_sqlite_signal_file_is_private_and_bounded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The signal file is the owner's only, and a writer empties it past its limit
    without readers missing the change."""
    monkeypatch.setattr(store_sqlite, "SIGNAL_LIMIT", 3)
    writer, reader = await _two_sqlite_stores(tmp_path)
    signal = tmp_path / "gw.db-generation"
    try:
        assert signal.stat().st_mode & 0o777 == 0o600
        await _seed(writer)
        start = await reader.generation()
        for step in range(1, 7):
            async with writer.transaction(write=True) as tx:
                await tx.insert("users", _user(f"AIDAEXAMPLE000000000{step}", f"u{step}"))
            assert signal.stat().st_size < 3
            assert await reader.generation() == start + step
    finally:
        await reader.close()
        await writer.close()
