"""
Authorize a request: the caller's compiled policies, the request context, the engine.

``Authorizer`` compiles the policies that apply to a principal once and keeps
them until the store's generation marker moves (any IAM change, in any
process). It fills AWS's global condition keys from the principal and the
request, adds the route's service-specific keys, and asks ``gateway.policy``
for a decision. It fails closed: a stored document that no longer parses
denies instead of being skipped.

Temporary-credential sessions are checked against the current store on every
request (through the cache, which forgets everything when IAM changes): the
role or user behind the session must still exist with the same id (a role
deleted and re-created under the same name does not revive old sessions), the
role's revocation time (``sessions_revoked_before``) denies sessions issued
before it, and the session policies (the token's inline document and the
current default version of its managed policy ARNs) narrow what the role allows.
"""

from __future__ import annotations

import functools
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from gateway.errors import AuthError, NoSuchEntity
from gateway.iam import IAM
from gateway.iam.grants import Grants, PolicySource
from gateway.iam.sts import revocation_policy
from gateway.policy import (
    ContextValue,
    Decision,
    Policy,
    PolicyError,
    PolicyKind,
    PolicySet,
    RequestContext,
    evaluate,
    parse_policy,
)
from gateway.principal import Principal, PrincipalType
from gateway.types import RequestView

_DENY_ALL = (
    '{"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "*", "Resource": "*"}]}'
)
INVALID_SESSION = "The security token included in the request is invalid."


@dataclass(frozen=True, slots=True)
class CompiledGrants:
    """
    A principal's identity policies and boundary, compiled for evaluation.
    """

    identity: PolicySet
    boundary: PolicySet | None


def _compile(source: PolicySource, kind: PolicyKind) -> Policy:
    try:
        return parse_policy(source.document, kind=kind, policy_id=source.policy_id)
    except PolicyError:
        # SECURITY: fail closed; a document that no longer parses (e.g. stored by an
        # older version with laxer rules) denies everything instead of being skipped.
        return parse_policy(_DENY_ALL, kind=kind, policy_id=source.policy_id)


def compile_grants(grants: Grants) -> CompiledGrants:
    """
    Compile the documents of ``grants`` into policy sets.
    """
    identity = PolicySet(_compile(source, "identity") for source in grants.identity)
    boundary = None
    if grants.boundary is not None:
        boundary = PolicySet([_compile(grants.boundary, "boundary")])
    return CompiledGrants(identity, boundary)


@functools.lru_cache(maxsize=4)
def _times(second: int) -> tuple[str, str]:
    # aws:CurrentTime and aws:EpochTime change once a second, not once a request.
    moment = datetime.fromtimestamp(second, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ"), str(second)


def request_context(
    principal: Principal,
    view: RequestView,
    *,
    now: datetime,
    region: str,
    extra: Mapping[str, ContextValue] | None = None,
) -> dict[str, ContextValue]:
    """
    Return the global condition keys AWS would set for this caller and request.
    """
    current, epoch = _times(int(now.timestamp()))
    context: dict[str, ContextValue] = {
        "aws:CurrentTime": current,
        "aws:EpochTime": epoch,
        "aws:SecureTransport": "true" if view.scheme in ("https", "wss") else "false",
        "aws:RequestedRegion": region,
        "aws:PrincipalArn": principal.session_issuer_arn or principal.arn,
        "aws:PrincipalAccount": principal.account_id,
        "aws:PrincipalType": str(principal.type),
        "aws:userid": principal.user_id,
    }
    if view.client_ip:
        context["aws:SourceIp"] = view.client_ip
    agent = view.header("user-agent")
    if agent is not None:
        context["aws:UserAgent"] = agent
    if principal.type is PrincipalType.USER:
        context["aws:username"] = principal.user_name
    if principal.source_identity:
        context["aws:SourceIdentity"] = principal.source_identity
    for key, value in principal.tags:
        context[f"aws:PrincipalTag/{key}"] = value
    # AWS: the MFA keys are present only for temporary credentials and console
    # sessions; a request signed with a long-term access key carries neither.
    if principal.credential != "sigv4":
        context["aws:MultiFactorAuthPresent"] = "true" if principal.mfa_authenticated else "false"
        if principal.mfa_authenticated_at is not None:
            age = max(0, int((now - principal.mfa_authenticated_at).total_seconds()))
            context["aws:MultiFactorAuthAge"] = str(age)
        if principal.authenticated_at is not None:
            context["aws:TokenIssueTime"] = principal.authenticated_at.strftime(
                "%Y-%m-%dT%H:%M:%SZ"
            )
    if extra:
        context.update(extra)
    return context


class Authorizer:
    """
    Decide requests for principals, with their compiled policies cached per generation.
    """

    def __init__(self, iam: IAM, *, region: str, max_entries: int = 10_000) -> None:
        self._iam = iam
        self.region = region
        self._cache: OrderedDict[str, CompiledGrants] = OrderedDict()
        self._session_cache: dict[tuple[str, str], Policy] = {}
        self._max_entries = max_entries
        self._generation = -1
        self.hits = 0
        self.misses = 0

    def observe(self, generation: int) -> None:
        """
        Forget every compiled grant when IAM changed since the last request.
        """
        if generation != self._generation:
            self._cache.clear()
            self._session_cache.clear()
            self._generation = generation

    async def grants(self, principal: Principal) -> CompiledGrants:
        """
        Return the compiled policies of ``principal`` (cached until IAM changes).

        Raises:
            AuthError: ``InvalidClientTokenId`` when the role or user behind the
                principal no longer exists (or is another entity of the same name).
        """
        key = principal.entity_id
        cached = self._cache.get(key)
        if cached is not None:
            self.hits += 1
            self._cache.move_to_end(key)
            return cached
        self.misses += 1
        generation = self._generation
        iam = IAM(self._iam.store, self._iam.cipher, account_id=principal.account_id)
        try:
            if principal.type is PrincipalType.ASSUMED_ROLE:
                role = await iam.get_role(principal.session_issuer_arn.rsplit("/", 1)[-1])
                self._check_same(principal, role.role_id)
                grants = await iam.role_grants(role)
                if role.sessions_revoked_before is not None:
                    revoked = PolicySource(
                        f"role/{role.role_name}/sessions-revoked",
                        revocation_policy(role.sessions_revoked_before),
                    )
                    grants = Grants((*grants.identity, revoked), grants.boundary, grants.trust)
                compiled = compile_grants(grants)
            else:
                user = await iam.get_user(principal.user_name)
                self._check_same(principal, user.user_id)
                compiled = compile_grants(await iam.user_grants(user))
        except NoSuchEntity:
            # SECURITY: the entity is gone; its sessions and keys are worth nothing.
            raise AuthError(INVALID_SESSION, code="InvalidClientTokenId") from None
        if generation != self._generation:
            # SECURITY: IAM changed during the reads; what they returned may predate the
            # change, so it decides this request only and is not cached.
            return compiled
        self._cache[key] = compiled
        while len(self._cache) > self._max_entries:
            self._cache.popitem(last=False)
        return compiled

    @staticmethod
    def _check_same(principal: Principal, entity_id: str) -> None:
        if principal.entity_id and principal.entity_id != entity_id:
            raise AuthError(INVALID_SESSION, code="InvalidClientTokenId")

    async def session_policies(self, principal: Principal) -> list[Policy] | None:
        """
        Return the session policies of ``principal``, or None when it has none.

        Managed session policies are read by ARN (their current default version),
        cached until IAM changes; one that no longer exists denies everything.
        """
        if not principal.has_session_policies:
            return None
        policies = list(principal.session_policies)
        for arn in principal.session_policy_arns:
            cache_key = (principal.account_id, arn)
            cached = self._session_cache.get(cache_key)
            if cached is None:
                generation = self._generation
                iam = IAM(self._iam.store, self._iam.cipher, account_id=principal.account_id)
                try:
                    document = await iam.policy_document(arn) or _DENY_ALL
                except NoSuchEntity:
                    document = _DENY_ALL  # SECURITY: deleted since; fail closed
                cached = _compile(PolicySource(arn, document), "session")
                if len(self._session_cache) >= self._max_entries:
                    self._session_cache.clear()
                if generation == self._generation:  # as in grants(): never cache a stale read
                    self._session_cache[cache_key] = cached
            policies.append(cached)
        return policies

    async def authorize(
        self,
        principal: Principal,
        view: RequestView,
        *,
        action: str,
        resource: str,
        now: datetime,
        extra: Mapping[str, ContextValue] | None = None,
        resource_policy: Policy | None = None,
        session: Sequence[Policy] | None = None,
        resource_account: str = "",
    ) -> tuple[RequestContext, Decision]:
        """
        Return the request as the engine saw it and the engine's decision.

        ``session`` defaults to the principal's own session policies; pass
        ``resource_account`` when the resource belongs to another account (a
        cross-account role's trust policy).

        Raises:
            AuthError: the role or user behind a session is gone.
        """
        context = request_context(principal, view, now=now, region=self.region, extra=extra)
        request = RequestContext(
            principal=principal.arn,
            action=action,
            resource=resource,
            context=context,
            principal_account=principal.account_id,
            resource_account=resource_account,
            entity=principal.session_issuer_arn,
        )
        if session is None and principal.has_session_policies:
            session = await self.session_policies(principal)
        if principal.is_root:
            return request, evaluate(
                request, resource=resource_policy, session=session, is_root=True
            )
        grants = await self.grants(principal)
        decision = evaluate(
            request,
            identity=grants.identity,
            resource=resource_policy,
            boundary=grants.boundary,
            session=session,
        )
        return request, decision
