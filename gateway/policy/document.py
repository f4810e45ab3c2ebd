"""
Policy documents: JSON in, a validated and compiled `Policy` out.

Layer: ``gateway.policy`` (pure). Imports nothing from the rest of the gateway.

Parsing happens once, when a document is written; evaluation reuses the compiled
matchers. The grammar is the IAM JSON policy reference: `Version`, `Id` and
`Statement` (an object or a list) with `Sid`, `Effect`, `Principal`/`NotPrincipal`,
`Action`/`NotAction`, `Resource`/`NotResource` and `Condition`. The policy kind
decides which elements are required or prohibited. This module checks the document
and its top-level elements; `statements` compiles each statement and `elements` its
`Action`, `Resource` and `Condition` elements.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .elements import ActionMatcher, ResourceMatcher
from .errors import MalformedPolicy, PolicyTooLarge, did_you_mean, malformed
from .index import ActionIndex
from .positions import statement_spans
from .statements import POLICY_KINDS, Effect, PolicyKind, Statement, StatementRef, build_statement

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

VERSIONS = ("2012-10-17", "2008-10-17")
TOP_ELEMENTS = ("Version", "Id", "Statement")


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
            raise malformed("", "policy is not valid UTF-8") from None
    if isinstance(document, str):
        try:
            loaded = json.loads(document, object_pairs_hook=_no_duplicates)
        except _Duplicate as exc:
            raise malformed("", f"duplicate element `{exc.args[0]}`") from None
        except json.JSONDecodeError as exc:
            raise malformed(
                "",
                f"syntax error in policy: {exc.msg.lower()} at line {exc.lineno}"
                f" column {exc.colno}",
            ) from None
        except RecursionError:
            raise malformed("", "syntax error in policy: nested too deeply") from None
    else:
        loaded = document
    if not isinstance(loaded, Mapping):
        raise malformed("", "policy must be a JSON object")
    return loaded


def _size(document: Mapping[str, Any]) -> int:
    try:
        compact = json.dumps(document, separators=(",", ":"), ensure_ascii=False)
    except (TypeError, ValueError, RecursionError):
        raise malformed("", "policy is not a JSON document") from None
    return len(compact)


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
        raise MalformedPolicy(f"unknown policy kind `{kind}`" + did_you_mean(kind, POLICY_KINDS))
    doc = _load(document)
    size = _size(doc)
    if max_size is not None and size > max_size:
        raise PolicyTooLarge(
            f"policy is {size} characters without whitespace, over the limit of {max_size}"
        )
    for key in doc:
        if key not in TOP_ELEMENTS:
            raise malformed("", f"unknown element `{key}`" + did_you_mean(str(key), TOP_ELEMENTS))
    version = doc.get("Version", "")
    if version != "" and version not in VERSIONS:
        raise malformed("Version", f"`{version}` is not a valid policy version: use `2012-10-17`")
    policy_doc_id = doc.get("Id", "")
    if not isinstance(policy_doc_id, str):
        raise malformed("Id", "`Id` must be a string")
    if "Statement" not in doc:
        raise malformed("", "policy must contain a `Statement`")
    raw = doc["Statement"]
    single = isinstance(raw, Mapping)
    items = [raw] if single else raw
    if not isinstance(items, list):
        raise malformed("Statement", "`Statement` must be an object or a list of objects")
    if not items:
        raise malformed("Statement", "`Statement` must not be empty")
    variables = version == "2012-10-17"
    spans = statement_spans(document) if isinstance(document, str) else None
    statements: list[Statement] = []
    sids: set[str] = set()
    for index, stmt in enumerate(items):
        path = "Statement" if single else f"Statement[{index}]"
        span = spans[index] if spans is not None and index < len(spans) else None
        statement = build_statement(stmt, index, path, kind, variables, (policy_id, span))
        if statement.sid:
            if statement.sid in sids:
                raise malformed(
                    f"{path}.Sid", f"duplicate Sid `{statement.sid}`: Sids must be unique"
                )
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
