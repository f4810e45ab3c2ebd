"""
Statements: one JSON statement in, a compiled `Statement` out.

Layer: ``gateway.policy`` (pure). Imports nothing from the rest of the gateway.

The policy kind decides which elements a statement must or must not have: a trust
policy uses `Action` and no `Resource`; resource and trust policies must name a
`Principal`, and the other kinds must not.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal, get_args

from .conditions import Condition
from .elements import (
    ActionMatcher,
    ResourceMatcher,
    build_actions,
    build_conditions,
    build_resources,
    string_list,
)
from .errors import did_you_mean, malformed
from .positions import Span
from .principals import PRINCIPAL_TYPES, PrincipalMatcher, build_principal

__all__ = [
    "POLICY_KINDS",
    "STATEMENT_ELEMENTS",
    "Effect",
    "PolicyKind",
    "Statement",
    "StatementRef",
    "build_statement",
]

PolicyKind = Literal["identity", "resource", "trust", "boundary", "session"]
POLICY_KINDS: tuple[str, ...] = get_args(PolicyKind)
STATEMENT_ELEMENTS = (
    "Sid",
    "Effect",
    "Principal",
    "NotPrincipal",
    "Action",
    "NotAction",
    "Resource",
    "NotResource",
    "Condition",
)
_STATEMENT_SET = frozenset(STATEMENT_ELEMENTS)


class Effect(StrEnum):
    """A statement's `Effect`."""

    ALLOW = "Allow"
    DENY = "Deny"


@dataclass(frozen=True, slots=True)
class StatementRef:
    """
    Which statement of which policy matched, for decisions and simulator output.

    Attributes:
        policy_id: the policy's name or ARN as given to `parse_policy`.
        policy_kind: identity, resource, trust, boundary or session.
        index: position in the `Statement` list.
        sid: the `Sid`, or "".
        span: ((line, column), (line, column)) in the source text, when known.
    """

    policy_id: str
    policy_kind: PolicyKind
    index: int
    sid: str
    span: Span | None = None


@dataclass(frozen=True, slots=True)
class Statement:
    """
    One compiled statement.

    Attributes:
        index: position in the `Statement` list (0 when it was a single object).
        sid: the `Sid`, or "".
        path: JSON path of the statement, such as `Statement[2]`.
        span: ((line, column), (line, column)) of the statement in the source text.
    """

    index: int
    sid: str
    effect: Effect
    actions: ActionMatcher
    resources: ResourceMatcher | None
    principals: PrincipalMatcher | None
    conditions: tuple[Condition, ...]
    path: str
    ref: StatementRef


def _pick(stmt: Mapping[str, Any], path: str, a: str, b: str) -> tuple[str, Any] | None:
    if a in stmt and b in stmt:
        raise malformed(path, f"a statement cannot have both `{a}` and `{b}`")
    if a in stmt:
        return a, stmt[a]
    if b in stmt:
        return b, stmt[b]
    return None


def build_statement(
    stmt: object, index: int, path: str, kind: PolicyKind, variables: bool, ref: _RefInfo
) -> Statement:
    if not isinstance(stmt, Mapping):
        raise malformed(path, "statement must be a JSON object")
    if not stmt:
        raise malformed(path, "statement is empty")
    for key in stmt:
        if key not in _STATEMENT_SET:
            raise malformed(
                path, f"unknown element `{key}`" + did_you_mean(key, STATEMENT_ELEMENTS)
            )
    sid = stmt.get("Sid", "")
    if not isinstance(sid, str):
        raise malformed(f"{path}.Sid", "`Sid` must be a string")
    effect = stmt.get("Effect")
    if effect not in ("Allow", "Deny"):
        if effect is None:
            raise malformed(path, "statement must have an `Effect` of `Allow` or `Deny`")
        raise malformed(
            f"{path}.Effect", f"`{effect}` is not a valid effect: use `Allow` or `Deny`"
        )

    action = _pick(stmt, path, "Action", "NotAction")
    if action is None:
        raise malformed(path, "statement must contain actions (`Action` or `NotAction`)")
    if kind == "trust" and action[0] == "NotAction":
        raise malformed(f"{path}.NotAction", "a trust policy must use `Action`, not `NotAction`")
    action_path = f"{path}.{action[0]}"
    actions = build_actions(
        string_list(action[1], action_path, action[0]), action_path, action[0], kind
    )

    resource = _pick(stmt, path, "Resource", "NotResource")
    resources = None
    if kind == "trust":
        if resource is not None:
            raise malformed(
                f"{path}.{resource[0]}", f"a trust policy must not have `{resource[0]}`"
            )
    elif resource is None:
        raise malformed(path, "statement must contain resources (`Resource` or `NotResource`)")
    else:
        res_path = f"{path}.{resource[0]}"
        values = string_list(resource[1], res_path, resource[0])
        resources = build_resources(values, res_path, resource[0], variables)

    principal = _pick(stmt, path, "Principal", "NotPrincipal")
    principals = None
    if kind in ("resource", "trust"):
        if principal is None:
            raise malformed(path, f"a {kind} policy statement must name a `Principal`")
        p_path = f"{path}.{principal[0]}"
        try:
            principals = build_principal(principal[1], negated=principal[0] == "NotPrincipal")
        except KeyError as exc:
            raise malformed(
                p_path,
                f"unknown principal type `{exc.args[0]}`"
                + did_you_mean(exc.args[0], PRINCIPAL_TYPES),
            ) from None
        except ValueError as exc:
            raise malformed(p_path, str(exc)) from None
    elif principal is not None:
        raise malformed(
            f"{path}.{principal[0]}", f"{_kind_label(kind)} must not specify a `{principal[0]}`"
        )

    conditions: tuple[Condition, ...] = ()
    if "Condition" in stmt:
        conditions = build_conditions(stmt["Condition"], f"{path}.Condition", variables)
    return Statement(
        index=index,
        sid=sid,
        effect=Effect(effect),
        actions=actions,
        resources=resources,
        principals=principals,
        conditions=conditions,
        path=path,
        ref=StatementRef(ref[0], kind, index, sid, ref[1]),
    )


_RefInfo = tuple[str, "Span | None"]


def _kind_label(kind: str) -> str:
    return {
        "identity": "an identity-based policy",
        "boundary": "a permissions boundary",
        "session": "a session policy",
    }.get(kind, f"a {kind} policy")
