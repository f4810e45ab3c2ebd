"""
The PostgreSQL change listener: the generation marker kept in memory through
LISTEN/NOTIFY, the fallback to reading it, re-syncing, and store outages.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from gateway.errors import StoreError
from gateway.store import Store, open_store
from gateway.store import postgresql as pg
from tests.conftest import POSTGRES_DSN
from tests.replicas.relay import Relay

pytestmark = [pytest.mark.anyio, pytest.mark.postgres]

Opener = Callable[..., Awaitable[pg.PostgresStore]]


@pytest.fixture(autouse=True)
def _no_pings(monkeypatch: pytest.MonkeyPatch) -> None:
    # Pings are queries too; keep them out of the counts these tests compare.
    monkeypatch.setattr(pg, "LISTENER_PING_SECONDS", 60.0)


@pytest.fixture
async def schema() -> AsyncIterator[str]:
    assert POSTGRES_DSN is not None
    name = "t_" + secrets.token_hex(6)
    admin = await asyncpg.connect(POSTGRES_DSN)
    await admin.execute(f"CREATE SCHEMA {name}")
    try:
        yield name
    finally:
        await admin.execute(f"DROP SCHEMA {name} CASCADE")
        await admin.close()


@pytest.fixture
async def opener(schema: str) -> AsyncIterator[Opener]:
    """
    Open migrated stores on one fresh schema, like several replicas; closed afterwards.
    """
    opened: list[Store] = []

    async def open_(dsn: str | None = None, **options: object) -> pg.PostgresStore:
        store = await open_store(
            dsn=dsn or POSTGRES_DSN,
            schema=schema,
            pool_max_size=4,
            **options,  # type: ignore[arg-type]
        )
        opened.append(store)
        await store.migrate()
        assert isinstance(store, pg.PostgresStore)
        return store

    try:
        yield open_
    finally:
        for store in opened:
            await store.close()


async def _eventually(check: Callable[[], bool], seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)


async def _write(store: Store) -> None:
    async with store.transaction(write=True) as tx:
        await tx.count("accounts")


async def _kill_listener(store: pg.PostgresStore) -> None:
    pid = store.listener_pid
    assert pid is not None
    admin = await asyncpg.connect(POSTGRES_DSN)
    try:
        assert await admin.fetchval("SELECT pg_terminate_backend($1)", pid)
    finally:
        await admin.close()
    await _eventually(lambda: not store.stats.listening)


async def test_notification_updates_generation_without_queries(opener: Opener) -> None:
    """A write in one process reaches another's in-memory marker; reading it costs no query."""
    writer = await opener()
    reader = await opener(listen=True)
    await _eventually(lambda: reader.stats.listening)
    before = await reader.generation()
    queries = reader.stats.queries
    await _write(writer)
    await _eventually(lambda: reader.stats.notifications >= 1)
    assert await reader.generation() == before + 1
    for _ in range(100):
        await reader.generation()
    assert reader.stats.queries == queries


async def test_writer_with_listener_sees_its_own_write_at_once(opener: Opener) -> None:
    """A listening writer returns after its own notification came back (and reads its write)."""
    writer = await opener(listen=True)
    await _eventually(lambda: writer.stats.listening)
    before = await writer.generation()
    await _write(writer)
    assert writer.stats.notifications == 1
    assert await writer.generation() == before + 1


async def test_rolled_back_write_notifies_nobody(opener: Opener) -> None:
    """NOTIFY is transactional: a failed write announces nothing and changes nothing."""
    writer = await opener()
    reader = await opener(listen=True)
    await _eventually(lambda: reader.stats.listening)
    before = await reader.generation()
    with pytest.raises(RuntimeError):
        async with writer.transaction(write=True) as tx:
            await tx.count("accounts")
            raise RuntimeError("boom")
    await _write(writer)  # a later write proves the channel works
    await _eventually(lambda: reader.stats.notifications >= 1)
    assert reader.stats.notifications == 1
    assert await reader.generation() == before + 1


async def test_lost_listener_falls_back_to_reading_the_marker(opener: Opener) -> None:
    """With the listener's connection gone, every generation() reads the store."""
    writer = await opener()
    reader = await opener(listen=True)
    await _eventually(lambda: reader.stats.listening)
    reader._connect = _refusing  # keep it down while we look  # noqa: SLF001
    await _kill_listener(reader)
    before = await reader.generation()
    queries = reader.stats.queries
    await _write(writer)
    assert await reader.generation() == before + 1
    assert reader.stats.queries == queries + 1


async def test_reconnect_resyncs_a_change_missed_while_down(
    opener: Opener, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A change committed while the listener was down is picked up when it reconnects."""
    monkeypatch.setattr(pg, "LISTENER_BACKOFF_SECONDS", (0.05, 0.05))
    writer = await opener()
    reader = await opener(listen=True)
    await _eventually(lambda: reader.stats.listening)
    connect = reader._connect  # noqa: SLF001
    reader._connect = _refusing  # noqa: SLF001
    await _kill_listener(reader)
    before = reader._generation  # noqa: SLF001 - the in-memory value, no read
    await _write(writer)  # nobody hears this one
    reader._connect = connect  # noqa: SLF001
    await _eventually(lambda: reader.stats.listening)
    queries = reader.stats.queries
    assert await reader.generation() == before + 1
    assert reader.stats.queries == queries
    assert reader.stats.notifications == 0


async def test_foreign_payload_still_invalidates(opener: Opener, schema: str) -> None:
    """A notification that is not a number still changes the marker (caches forget)."""
    reader = await opener(listen=True)
    await _eventually(lambda: reader.stats.listening)
    before = await reader.generation()
    admin = await asyncpg.connect(POSTGRES_DSN)
    try:
        await admin.execute("SELECT pg_notify($1, 'hello')", reader.channel)
    finally:
        await admin.close()
    await _eventually(lambda: reader.stats.notifications == 1)
    assert await reader.generation() != before


async def test_schemas_do_not_hear_each_other(opener: Opener, schema: str) -> None:
    """Stores in two schemas of one database use different channels."""
    assert POSTGRES_DSN is not None
    other = "t_" + secrets.token_hex(6)
    admin = await asyncpg.connect(POSTGRES_DSN)
    await admin.execute(f"CREATE SCHEMA {other}")
    try:
        neighbour = await open_store(dsn=POSTGRES_DSN, schema=other, listen=True)
        try:
            await neighbour.migrate()
            assert isinstance(neighbour, pg.PostgresStore)
            await _eventually(lambda: neighbour.stats.listening)
            mine = await opener()
            assert mine.channel == f"gateway_iam_{schema}" != neighbour.channel
            await _write(mine)
            await asyncio.sleep(0.2)
            assert neighbour.stats.notifications == 0
        finally:
            await neighbour.close()
    finally:
        await admin.execute(f"DROP SCHEMA {other} CASCADE")
        await admin.close()


def test_channel_names_fit_an_identifier() -> None:
    """A channel is at most 63 bytes; long or odd schema names are hashed, distinctly."""
    assert pg.channel_for("public") == "gateway_iam_public"
    long_a, long_b = pg.channel_for("a" * 63), pg.channel_for("a" * 62 + "b")
    assert len(long_a) <= 63 and len(long_b) <= 63 and long_a != long_b
    assert pg.channel_for("Odd-Name") != pg.channel_for("odd_name")


# --- outages, through a relay the test controls ------------------------------------------------


def _through(relay: Relay) -> str:
    assert POSTGRES_DSN is not None
    parts = urlsplit(POSTGRES_DSN)
    netloc = parts.netloc.rsplit("@", 1)
    host = f"127.0.0.1:{relay.port}"
    return urlunsplit(parts._replace(netloc=f"{netloc[0]}@{host}" if len(netloc) == 2 else host))


@pytest.fixture
async def relay() -> AsyncIterator[Relay]:
    assert POSTGRES_DSN is not None
    parts = urlsplit(POSTGRES_DSN)
    relay = Relay(parts.hostname or "127.0.0.1", parts.port or 5432)
    await relay.start()
    try:
        yield relay
    finally:
        await relay.close()


async def test_outage_fails_closed_then_recovers(opener: Opener, relay: Relay) -> None:
    """While the server is unreachable every call raises StoreError; then it serves again."""
    store = await opener(_through(relay), listen=True)
    await _eventually(lambda: store.stats.listening)
    await relay.cut()
    await _eventually(lambda: not store.stats.listening)
    with pytest.raises(StoreError) as caught:
        await store.generation()
    assert caught.value.status == 503 and caught.value.code == "ServiceUnavailable"
    with pytest.raises(StoreError):
        async with store.transaction() as tx:
            await tx.count("accounts")
    with pytest.raises(StoreError):
        await _write(store)
    await relay.restore()
    await _write(store)
    await _eventually(lambda: store.stats.listening, seconds=10)
    assert await store.generation() >= 1


async def test_outage_grace_serves_the_last_fresh_marker_for_a_bounded_time(
    opener: Opener, relay: Relay, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With outage_grace_seconds, a recently confirmed marker stands in, then it fails closed."""
    store = await opener(_through(relay), listen=True, outage_grace_seconds=2.0)
    await _eventually(lambda: store.stats.listening)
    known = await store.generation()
    await relay.cut()
    await _eventually(lambda: not store.stats.listening)
    assert await store.generation() == known
    with pytest.raises(StoreError):  # a cache miss still needs the store
        async with store.transaction() as tx:
            await tx.count("accounts")
    await asyncio.sleep(2.1)
    with pytest.raises(StoreError):
        await store.generation()


async def _refusing() -> asyncpg.Connection:
    raise ConnectionRefusedError("test: listener kept down")
