"""
Accounts and their root users, account aliases and the account password policy.
"""

from __future__ import annotations

import json
from dataclasses import replace

from gateway.errors import EntityAlreadyExists, InvalidInput, LimitExceeded, NoSuchEntity
from gateway.iam import models, naming, passwords
from gateway.iam.base import ServiceBase
from gateway.iam.passwords import PasswordPolicy
from gateway.store import Conflict, Row, Store, Transaction

_POLICY_FIELDS = {
    "MinimumPasswordLength": "minimum_password_length",
    "RequireSymbols": "require_symbols",
    "RequireNumbers": "require_numbers",
    "RequireUppercaseCharacters": "require_uppercase_characters",
    "RequireLowercaseCharacters": "require_lowercase_characters",
    "AllowUsersToChangePassword": "allow_users_to_change_password",
    "MaxPasswordAge": "max_password_age",
    "PasswordReusePrevention": "password_reuse_prevention",
    "HardExpiry": "hard_expiry",
}


def _account(row: Row) -> models.Account:
    return models.Account(
        account_id=str(row["id"]),
        alias=None if row["alias"] is None else str(row["alias"]),
        root_email=str(row["root_email"]),
        created=naming.parse_timestamp(str(row["created_at"])),
    )


async def create_account(
    store: Store, *, root_email: str, root_password: str, alias: str | None = None
) -> models.Account:
    """
    Create an account and its root user; the root password must satisfy AWS's default
    password rules.

    Raises:
        InvalidInput: bad email, alias or password.
        EntityAlreadyExists: the email or the alias is taken.
    """
    if not isinstance(root_email, str) or "@" not in root_email or len(root_email) > 254:
        raise InvalidInput(f"`{root_email}` is not an email address")
    if alias is not None:
        naming.check_account_alias(alias)
    passwords.check_password(root_password, None)
    digest = await passwords.hash_password(root_password)
    now = naming.timestamp(naming.now())
    async with store.transaction(write=True) as tx:
        for _ in range(5):
            account_id = naming.account_id()
            if not await tx.count("accounts", {"id": account_id}):
                break
        row: Row = {
            "id": account_id,
            "alias": alias,
            "root_email": root_email,
            "root_email_lower": root_email.lower(),
            "root_password_hash": digest,
            "root_password_changed_at": now,
            "created_at": now,
        }
        try:
            await tx.insert("accounts", row)
        except Conflict:
            raise EntityAlreadyExists(
                "an account with that root email or alias already exists"
            ) from None
    return _account(row)


async def list_accounts(store: Store) -> list[models.Account]:
    """
    Return every account of this deployment, oldest first.
    """
    async with store.transaction() as tx:
        rows = await tx.select("accounts", order_by=["created_at"])
    return [_account(row) for row in rows]


async def find_account(store: Store, alias_or_id: str) -> models.Account:
    """
    Return the account with this 12-digit id or alias.

    Raises:
        NoSuchEntity: there is none.
    """
    key = "id" if naming.is_account_id(alias_or_id) else "alias"
    async with store.transaction() as tx:
        row = await tx.get("accounts", {key: alias_or_id})
    if row is None:
        raise NoSuchEntity(f"no account `{alias_or_id}`")
    return _account(row)


class AccountOperations(ServiceBase):
    """
    Operations on the service's own account.
    """

    async def get_account(self) -> models.Account:
        async with self._read() as tx:
            return _account(await self._account_row(tx))

    async def _account_row(self, tx: Transaction) -> Row:
        row = await tx.get("accounts", {"id": self.account_id})
        if row is None:
            raise NoSuchEntity(f"no account `{self.account_id}`")
        return row

    async def create_account_alias(self, account_alias: str) -> None:
        alias = naming.check_account_alias(account_alias)
        async with self._write() as tx:
            row = await self._account_row(tx)
            if row["alias"] == alias:
                return
            if row["alias"] is not None:
                # AWS: an account has at most one alias.
                raise LimitExceeded("Cannot exceed quota for AccountAliasesPerAccount: 1")
            try:
                await tx.update("accounts", {"id": self.account_id}, {"alias": alias})
            except Conflict:
                raise EntityAlreadyExists(f"The account alias {alias} already exists.") from None

    async def delete_account_alias(self, account_alias: str) -> None:
        async with self._write() as tx:
            row = await self._account_row(tx)
            if row["alias"] != account_alias:
                raise NoSuchEntity(f"The account alias {account_alias} cannot be found.")
            await tx.update("accounts", {"id": self.account_id}, {"alias": None})

    async def list_account_aliases(self) -> list[str]:
        account = await self.get_account()
        return [account.alias] if account.alias else []

    async def update_account_password_policy(self, **fields: object) -> PasswordPolicy:
        """
        Set the password policy from AWS's field names (``MinimumPasswordLength=12``...).

        As AWS does, a field left out takes its default value, not its previous one.
        """
        policy = PasswordPolicy()
        for name, value in fields.items():
            if value is None:
                continue
            attr = _POLICY_FIELDS.get(name)
            if attr is None:
                raise InvalidInput(f"unknown password policy field `{name}`")
            expected = type(getattr(PasswordPolicy(), attr))
            if attr in ("max_password_age", "password_reuse_prevention"):
                expected = int
            if isinstance(value, bool) != (expected is bool) or not isinstance(value, expected):
                raise InvalidInput(f"`{name}` must be a {expected.__name__}")
            policy = replace(policy, **{attr: value})
        policy.check_fields()
        document = json.dumps(policy.to_dict())
        async with self._write() as tx:
            key = {"account_id": self.account_id}
            if not await tx.update("password_policies", key, {"document": document}):
                await tx.insert("password_policies", {**key, "document": document})
        return policy

    async def get_account_password_policy(self) -> PasswordPolicy:
        async with self._read() as tx:
            policy = await self._password_policy(tx)
        if policy is None:
            raise NoSuchEntity(
                f"The Password Policy with domain name {self.account_id} cannot be found."
            )
        return policy

    async def delete_account_password_policy(self) -> None:
        async with self._write() as tx:
            if not await tx.delete("password_policies", {"account_id": self.account_id}):
                raise NoSuchEntity(
                    f"The Password Policy with domain name {self.account_id} cannot be found."
                )
