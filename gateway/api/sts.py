"""
The AWS STS Query API (``Version=2011-06-15``) at ``/_gateway/sts``.

``AssumeRole``, ``GetSessionToken`` and ``GetCallerIdentity``, for
``boto3.client("sts", endpoint_url=".../_gateway/sts")`` and ``aws sts ...
--endpoint-url``. The parameters are checked with AWS's rules
(``gateway.iam.sts``); who may assume a role is decided as AWS decides it:

- the role's trust policy, evaluated as a resource-based policy for the action
  ``sts:AssumeRole`` on the role's ARN with the caller as principal, must allow;
  when it names the caller (or the role behind the caller's session) that is
  enough, when it names only the account the caller's identity policies must
  allow ``sts:AssumeRole`` on the role too (``gateway.policy.evaluate`` draws
  that line), and across accounts both sides must allow;
- passing session tags also needs ``sts:TagSession`` and a source identity
  ``sts:SetSourceIdentity``, each allowed the same way;
- the trust policy sees ``sts:ExternalId``, ``sts:RoleSessionName``,
  ``sts:SourceIdentity``, ``aws:RequestTag/*``, ``aws:TagKeys`` and, when the
  call carries a valid MFA code, ``aws:MultiFactorAuthPresent = true``;
- the root user may not assume roles; a role session may (role chaining), for
  one hour at most.

Credentials are ``ASIA`` keys with a self-contained session token
(``gateway.auth.session_token``): nothing is stored. The MFA code of a call is
spent once (``IAM.verify_mfa_code``); every refusal is a 4xx, so no SDK retries
it with the spent code.

Layer: the edge. Imports the service layer, auth and the policy engine.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from gateway.api.query import QueryCall, QueryEndpoint, member_list, member_structs
from gateway.auth.session_token import MAX_TOKEN_CHARS, SessionClaims, SessionTokens
from gateway.errors import AccessDenied, InvalidInput
from gateway.iam import models, sts
from gateway.iam.throttle import SigninThrottle, ThrottleRules, user_key
from gateway.policy import ContextValue, PolicyError, parse_policy
from gateway.principal import Principal, PrincipalType

VERSION = "2011-06-15"
NAMESPACE = "https://sts.amazonaws.com/doc/2011-06-15/"
# AWS reports how full the packed session policies and tags are, in percent.
_PACKED_LIMIT = MAX_TOKEN_CHARS


class MfaAttempts:
    """
    Failed MFA codes per user, counted in the store by the console's sign-in
    throttle (``gateway.iam.throttle``, with the ``[signin]`` settings): the same
    backoff and lock as password and code failures at sign-in, shared by every
    replica and kept across restarts, so an access key cannot be used to guess a
    six-digit code on one replica or spread over several.
    """

    def __init__(self, throttle: SigninThrottle) -> None:
        self._throttle = throttle

    @classmethod
    def of(cls, call: QueryCall) -> MfaAttempts:
        """
        The attempts of the gateway serving ``call``.
        """
        services = call.services
        rules = ThrottleRules.of(call.gateway.settings.signin)
        return cls(SigninThrottle(services.runtime.store, rules, clock=services.guard.clock))

    async def check(self, key: str) -> None:
        """
        Raises:
            AccessDenied: too many recent failures (a 4xx: SDKs do not retry it).
        """
        wait = await self._throttle.check([key])
        if wait is not None:
            raise AccessDenied(
                f"{sts.MFA_FAILED} Too many failed codes: try again in {wait.seconds} seconds."
            )

    async def failed(self, key: str) -> None:
        await self._throttle.fail([key])


@dataclass(frozen=True, slots=True)
class IssuedSession:
    """
    Temporary credentials as STS returns them; ``secret`` and ``token`` are secrets.
    """

    claims: SessionClaims
    token: str

    def credentials(self) -> dict[str, Any]:
        """
        The ``Credentials`` member of AssumeRole's and GetSessionToken's results.
        """
        return {
            "AccessKeyId": self.claims.access_key_id,
            "SecretAccessKey": self.claims.secret_access_key,
            "SessionToken": self.token,
            "Expiration": self.claims.expires_at,
        }


def _seal(tokens: SessionTokens, claims: SessionClaims) -> IssuedSession:
    token = tokens.seal(claims)
    if len(token) > MAX_TOKEN_CHARS:
        raise InvalidInput(
            "Packed size of the session policies and session tags is over the limit.",
            code="PackedPolicyTooLarge",
        )
    return IssuedSession(claims, token)


def issue_role_session(
    tokens: SessionTokens,
    role: models.Role,
    *,
    session_name: str,
    now: datetime,
    seconds: int,
    mfa_at: datetime | None = None,
    source_identity: str = "",
    tags: tuple[tuple[str, str], ...] = (),
    session_policy: str = "",
    policy_arns: tuple[str, ...] = (),
    transitive_keys: tuple[str, ...] = (),
) -> IssuedSession:
    """
    Mint temporary credentials for a session of ``role`` (no permission check here).

    Raises:
        InvalidInput: ``PackedPolicyTooLarge`` when the token would be too long.
    """
    key_id, secret = sts.new_key_pair()
    claims = SessionClaims(
        account_id=role.arn.split(":")[4],
        kind="role",
        entity_id=role.role_id,
        entity_arn=role.arn,
        entity_name=role.role_name,
        session_name=session_name,
        issued_at=now,
        expires_at=now + timedelta(seconds=seconds),
        access_key_id=key_id,
        secret_access_key=secret,
        mfa_at=mfa_at,
        source_identity=source_identity,
        tags=sts.merge_tags(role.tags, tags),
        session_policy=session_policy,
        policy_arns=policy_arns,
        transitive_keys=transitive_keys,
    )
    return _seal(tokens, claims)


def _not_authorized(caller: Principal, action: str, resource: str) -> str:
    return f"User: {caller.arn} is not authorized to perform: {action} on resource: {resource}"


def _caller_mfa(caller: Principal) -> datetime | None:
    # MFA carries over from a session (console, GetSessionToken, role) that had it;
    # a request signed with a long-term key never has it.
    if caller.credential != "sigv4" and caller.mfa_authenticated:
        return caller.mfa_authenticated_at
    return None


def _mfa_owner(caller: Principal) -> str:
    if caller.type is PrincipalType.ROOT:
        return f"root:{caller.account_id}"
    if caller.type is PrincipalType.USER:
        return caller.entity_id or caller.user_id
    # AWS: a role session has no MFA device of its own.
    raise AccessDenied(sts.MFA_FAILED)


async def _spend_mfa(call: QueryCall, serial: str, code: str) -> datetime:
    runtime = call.services.runtime
    owner = _mfa_owner(call.principal)
    caller = call.principal
    key = user_key(caller.account_id, caller.user_name or "@root")
    attempts = MfaAttempts.of(call)
    await attempts.check(key)
    try:
        await sts.spend_mfa(
            runtime.store,
            runtime.cipher,
            account=call.principal.account_id,
            owner=owner,
            serial=serial,
            code=code,
        )
    except AccessDenied:
        await attempts.failed(key)
        raise
    return call.now


def _transitive_tags(
    caller: Principal, tags: tuple[tuple[str, str], ...], transitive: tuple[str, ...]
) -> tuple[tuple[tuple[str, str], ...], tuple[str, ...]]:
    # AWS: transitive session tags pass on through role chaining and cannot be
    # overridden by the next session's tags.
    if caller.type is not PrincipalType.ASSUMED_ROLE or not caller.transitive_tag_keys:
        return (), transitive
    keys = {key.lower() for key in caller.transitive_tag_keys}
    clash = sorted(key for key, _ in tags if key.lower() in keys)
    if clash:
        raise InvalidInput(
            f"the session tag `{clash[0]}` is a transitive tag of the calling session and "
            "cannot be overridden"
        )
    inherited = tuple((key, value) for key, value in caller.tags if key.lower() in keys)
    if len(inherited) + len(tags) > sts.MAX_SESSION_TAGS:
        raise InvalidInput(f"a session has at most {sts.MAX_SESSION_TAGS} session tags")
    return inherited, (*caller.transitive_tag_keys, *transitive)


def _trust_context(
    *,
    session_name: str,
    external_id: str | None,
    source_identity: str,
    tags: tuple[tuple[str, str], ...],
    mfa_now: bool,
) -> dict[str, ContextValue]:
    context: dict[str, ContextValue] = {"sts:RoleSessionName": session_name}
    if external_id is not None:
        context["sts:ExternalId"] = external_id
    if source_identity:
        context["sts:SourceIdentity"] = source_identity
    if tags:
        context["aws:TagKeys"] = [key for key, _ in tags]
        for key, value in tags:
            context[f"aws:RequestTag/{key}"] = value
    if mfa_now:
        context["aws:MultiFactorAuthPresent"] = "true"
        context["aws:MultiFactorAuthAge"] = "0"
    return context


async def assume_role(call: QueryCall) -> Mapping[str, Any]:
    """
    ``AssumeRole``: temporary credentials for a role the caller is trusted to assume.
    """
    params = call.params
    arn = sts.role_arn(params)
    name = sts.session_name(params)
    external_id = sts.external_id(params)
    source_identity = sts.source_identity(params) or ""
    mfa = sts.mfa_parameters(params)
    session_policy = sts.session_policy(params)
    policy_arns = sts.policy_arns(member_structs(params, "PolicyArns"))
    transitive = tuple(member_list(params, "TransitiveTagKeys"))
    tags = sts.session_tags(member_structs(params, "Tags"), transitive)
    seconds = sts.duration(params, default=sts.DEFAULT_ROLE_DURATION, maximum=sts.MAX_ROLE_DURATION)
    caller = call.principal
    if caller.is_root:
        raise AccessDenied("Roles may not be assumed by root accounts.")
    chained = caller.type is PrincipalType.ASSUMED_ROLE
    inherited, transitive = _transitive_tags(caller, tags, transitive)
    if caller.source_identity:
        if source_identity and source_identity != caller.source_identity:
            raise AccessDenied("The source identity of a role session cannot be changed.")
        source_identity = caller.source_identity

    services = call.services
    runtime = services.runtime
    call.audit.resources.append(arn)
    role = await sts.find_role(runtime.store, runtime.cipher, arn)
    if role is None:
        # AWS answers a role that does not exist like one the caller may not assume.
        raise AccessDenied(_not_authorized(caller, "sts:AssumeRole", arn))
    account = arn.split(":")[4]
    mfa_at = await _spend_mfa(call, *mfa) if mfa is not None else _caller_mfa(caller)
    try:
        trust = parse_policy(
            role.assume_role_policy_document, kind="trust", policy_id=f"{role.arn}/trust"
        )
    except PolicyError:
        # SECURITY: fail closed; a trust policy that no longer parses trusts nobody.
        raise AccessDenied(_not_authorized(caller, "sts:AssumeRole", arn)) from None
    extra = _trust_context(
        session_name=name,
        external_id=external_id,
        source_identity=source_identity,
        tags=tags,
        mfa_now=mfa is not None,
    )
    actions = ["sts:AssumeRole"]
    if tags:
        actions.append("sts:TagSession")
    if params.get("SourceIdentity"):
        actions.append("sts:SetSourceIdentity")
    for action in actions:
        _request, decision = await services.guard.authorizer.authorize(
            caller,
            call.view,
            action=action,
            resource=role.arn,
            now=call.now,
            extra=extra,
            resource_policy=trust,
            resource_account=account,
        )
        call.audit.decision = decision
        if not decision.is_allowed:
            raise AccessDenied(_not_authorized(caller, action, arn), decision=decision)

    # Checked once the caller is trusted, so that nobody else learns about the role.
    if seconds > role.max_session_duration:
        raise InvalidInput(
            "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."
        )
    if chained and seconds > sts.CHAINED_MAX_DURATION:
        raise InvalidInput(
            "The requested DurationSeconds exceeds the 1 hour session limit for roles "
            "assumed by role chaining."
        )
    if policy_arns:
        await sts.check_policy_arns(runtime.store, runtime.cipher, account, policy_arns)

    issued = issue_role_session(
        services.guard.keys.tokens,
        role,
        session_name=name,
        now=call.now,
        seconds=seconds,
        mfa_at=mfa_at,
        source_identity=source_identity,
        tags=inherited + tags,
        session_policy=session_policy,
        policy_arns=policy_arns,
        transitive_keys=transitive,
    )
    result: dict[str, Any] = {
        "Credentials": issued.credentials(),
        "AssumedRoleUser": {
            "AssumedRoleId": f"{role.role_id}:{name}",
            "Arn": f"arn:aws:sts::{account}:assumed-role/{role.role_name}/{name}",
        },
    }
    if session_policy or policy_arns or tags:
        packed = len(session_policy) + sum(map(len, policy_arns))
        packed += sum(len(key) + len(value) for key, value in tags)
        result["PackedPolicySize"] = min(100, packed * 100 // _PACKED_LIMIT)
    if source_identity:
        result["SourceIdentity"] = source_identity
    return result


async def get_session_token(call: QueryCall) -> Mapping[str, Any]:
    """
    ``GetSessionToken``: temporary credentials for the calling user (or root),
    carrying MFA when the call has a valid code.
    """
    params = call.params
    caller = call.principal
    mfa = sts.mfa_parameters(params)
    if caller.credential == "sts" or caller.type not in (PrincipalType.USER, PrincipalType.ROOT):
        raise AccessDenied("Cannot call GetSessionToken with session credentials")
    seconds = sts.duration(params, default=sts.DEFAULT_USER_DURATION, maximum=sts.MAX_USER_DURATION)
    if caller.is_root:
        # AWS: the root user's sessions last one hour at most (longer requests get one).
        seconds = min(seconds, sts.MAX_ROOT_DURATION)
    mfa_at = await _spend_mfa(call, *mfa) if mfa is not None else None
    key_id, secret = sts.new_key_pair()
    claims = SessionClaims(
        account_id=caller.account_id,
        kind="root" if caller.is_root else "user",
        entity_id=caller.entity_id or caller.user_id,
        entity_arn=caller.arn,
        entity_name=caller.user_name,
        session_name="",
        issued_at=call.now,
        expires_at=call.now + timedelta(seconds=seconds),
        access_key_id=key_id,
        secret_access_key=secret,
        mfa_at=mfa_at,
        tags=caller.tags,
    )
    issued = _seal(call.services.guard.keys.tokens, claims)
    return {"Credentials": issued.credentials()}


async def get_caller_identity(call: QueryCall) -> Mapping[str, Any]:
    """
    ``GetCallerIdentity``: who signed the request (no permission is needed).
    """
    caller = call.principal
    return {"UserId": caller.user_id, "Account": caller.account_id, "Arn": caller.arn}


def sts_endpoint() -> QueryEndpoint:
    """
    Return the STS API's ASGI app, to mount at ``/_gateway/sts``.
    """
    return QueryEndpoint(
        service="sts",
        version=VERSION,
        namespace=NAMESPACE,
        handlers={
            "AssumeRole": assume_role,
            "GetSessionToken": get_session_token,
            "GetCallerIdentity": get_caller_identity,
        },
    )
