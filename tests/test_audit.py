"""
The audit trail: event shape, secrets kept out, log injection, the queue and the sinks.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import unicodedata
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from types import MappingProxyType
from typing import Any

import anyio
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.audit import (
    Auditor,
    JsonLinesSink,
    StdoutSink,
    auditor_from_settings,
    build_event,
    encode_line,
    redact_query,
    sanitize_text,
    scrub_secrets,
)
from gateway.audit.auditor import FLUSH_DELAY
from gateway.config import AuditSettings
from gateway.errors import ConfigError
from gateway.plugins import Plugin
from gateway.policy import Decision, StatementRef, Verdict
from gateway.principal import Principal, PrincipalType
from gateway.types import RequestView

ACCOUNT = "123456789012"
NOW = datetime(2024, 5, 1, 12, 30, 45, 123456, tzinfo=UTC)
SIGNED_AT = NOW - timedelta(minutes=20)

# Real-looking credentials: none of them may reach an event or a sink.
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
SIGNATURE = "fe5f80f77d5fa3beca038a248ff027d0445342fe2855ddc963176630326f1024"
SESSION_TOKEN = "IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQDEXAMPLETOKEN"
AUTHORIZATION = (
    "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20240501/us-east-1/backup/aws4_request, "
    f"SignedHeaders=host;x-amz-date, Signature={SIGNATURE}"
)
COOKIE_VALUE = "gw_session=eyJhbGciOiJIUzI1NiJ9.c2Vzc2lvbi1jb29raWUtdmFsdWU.SeCrEtCoOkIeMaC"


def _view(
    *,
    method: str = "PUT",
    path: str = "/backups/2024-05-01.tar",
    query: str = "",
    headers: tuple[tuple[str, str], ...] = (("user-agent", "aws-cli/2.15.0"),),
) -> RequestView:
    return RequestView(
        method=method,
        path=path,
        raw_path=path,
        query_string=query,
        headers=(("host", "gateway.internal"), *headers),
        client_ip="10.0.0.7",
        request_id="req-0001",
    )


def _user(**overrides: Any) -> Principal:
    fields: dict[str, Any] = {
        "type": PrincipalType.USER,
        "arn": f"arn:aws:iam::{ACCOUNT}:user/backup",
        "account_id": ACCOUNT,
        "user_id": "AIDAEXAMPLEUSERID0001",
        "user_name": "backup",
        "entity_id": "AIDAEXAMPLEUSERID0001",
        "access_key_id": "AKIAIOSFODNN7EXAMPLE",
        "credential": "sigv4",
    }
    return Principal(**(fields | overrides))


def _role_session() -> Principal:
    return Principal(
        type=PrincipalType.ASSUMED_ROLE,
        arn=f"arn:aws:sts::{ACCOUNT}:assumed-role/BackupRole/nightly",
        account_id=ACCOUNT,
        user_id="AROAEXAMPLEROLEID0001:nightly",
        entity_id="AROAEXAMPLEROLEID0001",
        access_key_id="ASIAEXAMPLETEMPKEY01",
        session_name="nightly",
        session_issuer_arn=f"arn:aws:iam::{ACCOUNT}:role/service/BackupRole",
        authenticated_at=SIGNED_AT,
        credential="sts",
    )


def _allow() -> Decision:
    ref = StatementRef(
        policy_id=f"arn:aws:iam::{ACCOUNT}:policy/BackupWrite",
        policy_kind="identity",
        index=0,
        sid="AllowBackupWrites",
    )
    return Decision(verdict=Verdict.ALLOWED, matched=(ref,))


def _event(**overrides: Any) -> dict[str, Any]:
    arguments: dict[str, Any] = {
        "view": _view(),
        "principal": _user(),
        "action": "backup:PutObject",
        "resources": ["arn:aws:backup:::backups/2024-05-01.tar"],
        "decision": _allow(),
        "error_code": None,
        "upstream": "backup",
        "upstream_status": 200,
        "latency_ms": 12.3456,
        "now": NOW,
        "region": "us-east-1",
    }
    return build_event(**(arguments | overrides))


# --- event shape ---------------------------------------------------------------------------------


def test_iam_user_event_has_the_cloudtrail_shape() -> None:
    """An allowed access-key call by an IAM user produces the full documented event."""
    assert _event() == {
        "eventVersion": "1.0",
        "eventTime": "2024-05-01T12:30:45Z",
        "eventSource": "backup",
        "eventName": "PutObject",
        "awsRegion": "us-east-1",
        "requestID": "req-0001",
        "sourceIPAddress": "10.0.0.7",
        "userAgent": "aws-cli/2.15.0",
        "httpMethod": "PUT",
        "path": "/backups/2024-05-01.tar",
        "queryString": None,
        "userIdentity": {
            "type": "IAMUser",
            "principalId": "AIDAEXAMPLEUSERID0001",
            "arn": f"arn:aws:iam::{ACCOUNT}:user/backup",
            "accountId": ACCOUNT,
            "accessKeyId": "AKIAIOSFODNN7EXAMPLE",
            "userName": "backup",
        },
        "resources": [{"ARN": "arn:aws:backup:::backups/2024-05-01.tar"}],
        "decision": "allowed",
        "decidedBy": [
            {
                "policyId": f"arn:aws:iam::{ACCOUNT}:policy/BackupWrite",
                "policyType": "identity",
                "statementIndex": 0,
                "sid": "AllowBackupWrites",
            }
        ],
        "missingContextValues": [],
        "errorCode": None,
        "latencyMs": 12.346,
        "upstream": {"name": "backup", "status": 200, "latencyMs": 12.346},
    }


def test_console_session_records_mfa_and_creation_date() -> None:
    """A console session of an MFA user says mfaAuthenticated "true" and when it began."""
    principal = _user(
        access_key_id="",
        credential="console-session",
        authenticated_at=SIGNED_AT,
        mfa_authenticated=True,
        mfa_authenticated_at=SIGNED_AT,
    )
    identity = _event(principal=principal)["userIdentity"]
    assert "accessKeyId" not in identity
    assert identity["sessionContext"] == {
        "attributes": {"creationDate": "2024-05-01T12:10:45Z", "mfaAuthenticated": "true"}
    }


def test_root_user_event() -> None:
    """The root user is identified by its account, with no user name or session issuer."""
    root = Principal(
        type=PrincipalType.ROOT,
        arn=f"arn:aws:iam::{ACCOUNT}:root",
        account_id=ACCOUNT,
        user_id=ACCOUNT,
        credential="console-session",
    )
    event = _event(principal=root, decision=None, action="iam:CreateUser", upstream=None)
    assert event["userIdentity"] == {
        "type": "Root",
        "principalId": ACCOUNT,
        "arn": f"arn:aws:iam::{ACCOUNT}:root",
        "accountId": ACCOUNT,
    }
    assert (event["eventSource"], event["eventName"]) == ("iam", "CreateUser")
    assert event["decision"] is None
    assert event["upstream"] is None


def test_assumed_role_session_names_its_issuer() -> None:
    """A role session carries sessionContext with the role as sessionIssuer."""
    identity = _event(principal=_role_session())["userIdentity"]
    assert identity == {
        "type": "AssumedRole",
        "principalId": "AROAEXAMPLEROLEID0001:nightly",
        "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/BackupRole/nightly",
        "accountId": ACCOUNT,
        "accessKeyId": "ASIAEXAMPLETEMPKEY01",
        "sessionContext": {
            "attributes": {"creationDate": "2024-05-01T12:10:45Z", "mfaAuthenticated": "false"},
            "sessionIssuer": {
                "type": "Role",
                "principalId": "AROAEXAMPLEROLEID0001",
                "arn": f"arn:aws:iam::{ACCOUNT}:role/service/BackupRole",
                "accountId": ACCOUNT,
                "userName": "BackupRole",
            },
        },
    }


def test_unauthenticated_request_records_the_error_code() -> None:
    """A request that failed authentication is anonymous, undecided and carries its error."""
    event = _event(
        principal=None,
        decision=None,
        resources=[],
        error_code="InvalidClientTokenId",
        upstream=None,
        upstream_status=None,
    )
    assert event["userIdentity"] == {"type": "Anonymous"}
    assert event["errorCode"] == "InvalidClientTokenId"
    assert (event["decision"], event["decidedBy"], event["resources"]) == (None, [], [])
    assert event["upstream"] is None
    assert event["latencyMs"] == 12.346


def test_explicit_deny_names_the_deny_statement_and_missing_context() -> None:
    """An explicit deny records the statement that denied and the context keys it lacked."""
    ref = StatementRef(policy_id="DenyOutsideVpn", policy_kind="boundary", index=2, sid="")
    decision = Decision(
        verdict=Verdict.EXPLICIT_DENY, matched=(ref,), missing_context=("aws:SourceVpc",)
    )
    event = _event(decision=decision, error_code="AccessDenied", upstream=None)
    assert event["decision"] == "explicitDeny"
    assert event["decidedBy"] == [
        {"policyId": "DenyOutsideVpn", "policyType": "boundary", "statementIndex": 2, "sid": ""}
    ]
    assert event["missingContextValues"] == ["aws:SourceVpc"]


@pytest.mark.parametrize(
    ("action", "source", "name"),
    [
        ("backup:PutObject", "backup", "PutObject"),
        ("iam:ChangePassword", "iam", "ChangePassword"),
        ("sts:AssumeRole", "sts", "AssumeRole"),
        ("NoService", None, "NoService"),
        (None, None, None),
    ],
)
def test_event_source_and_name_come_from_the_action(
    action: str | None, source: str | None, name: str | None
) -> None:
    """`service:Name` splits into eventSource and eventName."""
    event = _event(action=action)
    assert (event["eventSource"], event["eventName"]) == (source, name)


def test_event_time_is_utc_with_a_z_and_naive_times_are_refused() -> None:
    """Times are converted to UTC and written with a Z; a naive time is a bug, not a guess."""
    east = datetime(2024, 5, 1, 14, 30, 45, tzinfo=UTC).astimezone()
    assert _event(now=east)["eventTime"] == "2024-05-01T14:30:45Z"
    with pytest.raises(ValueError, match="timezone-aware"):
        _event(now=datetime(2024, 5, 1, 12, 0))


def test_extra_facts_are_json_ready_and_secret_keys_are_dropped() -> None:
    """`extra` lands under additionalEventData, sanitized, without secret-named keys."""
    extra = {
        "attempt": 2,
        "at": NOW,
        "reason": "bad\ncode",
        "kind": PrincipalType.ROOT,
        "object": object(),
        "password": "hunter2",
        "nested": {"SecretAccessKey": SECRET_KEY, "kept": [1.5, float("nan")]},
    }
    assert _event(extra=extra)["additionalEventData"] == {
        "attempt": 2,
        "at": "2024-05-01T12:30:45Z",
        "reason": "bad\\x0acode",
        "kind": "Root",
        "object": "<object>",
        "nested": {"kept": [1.5, None]},
    }


# --- secrets -------------------------------------------------------------------------------------


def test_no_secret_reaches_the_serialized_event() -> None:
    """Authorization, cookies, presigned-URL credentials and secret extras never appear."""
    query = (
        "X-Amz-Algorithm=AWS4-HMAC-SHA256"
        "&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20240501%2Fus-east-1%2Fbackup%2Faws4_request"
        "&X-Amz-Date=20240501T123045Z&X-Amz-Expires=300&X-Amz-SignedHeaders=host"
        f"&X-Amz-Security-Token={SESSION_TOKEN}&X-Amz-Signature={SIGNATURE}&part=3"
    )
    view = _view(
        query=query,
        headers=(
            ("authorization", AUTHORIZATION),
            ("cookie", COOKIE_VALUE),
            ("x-amz-security-token", SESSION_TOKEN),
            ("user-agent", "aws-cli/2.15.0"),
        ),
    )
    extra = {"secret_access_key": SECRET_KEY, "Session-Token": SESSION_TOKEN}
    event = _event(view=view, principal=_role_session(), extra=extra)
    for text in (json.dumps(event), encode_line(event)):
        for secret in (
            AUTHORIZATION,
            SIGNATURE,
            SESSION_TOKEN,
            SECRET_KEY,
            COOKIE_VALUE,
            "eyJhbGciOiJIUzI1NiJ9",
            "aws4_request",
            "AKIAIOSFODNN7EXAMPLE",
        ):
            assert secret not in text
    assert event["queryString"] == (
        "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=REDACTED"
        "&X-Amz-Date=20240501T123045Z&X-Amz-Expires=300&X-Amz-SignedHeaders=host"
        "&X-Amz-Security-Token=REDACTED&X-Amz-Signature=REDACTED&part=3"
    )


@pytest.mark.parametrize(
    ("query", "logged"),
    [
        # --- SigV4 presigned URLs, whatever the spelling ---
        ("x-amz-signature=abc", "x-amz-signature=REDACTED"),
        ("X%2DAmz%2DSignature=abc&a=1", "X%2DAmz%2DSignature=REDACTED&a=1"),
        ("a=1;X-Amz-Security-Token=abc", "a=1;X-Amz-Security-Token=REDACTED"),
        (
            "X-Amz-Signature=a&X-Amz-Signature=b",
            "X-Amz-Signature=REDACTED&X-Amz-Signature=REDACTED",
        ),
        # --- other credentials people put in URLs ---
        ("access_token=abc&page=2", "access_token=REDACTED&page=2"),
        ("api-key=abc", "api-key=REDACTED"),
        ("Password=abc", "Password=REDACTED"),
        ("code=abc&state=xyz", "code=REDACTED&state=xyz"),
        ("sig=abc&sv=2022", "sig=REDACTED&sv=2022"),
        ("AWSAccessKeyId=AKIA&Signature=abc", "AWSAccessKeyId=REDACTED&Signature=REDACTED"),
        ("token", "REDACTED"),
        # --- left alone ---
        ("prefix=logs%2F&max-keys=10", "prefix=logs%2F&max-keys=10"),
        ("a=1&&b=", "a=1&&b="),
        ("", ""),
    ],
)
def test_redact_query(query: str, logged: str) -> None:
    """Credential-bearing query values are replaced; everything else is kept as sent."""
    assert redact_query(query) == logged


# --- log injection -------------------------------------------------------------------------------


def test_control_characters_are_escaped_in_user_agent_and_path() -> None:
    """CR/LF, ANSI escapes, U+2028 and bidi overrides become visible escapes, on one line."""
    view = _view(
        path="/backups/x\x1b[31mred\u2028y",
        headers=(("user-agent", 'curl/8\r\n{"decision":"allowed"}\u202e'),),
    )
    event = _event(view=view)
    assert event["userAgent"] == 'curl/8\\x0d\\x0a{"decision":"allowed"}\\u202e'
    assert event["path"] == "/backups/x\\x1b[31mred\\u2028y"
    line = encode_line(event)
    assert line.count("\n") == 1 and line.endswith("\n")
    assert line.isascii()


def test_long_user_agent_is_truncated() -> None:
    """A user agent is cut to 256 characters and says so."""
    agent = _event(view=_view(headers=(("user-agent", "A" * 10_000),)))["userAgent"]
    assert agent == "A" * 256 + "...(truncated)"


def test_sanitize_text_leaves_ordinary_text_alone() -> None:
    """Printable text, including non-ASCII letters, passes through unchanged."""
    assert sanitize_text("Mozilla/5.0 (Linux; ü) Ω") == "Mozilla/5.0 (Linux; ü) Ω"


@given(st.text())
def test_sanitized_text_never_holds_an_unsafe_character(text: str) -> None:
    """No control, format or separator character survives sanitizing, whatever the input."""
    unsafe = {"Cc", "Cf", "Zl", "Zp"}
    assert not [c for c in sanitize_text(text, limit=10_000) if unicodedata.category(c) in unsafe]


@given(
    name=st.sampled_from(
        ["X-Amz-Signature", "X-Amz-Security-Token", "X-Amz-Credential", "x_amz_signature"]
    ),
    value=st.text(alphabet="abcXYZ019%/+=-_.~", max_size=40),
    before=st.sampled_from(["", "a=1&", "a=1;", "X-Amz-Date=20240501T000000Z&"]),
)
def test_presigned_credentials_never_survive_redaction(name: str, value: str, before: str) -> None:
    """Whatever a presigned credential's value and position, it is not logged."""
    logged = redact_query(f"{before}{name}=S3CR3T{value}&part=1")
    assert "S3CR3T" not in logged
    assert logged.endswith("&part=1")


def test_format_characters_outside_the_bmp_are_escaped() -> None:
    """Tag characters and the Arabic letter mark are escaped like the bidi controls."""
    assert sanitize_text("a\U000e0041b\u061cc") == "a\\U000e0041b\\u061cc"


# --- fast paths: caches and shortcuts keep every guarantee ----------------------------------------

UNSAFE_CATEGORIES = {"Cc", "Cf", "Zl", "Zp", "Cs"}


def _escaped_one_by_one(text: str) -> str:
    """The rule sanitize_text implements, one character at a time."""

    def escape(char: str) -> str:
        code = ord(char)
        if code < 0x100:
            return f"\\x{code:02x}"
        return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"

    return "".join(
        escape(char) if unicodedata.category(char) in UNSAFE_CATEGORIES else char for char in text
    )


@given(st.text())
def test_sanitize_text_escapes_exactly_the_unsafe_characters(text: str) -> None:
    """The printable-text shortcut gives the same result as escaping character by character."""
    assert sanitize_text(text, limit=10_000) == _escaped_one_by_one(text)


@pytest.mark.parametrize(
    ("text", "logged"),
    [
        ("aws-cli/2.15.0\n", "aws-cli/2.15.0\\x0a"),
        ("aws-cli/2.15.0\x7f", "aws-cli/2.15.0\\x7f"),
        ("a\tb", "a\\x09b"),
        ("boto3\x85x", "boto3\\x85x"),
        ("curl\u2028{}", "curl\\u2028{}"),
        ("abc\u202edef", "abc\\u202edef"),
        ("zero\u200bwidth", "zero\\u200bwidth"),
        ("lone\ud800", "lone\\ud800"),
        # --- printable, left alone ---
        ("a b\u00a0c", "a b\u00a0c"),
        ("Ω/ü", "Ω/ü"),
    ],
)
def test_one_unsafe_character_in_printable_text_is_escaped(text: str, logged: str) -> None:
    """A single control, format or separator character in otherwise plain text is escaped."""
    assert sanitize_text(text) == logged


def test_truncation_happens_before_the_printable_shortcut() -> None:
    """Long printable text is still cut, and an unsafe character past the cut is gone."""
    assert sanitize_text("a" * 20 + "\n", limit=10) == "a" * 10 + "...(truncated)"


def test_presigned_query_is_redacted_on_every_request() -> None:
    """Cached parameter verdicts redact a presigned URL's credentials again and again."""
    query = (
        "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20240501"
        "&X-Amz-Date=20240501T123045Z&X-Amz-Expires=300&X-Amz-SignedHeaders=host"
        f"&X-Amz-Signature={SIGNATURE}"
    )
    for _ in range(3):
        line = encode_line(_event(view=_view(query=query)))
        assert SIGNATURE not in line and "AKIAIOSFODNN7EXAMPLE%2F" not in line
        assert "X-Amz-Credential=REDACTED" in line and "X-Amz-Signature=REDACTED" in line


def test_long_parameter_names_are_checked_without_the_cache() -> None:
    """A parameter name too long to cache is still recognized as a credential."""
    name = "x" * 300 + "-signature"
    assert redact_query(f"a=1&{name}=abc") == f"a=1&{name}=REDACTED"
    assert redact_query(f"{'y' * 300}=abc\n") == f"{'y' * 300}=abc\\x0a"


def test_control_character_in_the_query_is_escaped() -> None:
    """A query value with CR/LF is escaped after redaction, so the event stays on one line."""
    logged = redact_query("a=1%0A&b=x\r\ny&X-Amz-Signature=abc\n")
    assert logged == "a=1%0A&b=x\\x0d\\x0ay&X-Amz-Signature=REDACTED"


def test_user_identity_is_a_fresh_copy_for_each_event() -> None:
    """Editing one event's userIdentity, even nested, never changes the next event's."""
    for principal in (_user(), _role_session()):
        first = _event(principal=principal)
        expected = json.loads(json.dumps(first["userIdentity"]))
        first["userIdentity"]["arn"] = "forged"
        first["userIdentity"].get("sessionContext", {}).get("attributes", {})["x"] = "forged"
        assert _event(principal=principal)["userIdentity"] == expected


def test_equal_principals_with_different_fields_get_their_own_identity() -> None:
    """The identity cache tells apart principals that differ in one field."""
    first = _event(principal=_user(user_name="alice"))["userIdentity"]
    second = _event(principal=_user(user_name="bob"))["userIdentity"]
    assert (first["userName"], second["userName"]) == ("alice", "bob")


def test_principal_with_unhashable_tags_still_gets_an_identity() -> None:
    """A principal that cannot be a cache key is described all the same."""
    principal = _user(tags=[("team", "ops")])
    assert _event(principal=principal)["userIdentity"]["userName"] == "backup"


@pytest.mark.parametrize(
    ("now", "logged"),
    [
        (NOW.replace(microsecond=999_999), "2024-05-01T12:30:45Z"),
        (NOW + timedelta(seconds=1), "2024-05-01T12:30:46Z"),
        (
            datetime(2024, 5, 1, 18, 0, 45, tzinfo=timezone(timedelta(hours=5, minutes=30))),
            "2024-05-01T12:30:45Z",
        ),
        (datetime(1969, 12, 31, 23, 59, 59, 500_000, tzinfo=UTC), "1969-12-31T23:59:59Z"),
        (datetime(9999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC), "9999-12-31T23:59:59Z"),
    ],
)
def test_event_time_is_cut_to_the_second_in_utc(now: datetime, logged: str) -> None:
    """The cached time string is the UTC second the request arrived in, never rounded up."""
    assert _event(now=now)["eventTime"] == logged


JSON_LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(),
)
KEYS = st.one_of(
    st.sampled_from(["ok", "Password", "session_token", "SET-COOKIE", "Secret-Key", "token"]),
    st.text(max_size=6),
)
JSON_TREES = st.recursive(
    JSON_LEAVES,
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.lists(children, max_size=3).map(tuple),
        st.dictionaries(KEYS, children, max_size=4),
        st.dictionaries(KEYS, children, max_size=3).map(MappingProxyType),
    ),
    max_leaves=20,
)


@given(st.dictionaries(KEYS, JSON_TREES, max_size=5))
def test_encode_line_is_scrub_then_dump(event: dict[str, Any]) -> None:
    """Whether or not the copy is skipped, and whichever encoder writes it, the line is
    one line of compact ASCII JSON holding the scrubbed event."""
    expected = json.dumps(
        scrub_secrets(event), ensure_ascii=True, allow_nan=False, separators=(",", ":")
    )
    line = encode_line(event)
    assert line.endswith("\n")
    assert "\n" not in line[:-1] and "\r" not in line
    assert line.isascii()
    assert json.loads(line) == json.loads(expected)
    if "e" not in expected:  # floats with an exponent may be spelled 1e-7 or 1e-07
        assert line == expected + "\n"


@pytest.mark.parametrize(
    ("event", "line"),
    [
        ({"a": float("nan"), "b": [float("inf"), -float("inf")]}, '{"a":null,"b":[null,null]}'),
        ({"who": "J\u00f6rg \u2028 x"}, '{"who":"J\\u00f6rg \\u2028 x"}'),
        ({"n": 2**70, "f": float("nan")}, '{"n":1180591620717411303424,"f":null}'),
        ({1: "int key", "t": (1, 2)}, '{"1":"int key","t":[1,2]}'),
        ({"s": type("Text", (str,), {})("sub")}, '{"s":"sub"}'),
        ({"\x7f": "a\x7fb"}, '{"\\u007f":"a\\u007fb"}'),  # DEL escaped, as ever
    ],
)
def test_encode_line_edge_values(event: dict[Any, Any], line: str) -> None:
    """Non-finite floats are null, non-ASCII text is escaped, and what the fast encoder
    refuses (big integers, int keys, subclasses) is written by the stdlib encoder."""
    assert encode_line(event) == line + "\n"


def test_encode_line_refuses_other_objects() -> None:
    """A value no JSON encoder takes is a TypeError, never its repr in the trail."""
    for value in (object(), datetime(2026, 1, 1, tzinfo=UTC), {1, 2}):
        with pytest.raises(TypeError):
            encode_line({"v": value})


def test_secret_key_added_to_a_built_event_is_still_dropped() -> None:
    """A sink does not trust an event's origin: a secret key nested in it is dropped."""
    event = _event(extra={"attempt": 1})
    encode_line(event)  # its key names are now known to be safe
    event["userIdentity"]["SessionToken"] = SESSION_TOKEN
    event["resources"].append({"ARN": "x", "password": "hunter2"})
    line = encode_line(event)
    assert SESSION_TOKEN not in line and "hunter2" not in line
    assert json.loads(line)["resources"][-1] == {"ARN": "x"}


# --- the auditor ---------------------------------------------------------------------------------


class RecordingSink:
    """Keeps what it receives."""

    def __init__(self) -> None:
        self.events: list[Mapping[str, Any]] = []
        self.closed = False

    async def emit(self, event: Mapping[str, Any]) -> None:
        self.events.append(event)

    async def close(self) -> None:
        self.closed = True


class BlockedSink(RecordingSink):
    """Never finishes an emit: waits on an event nobody sets."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()

    async def emit(self, event: Mapping[str, Any]) -> None:
        self.events.append(event)
        await self.gate.wait()


class FailingSink(RecordingSink):
    """Raises on every emit, with the event in the message."""

    def __init__(self, error: type[BaseException] = RuntimeError) -> None:
        super().__init__()
        self.error = error

    async def emit(self, event: Mapping[str, Any]) -> None:
        raise self.error(f"cannot write {dict(event)}")


async def _settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


@pytest.mark.anyio
async def test_blocked_sink_never_blocks_record() -> None:
    """With a sink stuck forever, record() returns at once and shutdown stays bounded."""
    sink = BlockedSink()
    auditor = Auditor([sink], sink_timeout=3600, close_timeout=0.05)
    await auditor.start()
    with anyio.fail_after(1):
        for number in range(3):
            auditor.record({"n": number})
        await _settle()
        assert [event["n"] for event in sink.events] == [0]
        assert auditor.pending == 2
        await auditor.aclose()
    assert auditor.dropped == 2
    assert sink.closed


@pytest.mark.anyio
async def test_full_queue_counts_drops_and_logs_once(caplog: pytest.LogCaptureFixture) -> None:
    """When the queue is full, record() drops the event, counts it and logs once per N."""
    sink = RecordingSink()
    auditor = Auditor([sink], max_queue=2, log_every=100)
    with caplog.at_level(logging.WARNING, logger="gateway.audit"):
        for number in range(5):
            auditor.record({"n": number, "user": "steve"})
    assert (auditor.dropped, auditor.pending) == (3, 2)
    assert len(caplog.records) == 1
    assert "steve" not in caplog.text
    await auditor.start()
    await auditor.aclose()
    assert [event["n"] for event in sink.events] == [0, 1]


@pytest.mark.anyio
async def test_failing_sink_is_counted_and_the_drainer_keeps_going(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A sink that raises is counted, logged without the event, and the others still get all."""
    good, bad = RecordingSink(), FailingSink()
    auditor = Auditor([bad, good], log_every=2)
    with caplog.at_level(logging.WARNING, logger="gateway.audit"):
        async with auditor:
            for number in range(5):
                auditor.record({"n": number, "secretish": "do-not-log-me"})
    assert [event["n"] for event in good.events] == [0, 1, 2, 3, 4]
    assert (auditor.sink_errors, auditor.emitted, auditor.dropped) == (5, 5, 0)
    assert len(caplog.records) == 3  # failures 1, 3 and 5
    assert "do-not-log-me" not in caplog.text
    assert "FailingSink failed with RuntimeError" in caplog.text


@pytest.mark.anyio
async def test_sink_raising_cancelled_error_does_not_stop_the_drainer() -> None:
    """A sink that raises CancelledError on its own is a failure, not a shutdown."""
    good = RecordingSink()
    auditor = Auditor([FailingSink(asyncio.CancelledError), good])
    async with auditor:
        auditor.record({"n": 1})
        auditor.record({"n": 2})
        await _settle()
    assert len(good.events) == 2
    assert auditor.sink_errors == 2


@pytest.mark.anyio
async def test_slow_sink_times_out_and_later_events_still_flow() -> None:
    """An emit that exceeds sink_timeout is counted and the drainer moves on."""
    slow, good = BlockedSink(), RecordingSink()
    auditor = Auditor([slow, good], sink_timeout=0.01)
    with anyio.fail_after(2):
        async with auditor:
            auditor.record({"n": 1})
            auditor.record({"n": 2})
    assert [event["n"] for event in good.events] == [1, 2]
    assert auditor.sink_errors == 2


@pytest.mark.anyio
async def test_deferred_events_are_built_by_the_drainer_in_order() -> None:
    """defer() only queues: the event is built when drained, in order with recorded ones."""
    sink = RecordingSink()
    auditor = Auditor([sink])
    built: list[int] = []

    def build(*, n: int) -> dict[str, Any]:
        built.append(n)
        return {"n": n}

    auditor.defer(build, n=0)
    auditor.record({"n": 1})
    auditor.defer(build, n=2)
    assert (built, auditor.pending) == ([], 3)  # nothing is built on the request path
    await auditor.start()
    await auditor.aclose()
    assert built == [0, 2]
    assert [event["n"] for event in sink.events] == [0, 1, 2]
    assert (auditor.emitted, auditor.dropped) == (3, 0)


@pytest.mark.anyio
async def test_a_deferred_build_that_raises_loses_only_its_event(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A failing build is counted as dropped and logged by type only; the batch goes on."""
    sink = RecordingSink()
    auditor = Auditor([sink])

    def broken(**_fields: Any) -> dict[str, Any]:
        raise ValueError("holds do-not-log-me")

    with caplog.at_level(logging.WARNING, logger="gateway.audit"):
        async with auditor:
            auditor.record({"n": 1})
            auditor.defer(broken, secret="do-not-log-me")
            auditor.record({"n": 2})
    assert [event["n"] for event in sink.events] == [1, 2]
    assert (auditor.emitted, auditor.dropped, auditor.pending) == (2, 1, 0)
    assert "could not be built (ValueError)" in caplog.text
    assert "do-not-log-me" not in caplog.text


@pytest.mark.anyio
async def test_deferred_events_respect_the_queue_bound_and_closing() -> None:
    """defer() counts a drop when the queue is full or the auditor closed, like record()."""
    sink = RecordingSink()
    auditor = Auditor([sink], max_queue=1)
    auditor.defer(dict, n=0)
    auditor.defer(dict, n=1)  # the queue holds one
    assert (auditor.dropped, auditor.pending) == (1, 1)
    await auditor.start()
    await auditor.aclose()
    auditor.defer(dict, n=2)
    assert auditor.dropped == 2
    assert sink.events == [{"n": 0}]


@pytest.mark.anyio
async def test_aclose_drains_every_queued_event_in_order() -> None:
    """Events queued before shutdown are all delivered, in order, then sinks close."""
    sink = RecordingSink()
    auditor = Auditor([sink])
    for number in range(100):
        auditor.record({"n": number})
    await auditor.start()
    await auditor.aclose()
    assert [event["n"] for event in sink.events] == list(range(100))
    assert (auditor.emitted, auditor.dropped, auditor.pending) == (100, 0, 0)
    assert sink.closed
    auditor.record({"n": 100})
    assert auditor.dropped == 1


class FlushCountingSink(RecordingSink):
    """A buffered sink that counts its flushes and what each one wrote."""

    def __init__(self) -> None:
        super().__init__()
        self.buffer: list[Mapping[str, Any]] = []
        self.flushes: list[int] = []

    async def emit(self, event: Mapping[str, Any]) -> None:
        self.buffer.append(event)

    async def flush(self) -> None:
        self.flushes.append(len(self.buffer))
        self.events.extend(self.buffer)
        self.buffer.clear()

    async def close(self) -> None:
        await self.flush()
        await super().close()


@pytest.mark.anyio
async def test_a_burst_is_flushed_once_soon_after_the_queue_runs_empty() -> None:
    """Buffered sinks are flushed once per idle spell, not once per event, and promptly."""
    sink = FlushCountingSink()
    auditor = Auditor([sink])
    await auditor.start()
    for burst in range(3):
        for number in range(50):
            auditor.record({"n": number})
            await asyncio.sleep(0)  # requests finish one by one: the queue empties often
        await asyncio.sleep(FLUSH_DELAY * 3)
        assert len(sink.events) == 50 * (burst + 1), "flushed soon after the burst"
    assert len(sink.flushes) <= 6, sink.flushes  # about one per burst, never one per event
    await auditor.aclose()
    assert auditor.emitted == 150


@pytest.mark.anyio
async def test_shutdown_waits_for_a_scheduled_flush_and_loses_nothing() -> None:
    """aclose() right after a request: the scheduled flush and close write every event."""
    sink = FlushCountingSink()
    auditor = Auditor([sink])
    await auditor.start()
    auditor.record({"n": 1})
    await _settle()
    await auditor.aclose()
    assert [event["n"] for event in sink.events] == [1]
    assert sink.closed


@pytest.mark.anyio
async def test_one_timeout_covers_a_batch_and_counts_what_it_cut_off() -> None:
    """A sink stuck in a batch loses that batch (counted per event); the next batch flows."""
    slow, good = BlockedSink(), RecordingSink()
    auditor = Auditor([slow, good], sink_timeout=0.05)
    for number in range(5):
        auditor.record({"n": number})
    with anyio.fail_after(2):
        async with auditor:
            await asyncio.sleep(0.2)
            slow.gate.set()
            auditor.record({"n": 5})
    assert [event["n"] for event in good.events] == [0, 1, 2, 3, 4, 5]
    assert [event["n"] for event in slow.events] == [0, 5]
    assert auditor.sink_errors == 5  # the five of the first batch, none of the second
    assert auditor.emitted == 7


@pytest.mark.anyio
async def test_aclose_without_start_still_delivers() -> None:
    """Events recorded before the lifespan started are not lost when it ends early."""
    sink = RecordingSink()
    auditor = Auditor([sink])
    auditor.record({"n": 1})
    await auditor.aclose()
    assert sink.events == [{"n": 1}]
    with pytest.raises(RuntimeError, match="closed"):
        await auditor.start()


def test_auditor_without_sinks_ignores_events() -> None:
    """With audit disabled, record() is a no-op and nothing counts as dropped."""
    auditor = Auditor([])
    auditor.record({"n": 1})
    assert (auditor.pending, auditor.dropped) == (0, 0)


def test_auditor_refuses_a_zero_queue() -> None:
    """A queue of size 0 would be unbounded in asyncio; it is refused."""
    with pytest.raises(ValueError, match="positive"):
        Auditor([RecordingSink()], max_queue=0)


# --- sinks ---------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_file_sink_writes_private_json_lines(tmp_path: Path) -> None:
    """The file sink appends one JSON object per line to a file with mode 0600."""
    path = tmp_path / "audit.jsonl"
    path.write_text('{"earlier":true}\n')
    path.chmod(0o644)
    async with Auditor([JsonLinesSink(path)]) as auditor:
        auditor.record(_event())
        auditor.record(_event(principal=None, error_code="AccessDenied"))
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert lines[0] == {"earlier": True}
    assert [line["errorCode"] for line in lines[1:]] == [None, "AccessDenied"]
    assert lines[1] == _event()
    assert path.stat().st_mode & 0o777 == 0o600


@pytest.mark.anyio
async def test_file_sink_reopens_after_rotation(tmp_path: Path) -> None:
    """After logrotate moves the file away, the next write creates a new 0600 file."""
    path = tmp_path / "audit.jsonl"
    sink = JsonLinesSink(path, flush_bytes=1)
    await sink.emit({"n": 1})
    os.rename(path, tmp_path / "audit.jsonl.1")
    await sink.emit({"n": 2})
    await sink.close()
    assert (tmp_path / "audit.jsonl.1").read_text() == '{"n":1}\n'
    assert path.read_text() == '{"n":2}\n'
    assert path.stat().st_mode & 0o777 == 0o600


@pytest.mark.anyio
async def test_stdout_sink_writes_one_line_per_event(capsys: pytest.CaptureFixture[str]) -> None:
    """The stdout sink prints each event as one JSON line, and to a given stream if asked."""
    stream = io.StringIO()
    async with Auditor([StdoutSink(), StdoutSink(stream)]) as auditor:
        auditor.record({"n": 1, "Authorization": AUTHORIZATION})
        auditor.record({"n": 2})
    assert capsys.readouterr().out == '{"n":1}\n{"n":2}\n'
    assert stream.getvalue() == '{"n":1}\n{"n":2}\n'


@pytest.mark.anyio
async def test_sink_refuses_values_json_cannot_encode() -> None:
    """A non-JSON value is a sink error for that event, not a crash."""
    sink = RecordingSink()
    auditor = Auditor([StdoutSink(io.StringIO()), sink])
    async with auditor:
        auditor.record({"bad": object()})
        auditor.record({"worse": {1, 2}})
    assert auditor.sink_errors == 2
    assert len(sink.events) == 2


# --- settings ------------------------------------------------------------------------------------


def test_auditor_from_settings_builds_core_and_plugin_sinks(tmp_path: Path) -> None:
    """The configured core sink comes first, then every plugin's audit sinks."""
    extra = RecordingSink()
    plugins = [Plugin(name="x", audit_sinks=(extra,))]
    stdout = auditor_from_settings(AuditSettings(sink="stdout"), plugins)
    assert [type(sink) for sink in stdout.sinks] == [StdoutSink, RecordingSink]
    file = auditor_from_settings(AuditSettings(sink="file", file=tmp_path / "a.jsonl"))
    [sink] = file.sinks
    assert isinstance(sink, JsonLinesSink) and sink.path == tmp_path / "a.jsonl"
    assert auditor_from_settings(AuditSettings(sink="none")).sinks == ()


def test_file_sink_without_a_path_is_a_config_error() -> None:
    """`sink = "file"` without `file` is refused with the key named."""
    with pytest.raises(ConfigError, match="audit.file: required"):
        auditor_from_settings(AuditSettings(sink="file"))
