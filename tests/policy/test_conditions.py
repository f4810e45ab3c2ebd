"""Condition operators, one family at a time: values, policy variables, bad operands."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.policy import RequestContext, Verdict, evaluate, parse_policy
from gateway.policy.operands import parse_date, parse_number

USER = "arn:aws:iam::123456789012:user/steve"


def _verdict(effect: str, condition: dict[str, Any], context: dict[str, Any]) -> Verdict:
    statement = {"Effect": effect, "Action": "s3:GetObject", "Resource": "*"}
    allow_all = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}
    statements = [{**statement, "Condition": condition}]
    if effect == "Deny":
        statements.append(allow_all)
    policy = parse_policy({"Version": "2012-10-17", "Statement": statements}, policy_id="p")
    request = RequestContext(USER, "s3:GetObject", "*", context)
    return evaluate(request, identity=[policy]).verdict


def _allowed(condition: dict[str, Any], context: dict[str, Any]) -> bool:
    return _verdict("Allow", condition, context) is Verdict.ALLOWED


# --- (condition, context, allowed) --------------------------------------------------
TABLE = [
    # String*: plain values and templates side by side
    (
        {"StringEquals": {"s3:prefix": ["home", "${aws:username}"]}},
        {"s3:prefix": "home", "aws:username": "bob"},
        True,
    ),
    (
        {"StringEquals": {"s3:prefix": ["home", "${aws:username}"]}},
        {"s3:prefix": "bob", "aws:username": "bob"},
        True,
    ),
    (
        {"StringEquals": {"s3:prefix": ["home", "${aws:username}"]}},
        {"s3:prefix": "alice", "aws:username": "bob"},
        False,
    ),
    # StringEqualsIgnoreCase: a template that cannot resolve is skipped, not an error
    (
        {"StringEqualsIgnoreCase": {"s3:prefix": ["${aws:username}", "${aws:PrincipalTag/team}"]}},
        {"s3:prefix": "OPS", "aws:PrincipalTag/team": "ops"},
        True,
    ),
    (
        {"StringEqualsIgnoreCase": {"s3:prefix": ["${aws:username}", "${aws:PrincipalTag/team}"]}},
        {"s3:prefix": "dev", "aws:username": "bob", "aws:PrincipalTag/team": "ops"},
        False,
    ),
    (
        {"StringEqualsIgnoreCase": {"s3:prefix": ["Home", "${aws:username}"]}},
        {"s3:prefix": "HOME"},
        True,
    ),
    # Arn*: `?` is one character and never a `:` outside the resource part
    (
        {"ArnLike": {"aws:SourceArn": "arn:aws:s3:::bucket-??"}},
        {"aws:SourceArn": "arn:aws:s3:::bucket-01"},
        True,
    ),
    (
        {"ArnLike": {"aws:SourceArn": "arn:aws:s3:::bucket-??"}},
        {"aws:SourceArn": "arn:aws:s3:::bucket-1"},
        False,
    ),
    ({"ArnLike": {"aws:SourceArn": "arn:aws:s?:::b"}}, {"aws:SourceArn": "arn:aws:s3:::b"}, True),
    (
        {"ArnLike": {"aws:SourceArn": "arn:aws:s??:::b"}},
        {"aws:SourceArn": "arn:aws:s:::::b"},
        False,
    ),
    # Arn* with policy variables: a context value that is not an ARN never matches
    (
        {"ArnEquals": {"aws:SourceArn": "arn:aws:iam::123456789012:user/${aws:username}"}},
        {"aws:SourceArn": "arn:aws:iam::123456789012:user/bob", "aws:username": "bob"},
        True,
    ),
    (
        {"ArnEquals": {"aws:SourceArn": "arn:aws:iam::123456789012:user/${aws:username}"}},
        {"aws:SourceArn": "user/bob", "aws:username": "bob"},
        False,
    ),
]


@pytest.mark.parametrize(("condition", "context", "allowed"), TABLE)
def test_operator_table(condition: dict[str, Any], context: dict[str, Any], allowed: bool) -> None:
    """Each operator decides its row as the IAM condition operator reference says."""
    assert _allowed(condition, context) is allowed


# --- operands the operator cannot read: fail closed ---------------------------------
UNREADABLE = [
    ({"DateLessThan": {"aws:CurrentTime": "2030-01-01T00:00:00Z"}}, {"aws:CurrentTime": b"x"}),
    ({"NumericLessThan": {"s3:max-keys": "10"}}, {"s3:max-keys": "ten"}),
]


@pytest.mark.parametrize(("condition", "context"), UNREADABLE)
def test_unreadable_context_fails_closed(
    condition: dict[str, Any], context: dict[str, Any]
) -> None:
    """A context value of the wrong type makes an Allow not apply and a Deny apply."""
    assert _verdict("Allow", condition, context) is Verdict.IMPLICIT_DENY
    assert _verdict("Deny", condition, context) is Verdict.EXPLICIT_DENY


def test_operand_readers() -> None:
    """Dates and numbers are read from text, numbers and aware datetimes only."""
    assert parse_date("1970-01-01T00:01:00") == 60.0
    assert parse_date(90) == 90.0
    assert parse_number("2.5") == 2.5
    for bad in (b"2030-01-01", None, ["1"]):
        with pytest.raises(ValueError, match="is not a date"):
            parse_date(bad)
    with pytest.raises(ValueError, match="not a finite number"):
        parse_number("inf")
