"""
``gateway workload create|list|rotate|delete``: programs that get temporary
credentials for a role instead of a stored access key.

``create --name N --role-name R [--duration S]`` binds a workload to a role and
prints its bootstrap token once; the program runs with::

    AWS_CONTAINER_CREDENTIALS_FULL_URI=http://127.0.0.1:8080/_gateway/credentials
    AWS_CONTAINER_AUTHORIZATION_TOKEN=<token>

and its AWS SDK fetches and refreshes the role's temporary credentials by itself.
``rotate`` prints a new token (the old one stops working); ``delete`` removes the
workload. Output is JSON, like ``gateway iam``.

The outermost layer, like the rest of ``gateway.cli``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Coroutine
from typing import Any

from gateway.cli._common import add_account_argument, add_config_argument, open_iam
from gateway.iam import IAM
from gateway.iam.workloads import DEFAULT_DURATION, MAX_DURATION, MIN_DURATION, Workload
from gateway.iam.workloads import WorkloadOperations as Workloads

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """
    Add ``workload`` and its subcommands.
    """
    parser = subparsers.add_parser(
        "workload",
        help="programs that receive rotating temporary credentials for a role",
        description="Bind programs to roles; they fetch temporary credentials from "
        "/_gateway/credentials with a bootstrap token instead of holding an access key.",
    )
    commands = parser.add_subparsers(dest="workload_command", metavar="COMMAND", required=True)
    common = argparse.ArgumentParser(add_help=False)
    add_config_argument(common)
    add_account_argument(common)

    create = commands.add_parser(
        "create", parents=[common], help="bind a workload to a role; prints its token once"
    )
    create.add_argument("--name", required=True, help="the workload's name (the session name)")
    create.add_argument("--role-name", required=True, help="the role whose sessions it gets")
    create.add_argument(
        "--duration",
        type=int,
        default=DEFAULT_DURATION,
        metavar="SECONDS",
        help=f"lifetime of each set of credentials, {MIN_DURATION} to {MAX_DURATION} "
        f"seconds, at most the role's maximum session duration (default {DEFAULT_DURATION})",
    )
    create.set_defaults(func=lambda args: _run(_create(args)))

    listing = commands.add_parser("list", parents=[common], help="list the workloads")
    listing.set_defaults(func=lambda args: _run(_list(args)))

    rotate = commands.add_parser(
        "rotate", parents=[common], help="replace a workload's token; prints the new one"
    )
    rotate.add_argument("--name", required=True, help="the workload's name")
    rotate.set_defaults(func=lambda args: _run(_rotate(args)))

    delete = commands.add_parser("delete", parents=[common], help="delete a workload")
    delete.add_argument("--name", required=True, help="the workload's name")
    delete.set_defaults(func=lambda args: _run(_delete(args)))


def _shape(workload: Workload) -> dict[str, Any]:
    return {
        "Name": workload.name,
        "WorkloadId": workload.workload_id,
        "RoleName": workload.role_name,
        "RoleArn": workload.role_arn,
        "DurationSeconds": workload.duration_seconds,
        "CreateDate": workload.created.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "TokenRotatedDate": workload.rotated.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def _run(work: Coroutine[Any, Any, dict[str, Any]]) -> int:
    result = asyncio.run(work)
    if result:
        print(json.dumps(result, indent=4))
    return 0


def _service(iam: IAM) -> Workloads:
    return Workloads(iam.store, iam.cipher, account_id=iam.account_id, clock=iam.clock)


async def _create(args: argparse.Namespace) -> dict[str, Any]:
    async with open_iam(args) as iam:
        workload, token = await _service(iam).create_workload(
            args.name, args.role_name, duration=args.duration
        )
    return {"Workload": _shape(workload), "BootstrapToken": token}


async def _list(args: argparse.Namespace) -> dict[str, Any]:
    async with open_iam(args) as iam:
        workloads = await _service(iam).list_workloads()
    return {"Workloads": [_shape(workload) for workload in workloads]}


async def _rotate(args: argparse.Namespace) -> dict[str, Any]:
    async with open_iam(args) as iam:
        token = await _service(iam).rotate_workload(args.name)
    return {"Name": args.name, "BootstrapToken": token}


async def _delete(args: argparse.Namespace) -> dict[str, Any]:
    async with open_iam(args) as iam:
        await _service(iam).delete_workload(args.name)
    return {}
