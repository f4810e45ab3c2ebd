"""
The common ground of the IAM service: transactions, row lookups, row-to-model.

Every IAM operation acts on one account. ``_write()`` opens a write transaction
(which bumps the store's generation marker) unless the service is bound to an
open one by ``IAM.batch()``, which is how ``apply`` makes many changes
all-or-nothing. Only this package talks to the store.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime

from gateway.errors import DeleteConflict, InvalidInput, NoSuchEntity
from gateway.iam import models, naming
from gateway.iam.crypto import Cipher
from gateway.iam.passwords import PasswordPolicy
from gateway.store import Row, Store, Transaction

Clock = Callable[[], datetime]

# AWS quotas (defaults of the IAM service quotas page).
MAX_ACCESS_KEYS_PER_USER = 2
MAX_GROUPS_PER_USER = 10
MAX_MANAGED_POLICIES_PER_ENTITY = 10
MAX_POLICY_VERSIONS = 5
MAX_MFA_DEVICES_PER_USER = 8
MAX_TAGS = 50


class ServiceBase:
    """
    State and helpers shared by every group of IAM operations.
    """

    def __init__(
        self,
        store: Store,
        cipher: Cipher,
        *,
        account_id: str,
        clock: Clock = naming.now,
        tx: Transaction | None = None,
    ) -> None:
        self.store = store
        self.cipher = cipher
        self.account_id = account_id
        self.clock = clock
        self._tx = tx

    def __repr__(self) -> str:
        return f"{type(self).__name__}(account_id={self.account_id!r}, store={self.store.kind!r})"

    @asynccontextmanager
    async def _write(self) -> AsyncIterator[Transaction]:
        if self._tx is not None:
            yield self._tx
            return
        async with self.store.transaction(write=True) as tx:
            yield tx

    @asynccontextmanager
    async def _read(self) -> AsyncIterator[Transaction]:
        if self._tx is not None:
            yield self._tx
            return
        async with self.store.transaction() as tx:
            yield tx

    def _now(self) -> str:
        return naming.timestamp(self.clock())

    def _arn(self, kind: str, path: str, name: str) -> str:
        return naming.arn(self.account_id, kind, path, name)

    # -- lookups -----------------------------------------------------------------------

    async def _named_row(
        self, tx: Transaction, table: str, kind: str, field: str, max_length: int, name: object
    ) -> Row:
        # Users, groups and roles are looked up the same way: by name, ignoring case.
        checked = naming.check_name(name, field=field, max_length=max_length)
        row = await tx.get(table, {"account_id": self.account_id, "name_lower": checked.lower()})
        if row is None:
            raise NoSuchEntity(f"The {kind} with name {checked} cannot be found.")
        return row

    async def _user_row(self, tx: Transaction, name: object) -> Row:
        return await self._named_row(tx, "users", "user", "UserName", 64, name)

    async def _group_row(self, tx: Transaction, name: object) -> Row:
        return await self._named_row(tx, "groups", "group", "GroupName", 128, name)

    async def _role_row(self, tx: Transaction, name: object) -> Row:
        return await self._named_row(tx, "roles", "role", "RoleName", 64, name)

    async def _policy_row(self, tx: Transaction, policy_arn: object) -> Row:
        if not isinstance(policy_arn, str) or not policy_arn.startswith("arn:"):
            raise InvalidInput(f"ARN `{policy_arn}` is not valid.")
        row = await tx.get("policies", {"arn": policy_arn})
        # Policies of another account of the deployment are invisible here.
        if row is None or row["account_id"] not in (self.account_id, "aws"):
            raise NoSuchEntity(f"Policy {policy_arn} does not exist or is not attachable.")
        return row

    async def _password_policy(self, tx: Transaction) -> PasswordPolicy | None:
        row = await tx.get("password_policies", {"account_id": self.account_id})
        return PasswordPolicy.from_dict(json.loads(str(row["document"]))) if row else None

    # -- row to model ------------------------------------------------------------------

    @staticmethod
    def _tags(text: object) -> tuple[tuple[str, str], ...]:
        return tuple((k, v) for k, v in json.loads(str(text or "[]")))

    def _user(self, row: Row) -> models.User:
        last = row.get("password_last_used")
        return models.User(
            user_name=str(row["name"]),
            user_id=str(row["id"]),
            arn=self._arn("user", str(row["path"]), str(row["name"])),
            path=str(row["path"]),
            created=naming.parse_timestamp(str(row["created_at"])),
            account_id=str(row["account_id"]),
            permissions_boundary=_opt(row["permissions_boundary"]),
            tags=self._tags(row["tags"]),
            password_last_used=naming.parse_timestamp(str(last)) if last else None,
        )

    def _group(self, row: Row) -> models.Group:
        return models.Group(
            group_name=str(row["name"]),
            group_id=str(row["id"]),
            arn=self._arn("group", str(row["path"]), str(row["name"])),
            path=str(row["path"]),
            created=naming.parse_timestamp(str(row["created_at"])),
        )

    def _role(self, row: Row) -> models.Role:
        revoked = row.get("sessions_revoked_before")
        return models.Role(
            role_name=str(row["name"]),
            role_id=str(row["id"]),
            arn=self._arn("role", str(row["path"]), str(row["name"])),
            path=str(row["path"]),
            created=naming.parse_timestamp(str(row["created_at"])),
            assume_role_policy_document=str(row["trust_policy"]),
            description=str(row["description"]),
            max_session_duration=int(row["max_session_duration"] or 3600),
            permissions_boundary=_opt(row["permissions_boundary"]),
            tags=self._tags(row["tags"]),
            sessions_revoked_before=naming.parse_timestamp(str(revoked)) if revoked else None,
        )

    @staticmethod
    def _policy(row: Row, attachments: int) -> models.ManagedPolicy:
        return models.ManagedPolicy(
            policy_name=str(row["name"]),
            policy_id=str(row["id"]),
            arn=str(row["arn"]),
            path=str(row["path"]),
            description=str(row["description"]),
            default_version_id=str(row["default_version"]),
            attachment_count=attachments,
            created=naming.parse_timestamp(str(row["created_at"])),
            updated=naming.parse_timestamp(str(row["updated_at"])),
        )


def refuse_unless_forced(blockers: dict[str, int], *, force: bool) -> None:
    """
    As AWS does, refuse to delete an entity that still has dependents, naming them.

    Raises:
        DeleteConflict: some count in ``blockers`` is not zero and ``force`` is false.
    """
    present = [name for name, count in blockers.items() if count]
    if present and not force:
        raise DeleteConflict(
            f"Cannot delete entity, must remove {', '.join(present)} first "
            "(or pass --force to remove them)."
        )


def _opt(value: object) -> str | None:
    return None if value is None else str(value)


def check_tags(tags: object) -> list[tuple[str, str]]:
    """
    Validate tags given as ``[{"Key": k, "Value": v}]`` or ``[(k, v)]``.

    Raises:
        InvalidInput: more than 50 tags, a duplicate key (case-insensitive) or a bad key.
    """
    if tags is None:
        return []
    if not isinstance(tags, list | tuple):
        raise InvalidInput("`Tags` must be a list of Key/Value pairs")
    pairs: list[tuple[str, str]] = []
    for item in tags:
        if isinstance(item, dict):
            key, value = item.get("Key"), item.get("Value", "")
        elif isinstance(item, list | tuple) and len(item) == 2:
            key, value = item
        else:
            raise InvalidInput("each tag needs a `Key` and a `Value`")
        if not isinstance(key, str) or not 1 <= len(key) <= 128:
            raise InvalidInput("a tag key must be 1 to 128 characters")
        if not isinstance(value, str) or len(value) > 256:
            raise InvalidInput(f"tag `{key}`: the value must be at most 256 characters")
        if key.lower().startswith("aws:"):
            raise InvalidInput(f"tag `{key}`: the `aws:` prefix is reserved")
        pairs.append((key, value))
    seen = [key.lower() for key, _ in pairs]
    if len(set(seen)) != len(seen):
        raise InvalidInput("duplicate tag keys (tag keys are case-insensitive)")
    if len(pairs) > MAX_TAGS:
        raise InvalidInput(f"at most {MAX_TAGS} tags are allowed", code="LimitExceeded")
    return pairs


def merge_tags(current: object, new: list[tuple[str, str]]) -> str:
    """
    Return the JSON text of ``current`` tags updated with ``new`` (keys case-insensitive).
    """
    merged = {k.lower(): (k, v) for k, v in json.loads(str(current or "[]"))}
    for key, value in new:
        merged[key.lower()] = (key, value)
    if len(merged) > MAX_TAGS:
        raise InvalidInput(f"at most {MAX_TAGS} tags are allowed", code="LimitExceeded")
    return json.dumps(list(merged.values()))


def drop_tags(current: object, keys: list[str]) -> str:
    """
    Return the JSON text of ``current`` tags without ``keys`` (case-insensitive).
    """
    gone = {key.lower() for key in keys}
    kept = [(k, v) for k, v in json.loads(str(current or "[]")) if k.lower() not in gone]
    return json.dumps(kept)
