"""
The IAM policy engine: parse AWS IAM JSON policies once, evaluate them many times.

Layer: ``gateway.policy`` is pure: no I/O, no async, no clocks, no randomness, no
logging, and no imports from the rest of the gateway. Callers load documents and
pass them in, the way Cedar's `is_authorized(request, policies, entities)` works.

Typical use::

    policy = parse_policy(text, kind="identity", policy_id="arn:aws:iam::...:policy/P")
    request = RequestContext(principal_arn, "iam:ChangePassword", user_arn, context)
    decision = evaluate(request, identity=PolicySet([policy]))
    if not decision.is_allowed:
        raise AccessDenied(decision.message(request))

Public API:

- `parse_policy(document, *, kind="identity", policy_id="", max_size=None) -> Policy`
- `check_policy(document, *, kind="identity", max_size=None) -> list[Finding]`
- `evaluate(request, *, identity=(), resource=None, boundary=None, session=None,
  is_root=False) -> Decision`
- `explain(decision, request) -> str` (also `Decision.message(request)`)
- `simulate_custom_policy(request_json) -> response_json` (IAM SimulateCustomPolicy)
- `PolicyError` (`.path`, `.message`, `.code`) and its subclasses.
"""

from __future__ import annotations

from .context import ContextValue, RequestContext
from .document import Effect, Policy, PolicyKind, Statement, StatementRef, parse_policy
from .errors import Finding, InvalidSimulation, MalformedPolicy, PolicyError, PolicyTooLarge
from .evaluator import Decision, PolicySet, Verdict, evaluate, explain
from .simulate import simulate_custom_policy
from .validate import GLOBAL_CONDITION_KEYS, analyze, check_policy

__all__ = [
    "GLOBAL_CONDITION_KEYS",
    "ContextValue",
    "Decision",
    "Effect",
    "Finding",
    "InvalidSimulation",
    "MalformedPolicy",
    "Policy",
    "PolicyError",
    "PolicyKind",
    "PolicySet",
    "PolicyTooLarge",
    "RequestContext",
    "Statement",
    "StatementRef",
    "Verdict",
    "analyze",
    "check_policy",
    "evaluate",
    "explain",
    "parse_policy",
    "simulate_custom_policy",
]
