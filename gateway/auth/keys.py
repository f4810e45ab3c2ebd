"""
Authenticate SigV4-signed requests: long-term access keys and temporary credentials.

``KeyAuthenticator`` looks the access key up through ``gateway.iam`` and keeps
what it found in a per-process cache that is emptied whenever the store's
generation marker moves, so a key deactivated or deleted by any process (the
CLI, another replica, the IAM API) is refused on the very next request.
Unknown keys are cached too (negatively), so a flood of made-up key ids does
not become a flood of store queries.

A request with ``X-Amz-Security-Token`` carries temporary credentials: the token
is opened (``gateway.auth.session_token``), its key id must be the signing key id,
it must not have expired, and the signature is checked with the secret it holds;
no store lookup. Opened tokens are kept in a bounded LRU keyed by the token's
SHA-256, with their principal and compiled session policy. Whether the role or
user behind a session still exists and what it may do is the authorizer's check,
made against the current store on every request.
"""

from __future__ import annotations

import hashlib
import hmac
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime

from gateway.auth.session_token import SessionClaims, SessionTokens
from gateway.auth.sigv4_parse import SignedRequest
from gateway.auth.sigv4_verify import SigningKeyCache, verify
from gateway.errors import AuthError
from gateway.iam import IAM
from gateway.policy import Policy, PolicyError, parse_policy
from gateway.principal import Principal, PrincipalType
from gateway.types import RequestView

INVALID_KEY = "The security token included in the request is invalid."
EXPIRED_TOKEN = "The security token included in the request is expired"  # noqa: S105 - a message
SESSION_POLICY_ID = "session/inline"
_DENY_ALL = (
    '{"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "*", "Resource": "*"}]}'
)


def _session_policy(document: str) -> tuple[Policy, ...]:
    if not document:
        return ()
    try:
        return (parse_policy(document, kind="session", policy_id=SESSION_POLICY_ID),)
    except PolicyError:
        # SECURITY: fail closed; STS validated it, so this means a change of rules.
        return (parse_policy(_DENY_ALL, kind="session", policy_id=SESSION_POLICY_ID),)


def session_principal(claims: SessionClaims) -> Principal:
    """
    Return the principal of a session: an assumed-role session, or the user (or
    root) that called GetSessionToken, with credential ``sts``.
    """
    kind, arn, user_id = PrincipalType.USER, claims.entity_arn, claims.entity_id
    user_name, issuer = claims.entity_name, ""
    if claims.kind == "role":
        kind, user_name, issuer = PrincipalType.ASSUMED_ROLE, "", claims.entity_arn
        arn = (
            f"arn:aws:sts::{claims.account_id}:assumed-role/"
            f"{claims.entity_name}/{claims.session_name}"
        )
        user_id = f"{claims.entity_id}:{claims.session_name}"
    elif claims.kind == "root":
        kind, user_id, user_name = PrincipalType.ROOT, claims.account_id, ""
    return Principal(
        type=kind,
        arn=arn,
        account_id=claims.account_id,
        user_id=user_id,
        user_name=user_name,
        entity_id=claims.entity_id,
        access_key_id=claims.access_key_id,
        session_name=claims.session_name,
        session_issuer_arn=issuer,
        mfa_authenticated=claims.mfa_at is not None,
        mfa_authenticated_at=claims.mfa_at,
        authenticated_at=claims.issued_at,
        credential="sts",
        tags=claims.tags,
        source_identity=claims.source_identity,
        transitive_tag_keys=claims.transitive_keys,
        session_policy_arns=claims.policy_arns,
        session_policies=_session_policy(claims.session_policy),
        expires_at=claims.expires_at,
    )


@dataclass(frozen=True, slots=True)
class _SessionEntry:
    principal: Principal
    access_key_id: str
    secret: str = field(repr=False)
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class _KeyEntry:
    principal: Principal
    secret: str = field(repr=False)
    active: bool


class KeyAuthenticator:
    """
    Verify a SigV4 signature made with an IAM user's access key.
    """

    def __init__(
        self,
        iam: IAM,
        *,
        region: str,
        max_entries: int = 100_000,
        max_sessions: int = 10_000,
    ) -> None:
        self._iam = iam
        self.region = region
        self._entries: OrderedDict[str, _KeyEntry | None] = OrderedDict()
        self._max_entries = max_entries
        self.tokens = SessionTokens(iam.cipher)
        # Opened tokens never go stale (they are immutable); they are not emptied
        # when IAM changes, only evicted when the LRU is full.
        self._sessions: OrderedDict[bytes, _SessionEntry] = OrderedDict()
        self._max_sessions = max_sessions
        self._session_keys = SigningKeyCache()
        self._generation = -1
        self._signing_keys = SigningKeyCache()
        self.hits = 0
        self.misses = 0
        self._usage: dict[str, tuple[datetime, str, str]] = {}

    def __repr__(self) -> str:
        return f"KeyAuthenticator(entries={len(self._entries)}, generation={self._generation})"

    def observe(self, generation: int) -> None:
        """
        Forget every cached key when IAM changed since the last request.
        """
        if generation != self._generation:
            self._entries.clear()
            self._signing_keys = SigningKeyCache()
            self._generation = generation

    async def _lookup(self, access_key_id: str) -> _KeyEntry | None:
        if access_key_id in self._entries:
            self.hits += 1
            self._entries.move_to_end(access_key_id)
            return self._entries[access_key_id]
        self.misses += 1
        generation = self._generation
        found = await self._iam.access_key_secret(access_key_id)
        entry: _KeyEntry | None = None
        if found is not None:
            user, secret, status = found
            principal = Principal(
                type=PrincipalType.USER,
                arn=user.arn,
                account_id=user.account_id,
                user_id=user.user_id,
                user_name=user.user_name,
                entity_id=user.user_id,
                access_key_id=access_key_id,
                credential="sigv4",
                tags=user.tags,
            )
            entry = _KeyEntry(principal, secret, status == "Active")
        if generation != self._generation:
            # SECURITY: IAM changed while the row was read (another request saw the new
            # generation and cleared the cache); the row may predate the change, so it
            # answers this request only and is never cached.
            return entry
        self._entries[access_key_id] = entry
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)
        return entry

    async def authenticate(
        self,
        signed: SignedRequest,
        view: RequestView,
        *,
        service: str,
        now: datetime,
        payload_hash: str | None,
        allow_unsigned_payload: bool,
        any_region: bool = False,
    ) -> Principal:
        """
        Return the principal whose key signed the request.

        The credential scope's region must be the configured one, unless
        ``any_region`` (the IAM and STS APIs: clients sign them with whatever region
        they are configured for, as AWS's global endpoints accept).

        Raises:
            AuthError: ``InvalidClientTokenId`` for an unknown or inactive key or an
                invalid session token, ``ExpiredToken`` for an expired one, or
                whatever ``verify`` raises for a bad signature, scope or clock.
        """
        if signed.security_token is not None:
            return self._authenticate_session(
                signed,
                view,
                service=service,
                now=now,
                payload_hash=payload_hash,
                allow_unsigned_payload=allow_unsigned_payload,
                any_region=any_region,
            )
        entry = await self._lookup(signed.access_key_id)
        if entry is None or not entry.active:
            raise AuthError(INVALID_KEY, code="InvalidClientTokenId")
        region = signed.region if any_region else self.region
        verify(
            signed,
            view,
            entry.secret,
            now=now,
            region=region,
            service=service,
            payload_hash=payload_hash,
            allow_unsigned_payload=allow_unsigned_payload,
            cache=self._signing_keys,
        )
        self._usage[signed.access_key_id] = (now, service, region)
        return entry.principal

    def _open_session(self, token: str) -> _SessionEntry:
        digest = hashlib.sha256(token.encode("ascii", "replace")).digest()
        entry = self._sessions.get(digest)
        if entry is not None:
            self._sessions.move_to_end(digest)
            return entry
        claims = self.tokens.open(token)
        entry = _SessionEntry(
            session_principal(claims),
            claims.access_key_id,
            claims.secret_access_key,
            claims.expires_at,
        )
        self._sessions[digest] = entry
        while len(self._sessions) > self._max_sessions:
            self._sessions.popitem(last=False)
        return entry

    def _authenticate_session(
        self,
        signed: SignedRequest,
        view: RequestView,
        *,
        service: str,
        now: datetime,
        payload_hash: str | None,
        allow_unsigned_payload: bool,
        any_region: bool,
    ) -> Principal:
        # Temporary credentials: everything needed is in the token; no store lookup.
        entry = self._open_session(signed.security_token or "")
        if not hmac.compare_digest(entry.access_key_id, signed.access_key_id):
            raise AuthError(INVALID_KEY, code="InvalidClientTokenId")
        if now >= entry.expires_at:
            # 403, not a throttling or 5xx code: SDKs must not retry it.
            raise AuthError(EXPIRED_TOKEN, code="ExpiredToken")
        principal = entry.principal
        if (
            service == "iam"
            and principal.type is not PrincipalType.ASSUMED_ROLE
            and not principal.mfa_authenticated
        ):
            # AWS: GetSessionToken credentials cannot call IAM unless MFA was used.
            raise AuthError(INVALID_KEY, code="InvalidClientTokenId")
        verify(
            signed,
            view,
            entry.secret,
            now=now,
            region=signed.region if any_region else self.region,
            service=service,
            payload_hash=payload_hash,
            allow_unsigned_payload=allow_unsigned_payload,
            cache=self._session_keys,
        )
        return principal

    def take_usage(self) -> dict[str, tuple[datetime, str, str]]:
        """
        Return and forget the last use of each key since the previous call, for a
        batched write of last-used times (one write per key per interval, not per
        request).
        """
        usage, self._usage = self._usage, {}
        return usage

    async def flush_usage(self) -> None:
        """
        Write the pending last-used times to the store.
        """
        usage = self.take_usage()
        if usage:
            await self._iam.record_access_key_use(usage)
