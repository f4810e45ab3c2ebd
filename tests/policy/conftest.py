"""Shared helpers for the policy engine tests."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

import pytest

from gateway.policy import Policy, PolicyKind, RequestContext, parse_policy

USER = "arn:aws:iam::123456789012:user/steve"


def _doc(statements: list[dict[str, Any]] | dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": statements}


@pytest.fixture
def policy_factory() -> Callable[..., Policy]:
    """Build a compiled policy from statements (or a whole document)."""

    def make(
        statements: list[dict[str, Any]] | dict[str, Any],
        *,
        kind: PolicyKind = "identity",
        policy_id: str = "p",
        whole: bool = False,
    ) -> Policy:
        document = statements if whole else _doc(statements)
        return parse_policy(json.dumps(document), kind=kind, policy_id=policy_id)

    return make


@pytest.fixture
def request_factory() -> Callable[..., RequestContext]:
    """Build a request for `steve` with overridable fields."""

    def make(
        action: str = "s3:GetObject",
        resource: str = "arn:aws:s3:::bucket/key",
        context: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> RequestContext:
        principal = kwargs.pop("principal", USER)
        return RequestContext(principal, action, resource, dict(context or {}), **kwargs)

    return make
