"""Evaluation details: messages, policy sets, fail-closed behaviour, the index."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from gateway.policy import (
    Decision,
    Policy,
    PolicySet,
    RequestContext,
    Verdict,
    evaluate,
    explain,
)

USER = "arn:aws:iam::123456789012:user/steve"
PW = "arn:aws:iam::123456789012:user/steve"


def _req(action: str = "iam:ChangePassword", **kw: Any) -> RequestContext:
    return RequestContext(USER, action, kw.pop("resource", PW), kw.pop("context", {}), **kw)


# --- AWS access denied sentences ---------------------------------------------------
MESSAGES = [
    (
        Decision(Verdict.IMPLICIT_DENY, denied_by=("identity",)),
        "because no identity-based policy allows the iam:ChangePassword action",
    ),
    (
        Decision(Verdict.IMPLICIT_DENY, denied_by=("boundary",)),
        "because no permissions boundary allows the iam:ChangePassword action",
    ),
    (
        Decision(Verdict.IMPLICIT_DENY, denied_by=("session",)),
        "because no session policy allows the iam:ChangePassword action",
    ),
    (
        Decision(Verdict.IMPLICIT_DENY, denied_by=("resource",)),
        "because no resource-based policy allows the iam:ChangePassword action",
    ),
    (
        Decision(Verdict.IMPLICIT_DENY, denied_by=("trust",)),
        "because no role trust policy allows the iam:ChangePassword action",
    ),
    (
        Decision(Verdict.IMPLICIT_DENY),
        "because no identity-based policy allows the iam:ChangePassword action",
    ),
    (Decision(Verdict.EXPLICIT_DENY), "with an explicit deny in an identity-based policy"),
]


@pytest.mark.parametrize(("decision", "tail"), MESSAGES)
def test_messages(decision: Decision, tail: str) -> None:
    """Denials read like AWS access denied errors."""
    text = explain(decision, _req())
    assert text.startswith(
        f"User: {USER} is not authorized to perform: iam:ChangePassword on resource: {PW} "
    )
    assert text.endswith(tail)


def test_walkthrough_message(policy_factory: Callable[..., Policy]) -> None:
    """Steve cannot change his password until a policy allows it, and is told why."""
    request = _req(context={"aws:username": "steve"})
    decision = evaluate(request)
    assert decision.message(request) == (
        f"User: {USER} is not authorized to perform: iam:ChangePassword on resource: {PW} "
        "because no identity-based policy allows the iam:ChangePassword action"
    )
    policy = policy_factory(
        [
            {
                "Effect": "Allow",
                "Action": "iam:ChangePassword",
                "Resource": "arn:aws:iam::*:user/${aws:username}",
            }
        ],
        policy_id="arn:aws:iam::aws:policy/IAMUserChangePassword",
    )
    allowed = evaluate(request, identity=[policy])
    assert allowed.is_allowed
    assert allowed.matched[0].policy_id == "arn:aws:iam::aws:policy/IAMUserChangePassword"
    assert "is authorized" in allowed.message(request)


def test_explicit_deny_kinds(policy_factory: Callable[..., Policy]) -> None:
    """Explicit denies name the policy type that denied."""
    deny = [{"Effect": "Deny", "Action": "*", "Resource": "*"}]
    request = _req(resource="")
    for kind, phrase in (("boundary", "a permissions boundary"), ("session", "a session policy")):
        policy = policy_factory(deny, kind=kind)
        decision = evaluate(request, **{kind: [policy]})  # type: ignore[arg-type]
        assert decision.message(request).endswith(f"with an explicit deny in {phrase}")
        assert " on resource" not in decision.message(request)
    resource = policy_factory([{**deny[0], "Principal": "*"}], kind="resource")
    assert (
        evaluate(request, resource=resource).message(request).endswith("in a resource-based policy")
    )


def test_policy_set_matches_sequence(policy_factory: Callable[..., Policy]) -> None:
    """A PolicySet decides exactly as the same policies passed as a list."""
    policies = [
        policy_factory([{"Effect": "Allow", "Action": a, "Resource": "*"}], policy_id=str(n))
        for n, a in enumerate(["s3:Get*", "*:List*", "iam:*", "s3:GetObject"])
    ] + [policy_factory([{"Effect": "Allow", "NotAction": "ec2:*", "Resource": "*"}])]
    pset = PolicySet(policies)
    for action in ("s3:GetObject", "ec2:ListThings", "IAM:CreateUser", "ec2:RunInstances"):
        request = _req(action)
        assert evaluate(request, identity=pset) == evaluate(request, identity=policies)
        assert evaluate(request, identity=pset) == evaluate(request, identity=pset)


def test_fail_closed_on_bad_types(policy_factory: Callable[..., Policy]) -> None:
    """Context values of the wrong type never let an Allow through."""
    cases: list[tuple[dict[str, Any], dict[str, Any]]] = [
        ({"BinaryEquals": {"aws:x": "YQ=="}}, {"aws:x": 3}),
        ({"BinaryEquals": {"aws:x": "YQ=="}}, {"aws:x": "!!"}),
        ({"IpAddress": {"aws:x": "10.0.0.0/8"}}, {"aws:x": 10}),
        ({"DateLessThan": {"aws:x": "2030-01-01"}}, {"aws:x": datetime(2020, 1, 1)}),
        ({"NumericLessThan": {"aws:x": "3"}}, {"aws:x": True}),
        ({"Bool": {"aws:x": "true"}}, {"aws:x": 1}),
    ]
    for condition, context in cases:
        policy = policy_factory(
            [{"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": condition}]
        )
        assert evaluate(_req(context=context), identity=[policy]).verdict is Verdict.IMPLICIT_DENY


def test_typed_context_values(policy_factory: Callable[..., Policy]) -> None:
    """Datetimes, bytes and numbers from the caller are compared by value."""
    policy = policy_factory(
        [
            {
                "Effect": "Allow",
                "Action": "*",
                "Resource": "*",
                "Condition": {
                    "DateGreaterThan": {"aws:CurrentTime": "2020-01-01T00:00:00Z"},
                    "BinaryEquals": {"aws:blob": "YQ=="},
                    "StringEquals": {"aws:when": "2021-01-01T00:00:00Z"},
                },
            }
        ]
    )
    context = {
        "aws:CurrentTime": datetime(2021, 1, 1, tzinfo=UTC),
        "aws:blob": b"a",
        "aws:when": datetime(2021, 1, 1, tzinfo=UTC),
    }
    assert evaluate(_req(context=context), identity=[policy]).is_allowed


def test_context_validation() -> None:
    """Bad context keys and values are refused when the request is built."""
    with pytest.raises(TypeError):
        RequestContext(USER, "s3:x", "*", {1: "x"})  # type: ignore[dict-item]
    with pytest.raises(TypeError):
        RequestContext(USER, "s3:x", "*", {"k": {"a": 1}})  # type: ignore[dict-item]
    merged = RequestContext(USER, "s3:x", "*", {"aws:A": "1", "aws:a": ["2"]})
    assert merged.values["aws:a"] == ("1", "2")
    # Seen keys are lowered from a cache: a second request reads the same, and a
    # non-string key is still refused after string keys were cached.
    again = RequestContext(USER, "s3:x", "*", {"aws:A": "1", "aws:a": ["2"]})
    assert again.values == merged.values
    with pytest.raises(TypeError):
        RequestContext(USER, "s3:x", "*", {b"aws:a": "x"})  # type: ignore[dict-item]


def test_context_key_cache_is_bounded() -> None:
    """Past its bound the key cache stops growing, and keys are still lowered."""
    from gateway.policy import context as module

    many = {f"app:Key{index}": str(index) for index in range(module._MAX_LOWERED + 10)}
    request = RequestContext(USER, "s3:x", "*", many)
    assert len(module._LOWERED) <= module._MAX_LOWERED
    assert request.values[f"app:key{module._MAX_LOWERED + 9}"] == (str(module._MAX_LOWERED + 9),)
    assert RequestContext("", "s3:x").account == ""


def test_memo_limit(policy_factory: Callable[..., Policy]) -> None:
    """Past the memo limit candidates are still found, just not remembered."""
    import gateway.policy.index as index

    policy = policy_factory([{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}])
    old = index._MEMO_LIMIT
    index._MEMO_LIMIT = 0
    try:
        assert evaluate(_req("s3:Uncached1"), identity=[policy]).is_allowed
    finally:
        index._MEMO_LIMIT = old
