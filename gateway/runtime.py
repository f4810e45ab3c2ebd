"""
From settings to a running service layer: open the store, load the master key.

Shared by ``gateway serve``, the CLI and the ASGI middleware so that each opens
the store the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.config import Settings
from gateway.errors import ConfigError
from gateway.iam import IAM, Cipher, load_cipher
from gateway.iam.crypto import parse_master_keys
from gateway.store import Store, open_store


async def store_from_settings(settings: Settings, *, listen: bool = False) -> Store:
    """
    Open the store the settings name (it is not migrated or checked here).

    ``listen`` is for a long-running gateway on PostgreSQL: keep one connection
    listening for IAM changes, so requests need no store query to stay coherent.

    Raises:
        StoreError: the database cannot be opened.
    """
    config = settings.store
    if config.kind == "postgresql":
        return await open_store(
            dsn=config.dsn.reveal(),
            pool_min_size=config.pool_min_size,
            pool_max_size=config.pool_max_size,
            connect_timeout=config.connect_timeout_seconds,
            listen=listen,
            outage_grace_seconds=config.outage_grace_seconds,
        )
    if config.sqlite_path is None:
        raise ConfigError("store.url: expected a SQLite file path")
    return await open_store(sqlite_path=config.sqlite_path, busy_timeout_ms=config.busy_timeout_ms)


def cipher_from_settings(settings: Settings) -> Cipher:
    """
    Load the master keys named by the settings.

    Raises:
        ConfigError: the key is missing, readable by others, or malformed.
    """
    secrets = settings.secrets
    if secrets.master_key is not None:
        return Cipher(
            parse_master_keys(secrets.master_key.reveal(), source=f"${secrets.master_key_env}")
        )
    return load_cipher(secrets.master_key_file, env_name=secrets.master_key_env, environ={})


@dataclass(slots=True)
class Runtime:
    """
    An open store and the loaded master keys, for one process.
    """

    settings: Settings
    store: Store
    cipher: Cipher

    @classmethod
    async def open(
        cls, settings: Settings, *, check_schema: bool = True, listen: bool = False
    ) -> Runtime:
        """
        Open the store and load the master key; refuse a schema that is not current.

        ``listen``: see ``store_from_settings``.

        Raises:
            ConfigError, StoreError: with a message that says how to fix it.
        """
        cipher = cipher_from_settings(settings)
        store = await store_from_settings(settings, listen=listen)
        try:
            if check_schema:
                await store.check_schema()
        except BaseException:
            await store.close()
            raise
        return cls(settings, store, cipher)

    async def iam(self, account: str | None = None) -> IAM:
        """
        Return the IAM service for ``account`` (id or alias), or for the only one.
        """
        return await IAM.for_account(self.store, self.cipher, account)

    async def close(self) -> None:
        await self.store.close()
