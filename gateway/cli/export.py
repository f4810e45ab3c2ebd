"""
``gateway export [--format toml|json]``: the account's IAM state as an IAM file.

``export_data()`` builds the structure ``gateway apply`` reads (see
``gateway.cli.iamfile``), leaving out defaults and every secret.

The outermost layer, like the rest of ``gateway.cli``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any

from gateway.cli._common import open_iam
from gateway.cli.iamfile import IAMFile, dump_toml
from gateway.cli.plan import Planner
from gateway.cli.state import read_state
from gateway.iam import IAM, documents


async def export_data(iam: IAM) -> dict[str, Any]:
    """
    Return the account's IAM state in the structure of an IAM file (no secrets).
    """
    state = await read_state(iam)
    resolver = Planner(IAMFile("<export>", None, False, None, (), (), (), ()), state)

    def ref(arn: str) -> str:
        name = arn.rsplit("/", 1)[-1]
        return name if resolver.arn_of.get(name.lower()) == arn else arn

    data: dict[str, Any] = {}
    if state.alias:
        data["account_alias"] = state.alias
    if state.password_policy is not None:
        policy = state.password_policy.to_dict()
        data["password_policy"] = {k: v for k, v in policy.items() if v is not None}
    data["policies"] = [
        _compact(
            name=p.policy_name,
            path=p.path,
            description=p.description,
            document=state.documents[p.arn],
        )
        for p in state.local.values()
    ]
    data["groups"] = [
        _compact(
            name=g.name,
            path=g.path,
            policies=sorted(ref(arn) for arn in g.policies),
            inline_policies=g.inline,
        )
        for g in state.groups.values()
    ]
    data["users"] = []
    for key, u in state.users.items():
        console = state.consoles.get(key)
        data["users"].append(
            _compact(
                name=u.name,
                path=u.path,
                tags=dict(u.tags),
                groups=sorted(state.groups[g].name for g in state.members.get(key, ())),
                policies=sorted(ref(arn) for arn in u.policies),
                inline_policies=u.inline,
                permissions_boundary=ref(u.boundary) if u.boundary else None,
                console=None if console is None else {"password_reset_required": console},
            )
        )
    data["roles"] = []
    for key, r in state.roles.items():
        model = state.role_models[key]
        data["roles"].append(
            _compact(
                name=r.name,
                path=r.path,
                description=model.description,
                max_session_duration=model.max_session_duration,
                trust_policy=documents.decode(model.assume_role_policy_document),
                tags=dict(r.tags),
                policies=sorted(ref(arn) for arn in r.policies),
                inline_policies=r.inline,
                permissions_boundary=ref(r.boundary) if r.boundary else None,
            )
        )
    return {key: value for key, value in data.items() if value != []}


def _compact(**values: object) -> dict[str, object]:
    """
    Leave out values that are the file's defaults, so exports stay short.
    """
    defaults: dict[str, object] = {"path": "/", "max_session_duration": 3600}
    return {
        key: value
        for key, value in values.items()
        if value not in (None, "", [], {}) and defaults.get(key) != value
    }


def run_export(args: argparse.Namespace) -> int:
    """
    Print the account's IAM state as TOML or JSON.
    """
    data = asyncio.run(_export(args))
    if args.format == "json":
        print(json.dumps(data, indent=2, ensure_ascii=False))
    else:
        print(dump_toml(data), end="")
    return 0


async def _export(args: argparse.Namespace) -> dict[str, Any]:
    async with open_iam(args) as iam:
        return await export_data(iam)
