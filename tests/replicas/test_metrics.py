"""
The Prometheus endpoint, readiness while draining, and their config keys
(in-process, on SQLite).
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
from pathlib import Path

import httpx
import pytest

from gateway.app import create_app
from gateway.config import MetricsSettings, settings_from_mapping
from gateway.errors import ConfigError
from gateway.iam import write_master_key
from gateway.metrics import Metrics
from gateway.store import open_store
from tests.edge.conftest import Upstream, make_edge, upstream  # noqa: F401 - fixture
from tests.replicas.conftest import free_port

pytestmark = pytest.mark.anyio

# name{labels} value, as the text format 0.0.4 has it
SAMPLE = re.compile(r'[a-z_:][a-z0-9_:]*(\{([a-z_]+="([^"\\]|\\.)*",?)*\})? -?[0-9.e+Inf-]+')


def _parse(text: str) -> dict[str, float]:
    samples: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("#") or not line:
            continue
        assert SAMPLE.fullmatch(line), line
        name, value = line.rsplit(" ", 1)
        samples[name] = float(value)
    return samples


async def _prepare(tmp_path: Path, **metrics: object) -> object:
    write_master_key(tmp_path / "master.key")
    store = await open_store(sqlite_path=tmp_path / "gw.db")
    await store.migrate()
    await store.close()
    return settings_from_mapping(
        {
            "store": {"url": "sqlite:///gw.db"},
            "secrets": {"master_key_file": "master.key"},
            "audit": {"sink": "none"},
            "metrics": metrics,
        },
        base_dir=tmp_path,
        environ={},
    )


async def test_metrics_are_off_by_default(tmp_path: Path) -> None:
    """Without [metrics] enabled there is no endpoint (404) and nothing is counted."""
    app = create_app(await _prepare(tmp_path))  # type: ignore[arg-type]
    await app.start()
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
            assert (await client.get("/_gateway/metrics")).status_code == 404
        assert app.metrics is None
    finally:
        await app.stop()


async def test_requests_decisions_failures_and_caches_are_counted(
    tmp_path: Path,
    upstream: Upstream,  # noqa: F811 - the fixture
) -> None:
    """Allowed, denied and unauthenticated requests each land in their series."""
    async with make_edge(tmp_path, upstream) as edge:
        edge.app.metrics = Metrics(edge.app, MetricsSettings(enabled=True))
        edge.app.mount("metrics", edge.app.metrics)
        path = "/backup/buckets/backup/objects/a.txt"
        assert (await edge.call("PUT", path, b"x")).status_code == 200
        assert (await edge.call("PUT", path, b"y")).status_code == 200
        assert (await edge.call("GET", path)).status_code == 403
        assert (await edge.client.get(path)).status_code == 403
        scrape = await edge.client.get("/_gateway/metrics")
        assert scrape.status_code == 200
        assert scrape.headers["content-type"].startswith("text/plain; version=0.0.4")
        samples = _parse(scrape.text)
    put = 'upstream="backup",action="backup:PutObject",decision="allowed"'
    get = 'upstream="backup",action="backup:GetObject",decision="implicitDeny"'
    assert samples[f"gateway_requests_total{{{put}}}"] == 2
    assert samples[f"gateway_requests_total{{{get}}}"] == 1
    assert samples['gateway_auth_failures_total{reason="AccessDenied"}'] == 1
    assert samples['gateway_auth_failures_total{reason="MissingAuthenticationToken"}'] == 1
    assert samples['gateway_request_duration_seconds_count{upstream="backup"}'] == 3
    assert samples['gateway_request_duration_seconds_bucket{upstream="backup",le="+Inf"}'] == 3
    assert samples['gateway_cache_misses_total{cache="keys"}'] == 1
    assert samples['gateway_cache_hits_total{cache="keys"}'] == 2
    assert samples['gateway_store_queries_total{store="sqlite"}'] > 0
    assert samples["gateway_audit_events_dropped_total"] == 0
    assert samples["gateway_draining"] == 0


async def test_metrics_on_their_own_listener(tmp_path: Path) -> None:
    """With [metrics] listen, the exposition is served there and not on the main listener."""
    port = free_port()
    settings = await _prepare(tmp_path, enabled=True, listen=f"127.0.0.1:{port}")
    app = create_app(settings)  # type: ignore[arg-type]
    await app.start()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /metrics HTTP/1.1\r\nhost: x\r\n\r\n")
        answer = await asyncio.wait_for(reader.read(), 5)
        writer.close()
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200") and b"version=0.0.4" in head
        assert "gateway_store_queries_total" in "".join(_parse(body.decode()))
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
            assert (await client.get("/_gateway/metrics")).status_code == 404
    finally:
        await app.stop()
    with pytest.raises(OSError):
        await asyncio.open_connection("127.0.0.1", port)


async def test_ready_answers_503_while_draining(tmp_path: Path) -> None:
    """Once the process is stopping, readiness is 503 (health stays 200) so balancers drain it."""
    app = create_app(await _prepare(tmp_path))  # type: ignore[arg-type]
    await app.start()
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
            assert (await client.get("/_gateway/ready")).status_code == 200
            app.draining = True
            ready = await client.get("/_gateway/ready")
            assert ready.status_code == 503 and ready.json() == {"status": "draining"}
            assert (await client.get("/_gateway/health")).status_code == 200
    finally:
        await app.stop()


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"metrics": {"listen": "9464"}}, "metrics.listen: expected `host:port`"),
        ({"metrics": {"listen": "127.0.0.1:99999"}}, "metrics.listen: expected `host:port`"),
        ({"metrics": {"enabled": "yes"}}, "metrics.enabled: expected a boolean"),
        ({"store": {"outage_grace_seconds": -1}}, "store.outage_grace_seconds: must not be"),
    ],
)
def test_bad_metrics_and_outage_settings_are_refused(
    table: dict[str, object], message: str, tmp_path: Path
) -> None:
    """Bad values name the key and what was expected."""
    with pytest.raises(ConfigError, match=re.escape(message)):
        settings_from_mapping(table, base_dir=tmp_path, environ={})


def test_metrics_settings_parse(tmp_path: Path) -> None:
    """A listen address becomes (host, port); IPv6 in brackets too; the grace is a number."""
    settings = settings_from_mapping(
        {
            "metrics": {"enabled": True, "listen": "[::1]:9464"},
            "store": {"outage_grace_seconds": 5},
        },
        base_dir=tmp_path,
        environ={"GATEWAY_METRICS_ENABLED": "false"},
    )
    assert settings.metrics == MetricsSettings(enabled=False, listen=("::1", 9464))
    assert settings.store.outage_grace_seconds == 5.0
    assert dataclasses.replace(settings.metrics, enabled=True).enabled
