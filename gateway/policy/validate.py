"""
Policy checks: the errors IAM would reject a document for, and warnings in the
spirit of IAM Access Analyzer's policy validation.

Layer: ``gateway.policy`` (pure). Imports nothing from the rest of the gateway.

Warnings (codes):

- `ALLOW_WITH_NOT_ACTION`, `ALLOW_WITH_NOT_RESOURCE`: an allow that grants
  everything except a list, which grows as AWS adds actions or resources;
- `PASS_ROLE_WITH_STAR_IN_RESOURCE`: `iam:PassRole` on every role;
- `UNKNOWN_GLOBAL_CONDITION_KEY`: an `aws:` key that AWS does not define;
- `NEVER_MATCHES`: a statement that no request can match;
- `SHADOWED_STATEMENT`: a statement made redundant or void by another one;
- `VARIABLES_NOT_SUBSTITUTED`: `${...}` in a policy without Version 2012-10-17.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any

from .conditions import ALL_VALUES, Condition
from .document import Effect, Policy, PolicyKind, Statement, parse_policy
from .errors import Finding, PolicyError
from .matching import Glob, glob_tokens

__all__ = ["GLOBAL_CONDITION_KEYS", "analyze", "check_policy"]

# IAM User Guide, "AWS global condition context keys".
GLOBAL_CONDITION_KEYS = (
    "aws:AssumedRoot",
    "aws:CalledVia",
    "aws:CalledViaFirst",
    "aws:CalledViaLast",
    "aws:ChatbotSourceArn",
    "aws:CurrentTime",
    "aws:Ec2InstanceSourcePrivateIPv4",
    "aws:Ec2InstanceSourceVpc",
    "aws:EpochTime",
    "aws:FederatedProvider",
    "aws:MultiFactorAuthAge",
    "aws:MultiFactorAuthPresent",
    "aws:PrincipalAccount",
    "aws:PrincipalArn",
    "aws:PrincipalIsAWSService",
    "aws:PrincipalOrgID",
    "aws:PrincipalOrgPaths",
    "aws:PrincipalServiceName",
    "aws:PrincipalServiceNamesList",
    "aws:PrincipalTag/",
    "aws:PrincipalType",
    "aws:Referer",
    "aws:RequestedRegion",
    "aws:RequestTag/",
    "aws:ResourceAccount",
    "aws:ResourceOrgID",
    "aws:ResourceOrgPaths",
    "aws:ResourceTag/",
    "aws:SecureTransport",
    "aws:SourceAccount",
    "aws:SourceArn",
    "aws:SourceIdentity",
    "aws:SourceIp",
    "aws:SourceOrgID",
    "aws:SourceOrgPaths",
    "aws:SourceVpc",
    "aws:SourceVpcArn",
    "aws:SourceVpce",
    "aws:TagKeys",
    "aws:TokenIssueTime",
    "aws:UserAgent",
    "aws:userid",
    "aws:username",
    "aws:ViaAWSService",
    "aws:VpceAccount",
    "aws:VpceOrgID",
    "aws:VpceOrgPaths",
    "aws:VpcSourceIp",
)
_GLOBAL = {k.lower(): k for k in GLOBAL_CONDITION_KEYS}
_PREFIXES = tuple(k for k in _GLOBAL if k.endswith("/"))


def check_policy(
    document: str | bytes | Mapping[str, Any],
    *,
    kind: PolicyKind = "identity",
    max_size: int | None = None,
) -> list[Finding]:
    """
    Validate a document and return every finding; never raises for bad input.

    Returns:
        One `error` finding when the document is malformed (IAM would reject it),
        otherwise the warnings, possibly none.
    """
    try:
        policy = parse_policy(document, kind=kind, max_size=max_size)
    except PolicyError as exc:
        code = "POLICY_TOO_LARGE" if exc.code == "LimitExceeded" else "MALFORMED_POLICY"
        return [Finding("error", exc.path, exc.message, code)]
    return analyze(policy)


def analyze(policy: Policy) -> list[Finding]:
    """The warnings for an already parsed policy."""
    findings: list[Finding] = []
    if policy.version != "2012-10-17" and "${" in repr(policy.document):
        findings.append(
            Finding(
                "warning",
                "Version",
                "policy variables are literal text unless `Version` is `2012-10-17`",
                "VARIABLES_NOT_SUBSTITUTED",
            )
        )
    for statement in policy.statements:
        findings.extend(_statement_findings(statement))
    findings.extend(_shadowing(policy.statements))
    return findings


def _statement_findings(statement: Statement) -> list[Finding]:
    out: list[Finding] = []
    path = statement.path
    allow = statement.effect is Effect.ALLOW
    resources = statement.resources
    if allow and statement.actions.negated:
        out.append(
            Finding(
                "warning",
                f"{path}.NotAction",
                "`Allow` with `NotAction` grants every action not listed, including future "
                "ones: list the allowed actions in `Action` instead",
                "ALLOW_WITH_NOT_ACTION",
            )
        )
    if allow and resources is not None and resources.negated:
        out.append(
            Finding(
                "warning",
                f"{path}.NotResource",
                "`Allow` with `NotResource` grants every resource not listed: list the "
                "allowed resources in `Resource` instead",
                "ALLOW_WITH_NOT_RESOURCE",
            )
        )
    if (
        allow
        and not statement.actions.negated
        and statement.actions.matches("iam:passrole")
        and resources is not None
        and not resources.negated
        and resources.anything
    ):
        out.append(
            Finding(
                "warning",
                f"{path}.Resource",
                "`iam:PassRole` with `Resource` `*` lets the principal pass any role to a "
                "service: name the roles that may be passed",
                "PASS_ROLE_WITH_STAR_IN_RESOURCE",
            )
        )
    for condition in statement.conditions:
        out.extend(_key_findings(condition, path))
    never = _never_matches(statement)
    if never:
        out.append(
            Finding(
                "warning",
                path,
                f"this `{statement.effect}` statement can never match: {never}",
                "NEVER_MATCHES",
            )
        )
    return out


def _key_findings(condition: Condition, path: str) -> list[Finding]:
    key = condition.key_lower
    if not key.startswith("aws:") or key in _GLOBAL:
        return []
    if any(key.startswith(prefix) and len(key) > len(prefix) for prefix in _PREFIXES):
        return []
    close = difflib.get_close_matches(key, list(_GLOBAL), n=1, cutoff=0.75)
    hint = f": did you mean `{_GLOBAL[close[0]]}`?" if close else ""
    return [
        Finding(
            "warning",
            f"{path}.Condition.{condition.operator}",
            f"`{condition.key}` is not a global condition key{hint}",
            "UNKNOWN_GLOBAL_CONDITION_KEY",
        )
    ]


def _never_matches(statement: Statement) -> str:
    if statement.actions.negated and statement.actions.anything:
        return "`NotAction` `*` excludes every action"
    resources = statement.resources
    if resources is not None and resources.negated and resources.anything:
        return "`NotResource` `*` excludes every resource"
    absent = {
        c.key_lower
        for c in statement.conditions
        if c.family == "null" and {v.lower() for v in c.values} == {"true"}
    }
    for condition in statement.conditions:
        needs_key = not (
            condition.family == "null"
            or condition.if_exists
            or condition.negated
            or condition.qualifier == ALL_VALUES
        )
        if needs_key and condition.key_lower in absent:
            return (
                f"`Null` requires `{condition.key}` to be missing but `{condition.operator}` "
                "requires it to be present"
            )
    return ""


def _covers_one(wide: str, narrow: str) -> bool:
    if wide == "*" or wide == narrow:
        return True
    if "${" in wide or "${" in narrow:
        return False
    if "*" not in narrow and "?" not in narrow:
        return Glob.from_tokens(glob_tokens(wide)).matches(narrow)
    stem = wide[:-1]
    return wide.endswith("*") and "*" not in stem and "?" not in stem and narrow.startswith(stem)


def _covers(wide: tuple[str, ...], narrow: tuple[str, ...]) -> bool:
    return all(any(_covers_one(w, n) for w in wide) for n in narrow)


def _shadows(a: Statement, b: Statement) -> bool:
    """True when unconditional `a` applies to every request `b` applies to."""
    if a.conditions or a.actions.negated or b.actions.negated:
        return False
    if not (a.actions.anything or _covers(a.actions.patterns, b.actions.patterns)):
        return False
    ra, rb = a.resources, b.resources
    # INVARIANT: statements of one policy share its kind, so either both have resources
    # or neither has (a trust policy).
    if ra is not None and rb is not None:
        if ra.negated or rb.negated:
            return False
        if not (ra.anything or _covers(ra.patterns, rb.patterns)):
            return False
    pa, pb = a.principals, b.principals
    if pa is not None and pb is not None and not pa.negated:
        return (pa.anyone or pa.names >= pb.names) and not pb.negated
    return pa is None and pb is None


def _shadowing(statements: tuple[Statement, ...]) -> list[Finding]:
    out: list[Finding] = []
    for b in statements:
        for a in statements:
            if a is b or not _shadows(a, b):
                continue
            if a.effect is Effect.DENY and b.effect is Effect.ALLOW:
                message = f"this `Allow` never takes effect: `{a.path}` denies all it allows"
            elif a.effect is b.effect and (not _shadows(b, a) or a.index < b.index):
                message = f"this statement is redundant: `{a.path}` already covers it"
            else:
                continue
            out.append(Finding("warning", b.path, message, "SHADOWED_STATEMENT"))
            break
    return out
