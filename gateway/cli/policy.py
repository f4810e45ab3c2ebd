"""
`gateway policy validate` and `gateway policy simulate`.

Layer: ``gateway.cli`` (edge). Reads files, calls the pure ``gateway.policy``
engine and prints results. Bad input gets one line on stderr and exit status 2;
never a traceback.

Exit status: 0 success (validate: every document valid, warnings allowed),
1 validate found a malformed document, 2 usage error or unreadable input.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from gateway.policy import PolicyError, check_policy, simulate_custom_policy

__all__ = ["register", "run_simulate", "run_validate"]

KINDS = ("identity", "resource", "trust", "boundary", "session")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `policy` command and its `validate` and `simulate` subcommands."""
    parser = subparsers.add_parser(
        "policy",
        help="validate and simulate IAM JSON policies",
        description="Validate IAM JSON policy documents and simulate requests against them.",
    )
    commands = parser.add_subparsers(dest="policy_command", metavar="COMMAND", required=True)

    validate = commands.add_parser(
        "validate",
        help="check policy documents for errors and risky patterns",
        description="Check policy documents the way IAM and IAM Access Analyzer do. "
        "Exit status 0 when every document is valid (warnings allowed), 1 otherwise.",
    )
    validate.add_argument(
        "--type",
        dest="kind",
        choices=KINDS,
        default="identity",
        help="what the policy is attached as (default: identity)",
    )
    validate.add_argument("--json", action="store_true", help="print findings as JSON")
    validate.add_argument(
        "--max-size",
        type=int,
        default=None,
        metavar="N",
        help="refuse documents over N characters, whitespace not counted",
    )
    validate.add_argument("files", nargs="+", metavar="FILE", help="policy files; - is stdin")
    validate.set_defaults(func=run_validate)

    simulate = commands.add_parser(
        "simulate",
        help="simulate requests like IAM SimulateCustomPolicy",
        description="Read a SimulateCustomPolicy request (JSON) and print the response.",
    )
    simulate.add_argument("file", metavar="FILE|-", help="request file; - is stdin")
    simulate.set_defaults(func=run_simulate)


def _read(name: str) -> str:
    if name == "-":
        return sys.stdin.read()
    with open(name, encoding="utf-8") as handle:
        return handle.read()


def _error(command: str, message: str) -> int:
    print(f"gateway policy {command}: error: {message}", file=sys.stderr)
    return 2


def run_validate(args: argparse.Namespace) -> int:
    """Validate each file and print its findings; see the module docstring for exits."""
    reports: list[dict[str, Any]] = []
    for name in args.files:
        try:
            text = _read(name)
        except (OSError, UnicodeDecodeError) as exc:
            return _error("validate", f"cannot read `{name}`: {exc.__class__.__name__}")
        findings = check_policy(text, kind=args.kind, max_size=args.max_size)
        reports.append(
            {
                "file": name,
                "valid": not any(f.level == "error" for f in findings),
                "findings": [
                    {"level": f.level, "path": f.path, "message": f.message, "code": f.code}
                    for f in findings
                ],
            }
        )
    if args.json:
        print(json.dumps({"files": reports}, indent=2))
    else:
        for report in reports:
            if not report["findings"]:
                print(f"{report['file']}: ok")
            for f in report["findings"]:
                where = f"{f['path']}: " if f["path"] else ""
                print(f"{report['file']}: {f['level']}: {where}{f['message']} [{f['code']}]")
    return 0 if all(r["valid"] for r in reports) else 1


def run_simulate(args: argparse.Namespace) -> int:
    """Run one SimulateCustomPolicy request and print the response JSON."""
    try:
        text = _read(args.file)
    except (OSError, UnicodeDecodeError) as exc:
        return _error("simulate", f"cannot read `{args.file}`: {exc.__class__.__name__}")
    try:
        request = json.loads(text)
    except (ValueError, RecursionError) as exc:
        reason = exc.msg.lower() if isinstance(exc, json.JSONDecodeError) else "nested too deeply"
        return _error("simulate", f"`{args.file}` is not JSON: {reason}")
    try:
        response = simulate_custom_policy(request)
    except PolicyError as exc:
        return _error("simulate", str(exc))
    print(json.dumps(response, indent=2))
    return 0
