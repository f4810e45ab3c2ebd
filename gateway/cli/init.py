"""
``gateway init``: create the store, the master key and the first account.

A fresh setup gets, in order: a default configuration file when there is none
at the path, the master key file (mode 0600, unless the key comes from the
environment variable the configuration names), the migrated store, the
built-in managed policies, and the first account with its root user. The root
password is printed once, or read from stdin with ``--root-password-stdin``.

Running it again is safe: it migrates the store if needed, re-seeds the
built-in policies and reports the existing account; it never creates a second
account and never replaces a master key.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

from gateway.cli import UsageError
from gateway.cli._common import CONFIG_HELP
from gateway.config import CONFIG_ENV_VAR, DEFAULT_CONFIG_FILE, Settings, load_config
from gateway.errors import ConfigError
from gateway.iam import (
    IAM,
    create_account,
    list_accounts,
    load_cipher,
    naming,
    passwords,
    write_master_key,
)
from gateway.iam.models import Account
from gateway.runtime import store_from_settings

DEFAULT_ROOT_EMAIL = "root@localhost"

# Written when `gateway init` finds no configuration file; config/gateway.toml in the
# source tree documents every key.
DEFAULT_CONFIG = """\
# gateway.toml: written by `gateway init`. Every key is optional; see
# config/gateway.toml in the gateway's source for all keys, with comments.
# Relative paths are resolved against the directory of this file.

[server]
host = "127.0.0.1"
port = 8080
public_url = "http://127.0.0.1:8080"

[store]
# Embedded SQLite by default; postgresql://user@host/db for several replicas.
url = "sqlite:///var/gateway.db"

[secrets]
# Created by `gateway init` with mode 0600. Back it up: without it the stored
# secrets (access keys, MFA seeds) cannot be decrypted.
master_key_file = "var/master.key"
"""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """
    Add the ``init`` command.
    """
    parser = subparsers.add_parser(
        "init",
        help="create the store, the master key and the first account",
        description="Create the store, the master key (mode 0600) and the first account "
        "with its root user, printing the root password once. Safe to run again.",
    )
    parser.add_argument("--config", metavar="FILE", help=CONFIG_HELP + "; written if missing")
    parser.add_argument(
        "--root-email",
        metavar="EMAIL",
        default=DEFAULT_ROOT_EMAIL,
        help=f"the root user's email, its sign-in name (default: {DEFAULT_ROOT_EMAIL})",
    )
    parser.add_argument(
        "--account-alias", metavar="ALIAS", help="the account alias, used in the sign-in URL"
    )
    parser.add_argument(
        "--root-password-stdin",
        action="store_true",
        help="read the root password from the first line of stdin instead of generating one",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """
    Initialize, or report an existing initialization; returns 0.
    """
    path = Path(args.config or os.environ.get(CONFIG_ENV_VAR) or DEFAULT_CONFIG_FILE)
    # Check what was given before anything is written.
    if args.account_alias is not None:
        naming.check_account_alias(args.account_alias)
    password = _root_password(args)
    passwords.check_password(password, None)
    if not path.exists():
        _write_default_config(path)
        print(f"wrote a default configuration to {path}")
    settings = load_config(path)
    asyncio.run(_initialize(settings, args, password))
    return 0


def _write_default_config(path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("x", encoding="utf-8") as handle:
            handle.write(DEFAULT_CONFIG)
    except OSError as exc:
        reason = (exc.strerror or type(exc).__name__).lower()
        raise ConfigError(
            f"cannot write a default configuration: {reason}", file=str(path)
        ) from None


async def _initialize(settings: Settings, args: argparse.Namespace, password: str) -> None:
    store = await store_from_settings(settings)
    try:
        applied = await store.migrate()
        accounts = await list_accounts(store)
        _ensure_master_key(settings, initialized=bool(accounts))
        cipher = load_cipher(
            settings.secrets.master_key_file, env_name=settings.secrets.master_key_env
        )
        if applied:
            print(f"migrated the store {settings.store.display_url} to version {max(applied)}")
        if accounts:
            seeded = await IAM(
                store, cipher, account_id=accounts[0].account_id
            ).seed_builtin_policies()
            if seeded:
                print(f"added {seeded} built-in policies")
            _report_existing(settings, accounts)
            return
        account = await create_account(
            store, root_email=args.root_email, root_password=password, alias=args.account_alias
        )
        await IAM(store, cipher, account_id=account.account_id).seed_builtin_policies()
    finally:
        await store.close()
    print(f"created account {account.account_id}")
    print(f"  sign-in URL:   {sign_in_url(settings, account)}")
    print(f"  root email:    {account.root_email}")
    if args.root_password_stdin:
        print("  root password: (as given on stdin)")
    else:
        print(f"  root password: {password}")
        print("  this password is shown once: store it in a password manager now")


def _ensure_master_key(settings: Settings, *, initialized: bool) -> None:
    env_name = settings.secrets.master_key_env
    key_file = settings.secrets.master_key_file
    if os.environ.get(env_name):
        print(f"using the master key from ${env_name}")
        return
    if key_file.exists():
        return
    if initialized:
        # SECURITY: a new key would make every stored secret undecryptable; never guess.
        raise ConfigError(
            "the store is initialized but its master key file is missing; restore it from "
            f"your backup (or set ${env_name})",
            file=str(key_file),
        )
    write_master_key(key_file)
    print(f"created the master key {key_file} (mode 0600); back it up")


def _root_password(args: argparse.Namespace) -> str:
    if not args.root_password_stdin:
        return passwords.generate_password(None)
    password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        raise UsageError("--root-password-stdin: no password on stdin")
    return password


def _report_existing(settings: Settings, accounts: list[Account]) -> None:
    print("already initialized; nothing else to do")
    for account in accounts:
        print(f"  account {account.account_id}: {sign_in_url(settings, account)}")


def sign_in_url(settings: Settings, account: Account) -> str:
    """
    Return the account's console sign-in URL: ``<public_url>/_gateway/signin/<alias or id>``.
    """
    base = settings.server.public_url.rstrip("/")
    return f"{base}/_gateway/signin/{account.alias or account.account_id}"
