"""
Policy evaluation: `evaluate(request, identity=..., resource=...) -> Decision`.

Layer: ``gateway.policy`` (pure). Imports nothing from the rest of the gateway.

The branches follow the IAM User Guide, "Policy evaluation logic" (requests within
one account) and "Cross-account policy evaluation logic":

1. an explicit `Deny` in any applicable policy wins;
2. the account root user is allowed everything else in its own account;
3. a resource-based policy that names the caller itself (the IAM user, the role
   session or the federated user session) allows on its own; one that names the
   role behind a session (or the IAM user who federated) is still limited by the
   permissions boundary and session policies; one that names the account only
   delegates to the account's identity-based policies;
4. otherwise an identity-based policy must allow, and every permissions boundary
   and session policy that is present must allow too;
5. role trust policies must always allow, and across accounts both the caller's
   policies and the resource-based policy must allow;
6. anything else is an implicit deny.

We fail closed: a context value that an operator cannot read makes an `Allow`
statement not apply and a `Deny` statement apply.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from .context import RequestContext
from .document import ActionMatcher, Effect, Policy, PolicyKind, Statement, StatementRef
from .index import ActionIndex
from .operands import BadContextValue
from .principals import DIRECT, ENTITY, NO_MATCH

__all__ = ["Decision", "PolicySet", "Verdict", "evaluate", "explain"]


class Verdict(StrEnum):
    """The outcome; values are the wire strings `policy simulate` prints."""

    ALLOWED = "allowed"
    EXPLICIT_DENY = "explicitDeny"
    IMPLICIT_DENY = "implicitDeny"


@dataclass(frozen=True, slots=True)
class PolicySet:
    """
    Several policies of one kind compiled into one action index.

    Build it once per principal (for example, a user's own and group policies) and
    evaluate many requests against it.
    """

    policies: tuple[Policy, ...]
    index: ActionIndex[Statement] = field(init=False, repr=False, compare=False)

    def __init__(self, policies: Iterable[Policy]) -> None:
        """Index the statements of `policies`, keeping their order."""
        ordered = tuple(policies)
        object.__setattr__(self, "policies", ordered)
        statements = [s for p in ordered for s in p.statements]
        object.__setattr__(self, "index", ActionIndex(statements, _actions_of))

    def candidates(self, action: str) -> tuple[Statement, ...]:
        """The statements whose action element matches `action` (lowercase)."""
        return self.index.candidates(action)


def _actions_of(statement: Statement) -> ActionMatcher:
    return statement.actions


Group = PolicySet | Sequence[Policy]

_PHRASES: dict[str, str] = {
    "identity": "identity-based policy",
    "resource": "resource-based policy",
    "boundary": "permissions boundary",
    "session": "session policy",
    "trust": "role trust policy",
}
_DENY_ARTICLE = {"identity": "an", "trust": "the"}


@dataclass(frozen=True, slots=True)
class Decision:
    """
    The answer and why.

    Attributes:
        verdict: allowed, explicitDeny or implicitDeny.
        matched: for an allow, the statements that allowed it; for an explicit deny,
            the `Deny` statements that matched; empty for an implicit deny.
        missing_context: condition keys and variables the policies asked about that
            the request context did not have.
        denied_by: for an implicit deny, the policy kinds that had no matching allow,
            most decisive first.
    """

    verdict: Verdict
    matched: tuple[StatementRef, ...] = ()
    missing_context: tuple[str, ...] = ()
    denied_by: tuple[PolicyKind, ...] = ()

    @property
    def is_allowed(self) -> bool:
        """True only for an allow."""
        return self.verdict is Verdict.ALLOWED

    def message(self, request: RequestContext) -> str:
        """The AWS-style sentence for this decision; see `explain`."""
        return explain(self, request)


def explain(decision: Decision, request: RequestContext) -> str:
    """
    Describe a decision the way AWS words access denied errors, for example
    `User: arn:aws:iam::123456789012:user/steve is not authorized to perform:
    iam:ChangePassword on resource: arn:aws:iam::123456789012:user/steve because no
    identity-based policy allows the iam:ChangePassword action`.
    """
    who = request.principal or "anonymous"
    on = f" on resource: {request.resource}" if request.resource else ""
    if decision.verdict is Verdict.ALLOWED:
        return f"User: {who} is authorized to perform: {request.action}{on}"
    head = f"User: {who} is not authorized to perform: {request.action}{on}"
    if decision.verdict is Verdict.EXPLICIT_DENY:
        kind = decision.matched[0].policy_kind if decision.matched else "identity"
        article = _DENY_ARTICLE.get(kind, "a")
        return f"{head} with an explicit deny in {article} {_PHRASES[kind]}"
    kind = decision.denied_by[0] if decision.denied_by else "identity"
    return f"{head} because no {_PHRASES[kind]} allows the {request.action} action"


def _applies(statement: Statement, request: RequestContext, missing: list[str]) -> bool:
    context = request.values
    resources = statement.resources
    if resources is not None and not resources.matches(request.resource, context, missing):
        return False
    try:
        for condition in statement.conditions:
            if not condition.evaluate(context, missing):
                return False
    except BadContextValue:
        # SECURITY: fail closed. An unreadable value must not skip a Deny.
        return statement.effect is Effect.DENY
    return True


def _candidates(group: Group, action: str) -> Iterable[Statement]:
    if isinstance(group, PolicySet):
        return group.candidates(action)
    if len(group) == 1:
        return group[0].candidates(action)
    return [s for policy in group for s in policy.candidates(action)]


def _scan(
    group: Group,
    request: RequestContext,
    missing: list[str],
    denies: list[StatementRef],
) -> list[StatementRef]:
    allows: list[StatementRef] = []
    for statement in _candidates(group, request.action_key):
        if _applies(statement, request, missing):
            if statement.effect is Effect.DENY:
                denies.append(statement.ref)
            else:
                allows.append(statement.ref)
    return allows


def _scan_resource(
    policy: Policy,
    request: RequestContext,
    missing: list[str],
    denies: list[StatementRef],
) -> tuple[list[StatementRef], int]:
    allows: list[StatementRef] = []
    best = NO_MATCH
    for statement in policy.candidates(request.action_key):
        principals = statement.principals
        how = principals.match(request.caller) if principals is not None else DIRECT
        if how == NO_MATCH or not _applies(statement, request, missing):
            continue
        if statement.effect is Effect.DENY:
            denies.append(statement.ref)
        else:
            allows.append(statement.ref)
            best = max(best, how)
    return allows, best


def evaluate(
    request: RequestContext,
    *,
    identity: Group = (),
    resource: Policy | None = None,
    boundary: Group | None = None,
    session: Group | None = None,
    is_root: bool = False,
) -> Decision:
    """
    Decide one request.

    Args:
        request: who does what on which resource, with the request context.
        identity: the caller's identity-based policies (user, group and role policies).
        resource: the resource-based policy, or the role trust policy for
            `sts:AssumeRole*` (a policy of kind `trust` must always allow).
        boundary: the caller's permissions boundary, or None when it has none.
        session: the session policies, or None for a session without any (and for
            callers that are not sessions).
        is_root: the caller is its account's root user.

    Returns:
        A `Decision`; it never raises for a well-formed request.
    """
    missing: list[str] = []
    denies: list[StatementRef] = []
    id_allows = _scan(identity, request, missing, denies) if identity else []
    b_allows = _scan(boundary, request, missing, denies) if boundary else []
    s_allows = _scan(session, request, missing, denies) if session else []
    r_allows: list[StatementRef] = []
    how = NO_MATCH
    if resource is not None:
        r_allows, how = _scan_resource(resource, request, missing, denies)
    missing_keys = tuple(dict.fromkeys(missing)) if missing else ()

    # 1. An explicit deny in any applicable policy wins.
    if denies:
        return Decision(Verdict.EXPLICIT_DENY, tuple(denies), missing_keys)

    trust = resource is not None and resource.kind == "trust"
    cross = request.is_cross_account
    boundary_ok = boundary is None or bool(b_allows)
    session_ok = session is None or bool(s_allows)
    identity_ok = (is_root or bool(id_allows)) and boundary_ok and session_ok
    allowed = [*id_allows, *b_allows, *s_allows, *r_allows]

    # 2. The root user has full access to its own account.
    if is_root and not cross and not trust:
        return Decision(Verdict.ALLOWED, tuple(allowed), missing_keys)

    if cross or trust:
        # 5. Trust policies must allow; across accounts both sides must allow.
        if how != NO_MATCH and not cross:
            granted = how == DIRECT or (how == ENTITY and boundary_ok and session_ok)
            if granted or identity_ok:
                return Decision(Verdict.ALLOWED, tuple(allowed), missing_keys)
        elif how != NO_MATCH and identity_ok:
            return Decision(Verdict.ALLOWED, tuple(allowed), missing_keys)
    else:
        # 3. A resource-based policy naming the caller (or its session's entity).
        if how == DIRECT or (how == ENTITY and boundary_ok and session_ok):
            return Decision(Verdict.ALLOWED, tuple(allowed), missing_keys)
        # 4. Identity-based policies, narrowed by boundaries and session policies.
        if identity_ok:
            return Decision(Verdict.ALLOWED, tuple(allowed), missing_keys)

    # 6. Implicit deny: say which policy kinds had no matching allow.
    lacking: list[PolicyKind] = []
    if trust and how == NO_MATCH:
        lacking.append("trust")
    if not id_allows and not is_root and how not in (DIRECT, ENTITY):
        lacking.append("identity")
    if not boundary_ok:
        lacking.append("boundary")
    if not session_ok:
        lacking.append("session")
    if resource is not None and not trust and how == NO_MATCH:
        lacking.append("resource")
    elif resource is None and cross:
        lacking.append("resource")
    # Across accounts with a resource allow, the identity side is what is missing.
    return Decision(Verdict.IMPLICIT_DENY, (), missing_keys, tuple(lacking) or ("identity",))
