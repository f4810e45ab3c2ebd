"""
Every store read on the request path fails closed: the generation read, the key
lookup and the grants lookup each turn a store failure into 503 ServiceUnavailable,
never an allow and never a 500 (in-process, on SQLite).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from gateway.errors import StoreError
from tests.edge.conftest import Edge, Upstream, make_edge, upstream  # noqa: F401 - fixture

pytestmark = pytest.mark.anyio

PATH = "/backup/buckets/backup/objects/a.txt"


def _break_transactions(edge: Edge, monkeypatch: pytest.MonkeyPatch) -> None:
    assert edge.app.services is not None
    store = edge.app.services.runtime.store

    @asynccontextmanager
    async def down(**_: Any) -> AsyncIterator[None]:
        raise StoreError("the store is unavailable", operation="acquire")
        yield  # pragma: no cover - never reached

    monkeypatch.setattr(store, "transaction", down)


async def _refused(edge: Edge) -> None:
    response = await edge.call("PUT", PATH, b"x")
    assert response.status_code == 503
    assert b"ServiceUnavailable" in response.content
    assert b"the store is unavailable" in response.content


async def test_generation_read_failure_is_503(
    tmp_path: Path,
    upstream: Upstream,  # noqa: F811 - the fixture
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A warm cache does not help when the marker cannot be read: 503."""
    async with make_edge(tmp_path, upstream) as edge:
        assert (await edge.call("PUT", PATH, b"x")).status_code == 200
        assert edge.app.services is not None

        async def down() -> int:
            raise StoreError("the store is unavailable", operation="generation")

        monkeypatch.setattr(edge.app.services.runtime.store, "generation", down)
        await _refused(edge)


async def test_key_lookup_failure_is_503(
    tmp_path: Path,
    upstream: Upstream,  # noqa: F811 - the fixture
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An uncached key cannot be looked up: 503, and nothing reaches the upstream."""
    async with make_edge(tmp_path, upstream) as edge:
        _break_transactions(edge, monkeypatch)
        await _refused(edge)
        assert upstream.seen == []


async def test_grants_lookup_failure_is_503(
    tmp_path: Path,
    upstream: Upstream,  # noqa: F811 - the fixture
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A cached key whose policies cannot be read is refused with 503, not allowed."""
    async with make_edge(tmp_path, upstream) as edge:
        assert (await edge.call("PUT", PATH, b"x")).status_code == 200
        assert edge.app.services is not None
        edge.app.services.guard.authorizer._cache.clear()  # noqa: SLF001 - keys stay cached
        seen = len(upstream.seen)
        _break_transactions(edge, monkeypatch)
        await _refused(edge)
        assert len(upstream.seen) == seen
