"""Warnings in the spirit of IAM Access Analyzer, and error findings."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.policy import Finding, check_policy


def _codes(statements: list[dict[str, Any]], **kw: Any) -> list[tuple[str, str]]:
    findings = check_policy({"Version": "2012-10-17", "Statement": statements}, **kw)
    return [(f.code, f.path) for f in findings]


def _s(**kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}
    base.update(kw)
    return {k: v for k, v in base.items() if v is not None}


# --- one warning per table row: (statements, code, path) ---------------------------
WARNINGS = [
    ([_s(Action=None, NotAction="iam:*")], "ALLOW_WITH_NOT_ACTION", "Statement[0].NotAction"),
    (
        [_s(Resource=None, NotResource="arn:aws:s3:::x")],
        "ALLOW_WITH_NOT_RESOURCE",
        "Statement[0].NotResource",
    ),
    ([_s(Action="iam:PassRole")], "PASS_ROLE_WITH_STAR_IN_RESOURCE", "Statement[0].Resource"),
    ([_s(Action="iam:*")], "PASS_ROLE_WITH_STAR_IN_RESOURCE", "Statement[0].Resource"),
    (
        [_s(Condition={"IpAddress": {"aws:SourceIPs": "10.0.0.0/8"}})],
        "UNKNOWN_GLOBAL_CONDITION_KEY",
        "Statement[0].Condition.IpAddress",
    ),
    ([_s(Effect="Deny", Action=None, NotAction="*")], "NEVER_MATCHES", "Statement[0]"),
    ([_s(Effect="Deny", Resource=None, NotResource="*")], "NEVER_MATCHES", "Statement[0]"),
    (
        [
            _s(
                Effect="Deny",
                Condition={
                    "Null": {"aws:SourceIp": "true"},
                    "IpAddress": {"aws:SourceIp": "10.0.0.0/8"},
                },
            )
        ],
        "NEVER_MATCHES",
        "Statement[0]",
    ),
    (
        [_s(Action="s3:*"), _s(Action="s3:GetObject", Resource="arn:aws:s3:::b/*")],
        "SHADOWED_STATEMENT",
        "Statement[1]",
    ),
    (
        [_s(Effect="Deny", Action="s3:Get*"), _s(Resource="arn:aws:s3:::b/k")],
        "SHADOWED_STATEMENT",
        "Statement[1]",
    ),
    ([_s(), _s()], "SHADOWED_STATEMENT", "Statement[1]"),
    ([_s(Action="s3:Get?"), _s(Action="s3:Get*")], "SHADOWED_STATEMENT", "Statement[0]"),
    (
        [_s(Condition={"Bool": {"aws:SecureTransport": "true"}}), _s(Action="s3:*")],
        "SHADOWED_STATEMENT",
        "Statement[0]",
    ),
]


@pytest.mark.parametrize(("statements", "code", "path"), WARNINGS)
def test_warning(statements: list[dict[str, Any]], code: str, path: str) -> None:
    """Each risky pattern produces its warning at its JSON path."""
    assert (code, path) in _codes(statements)


# --- no warning for these ----------------------------------------------------------
CLEAN = [
    [_s(Condition={"IpAddress": {"aws:sourceip": "10.0.0.0/8"}})],
    [_s(Condition={"StringEquals": {"aws:PrincipalTag/team": "x", "s3:prefix": "y"}})],
    [_s(Action="iam:PassRole", Resource="arn:aws:iam::1:role/x")],
    [
        _s(
            Effect="Deny",
            Condition={
                "Null": {"aws:SourceIp": "true"},
                "NotIpAddress": {"aws:SourceIp": "10.0.0.0/8"},
            },
        )
    ],
    [_s(Resource="arn:aws:s3:::${aws:username}/*"), _s(Resource="arn:aws:s3:::a/*")],
    # a wider action does not shadow when the resources differ
    [_s(Action="s3:*", Resource="arn:aws:s3:::a/*"), _s(Resource="arn:aws:s3:::b/k")],
]


@pytest.mark.parametrize("statements", CLEAN)
def test_clean(statements: list[dict[str, Any]]) -> None:
    """Ordinary statements produce no warning."""
    assert _codes(statements) == []


def test_did_you_mean_for_global_key() -> None:
    """An unknown global key suggests the closest real one."""
    findings = check_policy(
        {"Statement": [_s(Condition={"Bool": {"aws:SecureTransprot": "true"}})]}
    )
    assert "did you mean `aws:SecureTransport`?" in findings[0].message


def test_variables_need_version() -> None:
    """A variable without Version 2012-10-17 gets a warning that it stays literal."""
    findings = check_policy({"Statement": [_s(Resource="arn:aws:s3:::${aws:username}")]})
    assert findings[0].code == "VARIABLES_NOT_SUBSTITUTED"


def test_shadowing_in_resource_policies() -> None:
    """Shadowing compares principals too: a wider principal covers a narrower one."""
    wide = _s(Principal="*")
    narrow = _s(Principal={"AWS": "arn:aws:iam::123456789012:user/a"})
    assert ("SHADOWED_STATEMENT", "Statement[1]") in _codes([wide, narrow], kind="resource")
    assert ("SHADOWED_STATEMENT", "Statement[0]") not in _codes([wide, narrow], kind="resource")


def test_errors_become_findings() -> None:
    """A malformed or oversized document is one error finding, never an exception."""
    [finding] = check_policy("{")
    assert finding.level == "error" and finding.code == "MALFORMED_POLICY"
    [big] = check_policy({"Statement": [_s()]}, max_size=5)
    assert big.code == "POLICY_TOO_LARGE"
    assert str(Finding("warning", "", "m", "C")) == "warning: m"
    assert str(big).startswith("error: policy is")


def test_not_resource_never_shadows() -> None:
    """A `NotResource` statement is not compared for shadowing: its reach is open-ended."""
    codes = _codes([_s(Action="s3:*", Resource=None, NotResource="arn:aws:s3:::x"), _s()])
    assert ("ALLOW_WITH_NOT_RESOURCE", "Statement[0].NotResource") in codes
    assert not [code for code, _ in codes if code == "SHADOWED_STATEMENT"]


def test_shadowing_in_trust_policies() -> None:
    """Trust statements have no resources; the same principal and action shadow."""
    trust = {
        "Effect": "Allow",
        "Principal": {"Service": "ec2.amazonaws.com"},
        "Action": "sts:AssumeRole",
    }
    assert _codes([trust, trust], kind="trust") == [("SHADOWED_STATEMENT", "Statement[1]")]
