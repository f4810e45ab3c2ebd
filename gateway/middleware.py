"""
``GatewayMiddleware``: the gateway's authentication and authorization around any
ASGI application (Starlette, FastAPI, plain ASGI), as pure ASGI middleware.

Each request goes through the same ``Guard`` as proxy mode: the route table of
the config's ``[[upstreams]]`` maps it to an action and resource (in this mode
an upstream's ``url`` is not used; its prefix or host, service and routes are),
the SigV4 signature is verified, the policies are evaluated, and only an
admitted request reaches the wrapped app, with ``scope["gateway"]`` set to a
``GatewayContext`` (the principal, the decision, the route). Refusals are
answered here with AWS-style errors. Use ``get_gateway(scope)`` (or
``request.scope`` in Starlette) to read it::

    from gateway import GatewayMiddleware, get_gateway

    app = GatewayMiddleware(app, config="gateway.toml")

    async def endpoint(request):
        principal = get_gateway(request.scope).principal
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.app import GatewayApp, Services
from gateway.config import Settings, load_config, settings_from_mapping
from gateway.errors import GatewayError
from gateway.guard import Attempt
from gateway.http_errors import send_error
from gateway.normalize import request_view
from gateway.policy import Decision, RequestContext
from gateway.principal import Principal
from gateway.request_ids import new_request_id
from gateway.routing import RouteMatch
from gateway.types import ASGIApp, Message, Receive, RequestView, Scope, Send

SCOPE_KEY = "gateway"


@dataclass(frozen=True, slots=True)
class GatewayContext:
    """
    What the wrapped app learns about an admitted request.
    """

    principal: Principal
    decision: Decision
    request: RequestContext
    route: RouteMatch
    request_id: str


def get_gateway(scope: Mapping[str, Any]) -> GatewayContext:
    """
    Return the gateway's context for this request.

    Raises:
        RuntimeError: the app is not wrapped by GatewayMiddleware.
    """
    context = scope.get(SCOPE_KEY)
    if not isinstance(context, GatewayContext):
        raise RuntimeError(
            "no gateway context in this scope: GatewayMiddleware must wrap this app to read "
            "the principal (app = GatewayMiddleware(app, config=...))"
        )
    return context


def _settings(config: Settings | Mapping[str, Any] | str | os.PathLike[str]) -> Settings:
    if isinstance(config, Settings):
        return config
    if isinstance(config, Mapping):
        return settings_from_mapping(config)
    return load_config(Path(config))


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


class GatewayMiddleware:
    """
    Authenticate and authorize every request before the wrapped app sees it.
    """

    def __init__(
        self, app: ASGIApp, *, config: Settings | Mapping[str, Any] | str | os.PathLike[str]
    ) -> None:
        self.app = app
        self.settings = _settings(config)
        self._edge = GatewayApp(self.settings)
        self._starting = asyncio.Lock()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, self._lifespan_receive(receive), send)
            return
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        services = self._edge.services or await self._start_lazily()
        request_id = new_request_id()
        view: RequestView | None = None
        try:
            view = request_view(
                scope, trusted_proxies=services.guard.trusted_proxies, request_id=request_id
            )
            admission = await services.guard.admit(view, receive, Attempt())
        except GatewayError as exc:
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008})
            else:
                await send_error(send, exc, view, request_id=request_id)
            return
        scope = dict(scope)
        scope[SCOPE_KEY] = GatewayContext(
            admission.principal,
            admission.decision,
            admission.request,
            admission.match,
            request_id,
        )
        if admission.body is not None:
            receive = _replay(admission.body, receive)
        await self.app(scope, receive, send)

    async def _start_lazily(self) -> Services:
        # Without a lifespan (some test clients), start on the first request, once.
        async with self._starting:
            if self._edge.services is None:
                await self._edge.start()
        if self._edge.services is None:  # pragma: no cover - start() raises instead
            raise GatewayError("the gateway did not start", code="ServiceUnavailable", status=503)
        return self._edge.services

    async def aclose(self) -> None:
        """
        Close the store and the connection pool; for hosts that run no lifespan
        (the lifespan's shutdown does this otherwise).
        """
        await self._edge.stop()

    def _lifespan_receive(self, receive: Receive) -> Receive:
        async def wrapped() -> Message:
            message = await receive()
            if message["type"] == "lifespan.startup" and self._edge.services is None:
                await self._edge.start()
            elif message["type"] == "lifespan.shutdown":
                await self._edge.stop()
            return message

        return wrapped
