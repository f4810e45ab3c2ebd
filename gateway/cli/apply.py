"""
``gateway apply FILE [--dry-run]`` and ``gateway export [--format toml|json]``.

``apply`` makes the account match an IAM file (see ``gateway.cli.iamfile``):
it reads the current state, prints a plan (``+ create user steve``, ``~ update
policy backup-write (new default version v2)``, ``- detach ...``) and carries
it out inside one write transaction (``IAM.batch()``), so either every change
lands or none does. What the file names is its desired state: for a named
user, group or role, the file's groups, policies, inline policies, tags,
boundary and console setting are the complete set (an omitted key means none).
Entities the file does not name are left alone, unless ``prune = true`` says
to delete them. ``account_alias`` and ``password_policy`` are left alone when
omitted. Policy documents are compared as parsed JSON, so a second run says
"no changes" and writes nothing.

``apply`` never handles access keys (``gateway iam create-access-key`` makes
them). ``console = {...}`` on a user creates a login profile with a generated
password when there is none; that password is printed once and stored nowhere.
An existing login profile is left as it is (its password and reset flag belong
to the user). ``export`` prints the same format back, without any secret.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable

from gateway.cli._common import add_account_argument, add_config_argument, open_iam
from gateway.cli.changes import Change, Notice, Step
from gateway.cli.export import export_data, run_export
from gateway.cli.iamfile import IAMFile, load_iam_file
from gateway.cli.plan import Planner, plan
from gateway.cli.state import Principal, State, read_state
from gateway.errors import GatewayError
from gateway.iam import IAM

__all__ = [
    "ApplyFailed",
    "Change",
    "Notice",
    "Planner",
    "Principal",
    "State",
    "Step",
    "apply",
    "export_data",
    "plan",
    "read_state",
    "register",
    "run_apply",
    "run_export",
]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """
    Add the ``apply`` and ``export`` commands.
    """
    parser = subparsers.add_parser(
        "apply",
        help="make IAM match a declarative file (TOML or JSON)",
        description="Make the account's users, groups, roles and policies match FILE: print "
        "the plan, then apply it all-or-nothing. Idempotent.",
    )
    parser.add_argument("file", metavar="FILE", help="the IAM file (.toml or .json)")
    parser.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
    add_config_argument(parser)
    add_account_argument(parser)
    parser.set_defaults(func=run_apply)

    export = subparsers.add_parser(
        "export",
        help="print the account's IAM state in the format `apply` reads",
        description="Print users, groups, roles and customer managed policies as an IAM "
        "file; secrets are never included.",
    )
    export.add_argument("--format", choices=("toml", "json"), default="toml", help="default: toml")
    add_config_argument(export)
    add_account_argument(export)
    export.set_defaults(func=run_export)


class ApplyFailed(GatewayError):
    """
    A change failed while applying; the transaction was rolled back.
    """

    code = "ApplyFailed"
    status = 400


async def apply(
    iam: IAM,
    spec: IAMFile,
    *,
    dry_run: bool = False,
    report: Callable[[list[Change]], None] = lambda changes: None,
) -> tuple[list[Change], list[Notice]]:
    """
    Plan, then (unless ``dry_run``) apply every change in one transaction.

    ``report`` receives the plan before anything is applied (to print it).

    Returns:
        The changes and the notices to print once (generated console passwords).

    Raises:
        IAMFileError: the file refers to something unknown (nothing changed).
        ApplyFailed: a change failed; the transaction was rolled back.
    """
    changes = await plan(iam, spec)
    if dry_run or not changes:
        report(changes)
        return changes, []
    notices: list[Notice] = []
    async with iam.batch() as batch:
        # INVARIANT: re-planned under the writer lock, so the plan applied is exact.
        changes = await plan(batch, spec)
        report(changes)
        for change in changes:
            try:
                result = await change.step(batch)
            except GatewayError as exc:
                raise ApplyFailed(
                    f"{spec.file}: `{change}` failed: ({exc.code}) {exc.message.rstrip('.')}; "
                    "nothing was changed"
                ) from exc
            if isinstance(result, Notice):
                notices.append(result)
    return changes, notices


def run_apply(args: argparse.Namespace) -> int:
    """
    Print the plan and apply it (or not, with ``--dry-run``).
    """
    spec = load_iam_file(args.file)
    changes, notices = asyncio.run(_apply(args, spec))
    if not changes:
        print("no changes")
        return 0
    count = f"{len(changes)} change{'s' if len(changes) != 1 else ''}"
    if args.dry_run:
        print(f"dry run: {count} planned, nothing changed")
        return 0
    print(f"applied {count}")
    for notice in notices:
        print(notice.text)
    return 0


def _print_plan(changes: list[Change]) -> None:
    for change in changes:
        print(change, flush=True)


async def _apply(args: argparse.Namespace, spec: IAMFile) -> tuple[list[Change], list[Notice]]:
    async with open_iam(args) as iam:
        return await apply(iam, spec, dry_run=args.dry_run, report=_print_plan)
