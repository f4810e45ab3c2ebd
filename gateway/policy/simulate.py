"""
A policy simulator shaped like IAM's SimulateCustomPolicy: request and response
are the same JSON structures the AWS API uses.

Layer: ``gateway.policy`` (pure). Imports nothing from the rest of the gateway;
the CLI reads the request file and prints the response.

The `ContextEntries` are the whole request context (nothing is derived), and
`CallerArn` is the principal that a `ResourcePolicy` is matched against. A
`ResourcePolicy` without any `Resource` element is read as a role trust policy.
"""

from __future__ import annotations

import base64
import difflib
import ipaddress
import json
from collections.abc import Mapping
from typing import Any

from .context import RequestContext
from .document import Policy, PolicyKind, StatementRef, parse_policy
from .errors import InvalidSimulation, PolicyError
from .evaluator import Decision, PolicySet, evaluate
from .matching import Scalar
from .operands import parse_date, parse_number

__all__ = ["CONTEXT_KEY_TYPES", "simulate_custom_policy"]

REQUEST_FIELDS = (
    "ActionNames",
    "CallerArn",
    "ContextEntries",
    "Marker",
    "MaxItems",
    "PermissionsBoundaryPolicyInputList",
    "PolicyInputList",
    "ResourceArns",
    "ResourceHandlingOption",
    "ResourceOwner",
    "ResourcePolicy",
)
CONTEXT_KEY_TYPES = (
    "string",
    "stringList",
    "numeric",
    "numericList",
    "boolean",
    "booleanList",
    "ip",
    "ipList",
    "binary",
    "binaryList",
    "date",
    "dateList",
)
_SOURCE_TYPES: dict[str, str] = {
    "identity": "IAM Policy",
    "boundary": "PermissionsBoundaryPolicy",
    "resource": "Resource Policy",
    "trust": "Resource Policy",
    "session": "Session Policy",
}


def _bad(message: str, path: str = "") -> InvalidSimulation:
    return InvalidSimulation(message, path)


def _string_list(request: Mapping[str, Any], name: str, *, required: bool) -> list[str]:
    value = request.get(name)
    if value is None:
        if required:
            raise _bad(f"`{name}` is required")
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _bad(f"`{name}` must be a list of strings", name)
    return value


def _policies(texts: list[str], field: str, kind: PolicyKind) -> list[Policy]:
    policies = []
    for n, text in enumerate(texts, start=1):
        policy_id = f"{field}.{n}"
        try:
            policies.append(parse_policy(text, kind=kind, policy_id=policy_id))
        except PolicyError as exc:
            where = f"{policy_id}: {exc.path}" if exc.path else policy_id
            raise _bad(exc.message, where) from None
    return policies


def _resource_kind(text: str) -> PolicyKind:
    try:
        doc = json.loads(text)
        items = doc["Statement"]
        items = [items] if isinstance(items, dict) else items
        if all(
            isinstance(s, dict) and "Resource" not in s and "NotResource" not in s for s in items
        ):
            return "trust"
    except (ValueError, KeyError, TypeError, RecursionError):
        pass  # parse_policy reports the problem with its path
    return "resource"


def _convert(kind: str, value: str, where: str) -> Scalar:
    base = kind.removesuffix("List")
    try:
        if base == "numeric":
            number = parse_number(value)
            return int(number) if number.is_integer() and "." not in value else number
        if base == "boolean":
            if value.lower() not in ("true", "false"):
                raise ValueError(f"`{value}` is not `true` or `false`")
            return value.lower() == "true"
        if base == "ip":
            ipaddress.ip_address(value.strip())
        elif base == "date":
            parse_date(value)
        elif base == "binary":
            return base64.b64decode(value, validate=True)
    except ValueError as exc:
        raise _bad(f"{exc}".replace("\n", " "), where) from None
    return value


def _context(entries: object) -> dict[str, Scalar | list[Scalar]]:
    if entries is None:
        return {}
    if not isinstance(entries, list):
        raise _bad("`ContextEntries` must be a list", "ContextEntries")
    context: dict[str, Scalar | list[Scalar]] = {}
    for n, entry in enumerate(entries):
        where = f"ContextEntries[{n}]"
        if not isinstance(entry, dict):
            raise _bad("context entry must be an object", where)
        name = entry.get("ContextKeyName")
        values = entry.get("ContextKeyValues")
        kind = entry.get("ContextKeyType", "string")
        if not isinstance(name, str) or not name:
            raise _bad("`ContextKeyName` must be a non-empty string", where)
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise _bad("`ContextKeyValues` must be a list of strings", where)
        if kind not in CONTEXT_KEY_TYPES:
            hint = difflib.get_close_matches(str(kind), CONTEXT_KEY_TYPES, n=1)
            extra = f": did you mean `{hint[0]}`?" if hint else ""
            raise _bad(f"unknown `ContextKeyType` `{kind}`{extra}", where)
        if not kind.endswith("List") and len(values) > 1:
            raise _bad(
                f"`{name}` has type `{kind}` but {len(values)} values: use `{kind}List`", where
            )
        converted = [_convert(kind, v, where) for v in values]
        context[name] = converted if kind.endswith("List") else (converted[0] if converted else [])
    return context


def _account(owner: object) -> str:
    if owner is None:
        return ""
    if not isinstance(owner, str):
        raise _bad("`ResourceOwner` must be a string", "ResourceOwner")
    parts = owner.split(":")
    if len(parts) == 6 and parts[0] == "arn":
        return parts[4]
    if owner.isdigit() and len(owner) == 12:
        return owner
    raise _bad(f"`{owner}` is not an account ARN or ID", "ResourceOwner")


def _statement(ref: StatementRef) -> dict[str, Any]:
    out: dict[str, Any] = {
        "SourcePolicyId": ref.policy_id,
        "SourcePolicyType": _SOURCE_TYPES[ref.policy_kind],
    }
    if ref.span is not None:
        (line1, col1), (line2, col2) = ref.span
        out["StartPosition"] = {"Line": line1, "Column": col1}
        out["EndPosition"] = {"Line": line2, "Column": col2}
    return out


def _result(action: str, resource: str, decision: Decision, boundary: bool) -> dict[str, Any]:
    result: dict[str, Any] = {
        "EvalActionName": action,
        "EvalResourceName": resource,
        "EvalDecision": str(decision.verdict),
        "MatchedStatements": [_statement(r) for r in decision.matched],
        "MissingContextValues": list(decision.missing_context),
    }
    if boundary:
        result["PermissionsBoundaryDecisionDetail"] = {
            "AllowedByPermissionsBoundary": "boundary" not in decision.denied_by
        }
    return result


def simulate_custom_policy(request: object) -> dict[str, Any]:
    """
    Run a SimulateCustomPolicy request.

    Args:
        request: the decoded request JSON.

    Returns:
        The response JSON: `EvaluationResults` (one per action and resource) and
        `IsTruncated`.

    Raises:
        PolicyError: `InvalidSimulation` for a badly shaped request, with the field
            path; a malformed policy is reported the same way, with its list position.
    """
    if not isinstance(request, dict):
        raise _bad("simulation request must be a JSON object")
    for name in request:
        if name not in REQUEST_FIELDS:
            hint = difflib.get_close_matches(str(name), REQUEST_FIELDS, n=1)
            extra = f": did you mean `{hint[0]}`?" if hint else ""
            raise _bad(f"unknown field `{name}`{extra}")
    identity = _policies(
        _string_list(request, "PolicyInputList", required=True), "PolicyInputList", "identity"
    )
    boundary_texts = _string_list(request, "PermissionsBoundaryPolicyInputList", required=False)
    boundaries = _policies(boundary_texts, "PermissionsBoundaryPolicyInputList", "boundary")
    resource: Policy | None = None
    if request.get("ResourcePolicy") is not None:
        text = request["ResourcePolicy"]
        if not isinstance(text, str):
            raise _bad("`ResourcePolicy` must be a string", "ResourcePolicy")
        try:
            resource = parse_policy(text, kind=_resource_kind(text), policy_id="ResourcePolicy")
        except PolicyError as exc:
            where = f"ResourcePolicy: {exc.path}" if exc.path else "ResourcePolicy"
            raise _bad(exc.message, where) from None
    actions = _string_list(request, "ActionNames", required=True)
    if not actions:
        raise _bad("`ActionNames` must not be empty", "ActionNames")
    resources = _string_list(request, "ResourceArns", required=False) or ["*"]
    caller = request.get("CallerArn", "")
    if not isinstance(caller, str):
        raise _bad("`CallerArn` must be a string", "CallerArn")
    context = _context(request.get("ContextEntries"))
    owner = _account(request.get("ResourceOwner"))
    id_set = PolicySet(identity)
    b_set: PolicySet | None = PolicySet(boundaries) if boundaries else None
    results = []
    for action in actions:
        for arn in resources:
            ctx = RequestContext(caller, action, arn, context, resource_account=owner)
            decision = evaluate(ctx, identity=id_set, resource=resource, boundary=b_set)
            results.append(_result(action, arn, decision, b_set is not None))
    return {"EvaluationResults": results, "IsTruncated": False}
