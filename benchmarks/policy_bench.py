"""
Benchmark of the IAM policy engine, with cedarpy and pycasbin side by side.

Run: `python benchmarks/policy_bench.py`. Prints decisions per second and the
median microseconds per decision for each workload and engine, the ratios
(ours vs theirs) measured in the same run, and the time to compile a
20-statement policy. Peers that are not importable are skipped with a note.

Workloads: N policies x M statements with conditions (`StringEquals` on a principal
tag, `IpAddress`, `Bool`), policy variables in resources and a few `Deny`
statements, evaluated once for a request that is allowed and once for one that
ends in an implicit deny. The peers get the closest translation their languages
allow: Cedar (pre-parsed `PolicySet`, `like` for wildcards, `ip()` ranges; no
policy variables, so the owner check is an attribute comparison); casbin
(`keyMatch` on resources and actions; it has no conditions, so it does less work).
"""

from __future__ import annotations

import json
import random
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gateway.policy import (  # noqa: E402  (path set up above)
    Policy,
    PolicySet,
    RequestContext,
    evaluate,
    parse_policy,
)

ACCOUNT = "123456789012"
USER = f"arn:aws:iam::{ACCOUNT}:user/steve"
SERVICES = ["s3", "ec2", "dynamodb", "sqs", "sns", "kms", "lambda", "logs", "iam", "cloudwatch"]
VERBS = ["Get", "Put", "List", "Describe", "Delete", "Create", "Update", "Tag"]
NOUNS = ["Object", "Bucket", "Item", "Queue", "Topic", "Key", "Function", "Stream"]
BATCHES = 7
BATCH_SECONDS = 0.08


@dataclass
class Stmt:
    """A generated statement, kept abstract so each engine can translate it."""

    effect: str
    service: str
    actions: list[str]
    wildcard: bool
    noun: str
    team: int
    variable: bool
    conditions: list[str]


def _statement(rng: random.Random, team: int) -> Stmt:
    service = rng.choice(SERVICES)
    wildcard = rng.random() < 0.3
    if wildcard:
        actions = [f"{service}:{rng.choice(VERBS)}*"]
    else:
        actions = [f"{service}:{rng.choice(VERBS)}{rng.choice(NOUNS)}" for _ in range(3)]
    deny = rng.random() < 0.1
    conditions = ["region"] if deny else rng.sample(["team", "ip", "tls"], k=rng.randint(1, 2))
    return Stmt(
        "Deny" if deny else "Allow",
        service,
        actions,
        wildcard,
        rng.choice(NOUNS),
        team,
        rng.random() < 0.3,
        conditions,
    )


def _resource(s: Stmt) -> str:
    owner = "${aws:username}" if s.variable else f"team-{s.team}"
    return f"arn:aws:{s.service}:us-east-1:{ACCOUNT}:{s.noun}/{owner}/*"


def _iam_condition(s: Stmt) -> dict[str, Any]:
    cond: dict[str, Any] = {}
    for c in s.conditions:
        if c == "team":
            cond.setdefault("StringEquals", {})["aws:PrincipalTag/team"] = f"team-{s.team}"
        elif c == "ip":
            cond["IpAddress"] = {"aws:SourceIp": ["10.0.0.0/8", "2001:db8::/32"]}
        elif c == "tls":
            cond["Bool"] = {"aws:SecureTransport": "true"}
        else:
            cond.setdefault("StringEquals", {})["aws:RequestedRegion"] = "ap-south-1"
    return cond


def _iam_document(stmts: list[Stmt]) -> str:
    body = [
        {
            "Sid": f"S{n}",
            "Effect": s.effect,
            "Action": s.actions,
            "Resource": _resource(s),
            "Condition": _iam_condition(s),
        }
        for n, s in enumerate(stmts)
    ]
    return json.dumps({"Version": "2012-10-17", "Statement": body}, indent=2)


@dataclass
class Workload:
    """Policies plus the allowed and the implicitly denied request."""

    name: str
    policies: list[list[Stmt]]
    allow: dict[str, Any]
    deny: dict[str, Any]


def _workload(name: str, n_policies: int, n_statements: int, seed: int) -> Workload:
    rng = random.Random(seed)
    policies = [
        [_statement(rng, rng.randint(1, 50)) for _ in range(n_statements)]
        for _ in range(n_policies)
    ]
    # The allowing statement sits in the last policy: literal actions, a variable
    # resource, and every kind of condition.
    target = Stmt(
        "Allow",
        "s3",
        ["s3:GetObject", "s3:GetObjectAcl"],
        False,
        "Object",
        7,
        True,
        ["team", "ip", "tls"],
    )
    policies[-1][-1] = target
    base = {
        "username": "steve",
        "team": "team-7",
        "ip": "10.1.2.3",
        "tls": True,
        "region": "us-east-1",
    }
    allow = {
        **base,
        "action": "s3:GetObject",
        "resource": f"arn:aws:s3:us-east-1:{ACCOUNT}:Object/steve/report.csv",
        "owner": "steve",
    }
    deny = {
        **base,
        "action": "s3:GetObject",
        "resource": f"arn:aws:s3:us-east-1:{ACCOUNT}:Object/maria/report.csv",
        "owner": "maria",
    }
    return Workload(name, policies, allow, deny)


# --- ours -------------------------------------------------------------------------


def _ours(work: Workload) -> Callable[[dict[str, Any]], Callable[[], object]]:
    compiled = [
        parse_policy(_iam_document(stmts), policy_id=f"p{n}")
        for n, stmts in enumerate(work.policies)
    ]
    policy_set = PolicySet(compiled)

    def prepare(req: dict[str, Any]) -> Callable[[], object]:
        context = {
            "aws:username": req["username"],
            "aws:PrincipalTag/team": req["team"],
            "aws:SourceIp": req["ip"],
            "aws:SecureTransport": req["tls"],
            "aws:RequestedRegion": req["region"],
        }

        # The request context is built per call, as the gateway does per request.
        def call() -> object:
            request = RequestContext(USER, req["action"], req["resource"], context)
            return evaluate(request, identity=policy_set).verdict

        return call

    return prepare


def _ours_sequence(work: Workload) -> Callable[[dict[str, Any]], Callable[[], object]]:
    compiled: list[Policy] = [
        parse_policy(_iam_document(stmts), policy_id=f"p{n}")
        for n, stmts in enumerate(work.policies)
    ]

    def prepare(req: dict[str, Any]) -> Callable[[], object]:
        context = {
            "aws:username": req["username"],
            "aws:PrincipalTag/team": req["team"],
            "aws:SourceIp": req["ip"],
            "aws:SecureTransport": req["tls"],
            "aws:RequestedRegion": req["region"],
        }

        def call() -> object:
            request = RequestContext(USER, req["action"], req["resource"], context)
            return evaluate(request, identity=compiled).verdict

        return call

    return prepare


# --- cedar ------------------------------------------------------------------------


def _cedar_text(stmts: list[Stmt], prefix: str) -> str:
    out = []
    for n, s in enumerate(stmts):
        clauses = []
        if s.wildcard:
            head = "action"
            clauses.append(f'context.action like "{s.actions[0]}"')
        else:
            listed = ", ".join(f'Action::"{a}"' for a in s.actions)
            head = f"action in [{listed}]"
        owner = "*" if s.variable else f"team-{s.team}/*"
        clauses.append(
            f'context.resource like "arn:aws:{s.service}:us-east-1:{ACCOUNT}:{s.noun}/{owner}"'
        )
        if s.variable:
            clauses.append("context.owner == context.username")
        for c in s.conditions:
            if c == "team":
                clauses.append(f'context.team == "team-{s.team}"')
            elif c == "ip":
                clauses.append(
                    '(context.ip.isInRange(ip("10.0.0.0/8")) || '
                    'context.ip.isInRange(ip("2001:db8::/32")))'
                )
            elif c == "tls":
                clauses.append("context.tls == true")
            else:
                clauses.append('context.region == "ap-south-1"')
        effect = "permit" if s.effect == "Allow" else "forbid"
        out.append(
            f'@id("{prefix}s{n}")\n{effect}(principal, {head}, resource) '
            f"when {{ {' && '.join(clauses)} }};"
        )
    return "\n".join(out)


def _cedar(work: Workload) -> Callable[[dict[str, Any]], Callable[[], object]]:
    import cedarpy

    text = "\n".join(_cedar_text(stmts, f"p{n}") for n, stmts in enumerate(work.policies))
    policies = cedarpy.PolicySet.from_str(text)
    entities = cedarpy.Entities.from_json_str("[]")

    def prepare(req: dict[str, Any]) -> Callable[[], object]:
        request = {
            "principal": 'User::"steve"',
            "action": f'Action::"{req["action"]}"',
            "resource": 'Resource::"r"',
            "context": {
                "action": req["action"],
                "resource": req["resource"],
                "owner": req["owner"],
                "username": req["username"],
                "team": req["team"],
                "ip": {"__extn": {"fn": "ip", "arg": req["ip"]}},
                "tls": req["tls"],
                "region": req["region"],
            },
        }

        def call() -> object:
            return cedarpy.is_authorized(request, policies, entities).decision

        return call

    return prepare


# --- casbin -----------------------------------------------------------------------

_CASBIN_MODEL = """
[request_definition]
r = sub, obj, act
[policy_definition]
p = sub, obj, act, eft
[policy_effect]
e = some(where (p.eft == allow)) && !some(where (p.eft == deny))
[matchers]
m = r.sub == p.sub && keyMatch(r.obj, p.obj) && keyMatch(r.act, p.act)
"""


def _casbin(work: Workload) -> Callable[[dict[str, Any]], Callable[[], object]]:
    import casbin

    enforcer = casbin.Enforcer(casbin.Enforcer.new_model(text=_CASBIN_MODEL))
    rows = []
    for stmts in work.policies:
        for s in stmts:
            owner = "steve" if s.variable else f"team-{s.team}"
            obj = f"arn:aws:{s.service}:us-east-1:{ACCOUNT}:{s.noun}/{owner}/*"
            for action in s.actions:
                rows.append(["steve", obj, action, s.effect.lower()])
    enforcer.add_policies(rows)

    def prepare(req: dict[str, Any]) -> Callable[[], object]:
        def call() -> object:
            return enforcer.enforce("steve", req["resource"], req["action"])

        return call

    return prepare


# --- harness ----------------------------------------------------------------------


def _measure(call: Callable[[], object]) -> float:
    """Median microseconds per call over several timed batches."""
    start = time.perf_counter()
    n = 0
    while time.perf_counter() - start < 0.02:
        call()
        n += 1
    per_batch = max(1, int(n * BATCH_SECONDS / 0.02))
    samples = []
    for _ in range(BATCHES):
        t0 = time.perf_counter()
        for _ in range(per_batch):
            call()
        samples.append((time.perf_counter() - t0) / per_batch * 1e6)
    return statistics.median(samples)


def _engines() -> list[
    tuple[str, Callable[[Workload], Callable[[dict[str, Any]], Callable[[], object]]]]
]:
    engines: list[tuple[str, Any]] = [("ours", _ours), ("ours (list)", _ours_sequence)]
    try:
        import cedarpy  # noqa: F401
    except ImportError:
        print("note: cedarpy is not importable; skipping the Cedar comparison")
    else:
        engines.append(("cedarpy", _cedar))
    try:
        import casbin  # noqa: F401
    except ImportError:
        print("note: casbin is not importable; skipping the casbin comparison")
    else:
        engines.append(("casbin", _casbin))
    return engines


def _check_decisions(work: Workload) -> None:
    prepare = _ours(work)
    allowed = prepare(work.allow)()
    denied = prepare(work.deny)()
    if str(allowed) != "allowed" or str(denied) != "implicitDeny":
        raise SystemExit(f"{work.name}: unexpected decisions {allowed} / {denied}")


def _compile_time() -> float:
    rng = random.Random(3)
    text = _iam_document([_statement(rng, rng.randint(1, 50)) for _ in range(20)])
    samples = []
    for _ in range(200):
        t0 = time.perf_counter()
        parse_policy(text)
        samples.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(samples)


def main() -> None:
    """Run every workload through every engine and print the table."""
    started = time.perf_counter()
    workloads = [_workload("10x10", 10, 10, 1), _workload("200x20", 200, 20, 2)]
    engines = _engines()
    print(f"{'workload':<22}{'engine':<14}{'decisions/s':>14}{'median us':>12}")
    results: dict[tuple[str, str], float] = {}
    for work in workloads:
        _check_decisions(work)
        prepared = [(name, build(work)) for name, build in engines]
        for label, req in (("allow", work.allow), ("implicit deny", work.deny)):
            for name, prepare in prepared:
                us = _measure(prepare(req))
                results[(f"{work.name} {label}", name)] = us
                print(f"{work.name + ' ' + label:<22}{name:<14}{1e6 / us:>14,.0f}{us:>12.2f}")
    print()
    print("ratios (their median us / our median us; above 1 means ours is faster):")
    for (workload, name), us in results.items():
        if name.startswith("ours"):
            continue
        ours = results[(workload, "ours")]
        print(f"  {workload:<22} ours vs {name:<8} {us / ours:8.1f}x")
    print()
    print(f"compile a 20-statement policy: median {_compile_time():.3f} ms")
    print(f"total benchmark time: {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
