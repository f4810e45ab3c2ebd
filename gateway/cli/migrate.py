"""
``gateway migrate``: bring the store's schema up to this version of the gateway.

For upgrades and for a deployment's migration job: it applies the packaged
migrations that the store lacks, each in its own transaction (PostgreSQL takes an
advisory lock, so two runs at once are safe), and refreshes the built-in managed
policies. It needs no master key and creates no account (``gateway init`` does).
``--check`` only reports: exit 0 when the schema is current, 1 when migrations
are pending.
"""

from __future__ import annotations

import argparse
import asyncio

from gateway.cli._common import add_config_argument, settings_of
from gateway.errors import GatewayError
from gateway.iam import IAM, Cipher, list_accounts
from gateway.runtime import store_from_settings
from gateway.store import sql


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "migrate",
        help="apply pending store migrations (upgrades, migration jobs)",
        description=__doc__.split("\n\n")[1] if __doc__ else None,
    )
    add_config_argument(parser)
    parser.add_argument(
        "--check", action="store_true", help="only report; exit 1 when migrations are pending"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    return asyncio.run(_migrate(args))


async def _migrate(args: argparse.Namespace) -> int:
    settings = settings_of(args)
    store = await store_from_settings(settings)
    try:
        current = await store.schema_version()
        latest = sql.latest_version()
        where = settings.store.display_url
        if current > latest:
            raise GatewayError(
                f"the store {where} is at schema version {current}, newer than this gateway "
                f"({latest}); upgrade the gateway instead"
            )
        if args.check:
            state = "current" if current == latest else f"{latest - current} migration(s) pending"
            print(f"store {where}: schema version {current} of {latest} ({state})")
            return 0 if current == latest else 1
        applied = await store.migrate()
        if await list_accounts(store):
            # Built-in policies are shared by every account and hold no secret: the
            # service layer's cipher is never used for them, so none is loaded.
            unused = Cipher([bytes(32)])
            await IAM(store, unused, account_id="").seed_builtin_policies()
        if applied:
            print(f"migrated the store {where} to version {max(applied)}")
        else:
            print(f"the store {where} is current (version {current})")
        return 0
    finally:
        await store.close()
