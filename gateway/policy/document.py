"""
Policy documents: JSON in, a validated and compiled `Policy` out.

Layer: ``gateway.policy`` (pure). Imports nothing from the rest of the gateway.

Parsing happens once, when a document is written; evaluation reuses the compiled
matchers. The grammar is the IAM JSON policy reference: `Version`, `Id` and
`Statement` (an object or a list) with `Sid`, `Effect`, `Principal`/`NotPrincipal`,
`Action`/`NotAction`, `Resource`/`NotResource` and `Condition`. The policy kind
decides which elements are required or prohibited.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal, get_args

from .conditions import OPERATORS, Condition, build_condition
from .errors import MalformedPolicy, PolicyTooLarge
from .index import ActionIndex
from .matching import Template, Values, compile_regex, glob_tokens, parse_template, split_arn
from .positions import Span, statement_spans
from .principals import PRINCIPAL_TYPES, PrincipalMatcher, build_principal

__all__ = [
    "ActionMatcher",
    "Effect",
    "Policy",
    "PolicyKind",
    "ResourceMatcher",
    "Statement",
    "StatementRef",
    "parse_policy",
]

PolicyKind = Literal["identity", "resource", "trust", "boundary", "session"]
POLICY_KINDS: tuple[str, ...] = get_args(PolicyKind)
VERSIONS = ("2012-10-17", "2008-10-17")
TOP_ELEMENTS = ("Version", "Id", "Statement")
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
# Actions a role trust policy may grant (IAM User Guide, "Roles terms and concepts").
TRUST_ACTIONS = (
    "sts:AssumeRole",
    "sts:AssumeRoleWithSAML",
    "sts:AssumeRoleWithWebIdentity",
    "sts:SetContext",
    "sts:SetSourceIdentity",
    "sts:TagSession",
)
_ACTION = re.compile(r"[A-Za-z0-9*?\-]+:[A-Za-z0-9*?_\-]+")
_CONDITION_KEY = re.compile(r"[A-Za-z0-9*?\-]+:\S+")


class Effect(StrEnum):
    """A statement's `Effect`."""

    ALLOW = "Allow"
    DENY = "Deny"


@dataclass(frozen=True, slots=True)
class ActionMatcher:
    """
    A compiled `Action` (or, with `negated`, `NotAction`) element; case-insensitive.
    """

    patterns: tuple[str, ...]
    negated: bool
    anything: bool
    literals: frozenset[str]
    regex: re.Pattern[str] | None

    def matches(self, action: str) -> bool:
        """Whether the statement covers `action`, which must be lowercase."""
        hit = (
            self.anything
            or action in self.literals
            or (self.regex is not None and self.regex.fullmatch(action) is not None)
        )
        return hit != self.negated


@dataclass(frozen=True, slots=True)
class ResourceMatcher:
    """
    A compiled `Resource` (or, with `negated`, `NotResource`) element; case-sensitive.
    """

    patterns: tuple[str, ...]
    negated: bool
    anything: bool
    literals: frozenset[str]
    regex: re.Pattern[str] | None
    templates: tuple[Template, ...]

    def matches(self, resource: str, context: Values, missing: list[str]) -> bool:
        """Whether the statement covers `resource`, substituting policy variables."""
        hit = (
            self.anything
            or resource in self.literals
            or (self.regex is not None and self.regex.fullmatch(resource) is not None)
        )
        if not hit:
            for template in self.templates:
                if template.matches(resource, context, missing):
                    hit = True
                    break
        return hit != self.negated


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


@dataclass(frozen=True, slots=True)
class Policy:
    """
    A parsed, validated, compiled policy document; build it with `parse_policy`.

    Attributes:
        policy_id: the caller's name for it (policy name or ARN), shown in decisions.
        kind: identity, resource, trust, boundary or session.
        version: `2012-10-17`, `2008-10-17` or "" when absent.
        id: the document's own `Id` element, or "".
        size: characters without whitespace, the way AWS counts against its limits.
        document: the document as parsed.
    """

    policy_id: str
    kind: PolicyKind
    version: str
    id: str
    statements: tuple[Statement, ...]
    size: int
    document: Mapping[str, Any] = field(repr=False, compare=False)
    index: ActionIndex[Statement] = field(repr=False, compare=False)

    def candidates(self, action: str) -> tuple[Statement, ...]:
        """The statements whose action element matches `action` (lowercase)."""
        return self.index.candidates(action)


def _fail(path: str, message: str) -> MalformedPolicy:
    return MalformedPolicy(message, path)


def _suggest(word: str, choices: tuple[str, ...] | list[str]) -> str:
    lowered = {c.lower(): c for c in choices}
    if word.lower() in lowered:
        return f": did you mean `{lowered[word.lower()]}`?"
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f": did you mean `{close[0]}`?" if close else ""


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise _Duplicate(key)
        seen[key] = value
    return seen


class _Duplicate(Exception):
    pass


def _load(document: str | bytes | Mapping[str, Any]) -> Mapping[str, Any]:
    if isinstance(document, bytes):
        try:
            document = document.decode("utf-8")
        except UnicodeDecodeError:
            raise _fail("", "policy is not valid UTF-8") from None
    if isinstance(document, str):
        try:
            loaded = json.loads(document, object_pairs_hook=_no_duplicates)
        except _Duplicate as exc:
            raise _fail("", f"duplicate element `{exc.args[0]}`") from None
        except json.JSONDecodeError as exc:
            raise _fail(
                "",
                f"syntax error in policy: {exc.msg.lower()} at line {exc.lineno}"
                f" column {exc.colno}",
            ) from None
        except RecursionError:
            raise _fail("", "syntax error in policy: nested too deeply") from None
    else:
        loaded = document
    if not isinstance(loaded, Mapping):
        raise _fail("", "policy must be a JSON object")
    return loaded


def _size(document: Mapping[str, Any]) -> int:
    try:
        compact = json.dumps(document, separators=(",", ":"), ensure_ascii=False)
    except (TypeError, ValueError, RecursionError):
        raise _fail("", "policy is not a JSON document") from None
    return len(compact)


def _strings(value: object, path: str, name: str) -> list[str]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
        raise _fail(path, f"`{name}` must be a string or a list of strings")
    if not items:
        raise _fail(path, f"`{name}` must not be empty")
    return items


def _condition_values(value: object, path: str, key: str) -> list[str]:
    items = value if isinstance(value, list) else [value]
    if not items:
        raise _fail(path, f"condition key `{key}` has no values")
    out = []
    for item in items:
        if isinstance(item, bool):
            out.append("true" if item else "false")
        elif isinstance(item, str | int | float):
            out.append(str(item))
        else:
            raise _fail(path, f"condition key `{key}` values must be strings, numbers or booleans")
    return out


def _operator_names() -> list[str]:
    names = list(OPERATORS)
    names += [f"{n}IfExists" for n in OPERATORS if n != "Null"]
    return names


_ALL_OPERATORS = _operator_names()


def _build_actions(values: list[str], path: str, name: str, kind: str) -> ActionMatcher:
    literals: set[str] = set()
    wild: list[str] = []
    anything = False
    for value in values:
        if value == "*":
            anything = True
        elif not _ACTION.fullmatch(value):
            raise _fail(
                path,
                f"`{value}` is not a valid action: "
                "prefix it with a service, such as `s3:GetObject`",
            )
        if kind == "trust" and not any(
            compile_regex([glob_tokens(value.lower())]).fullmatch(a.lower()) for a in TRUST_ACTIONS
        ):
            allowed = ", ".join(f"`{a}`" for a in TRUST_ACTIONS)
            raise _fail(path, f"`{value}` is not allowed in a trust policy: use one of {allowed}")
        lowered = value.lower()
        if "*" in lowered or "?" in lowered:
            wild.append(lowered)
        else:
            literals.add(lowered)
    regex = compile_regex([glob_tokens(w) for w in wild]) if wild and not anything else None
    return ActionMatcher(
        tuple(v.lower() for v in values), name == "NotAction", anything, frozenset(literals), regex
    )


def _build_resources(values: list[str], path: str, name: str, variables: bool) -> ResourceMatcher:
    literals: set[str] = set()
    wild: list[str] = []
    templates: list[Template] = []
    anything = False
    for value in values:
        if value == "*":
            anything = True
            continue
        parts = split_arn(value)
        if parts is None or not parts[1] or not parts[2]:
            raise _fail(path, f"`{value}` is not a valid resource: use an ARN or `*`")
        try:
            template = parse_template(value, variables=variables)
        except ValueError as exc:
            raise _fail(path, str(exc)) from None
        if template is not None:
            templates.append(template)
        elif "*" in value or "?" in value:
            wild.append(value)
        else:
            literals.add(value)
    regex = compile_regex([glob_tokens(w) for w in wild]) if wild else None
    return ResourceMatcher(
        tuple(values), name == "NotResource", anything, frozenset(literals), regex, tuple(templates)
    )


def _build_conditions(value: object, path: str, variables: bool) -> tuple[Condition, ...]:
    if not isinstance(value, Mapping):
        raise _fail(path, "`Condition` must be an object of operators")
    conditions: list[Condition] = []
    for op_name, block in value.items():
        op_path = f"{path}.{op_name}"
        if not isinstance(block, Mapping) or not block:
            raise _fail(op_path, "condition operator must map condition keys to values")
        for key, raw in block.items():
            if not _CONDITION_KEY.fullmatch(key):
                raise _fail(
                    op_path,
                    f"condition key `{key}` must be prefixed by a service, such as `aws:SourceIp`",
                )
            values = _condition_values(raw, op_path, key)
            try:
                conditions.append(build_condition(op_name, key, values, variables=variables))
            except KeyError:
                raise _fail(
                    op_path,
                    f"unknown condition operator `{op_name}`"
                    + _suggest(op_name.rpartition(":")[2], _ALL_OPERATORS),
                ) from None
            except ValueError as exc:
                raise _fail(op_path, f"condition key `{key}`: {exc}") from None
    return tuple(conditions)


def _pick(stmt: Mapping[str, Any], path: str, a: str, b: str) -> tuple[str, Any] | None:
    if a in stmt and b in stmt:
        raise _fail(path, f"a statement cannot have both `{a}` and `{b}`")
    if a in stmt:
        return a, stmt[a]
    if b in stmt:
        return b, stmt[b]
    return None


def _build_statement(
    stmt: object, index: int, path: str, kind: PolicyKind, variables: bool, ref: _RefInfo
) -> Statement:
    if not isinstance(stmt, Mapping):
        raise _fail(path, "statement must be a JSON object")
    if not stmt:
        raise _fail(path, "statement is empty")
    for key in stmt:
        if key not in _STATEMENT_SET:
            raise _fail(path, f"unknown element `{key}`" + _suggest(key, STATEMENT_ELEMENTS))
    sid = stmt.get("Sid", "")
    if not isinstance(sid, str):
        raise _fail(f"{path}.Sid", "`Sid` must be a string")
    effect = stmt.get("Effect")
    if effect not in ("Allow", "Deny"):
        if effect is None:
            raise _fail(path, "statement must have an `Effect` of `Allow` or `Deny`")
        raise _fail(f"{path}.Effect", f"`{effect}` is not a valid effect: use `Allow` or `Deny`")

    action = _pick(stmt, path, "Action", "NotAction")
    if action is None:
        raise _fail(path, "statement must contain actions (`Action` or `NotAction`)")
    if kind == "trust" and action[0] == "NotAction":
        raise _fail(f"{path}.NotAction", "a trust policy must use `Action`, not `NotAction`")
    action_path = f"{path}.{action[0]}"
    actions = _build_actions(
        _strings(action[1], action_path, action[0]), action_path, action[0], kind
    )

    resource = _pick(stmt, path, "Resource", "NotResource")
    resources = None
    if kind == "trust":
        if resource is not None:
            raise _fail(f"{path}.{resource[0]}", f"a trust policy must not have `{resource[0]}`")
    elif resource is None:
        raise _fail(path, "statement must contain resources (`Resource` or `NotResource`)")
    else:
        res_path = f"{path}.{resource[0]}"
        values = _strings(resource[1], res_path, resource[0])
        resources = _build_resources(values, res_path, resource[0], variables)

    principal = _pick(stmt, path, "Principal", "NotPrincipal")
    principals = None
    if kind in ("resource", "trust"):
        if principal is None:
            raise _fail(path, f"a {kind} policy statement must name a `Principal`")
        p_path = f"{path}.{principal[0]}"
        try:
            principals = build_principal(principal[1], negated=principal[0] == "NotPrincipal")
        except KeyError as exc:
            raise _fail(
                p_path,
                f"unknown principal type `{exc.args[0]}`" + _suggest(exc.args[0], PRINCIPAL_TYPES),
            ) from None
        except ValueError as exc:
            raise _fail(p_path, str(exc)) from None
    elif principal is not None:
        raise _fail(
            f"{path}.{principal[0]}", f"{_kind_label(kind)} must not specify a `{principal[0]}`"
        )

    conditions: tuple[Condition, ...] = ()
    if "Condition" in stmt:
        conditions = _build_conditions(stmt["Condition"], f"{path}.Condition", variables)
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


def parse_policy(
    document: str | bytes | Mapping[str, Any],
    *,
    kind: PolicyKind = "identity",
    policy_id: str = "",
    max_size: int | None = None,
) -> Policy:
    """
    Parse, validate and compile a policy document.

    Args:
        document: JSON text or an already decoded JSON object.
        kind: what the policy is attached as; decides which elements are legal.
        policy_id: the name or ARN reported in decisions and messages.
        max_size: refuse documents longer than this, counted without whitespace
            (AWS: 6,144 for managed policies, 2,048 for inline user policies).

    Returns:
        The compiled policy.

    Raises:
        PolicyError: `MalformedPolicy` with the JSON path and what is wrong;
            `PolicyTooLarge` when over `max_size`.
    """
    if kind not in POLICY_KINDS:
        raise MalformedPolicy(f"unknown policy kind `{kind}`" + _suggest(kind, POLICY_KINDS))
    doc = _load(document)
    size = _size(doc)
    if max_size is not None and size > max_size:
        raise PolicyTooLarge(
            f"policy is {size} characters without whitespace, over the limit of {max_size}"
        )
    for key in doc:
        if key not in TOP_ELEMENTS:
            raise _fail("", f"unknown element `{key}`" + _suggest(str(key), TOP_ELEMENTS))
    version = doc.get("Version", "")
    if version != "" and version not in VERSIONS:
        raise _fail("Version", f"`{version}` is not a valid policy version: use `2012-10-17`")
    policy_doc_id = doc.get("Id", "")
    if not isinstance(policy_doc_id, str):
        raise _fail("Id", "`Id` must be a string")
    if "Statement" not in doc:
        raise _fail("", "policy must contain a `Statement`")
    raw = doc["Statement"]
    single = isinstance(raw, Mapping)
    items = [raw] if single else raw
    if not isinstance(items, list):
        raise _fail("Statement", "`Statement` must be an object or a list of objects")
    if not items:
        raise _fail("Statement", "`Statement` must not be empty")
    variables = version == "2012-10-17"
    spans = statement_spans(document) if isinstance(document, str) else None
    statements: list[Statement] = []
    sids: set[str] = set()
    for index, stmt in enumerate(items):
        path = "Statement" if single else f"Statement[{index}]"
        span = spans[index] if spans is not None and index < len(spans) else None
        statement = _build_statement(stmt, index, path, kind, variables, (policy_id, span))
        if statement.sid:
            if statement.sid in sids:
                raise _fail(f"{path}.Sid", f"duplicate Sid `{statement.sid}`: Sids must be unique")
            sids.add(statement.sid)
        statements.append(statement)
    compiled = tuple(statements)
    return Policy(
        policy_id=policy_id,
        kind=kind,
        version=version,
        id=policy_doc_id,
        statements=compiled,
        size=size,
        document=doc,
        index=ActionIndex(compiled, _actions_of),
    )


def _actions_of(statement: Statement) -> ActionMatcher:
    return statement.actions
