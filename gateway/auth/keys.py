"""
Authenticate SigV4-signed requests made with long-term access keys.

``KeyAuthenticator`` looks the access key up through ``gateway.iam`` and keeps
what it found in a per-process cache that is emptied whenever the store's
generation marker moves, so a key deactivated or deleted by any process (the
CLI, another replica, the IAM API) is refused on the very next request.
Unknown keys are cached too (negatively), so a flood of made-up key ids does
not become a flood of store queries.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime

from gateway.auth.sigv4_parse import SignedRequest
from gateway.auth.sigv4_verify import SigningKeyCache, verify
from gateway.errors import AuthError
from gateway.iam import IAM
from gateway.principal import Principal, PrincipalType
from gateway.types import RequestView

INVALID_KEY = "The security token included in the request is invalid."


@dataclass(frozen=True, slots=True)
class _KeyEntry:
    principal: Principal
    secret: str = field(repr=False)
    active: bool


class KeyAuthenticator:
    """
    Verify a SigV4 signature made with an IAM user's access key.
    """

    def __init__(self, iam: IAM, *, region: str, max_entries: int = 100_000) -> None:
        self._iam = iam
        self.region = region
        self._entries: OrderedDict[str, _KeyEntry | None] = OrderedDict()
        self._max_entries = max_entries
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
            AuthError: ``InvalidClientTokenId`` for an unknown or inactive key, or
                whatever ``verify`` raises for a bad signature, scope or clock.
        """
        if signed.security_token is not None:
            # Temporary credentials (ASIA...) are verified by the STS authenticator.
            raise AuthError(INVALID_KEY, code="InvalidClientTokenId")
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
