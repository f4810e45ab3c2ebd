"""
IAM users and groups: create, read, rename, tag, delete, membership.
"""

from __future__ import annotations

import json

from gateway.errors import EntityAlreadyExists, LimitExceeded
from gateway.iam import models, naming
from gateway.iam.base import MAX_GROUPS_PER_USER, check_tags, refuse_unless_forced
from gateway.iam.identities import IdentityOperations
from gateway.store import Conflict, Row, Transaction


class UserOperations(IdentityOperations):
    """
    Users (``AIDA`` ids, names unique case-insensitively) and their groups.
    """

    async def create_user(
        self,
        user_name: str,
        *,
        path: str | None = None,
        permissions_boundary: str | None = None,
        tags: object = None,
    ) -> models.User:
        name = naming.check_name(user_name, field="UserName", max_length=64)
        row: Row = {
            "id": naming.unique_id(naming.USER_ID_PREFIX),
            "account_id": self.account_id,
            "name": name,
            "name_lower": name.lower(),
            "path": naming.check_path(path),
            "permissions_boundary": None,
            "tags": json.dumps(check_tags(tags)),
            "created_at": self._now(),
        }
        await self._create_identity("user", row, permissions_boundary)
        return self._user(row)

    async def get_user(self, user_name: str) -> models.User:
        async with self._read() as tx:
            return self._user(await self._user_row(tx, user_name))

    async def list_users(self, *, path_prefix: str = "/") -> list[models.User]:
        return [self._user(row) for row in await self._list_identities("user", path_prefix)]

    async def update_user(
        self, user_name: str, *, new_user_name: str | None = None, new_path: str | None = None
    ) -> None:
        values = _renamed(new_user_name, new_path, field="NewUserName", max_length=64)
        if not values:
            return
        async with self._write() as tx:
            row = await self._user_row(tx, user_name)
            await _update_named(tx, "users", row, values, f"User with name {new_user_name}")

    async def delete_user(self, user_name: str, *, force: bool = False) -> None:
        """
        Delete a user; as AWS does, refuse while anything is still attached to it.

        With ``force``, its access keys, login profile, MFA devices, group memberships,
        inline and attached policies are removed first, in the same transaction.

        Raises:
            DeleteConflict: listing what is still attached (without ``force``).
        """
        async with self._write() as tx:
            row = await self._user_row(tx, user_name)
            user_id = row["id"]
            owner = {"principal_type": "user", "principal_id": user_id}
            blockers = {
                "access keys": await tx.count("access_keys", {"user_id": user_id}),
                "a login profile": await tx.count("login_profiles", {"user_id": user_id}),
                "MFA devices": await tx.count("mfa_devices", {"owner": user_id}),
                "group memberships": await tx.count("group_members", {"user_id": user_id}),
                "inline policies": await tx.count("inline_policies", owner),
                "attached policies": await tx.count("policy_attachments", owner),
            }
            refuse_unless_forced(blockers, force=force)
            await tx.delete("access_keys", {"user_id": user_id})
            await tx.delete("login_profiles", {"user_id": user_id})
            await tx.delete("password_history", {"user_id": user_id})
            await tx.update("mfa_devices", {"owner": user_id}, {"owner": None, "enabled_at": None})
            await tx.delete("group_members", {"user_id": user_id})
            await tx.delete("inline_policies", owner)
            await tx.delete("policy_attachments", owner)
            await tx.delete("users", {"id": user_id})

    async def tag_user(self, user_name: str, tags: object) -> None:
        await self._tag("user", user_name, tags)

    async def untag_user(self, user_name: str, tag_keys: list[str]) -> None:
        await self._untag("user", user_name, tag_keys)

    async def put_user_permissions_boundary(self, user_name: str, boundary_arn: str) -> None:
        await self._set_boundary("user", user_name, boundary_arn)

    async def delete_user_permissions_boundary(self, user_name: str) -> None:
        await self._set_boundary("user", user_name, None)

    # -- groups ------------------------------------------------------------------------

    async def create_group(self, group_name: str, *, path: str | None = None) -> models.Group:
        name = naming.check_name(group_name, field="GroupName", max_length=128)
        row: Row = {
            "id": naming.unique_id(naming.GROUP_ID_PREFIX),
            "account_id": self.account_id,
            "name": name,
            "name_lower": name.lower(),
            "path": naming.check_path(path),
            "created_at": self._now(),
        }
        async with self._write() as tx:
            try:
                await tx.insert("groups", row)
            except Conflict:
                raise EntityAlreadyExists(f"Group with name {name} already exists.") from None
        return self._group(row)

    async def get_group(self, group_name: str) -> tuple[models.Group, list[models.User]]:
        async with self._read() as tx:
            row = await self._group_row(tx, group_name)
            members = await tx.select("group_members", {"group_id": row["id"]})
            users = await tx.select(
                "users", {"id": [str(m["user_id"]) for m in members]}, order_by=["name_lower"]
            )
        return self._group(row), [self._user(user) for user in users]

    async def list_groups(self, *, path_prefix: str = "/") -> list[models.Group]:
        async with self._read() as tx:
            rows = await tx.select(
                "groups", {"account_id": self.account_id}, order_by=["name_lower"]
            )
        return [self._group(row) for row in rows if str(row["path"]).startswith(path_prefix)]

    async def list_groups_for_user(self, user_name: str) -> list[models.Group]:
        async with self._read() as tx:
            return await self._groups_of(tx, await self._user_row(tx, user_name))

    async def _groups_of(self, tx: Transaction, user: Row) -> list[models.Group]:
        links = await tx.select("group_members", {"user_id": user["id"]})
        rows = await tx.select(
            "groups", {"id": [str(link["group_id"]) for link in links]}, order_by=["name_lower"]
        )
        return [self._group(row) for row in rows]

    async def add_user_to_group(self, group_name: str, user_name: str) -> None:
        async with self._write() as tx:
            group = await self._group_row(tx, group_name)
            user = await self._user_row(tx, user_name)
            link = {"group_id": group["id"], "user_id": user["id"]}
            if await tx.count("group_members", link):
                return  # AWS: adding a member twice succeeds and changes nothing
            if await tx.count("group_members", {"user_id": user["id"]}) >= MAX_GROUPS_PER_USER:
                raise LimitExceeded(f"Cannot exceed quota for GroupsPerUser: {MAX_GROUPS_PER_USER}")
            await tx.insert("group_members", link)

    async def remove_user_from_group(self, group_name: str, user_name: str) -> None:
        async with self._write() as tx:
            group = await self._group_row(tx, group_name)
            user = await self._user_row(tx, user_name)
            await tx.delete("group_members", {"group_id": group["id"], "user_id": user["id"]})

    async def update_group(
        self, group_name: str, *, new_group_name: str | None = None, new_path: str | None = None
    ) -> None:
        values = _renamed(new_group_name, new_path, field="NewGroupName", max_length=128)
        if not values:
            return
        async with self._write() as tx:
            row = await self._group_row(tx, group_name)
            await _update_named(tx, "groups", row, values, f"Group with name {new_group_name}")

    async def delete_group(self, group_name: str, *, force: bool = False) -> None:
        """
        Delete a group; refuse while it has members or policies, unless ``force``.
        """
        async with self._write() as tx:
            row = await self._group_row(tx, group_name)
            owner = {"principal_type": "group", "principal_id": row["id"]}
            blockers = {
                "members": await tx.count("group_members", {"group_id": row["id"]}),
                "inline policies": await tx.count("inline_policies", owner),
                "attached policies": await tx.count("policy_attachments", owner),
            }
            refuse_unless_forced(blockers, force=force)
            await tx.delete("group_members", {"group_id": row["id"]})
            await tx.delete("inline_policies", owner)
            await tx.delete("policy_attachments", owner)
            await tx.delete("groups", {"id": row["id"]})


def _renamed(new_name: str | None, new_path: str | None, *, field: str, max_length: int) -> Row:
    values: Row = {}
    if new_name is not None:
        name = naming.check_name(new_name, field=field, max_length=max_length)
        values.update(name=name, name_lower=name.lower())
    if new_path is not None:
        values["path"] = naming.check_path(new_path, field="NewPath")
    return values


async def _update_named(tx: Transaction, table: str, row: Row, values: Row, entity: str) -> None:
    try:
        await tx.update(table, {"id": row["id"]}, values)
    except Conflict:
        raise EntityAlreadyExists(f"{entity} already exists.") from None
