"""
The request context the authorizer hands the engine: AWS's global condition keys.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from gateway.authz import request_context
from gateway.principal import Principal, PrincipalType
from gateway.types import RequestView

NOW = datetime(2026, 11, 27, 12, 30, 5, 123000, tzinfo=UTC)
VIEW = RequestView(
    method="GET",
    path="/x",
    raw_path="/x",
    query_string="",
    headers=(("user-agent", "curl/7.88.1"),),
    scheme="https",
    client_ip="10.0.0.7",
)


def test_user_with_access_key_gets_identity_keys_and_no_mfa_keys() -> None:
    """A long-term key request carries username and tags, but no MFA keys (as AWS)."""
    user = Principal(
        PrincipalType.USER,
        "arn:aws:iam::123456789012:user/steve",
        "123456789012",
        "AIDAEXAMPLE",
        user_name="steve",
        credential="sigv4",
        tags=(("team", "ops"),),
    )
    context = request_context(user, VIEW, now=NOW, region="us-east-1", extra={"svc:K": "v"})
    assert context["aws:CurrentTime"] == "2026-11-27T12:30:05Z"
    assert context["aws:EpochTime"] == str(int(NOW.timestamp()))
    assert context["aws:SecureTransport"] == "true"
    assert context["aws:SourceIp"] == "10.0.0.7"
    assert context["aws:UserAgent"] == "curl/7.88.1"
    assert context["aws:username"] == "steve"
    assert context["aws:PrincipalType"] == "IAMUser"
    assert context["aws:PrincipalTag/team"] == "ops"
    assert context["svc:K"] == "v"
    assert "aws:MultiFactorAuthPresent" not in context


def test_session_principal_gets_mfa_age_and_issuer_arn() -> None:
    """A session carries MFA presence and age; an assumed role's PrincipalArn is the role."""
    session = Principal(
        PrincipalType.ASSUMED_ROLE,
        "arn:aws:sts::123456789012:assumed-role/backup/nightly",
        "123456789012",
        "AROAEXAMPLE:nightly",
        session_issuer_arn="arn:aws:iam::123456789012:role/backup",
        mfa_authenticated=True,
        mfa_authenticated_at=NOW - timedelta(seconds=90),
        authenticated_at=NOW - timedelta(minutes=5),
        credential="sts",
    )
    context = request_context(session, VIEW, now=NOW, region="eu-west-1")
    assert context["aws:PrincipalArn"] == "arn:aws:iam::123456789012:role/backup"
    assert context["aws:MultiFactorAuthPresent"] == "true"
    assert context["aws:MultiFactorAuthAge"] == "90"
    assert context["aws:TokenIssueTime"] == "2026-11-27T12:25:05Z"
    assert context["aws:RequestedRegion"] == "eu-west-1"
    assert "aws:username" not in context
