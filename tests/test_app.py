"""
The edge application's own endpoints and its start-up checks.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from gateway.app import create_app
from gateway.config import Settings, settings_from_mapping
from gateway.errors import ConfigError, StoreError
from gateway.iam import write_master_key
from gateway.runtime import Runtime
from gateway.store import open_store

pytestmark = pytest.mark.anyio


def _settings(tmp_path: Path) -> Settings:
    return settings_from_mapping(
        {"store": {"url": "sqlite:///gw.db"}, "secrets": {"master_key_file": "master.key"}},
        base_dir=tmp_path,
        environ={},
    )


async def _prepare(tmp_path: Path) -> Settings:
    settings = _settings(tmp_path)
    write_master_key(tmp_path / "master.key")
    store = await open_store(sqlite_path=tmp_path / "gw.db")
    await store.migrate()
    await store.close()
    return settings


class Lifespan:
    """Drive an ASGI app's lifespan by hand, as a server would."""

    def __init__(self, app: object) -> None:
        self.app = app
        self.inbox: asyncio.Queue[dict[str, object]] = asyncio.Queue()
        self.sent: asyncio.Queue[dict[str, object]] = asyncio.Queue()
        self.task: asyncio.Task[None] | None = None

    async def send_event(self, kind: str) -> dict[str, object]:
        if self.task is None:
            self.task = asyncio.create_task(
                self.app({"type": "lifespan"}, self.inbox.get, self.sent.put)  # type: ignore[operator]
            )
        await self.inbox.put({"type": kind})
        return await asyncio.wait_for(self.sent.get(), 10)


async def test_health_and_ready(tmp_path: Path) -> None:
    """Health answers always; ready answers once the store is open and current."""
    app = create_app(await _prepare(tmp_path))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
        assert (await client.get("/_gateway/health")).json() == {"status": "ok"}
        assert (await client.get("/_gateway/ready")).status_code == 503
        lifespan = Lifespan(app)
        started = await lifespan.send_event("lifespan.startup")
        assert started["type"] == "lifespan.startup.complete"
        ready = await client.get("/_gateway/ready")
        assert ready.status_code == 200 and ready.json()["status"] == "ready"
        missing = await client.get("/anything")
        assert missing.status_code == 404
        stopped = await lifespan.send_event("lifespan.shutdown")
        assert stopped["type"] == "lifespan.shutdown.complete"


async def test_startup_fails_on_unmigrated_store(tmp_path: Path) -> None:
    """A store that was never initialized stops start-up with a message saying why."""
    settings = _settings(tmp_path)
    write_master_key(tmp_path / "master.key")
    sent = await Lifespan(create_app(settings)).send_event("lifespan.startup")
    assert sent["type"] == "lifespan.startup.failed"
    assert "gateway init" in str(sent["message"])


async def test_runtime_refuses_missing_master_key(tmp_path: Path) -> None:
    """Without a master key the runtime does not open."""
    with pytest.raises(ConfigError, match="master key file not found"):
        await Runtime.open(_settings(tmp_path))


async def test_runtime_refuses_newer_schema(tmp_path: Path) -> None:
    """A schema newer than the code is refused before serving."""
    settings = await _prepare(tmp_path)
    store = await open_store(sqlite_path=tmp_path / "gw.db")
    async with store.transaction(write=True) as tx:
        await tx._execute(  # type: ignore[attr-defined]
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
            [999, "future", "2030"],
            "test",
        )
    await store.close()
    with pytest.raises(StoreError, match="newer"):
        await Runtime.open(settings)


async def test_mounted_endpoint_receives_its_requests(tmp_path: Path) -> None:
    """A feature mounted at /_gateway/<name> gets the full path and the app in its state."""
    app = create_app(_settings(tmp_path))
    seen: list[tuple[str, object]] = []

    async def feature(scope: dict[str, object], receive: object, send: object) -> None:
        state = scope["state"]
        assert isinstance(state, dict)
        seen.append((str(scope["path"]), state["gateway"]))
        await send({"type": "http.response.start", "status": 204, "headers": []})  # type: ignore[operator]
        await send({"type": "http.response.body", "body": b""})  # type: ignore[operator]

    app.mount("feature", feature)
    with pytest.raises(ValueError):
        app.mount("health", feature)
    with pytest.raises(ValueError):
        app.mount("feature", feature)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
        assert (await client.get("/_gateway/feature/x/y")).status_code == 204
        assert (await client.get("/_gateway/featurex")).status_code == 404
        assert (await client.get("/_gateway/health")).status_code == 200
    assert seen == [("/_gateway/feature/x/y", app)]
