"""
Prometheus metrics for one gateway process, in the text exposition format 0.0.4.

Off by default (``[metrics] enabled``); ``GatewayApp.start`` builds one ``Metrics``
and mounts it (or starts its own listener). The request path only bumps plain
integers in dicts (``Metrics.observe``, about a microsecond); everything else
(cache hits, store queries and latency, audit drops) is read from the objects
that already count it, when Prometheus scrapes. Served at ``/_gateway/metrics``
on the gateway's listener, or, with ``[metrics] listen``, on a small listener of
its own in the same process (any path answers there).

Labels come from the config (upstream names, route actions) and from the
gateway's own error codes, so their number is bounded; nothing from a request
(path, key id, user name) ever becomes a label.

Layer: the edge. Reads ``GatewayApp.services`` at scrape time; imports no driver.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from bisect import bisect_left
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Final

from gateway.config import MetricsSettings
from gateway.errors import GatewayError
from gateway.store.base import LATENCY_BOUNDS
from gateway.types import Receive, Scope, Send

if TYPE_CHECKING:
    from gateway.app import GatewayApp, Services
    from gateway.policy import Decision
    from gateway.routing import RouteMatch

log = logging.getLogger("gateway")

CONTENT_TYPE: Final = b"text/plain; version=0.0.4; charset=utf-8"
PATH: Final = "/_gateway/metrics"
# Request latency buckets, seconds (the proxy adds well under a millisecond).
REQUEST_BOUNDS: Final = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)
# Error codes that are the gateway's or the upstream's failure, not the caller's.
SERVER_FAILURES: Final = frozenset(
    {"ServiceUnavailable", "InternalFailure", "BadGateway", "GatewayTimeout"}
)
_READ_TIMEOUT_SECONDS: Final = 5.0
_MAX_REQUEST_HEAD: Final = 8192


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(pairs: Sequence[tuple[str, str]]) -> str:
    if not pairs:
        return ""
    return "{" + ",".join(f'{name}="{_label(value)}"' for name, value in pairs) + "}"


def _number(value: float) -> str:
    if isinstance(value, int):
        return str(value)
    return repr(float(value))


class _Text:
    """
    The exposition being written: HELP and TYPE once per family, then samples.
    """

    def __init__(self) -> None:
        self.lines: list[str] = []

    def family(self, name: str, kind: str, text: str) -> None:
        self.lines.append(f"# HELP {name} {text}")
        self.lines.append(f"# TYPE {name} {kind}")

    def sample(self, name: str, value: float, labels: Sequence[tuple[str, str]] = ()) -> None:
        self.lines.append(f"{name}{_labels(labels)} {_number(value)}")

    def one(self, name: str, kind: str, text: str, value: float) -> None:
        self.family(name, kind, text)
        self.sample(name, value)

    def histogram(
        self,
        name: str,
        bounds: Sequence[float],
        series: Iterable[tuple[Sequence[tuple[str, str]], Sequence[int], float]],
    ) -> None:
        for labels, counts, total in series:
            running = 0
            for bound, count in zip(bounds, counts, strict=False):
                running += count
                self.sample(f"{name}_bucket", running, [*labels, ("le", repr(float(bound)))])
            running += counts[-1]
            self.sample(f"{name}_bucket", running, [*labels, ("le", "+Inf")])
            self.sample(f"{name}_sum", total, labels)
            self.sample(f"{name}_count", running, labels)

    def encode(self) -> bytes:
        return ("\n".join(self.lines) + "\n").encode("utf-8")


class Metrics:
    """
    The counters of one process and their rendering.
    """

    def __init__(self, app: GatewayApp, settings: MetricsSettings) -> None:
        self._app = app
        self.settings = settings
        self.requests: dict[tuple[str, str, str], int] = {}
        self.auth_failures: dict[str, int] = {}
        self.errors: dict[str, int] = {}
        self.latency: dict[str, list[int]] = {}
        self.latency_sum: dict[str, float] = {}
        self._server: asyncio.Server | None = None

    def observe(
        self,
        match: RouteMatch | None,
        decision: Decision | None,
        error_code: str | None,
        upstream_status: int | None,
        seconds: float,
    ) -> None:
        """
        Count one request (called once per request, from the audit hook).
        """
        upstream = match.upstream.name if match is not None else ""
        action = match.action if match is not None else ""
        verdict = str(decision.verdict) if decision is not None else "none"
        key = (upstream, action, verdict)
        self.requests[key] = self.requests.get(key, 0) + 1
        counts = self.latency.get(upstream)
        if counts is None:
            counts = self.latency[upstream] = [0] * (len(REQUEST_BOUNDS) + 1)
            self.latency_sum[upstream] = 0.0
        counts[bisect_left(REQUEST_BOUNDS, seconds)] += 1
        self.latency_sum[upstream] += seconds
        if error_code is not None:
            if error_code in SERVER_FAILURES or upstream_status is not None:
                self.errors[error_code] = self.errors.get(error_code, 0) + 1
            else:
                self.auth_failures[error_code] = self.auth_failures.get(error_code, 0) + 1

    def render(self) -> bytes:
        """
        Return the whole exposition, as of now.
        """
        out = _Text()
        out.family(
            "gateway_requests_total",
            "counter",
            "Proxied requests by upstream, action and decision (none: refused before one).",
        )
        for (upstream, action, verdict), count in sorted(self.requests.items()):
            out.sample(
                "gateway_requests_total",
                count,
                [("upstream", upstream), ("action", action), ("decision", verdict)],
            )
        out.family(
            "gateway_request_duration_seconds",
            "histogram",
            "Time from receiving a proxied request to its last response byte, by upstream.",
        )
        out.histogram(
            "gateway_request_duration_seconds",
            REQUEST_BOUNDS,
            (
                ([("upstream", upstream)], counts, self.latency_sum[upstream])
                for upstream, counts in sorted(self.latency.items())
            ),
        )
        out.family(
            "gateway_auth_failures_total",
            "counter",
            "Requests refused for the caller's credentials or permissions, by error code.",
        )
        for code, count in sorted(self.auth_failures.items()):
            out.sample("gateway_auth_failures_total", count, [("reason", code)])
        out.family(
            "gateway_request_errors_total",
            "counter",
            "Requests that failed on the gateway's or the upstream's side, by error code.",
        )
        for code, count in sorted(self.errors.items()):
            out.sample("gateway_request_errors_total", count, [("code", code)])
        out.one(
            "gateway_draining",
            "gauge",
            "1 while the process is shutting down (readiness answers 503).",
            int(self._app.draining),
        )
        services = self._app.services
        if services is not None:
            self._render_services(out, services)
        return out.encode()

    def _render_services(self, out: _Text, services: Services) -> None:
        guard, store, auditor = services.guard, services.runtime.store, services.auditor
        caches = (
            ("keys", guard.keys.hits, guard.keys.misses),
            ("grants", guard.authorizer.hits, guard.authorizer.misses),
        )
        out.family("gateway_cache_hits_total", "counter", "Cache lookups answered from memory.")
        for name, hits, _misses in caches:
            out.sample("gateway_cache_hits_total", hits, [("cache", name)])
        out.family("gateway_cache_misses_total", "counter", "Cache lookups that went to the store.")
        for name, _hits, misses in caches:
            out.sample("gateway_cache_misses_total", misses, [("cache", name)])
        stats = store.stats
        kind = [("store", store.kind)]
        out.family(
            "gateway_store_queries_total",
            "counter",
            "Statements sent to the store, generation-marker reads included.",
        )
        out.sample("gateway_store_queries_total", stats.queries, kind)
        out.family(
            "gateway_store_errors_total", "counter", "Store statements or connections that failed."
        )
        out.sample("gateway_store_errors_total", stats.errors, kind)
        out.family(
            "gateway_store_transaction_seconds",
            "histogram",
            "Time from acquiring a store connection to releasing it.",
        )
        out.histogram(
            "gateway_store_transaction_seconds",
            LATENCY_BOUNDS,
            [(kind, stats.latency, stats.latency_sum)],
        )
        out.family(
            "gateway_store_listening",
            "gauge",
            "1 while the PostgreSQL change listener is in sync (no marker query per request).",
        )
        out.sample("gateway_store_listening", int(stats.listening), kind)
        out.family(
            "gateway_store_notifications_total", "counter", "IAM change notifications received."
        )
        out.sample("gateway_store_notifications_total", stats.notifications, kind)
        out.family(
            "gateway_store_listener_reconnects_total",
            "counter",
            "Times the change listener had to connect again.",
        )
        out.sample("gateway_store_listener_reconnects_total", stats.reconnects, kind)
        out.one(
            "gateway_audit_events_dropped_total",
            "counter",
            "Audit events lost to a full queue, a closed auditor or a shutdown timeout.",
            auditor.dropped,
        )
        out.one(
            "gateway_audit_events_emitted_total",
            "counter",
            "Audit events written to every sink.",
            auditor.emitted,
        )
        out.one(
            "gateway_audit_sink_errors_total",
            "counter",
            "Audit sink writes that failed.",
            auditor.sink_errors,
        )
        out.one(
            "gateway_audit_queue_pending",
            "gauge",
            "Audit events waiting to be written.",
            auditor.pending,
        )

    # --- serving ---------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """
        The ``/_gateway/metrics`` endpoint (GET or HEAD, exactly that path).
        """
        if scope["path"] != PATH:
            await _send(send, 404, b"not found\n", b"text/plain; charset=utf-8")
        elif scope["method"] not in ("GET", "HEAD"):
            await _send(send, 405, b"method not allowed\n", b"text/plain; charset=utf-8")
        else:
            body = self.render()
            await _send(send, 200, b"" if scope["method"] == "HEAD" else body, CONTENT_TYPE)

    async def start(self) -> None:
        """
        Open the separate listener when ``listen`` is set (idempotent).

        Raises:
            GatewayError: the address cannot be listened on.
        """
        if self.settings.listen is None or self._server is not None:
            return
        host, port = self.settings.listen
        try:
            self._server = await asyncio.start_server(
                self._answer, host, port, limit=_MAX_REQUEST_HEAD
            )
        except OSError as exc:
            raise GatewayError(
                f"metrics.listen: cannot listen on {host}:{port}: {exc.strerror or exc}"
            ) from exc
        log.info("metrics on http://%s:%d/metrics", host, port)

    async def close(self) -> None:
        """
        Stop the separate listener, if any.
        """
        server, self._server = self._server, None
        if server is not None:
            server.close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(server.wait_closed(), 1.0)

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # One request per connection: read the head, answer, close. Enough for a scraper.
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), _READ_TIMEOUT_SECONDS)
            method = head.split(b" ", 1)[0]
            if method in (b"GET", b"HEAD"):
                body = self.render()
                status = b"200 OK"
                content_type = CONTENT_TYPE
            else:
                body, status, content_type = b"", b"405 Method Not Allowed", b"text/plain"
            writer.write(
                b"HTTP/1.1 "
                + status
                + b"\r\ncontent-type: "
                + content_type
                + b"\r\ncontent-length: "
                + str(len(body)).encode("ascii")
                + b"\r\nconnection: close\r\n\r\n"
                + (b"" if method == b"HEAD" else body)
            )
            await writer.drain()
        except (OSError, TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()


async def _send(send: Send, status: int, body: bytes, content_type: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type),
                (b"content-length", str(len(body)).encode("ascii")),
                (b"cache-control", b"no-store"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
