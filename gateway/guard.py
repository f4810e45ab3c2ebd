"""
The guard: authenticate, map and authorize one request, the same way in proxy
mode (``gateway serve``) and in middleware mode (``GatewayMiddleware``).

Order of work, for a request that is not for ``/_gateway/``:

1. read the IAM generation marker once, so caches forget anything that changed
   in any process since the previous request;
2. find the upstream and route (404 when none serves the path);
3. parse the SigV4 credentials (403 ``MissingAuthenticationToken`` when there
   are none); read the body when its hash must be checked (413 past the limit);
4. verify the signature with the key's secret, scoped to the upstream's service;
5. render the route for the caller's account and ask the engine; a deny is 403
   ``AccessDenied`` with AWS's explanation.

Nothing is forwarded unless every step passed; every step fails closed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from gateway.auth.keys import KeyAuthenticator
from gateway.auth.sigv4 import UNSIGNED_PAYLOAD
from gateway.auth.sigv4_parse import parse_authorization
from gateway.authz import Authorizer
from gateway.config import Settings
from gateway.errors import AccessDenied, AuthError, ClientError
from gateway.iam import IAM
from gateway.iam.naming import now as utc_now
from gateway.normalize import parse_trusted_proxies
from gateway.policy import Decision, RequestContext
from gateway.principal import Principal
from gateway.routing import RouteMatch, RouteTable
from gateway.runtime import Runtime
from gateway.types import Receive, RequestView

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
        draft = self.routes.locate(view)
        if draft is None:
            raise NotFound("no upstream serves this path")
        signed = parse_authorization(view)
        if signed is None:
            raise AuthError("Missing Authentication Token", code="MissingAuthenticationToken")
        service = draft.upstream.service
        body: bytes | None = None
        payload_hash: str | None = None
        if websocket:
            payload_hash = _EMPTY_SHA256  # a handshake has no body; never read one
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
