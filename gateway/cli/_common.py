"""
What the ``gateway`` subcommands share: the ``--config`` and ``--account``
options and opening the local store as an account's root user.
"""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from gateway.config import Settings, load_config
from gateway.iam import IAM
from gateway.runtime import Runtime

CONFIG_HELP = "the ops configuration file (default: $GATEWAY_CONFIG, else ./gateway.toml)"


def add_config_argument(parser: argparse.ArgumentParser) -> None:
    """
    Add ``--config FILE``.
    """
    parser.add_argument("--config", metavar="FILE", help=CONFIG_HELP)


def add_account_argument(parser: argparse.ArgumentParser) -> None:
    """
    Add ``--account ID_OR_ALIAS``, needed when the store holds several accounts.
    """
    parser.add_argument(
        "--account",
        metavar="ID_OR_ALIAS",
        help="the account to act on as root (required when the store holds several)",
    )


def settings_of(args: argparse.Namespace) -> Settings:
    """
    Load the configuration named by ``--config`` (else $GATEWAY_CONFIG, else ./gateway.toml).

    Raises:
        ConfigError: the file is missing or invalid.
    """
    return load_config(getattr(args, "config", None))


@asynccontextmanager
async def open_iam(args: argparse.Namespace) -> AsyncIterator[IAM]:
    """
    Open the local store and yield the IAM service of ``--account`` (or the only one).

    Raises:
        ConfigError, StoreError: the configuration, key or store is not usable.
        NoSuchEntity, InvalidInput: there is no such account, or several and none named.
    """
    runtime = await Runtime.open(settings_of(args))
    try:
        yield await runtime.iam(getattr(args, "account", None))
    finally:
        await runtime.close()
