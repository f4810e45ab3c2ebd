"""Runs the JSON corpus of decision cases in `cases/*.json`, one test per case."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from gateway.policy import Decision, Policy, PolicyKind, RequestContext, evaluate, parse_policy

CASES_DIR = Path(__file__).parent / "cases"


def _load() -> list[Any]:
    params = []
    for path in sorted(CASES_DIR.glob("*.json")):
        for n, case in enumerate(json.loads(path.read_text(encoding="utf-8"))):
            params.append(pytest.param(case, id=f"{path.stem}[{n}] {case['description']}"))
    return params


def _policies(docs: list[Any], prefix: str, kind: PolicyKind) -> list[Policy]:
    return [
        parse_policy(json.dumps(doc), kind=kind, policy_id=f"{prefix}.{n}")
        for n, doc in enumerate(docs, start=1)
    ]


def _decide(case: dict[str, Any]) -> Decision:
    policies = case["policies"]
    req = case["request"]
    request = RequestContext(
        req.get("principal", "arn:aws:iam::123456789012:user/steve"),
        req["action"],
        req.get("resource", "*"),
        req.get("context", {}),
        principal_account=req.get("principal_account", ""),
        resource_account=req.get("resource_account", ""),
        entity=req.get("entity", ""),
    )
    resource = None
    if "resource" in policies:
        kind: PolicyKind = policies.get("resource_kind", "resource")
        resource = parse_policy(json.dumps(policies["resource"]), kind=kind, policy_id="resource")
    boundary = policies.get("boundary")
    session = policies.get("session")
    return evaluate(
        request,
        identity=_policies(policies.get("identity", []), "identity", "identity"),
        resource=resource,
        boundary=None if boundary is None else _policies(boundary, "boundary", "boundary"),
        session=None if session is None else _policies(session, "session", "session"),
        is_root=case.get("is_root", False),
    )


@pytest.mark.parametrize("case", _load())
def test_case(case: dict[str, Any]) -> None:
    """Each corpus case reaches its expected verdict, statements and missing keys."""
    decision = _decide(case)
    expect = case["expect"]
    assert str(decision.verdict) == expect["verdict"], case["description"]
    if "matched" in expect:
        got = [f"{r.policy_id}#{r.index}" for r in decision.matched]
        assert got == expect["matched"]
    if "missing" in expect:
        assert sorted(decision.missing_context) == sorted(expect["missing"])
    if "denied_by" in expect:
        assert list(decision.denied_by) == expect["denied_by"]


def test_corpus_is_large() -> None:
    """The corpus holds cases from every AWS page it claims to cover."""
    stems = {p.stem for p in CASES_DIR.glob("*.json")}
    assert {"elements", "conditions", "variables", "evaluation", "boundaries", "examples"} <= stems
    assert len(_load()) >= 100
