"""
The guard: authenticate, map and authorize one request, the same way in proxy
mode (``gateway serve``) and in middleware mode (``GatewayMiddleware``).

Order of work, for a request that is not for ``/_gateway/``:

1. read the IAM generation marker once, so caches forget anything that changed
   in any process since the previous request;
2. find the upstream and route (404 when none serves the path);
3. parse the SigV4 credentials; without them, a valid console session cookie is
   the user (a session that must change its password first is refused), a browser
   with neither is redirected (303) to the sign-in page and back, and any other
   client gets 403 ``MissingAuthenticationToken``; read the body when its hash
   must be checked (413 past the limit);
4. verify the signature with the key's secret, scoped to the upstream's service;
5. render the route for the caller's account and ask the engine; a deny is 403
   ``AccessDenied`` with AWS's explanation.

Nothing is forwarded unless every step passed; every step fails closed.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from gateway.auth.keys import KeyAuthenticator
from gateway.auth.sigv4 import UNSIGNED_PAYLOAD
from gateway.auth.sigv4_parse import parse_authorization
from gateway.authz import Authorizer
from gateway.config import Settings
from gateway.console.cookies import (
    PASSWORD_PATH,
    SIGNIN_PATH,
    SessionCookies,
    next_param,
    session_principal,
)
from gateway.errors import AccessDenied, AuthError, ClientError, GatewayError
from gateway.http_errors import send_error
from gateway.iam import IAM
from gateway.iam.naming import now as utc_now
from gateway.iam.sessions import ConsoleSessions
from gateway.normalize import parse_trusted_proxies
from gateway.policy import Decision, RequestContext
from gateway.principal import Principal
from gateway.routing import Located, RouteMatch, RouteTable
from gateway.runtime import Runtime
from gateway.types import Receive, RequestView, Send

log = logging.getLogger("gateway")

_HEX64 = frozenset("0123456789abcdef")
_EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


class NotFound(ClientError):
    """
    No upstream serves the path.
    """

    code = "NotFound"
    status = 404


class PayloadTooLarge(ClientError):
    """
    The body is over the configured limit for a signed payload.
    """

    code = "RequestEntityTooLarge"
    status = 413


class SignInRequired(AuthError):
    """
    No credentials: a browser is sent to ``location``; other clients get the 403.
    """

    code = "MissingAuthenticationToken"
    status = 403

    def __init__(self, message: str, *, location: str) -> None:
        super().__init__(message)
        self.location = location


def is_browser(view: RequestView) -> bool:
    """
    True for a GET or HEAD whose Accept header prefers HTML over anything else.
    """
    if view.method not in ("GET", "HEAD"):
        return False
    best_html = best_other = -1.0
    for item in (view.header("accept") or "").split(","):
        kind, *params = (part.strip() for part in item.split(";"))
        weight = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip() == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        if kind.lower() in ("text/html", "application/xhtml+xml"):
            best_html = max(best_html, weight)
        elif kind:
            best_other = max(best_other, weight if kind != "*/*" else weight - 0.001)
    return best_html > 0 and best_html >= best_other


async def send_refusal(
    send: Send, error: GatewayError, view: RequestView | None, *, request_id: str
) -> None:
    """
    Send ``error``; a browser sent to sign in gets a 303 to the sign-in page instead.
    """
    if isinstance(error, SignInRequired) and view is not None and is_browser(view):
        location = error.location.encode("ascii")
        await send(
            {
                "type": "http.response.start",
                "status": 303,
                "headers": [
                    (b"location", location),
                    (b"content-length", b"0"),
                    (b"cache-control", b"no-store"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": b""})
        return
    await send_error(send, error, view, request_id=request_id)


@dataclass(frozen=True, slots=True)
class Admission:
    """
    A request that passed: who, what, the decision, and the body if it was read.
    """

    principal: Principal
    match: RouteMatch
    request: RequestContext
    decision: Decision
    body: bytes | None = field(repr=False)


@dataclass(slots=True)
class Attempt:
    """
    What is known about a request so far; the audit trail reads it even on failure.
    """

    view: RequestView | None = None
    principal: Principal | None = None
    match: RouteMatch | None = None
    decision: Decision | None = None


def _needs_body_hash(claim: str | None, presigned: bool, service: str) -> bool:
    if claim is None:
        return not (presigned and service == "s3")
    return len(claim) == 64 and set(claim) <= _HEX64


async def read_body(receive: Receive, limit: int) -> bytes:
    """
    Read the whole request body, refusing more than ``limit`` bytes.

    Raises:
        PayloadTooLarge: the body is over the limit (nothing is forwarded).
    """
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(
                f"the request body is over the {limit}-byte limit for signed payloads; "
                "sign it with UNSIGNED-PAYLOAD on a route that allows it"
            )
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


class Guard:
    """
    Authentication, route mapping and authorization for one process.
    """

    def __init__(
        self,
        settings: Settings,
        runtime: Runtime,
        *,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.settings = settings
        self.store = runtime.store
        self.routes = RouteTable.compile(
            settings.upstreams,
            region=settings.server.region,
            file=str(settings.source or ""),
        )
        iam = IAM(runtime.store, runtime.cipher, account_id="")
        self.keys = KeyAuthenticator(iam, region=settings.server.region)
        self.authorizer = Authorizer(iam, region=settings.server.region)
        self.cookies = SessionCookies(settings, runtime.cipher)
        self.sessions = ConsoleSessions(
            runtime.store,
            idle_timeout_seconds=settings.session.idle_timeout_seconds,
            absolute_timeout_seconds=settings.session.absolute_timeout_seconds,
            clock=clock,
        )
        self._flushing: asyncio.Task[None] | None = None
        self.clock = clock
        self.max_body = settings.server.max_body_bytes
        self.trusted_proxies = parse_trusted_proxies(settings.server.trusted_proxies)

    async def admit(
        self, view: RequestView, receive: Receive, attempt: Attempt, *, websocket: bool = False
    ) -> Admission:
        """
        Authenticate and authorize ``view``; return what the edge needs to forward it.

        Raises:
            GatewayError: a 4xx for the client (or 503 if the store is down); the
                request must not be forwarded.
        """
        generation = await self.store.generation()
        self.keys.observe(generation)
        self.authorizer.observe(generation)
        self.sessions.observe(generation)
        draft = self.routes.locate(view)
        if draft is None:
            raise NotFound("no upstream serves this path")
        signed = parse_authorization(view)
        if signed is None:
            return await self._admit_session(view, draft, attempt)
        service = draft.upstream.service
        body: bytes | None = None
        payload_hash: str | None = None
        if websocket:
            payload_hash = _EMPTY_SHA256  # a handshake has no body; never read one
        elif not view.has_body:
            payload_hash = _EMPTY_SHA256  # nothing to read (RFC 9112); a claim must match it
        elif _needs_body_hash(signed.content_sha256, signed.presigned, service):
            body = await read_body(receive, self.max_body)
            payload_hash = hashlib.sha256(body).hexdigest()
        elif signed.content_sha256 == UNSIGNED_PAYLOAD and not draft.unsigned_payload:
            raise AuthError(
                "UNSIGNED-PAYLOAD is not allowed on this route: sign the SHA-256 of the body",
                code="InvalidRequest",
                status=400,
            )
        now = self.clock()
        principal = await self.keys.authenticate(
            signed,
            view,
            service=service,
            now=now,
            payload_hash=payload_hash,
            allow_unsigned_payload=draft.unsigned_payload,
        )
        attempt.principal = principal
        return await self._authorize(view, draft, principal, attempt, now, body)

    async def _authorize(
        self,
        view: RequestView,
        draft: Located,
        principal: Principal,
        attempt: Attempt,
        now: datetime,
        body: bytes | None,
    ) -> Admission:
        # Render the route for the caller's account and ask the engine; a deny is 403.
        match = self.routes.render(draft, account=principal.account_id)
        attempt.match = match
        request, decision = await self.authorizer.authorize(
            principal,
            view,
            action=match.action,
            resource=match.resource,
            now=now,
            extra=match.context,
            resource_policy=match.resource_policy,
        )
        attempt.decision = decision
        if not decision.is_allowed:
            raise AccessDenied(decision.message(request), decision=decision)
        return Admission(principal, match, request, decision, body)

    async def console_principal(self, view: RequestView) -> tuple[Principal, bool] | None:
        """
        Return the principal of the request's live console session and whether it
        must change its password first, or None when there is no such session.
        """
        token = self.cookies.read(view.header("cookie"))
        if token is None:
            return None
        record = await self.sessions.resolve(token)
        if record is None or not record.is_active:
            return None
        self._flush_sessions_soon()
        return session_principal(record), record.must_change_password(self.clock())

    def _flush_sessions_soon(self) -> None:
        # Last-seen times go to the store in batches, off the request path.
        if self._flushing is not None and not self._flushing.done():
            return
        if self.sessions.flush_due():
            self._flushing = asyncio.create_task(self._flush_sessions())

    async def _flush_sessions(self) -> None:
        try:
            await self.sessions.flush()
        except GatewayError as exc:
            log.warning("could not record console sessions' last use: %s", exc.message)

    async def _admit_session(
        self, view: RequestView, draft: Located, attempt: Attempt
    ) -> Admission:
        back = next_param(view.path, view.query_string)
        found = await self.console_principal(view)
        if found is None:
            raise SignInRequired(
                "Missing Authentication Token", location=f"{SIGNIN_PATH}?next={back}"
            )
        principal, must_change = found
        attempt.principal = principal
        if must_change:
            # SECURITY: nothing is reachable before a required password change.
            raise SignInRequired(
                "the password must be changed before anything else",
                location=f"{PASSWORD_PATH}?next={back}",
            )
        return await self._authorize(view, draft, principal, attempt, self.clock(), None)

    async def close(self) -> None:
        """
        Write pending console activity (called when the gateway stops).
        """
        if self._flushing is not None:
            await asyncio.gather(self._flushing, return_exceptions=True)
        try:
            await self.sessions.flush()
        except GatewayError as exc:
            log.warning("could not record console sessions' last use: %s", exc.message)
