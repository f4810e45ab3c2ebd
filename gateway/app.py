"""
``create_app(settings)``: the gateway's own ASGI application in proxy mode.

The lifespan opens the store, loads the master key, compiles the route table
and opens the upstream connection pool (``gateway.upstream_client``; WebSocket
upgrades use one ``aiohttp.ClientSession``); start-up
fails with a clear message when any of that is wrong. Each request then goes
through the ``Guard`` (authenticate, map, authorize) and, only if admitted,
through the ``Forwarder``.

The reserved prefix ``/_gateway/`` serves the gateway's own endpoints without
authentication:

- ``/_gateway/health``: the process is alive (never touches the store)
- ``/_gateway/ready``: the store answers, its schema is current, config is loaded
  (503 otherwise, and from the moment the process is asked to stop)
- ``/_gateway/identity-key``: the public key upstreams verify identity assertions with

Other features (the console, the IAM and STS APIs, credentials for workloads,
metrics) register an ASGI app under ``/_gateway/<name>`` with ``mount``; the app
receives the scope unchanged (the full path) and ``scope["state"]["gateway"]``
set to the started ``GatewayApp``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import signal
import time
from dataclasses import dataclass
from typing import Any

import aiohttp

from gateway.api.credentials import CredentialsEndpoint
from gateway.api.iam import iam_endpoint
from gateway.api.sts import sts_endpoint
from gateway.assertion import PURPOSE, AssertionSigner
from gateway.audit import Auditor, auditor_from_settings, build_event
from gateway.config import Settings, load_config
from gateway.errors import GatewayError, UpstreamError
from gateway.guard import Admission, Attempt, Guard, send_refusal
from gateway.http_errors import send_error
from gateway.iam.naming import now as utc_now
from gateway.metrics import Metrics
from gateway.normalize import request_view
from gateway.proxy import Forwarder, forward_websocket, upstream_headers
from gateway.request_ids import new_request_id
from gateway.routing import RouteTable
from gateway.runtime import Runtime
from gateway.types import ASGIApp, Message, Receive, RequestView, Scope, Send
from gateway.upstream_client import UpstreamPool, origin_of

log = logging.getLogger("gateway")

RESERVED_PREFIX = "/_gateway/"
_BUILT_IN = frozenset({"health", "ready", "identity-key"})
# Connections to one upstream in use at once; more requests wait for one (up to the
# upstream's connect timeout, then 504).
UPSTREAM_CONNECTIONS = 256
KEY_USAGE_FLUSH_SECONDS = 15.0


async def send_json(send: Send, status: int, body: dict[str, Any]) -> None:
    """
    Send a complete JSON response.
    """
    payload = json.dumps(body).encode("utf-8")
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode("ascii")),
                (b"cache-control", b"no-store"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


def identity_headers(
    admission: Admission,
    signer: AssertionSigner,
    *,
    request_id: str,
) -> list[tuple[str, str]]:
    """
    Return the identity headers an upstream receives for an admitted request.
    """
    principal = admission.principal
    assertion = signer.sign(principal, audience=admission.match.upstream.name, now=utc_now())
    return [
        ("x-gateway-principal-arn", principal.arn),
        ("x-gateway-account", principal.account_id),
        ("x-gateway-user", principal.user_name),
        ("x-gateway-session", principal.session_name),
        ("x-gateway-mfa", "true" if principal.mfa_authenticated else "false"),
        ("x-gateway-request-id", request_id),
        ("x-gateway-identity", assertion),
    ]


@dataclass(slots=True)
class Services:
    """
    What a started gateway holds: store and keys, guard, upstream pool, signer.
    """

    runtime: Runtime
    guard: Guard
    forwarder: Forwarder
    pool: UpstreamPool
    session: aiohttp.ClientSession
    signer: AssertionSigner
    auditor: Auditor


class _TrackedSend:
    """
    Remember whether the response has started, so a late failure is not answered twice.
    """

    __slots__ = ("_send", "started", "status")

    def __init__(self, send: Send) -> None:
        self._send = send
        self.started = False
        self.status = 0

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.started = True
            self.status = int(message["status"])
        await self._send(message)


class GatewayApp:
    """
    The edge application; one per process, created by ``create_app``.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.services: Services | None = None
        self._flusher: asyncio.Task[None] | None = None
        self.endpoints: dict[str, ASGIApp] = {}
        self.metrics: Metrics | None = None
        # True once the process is stopping: readiness answers 503 so balancers drain it.
        self.draining = False

    def mount(self, name: str, app: ASGIApp) -> None:
        """
        Serve ``app`` at ``/_gateway/<name>`` and below (HTTP only).

        Raises:
            ValueError: the name is taken or not a single path segment.
        """
        if not name or "/" in name or name in self.endpoints or name in _BUILT_IN:
            raise ValueError(f"cannot mount an endpoint at /_gateway/{name}")
        self.endpoints[name] = app

    async def _flush_key_usage(self) -> None:
        # Access keys' last-used times are written in batches, off the request path.
        while True:
            await asyncio.sleep(KEY_USAGE_FLUSH_SECONDS)
            services = self.services
            if services is None:
                return
            try:
                await services.guard.keys.flush_usage()
            except GatewayError as exc:
                log.warning("could not record access keys' last use: %s", exc.message)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] == "websocket":
            await self._websocket(scope, receive, send)
            return
        if scope["type"] != "http":
            return
        path: str = scope["path"]
        if path.startswith(RESERVED_PREFIX):
            endpoint = self.endpoints.get(path[len(RESERVED_PREFIX) :].partition("/")[0])
            if endpoint is None:
                await self._own(path, send)
            else:
                state = scope.setdefault("state", {})
                state["gateway"] = self
                await endpoint(scope, receive, send)
        else:
            await self._proxy(scope, receive, send)

    async def _own(self, path: str, send: Send) -> None:
        if path == RESERVED_PREFIX + "health":
            await send_json(send, 200, {"status": "ok"})
        elif path == RESERVED_PREFIX + "ready":
            await self._ready(send)
        elif path == RESERVED_PREFIX + "identity-key" and self.services is not None:
            key = self.services.signer.public_key_pem()
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [
                        (b"content-type", b"application/x-pem-file"),
                        (b"content-length", str(len(key)).encode("ascii")),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": key})
        else:
            await send_json(send, 404, {"Error": {"Code": "NotFound", "Message": "not found"}})

    async def _proxy(self, scope: Scope, receive: Receive, send: Send) -> None:
        services = self.services
        request_id = new_request_id()
        tracked = _TrackedSend(send)
        view: RequestView | None = None
        attempt = Attempt()
        error_code: str | None = None
        upstream_status: int | None = None
        started = time.perf_counter()
        try:
            live = self._started()
            view, admission, headers = await self._admit(live, scope, receive, attempt, request_id)
            outcome = await live.forwarder.forward(
                admission.match.upstream,
                view,
                forward_path=admission.match.forward_path,
                headers=headers,
                body=admission.body,
                receive=receive,
                send=tracked,
            )
            upstream_status = outcome.status
        except GatewayError as exc:
            error_code = exc.code
            if isinstance(exc, UpstreamError) and tracked.started:
                log.warning("upstream %s broke off a response", exc.upstream)
            elif not tracked.started:
                await send_refusal(tracked, exc, attempt.view, request_id=request_id)
        except Exception:
            # A bug, not bad input: log it (no request data), answer 500 without detail.
            error_code = "InternalFailure"
            log.exception("internal error while handling request %s", request_id)
            if not tracked.started:
                await send_error(
                    tracked,
                    GatewayError("We encountered an internal error. Please try again."),
                    view,
                    request_id=request_id,
                )
        finally:
            self._record(services, attempt.view, attempt, error_code, upstream_status, started)

    def _started(self) -> Services:
        if self.services is None:
            raise GatewayError("the gateway is starting", code="ServiceUnavailable", status=503)
        return self.services

    async def _admit(
        self,
        services: Services,
        scope: Scope,
        receive: Receive,
        attempt: Attempt,
        request_id: str,
        *,
        websocket: bool = False,
    ) -> tuple[RequestView, Admission, list[tuple[str, str]]]:
        # Build the view, run the guard, and prepare the headers the upstream receives.
        view = request_view(
            scope, trusted_proxies=services.guard.trusted_proxies, request_id=request_id
        )
        attempt.view = view
        admission = await services.guard.admit(view, receive, attempt, websocket=websocket)
        headers = upstream_headers(
            view,
            identity=identity_headers(admission, services.signer, request_id=request_id),
            cookie_name=services.guard.cookies.name,
        )
        return view, admission, headers

    def _record(
        self,
        services: Services | None,
        view: RequestView | None,
        attempt: Attempt,
        error_code: str | None,
        upstream_status: int | None,
        started: float,
    ) -> None:
        # One audit event per decision (and per refusal before one could be made).
        if services is None or view is None:
            return
        match = attempt.match
        elapsed = time.perf_counter() - started
        if self.metrics is not None:
            self.metrics.observe(match, attempt.decision, error_code, upstream_status, elapsed)
        # Built by the drainer, in batches: every argument is frozen or made here.
        services.auditor.defer(
            build_event,
            view=view,
            principal=attempt.principal,
            action=match.action if match else None,
            resources=[match.resource] if match else [],
            decision=attempt.decision,
            error_code=error_code,
            upstream=match.upstream.name if match else None,
            upstream_status=upstream_status,
            latency_ms=elapsed * 1000,
            now=utc_now(),
            region=self.settings.server.region,
        )

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        # The handshake is authorized exactly like a request, then relayed.
        connect = await receive()
        if connect["type"] != "websocket.connect":
            return
        services = self.services
        request_id = new_request_id()
        view: RequestView | None = None
        attempt = Attempt()
        error_code: str | None = None
        close_code: int | None = None
        started = time.perf_counter()
        try:
            live = self._started()
            view, admission, headers = await self._admit(
                live, scope, receive, attempt, request_id, websocket=True
            )
            upstream = admission.match.upstream
            try:
                tls = live.pool.tls_for(origin_of(upstream.url, upstream.ca_file))
            except OSError:  # the CA bundle went missing since start-up (ssl.SSLError too)
                raise UpstreamError(
                    f"upstream `{upstream.name}` is unavailable", upstream=upstream.name
                ) from None
            close_code = await forward_websocket(
                live.session,
                upstream,
                view,
                forward_path=admission.match.forward_path,
                headers=headers,
                receive=receive,
                send=send,
                tls=tls,
            )
        except GatewayError as exc:
            error_code = exc.code
            # Before accept, closing the handshake answers 403 to the client.
            await send({"type": "websocket.close", "code": 1008})
        finally:
            status = 101 if close_code is not None else None
            self._record(services, attempt.view, attempt, error_code, status, started)

    async def _ready(self, send: Send) -> None:
        services = self.services
        if self.draining:
            await send_json(send, 503, {"status": "draining"})
            return
        if services is None:
            await send_json(send, 503, {"status": "starting"})
            return
        try:
            await services.runtime.store.check_schema()
            generation = await services.runtime.store.generation()
        except GatewayError as exc:
            await send_json(send, 503, {"status": "unavailable", "reason": exc.message})
            return
        await send_json(send, 200, {"status": "ready", "generation": generation})

    async def start(self) -> None:
        """
        Open the store, compile routes and open the upstream connection pool.
        """
        self.draining = False
        if self.metrics is None and self.settings.metrics.enabled:
            self.metrics = Metrics(self, self.settings.metrics)
            if self.settings.metrics.listen is None:
                self.mount("metrics", self.metrics)
        if self.metrics is not None:
            await self.metrics.start()
        runtime = await Runtime.open(self.settings, listen=True)
        try:
            guard = Guard(self.settings, runtime)
        except GatewayError:
            await runtime.close()
            raise
        session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(
                limit=1000, limit_per_host=UPSTREAM_CONNECTIONS, ttl_dns_cache=60
            ),
            auto_decompress=False,
            cookie_jar=aiohttp.DummyCookieJar(),
            skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding", "Content-Type"),
        )
        signer = AssertionSigner(runtime.cipher.derive_key(PURPOSE))
        auditor = auditor_from_settings(self.settings.audit)
        await auditor.start()
        pool = UpstreamPool(limit_per_origin=UPSTREAM_CONNECTIONS)
        self.services = Services(runtime, guard, Forwarder(pool), pool, session, signer, auditor)
        if "console" not in self.endpoints:
            from gateway.console.app import mount_console

            mount_console(self)
        if "iam" not in self.endpoints:
            self.mount("iam", iam_endpoint())
        if "sts" not in self.endpoints:
            self.mount("sts", sts_endpoint())
        if "credentials" not in self.endpoints:
            self.mount("credentials", CredentialsEndpoint())
        self._flusher = asyncio.create_task(self._flush_key_usage())

    def reload(self) -> None:
        """
        Re-read the config file and swap in its routes and upstreams.

        In-flight requests finish with the table they matched; new requests use the
        new one. A config that does not load (or whose routes do not compile) is
        refused with a log line and the current table keeps serving. Only routes
        and upstreams are reloaded; other settings need a restart.

        Raises:
            GatewayError: the new config is invalid (nothing changed).
        """
        services = self.services
        if services is None or self.settings.source is None:
            raise GatewayError("nothing to reload: the gateway was not started from a file")
        fresh = load_config(self.settings.source)
        routes = RouteTable.compile(
            fresh.upstreams, region=fresh.server.region, file=str(fresh.source or "")
        )
        services.guard.routes = routes
        services.pool.reload_tls()
        self.settings = dataclasses.replace(self.settings, upstreams=fresh.upstreams)
        log.info("reloaded routes from %s: %d upstream(s)", fresh.source, len(fresh.upstreams))

    def _on_sighup(self) -> None:
        try:
            self.reload()
        except GatewayError as exc:
            log.error("reload refused, still serving the previous routes: %s", exc.message)

    async def stop(self) -> None:
        """
        Close the upstream pool and the store (after writing pending key usage and
        audit events).
        """
        self.draining = True
        services, self.services = self.services, None
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
            self._flusher = None
        if services is not None:
            with contextlib.suppress(GatewayError):
                await services.guard.keys.flush_usage()
            await services.guard.close()
            await services.pool.close()
            await services.session.close()
            await services.auditor.aclose()
            await services.runtime.close()
        if self.metrics is not None:
            await self.metrics.close()

    def _listen_for_sighup(self) -> None:
        try:
            asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, self._on_sighup)
        except (NotImplementedError, RuntimeError, ValueError):
            log.info("SIGHUP reload is not available here (not the main thread)")

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.start()
                except GatewayError as exc:
                    await send({"type": "lifespan.startup.failed", "message": exc.message})
                    return
                self._listen_for_sighup()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.stop()
                await send({"type": "lifespan.shutdown.complete"})
                return


def create_app(settings: Settings) -> GatewayApp:
    """
    Build the gateway's ASGI application from validated settings.
    """
    return GatewayApp(settings)
