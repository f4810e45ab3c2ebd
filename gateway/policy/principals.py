"""
The `Principal` / `NotPrincipal` element and how a caller is matched against it.

Layer: ``gateway.policy`` (pure). Imports nothing from the rest of the gateway.

A caller is seen through up to three ARNs: its own (the IAM user, the role session
or the federated user session), the entity behind a session (the role, or the IAM
user who federated) and its account (`arn:aws:iam::ID:root`). Which of them a
resource-based policy names decides which implicit denies can still limit the
allow (IAM User Guide, "Policy evaluation logic", resource-based policies).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = [
    "ACCOUNT",
    "DIRECT",
    "ENTITY",
    "NO_MATCH",
    "PRINCIPAL_TYPES",
    "PrincipalMatcher",
    "account_of",
    "caller_arns",
]

# How a resource-based policy statement named the caller, strongest last.
NO_MATCH, ACCOUNT, ENTITY, DIRECT = 0, 1, 2, 3

PRINCIPAL_TYPES = ("AWS", "CanonicalUser", "Federated", "Service")

_ACCOUNT_ID = re.compile(r"\d{12}")
_AWS_ARN = re.compile(r"arn:[a-z-]+:(iam|sts)::(\d{12}):\S+")
_ASSUMED_ROLE = re.compile(r"arn:([a-z-]+):sts::(\d{12}):assumed-role/([^/]+)/.+")


def account_of(arn: str) -> str:
    """The 12-digit account of an IAM or STS ARN, or ""."""
    match = _AWS_ARN.fullmatch(arn)
    return match.group(2) if match else ""


@functools.lru_cache(maxsize=4096)
def caller_arns(principal: str, entity: str, account: str) -> tuple[str, str, str]:
    """
    The caller's (own ARN, entity ARN, account root ARN).

    The entity of an assumed-role session is derived from the session ARN when not
    given; a role path is not part of a session ARN, so callers with role paths
    should pass the role ARN explicitly.
    """
    if not entity:
        match = _ASSUMED_ROLE.fullmatch(principal)
        if match:
            entity = f"arn:{match.group(1)}:iam::{match.group(2)}:role/{match.group(3)}"
    account = account or account_of(principal)
    root = f"arn:aws:iam::{account}:root" if account else ""
    if entity == principal:
        entity = ""
    return principal, entity, root


def normalize_aws_principal(value: str) -> str:
    """
    Normalize one `AWS` principal: a bare account ID means the account root.

    Raises:
        ValueError: a malformed principal or one with wildcards other than `*`.
    """
    value = value.strip()
    if value == "*":
        return value
    if _ACCOUNT_ID.fullmatch(value):
        return f"arn:aws:iam::{value}:root"
    if "*" in value or "?" in value:
        raise ValueError(
            f"invalid principal `{value}`: wildcards are not allowed in principals; "
            "use `*` with a condition on `aws:PrincipalArn`"
        )
    if not _AWS_ARN.fullmatch(value):
        raise ValueError(f"invalid principal `{value}`: use an account ID or an IAM or STS ARN")
    return value


@dataclass(frozen=True, slots=True)
class PrincipalMatcher:
    """
    A compiled `Principal` (or, with `negated`, `NotPrincipal`) element.

    Attributes:
        anyone: `"*"` or `{"AWS": "*"}` was given.
        names: every named principal, AWS ARNs normalized (account IDs to root ARNs).
        by_type: the names per principal type, as written in the element.
    """

    negated: bool
    anyone: bool
    names: frozenset[str]
    by_type: Mapping[str, tuple[str, ...]]

    def match(self, caller: tuple[str, str, str]) -> int:
        """
        How this element names the caller: `DIRECT`, `ENTITY`, `ACCOUNT` or `NO_MATCH`.

        For `NotPrincipal` the statement applies unless every ARN of the caller is
        listed: AWS requires the session, its role and its account all to be named
        for the caller to be excluded (IAM User Guide, "NotPrincipal").
        """
        own, entity, root = caller
        if self.negated:
            listed = self.names
            if self.anyone or all(arn in listed for arn in caller if arn):
                return NO_MATCH
            # The statement names nobody in particular: like an account grant.
            return ACCOUNT
        if self.anyone:
            return DIRECT
        if own in self.names:
            return DIRECT
        if entity and entity in self.names:
            return ENTITY
        if root and root in self.names:
            return ACCOUNT
        return NO_MATCH


def build_principal(value: object, *, negated: bool) -> PrincipalMatcher:
    """
    Compile a `Principal` element value.

    Raises:
        ValueError: with a message naming the bad part; KeyError for an unknown type.
    """
    if value == "*":
        return PrincipalMatcher(negated, True, frozenset(), {"AWS": ("*",)})
    if not isinstance(value, dict) or not value:
        raise ValueError('must be `*` or an object such as `{"AWS": "123456789012"}`')
    names: set[str] = set()
    by_type: dict[str, tuple[str, ...]] = {}
    anyone = False
    for kind, raw in value.items():
        if kind not in PRINCIPAL_TYPES:
            raise KeyError(kind)
        items = [raw] if isinstance(raw, str) else raw
        if not isinstance(items, list) or not items or not all(isinstance(i, str) for i in items):
            raise ValueError(f"`{kind}` must be a string or a non-empty list of strings")
        listed: list[str] = []
        for item in items:
            if kind == "AWS":
                item = normalize_aws_principal(item)
                anyone = anyone or item == "*"
            elif not item.strip():
                raise ValueError(f"`{kind}` has an empty principal")
            listed.append(item)
        names.update(listed)
        by_type[kind] = tuple(listed)
    return PrincipalMatcher(negated, anyone, frozenset(names), by_type)
