"""
What users and roles share: creation with a boundary, listing by path, tags and
permissions boundaries. ``UserOperations`` and ``RoleOperations`` build on it.
"""

from __future__ import annotations

from typing import Literal

from gateway.errors import EntityAlreadyExists
from gateway.iam.base import ServiceBase, check_tags, drop_tags, merge_tags
from gateway.store import Conflict, Row, Transaction

IdentityKind = Literal["user", "role"]

_TABLE: dict[IdentityKind, str] = {"user": "users", "role": "roles"}
_LABEL: dict[IdentityKind, str] = {"user": "User", "role": "Role"}


class IdentityOperations(ServiceBase):
    """
    Operations common to the two kinds of identity that policies attach to.
    """

    async def _identity_row(self, tx: Transaction, kind: IdentityKind, name: str) -> Row:
        if kind == "user":
            return await self._user_row(tx, name)
        return await self._role_row(tx, name)

    async def _create_identity(
        self, kind: IdentityKind, row: Row, permissions_boundary: str | None
    ) -> None:
        async with self._write() as tx:
            if permissions_boundary is not None:
                policy = await self._policy_row(tx, permissions_boundary)
                row["permissions_boundary"] = str(policy["arn"])
            try:
                await tx.insert(_TABLE[kind], row)
            except Conflict:
                raise EntityAlreadyExists(
                    f"{_LABEL[kind]} with name {row['name']} already exists."
                ) from None

    async def _list_identities(self, kind: IdentityKind, path_prefix: str) -> list[Row]:
        async with self._read() as tx:
            rows = await tx.select(
                _TABLE[kind], {"account_id": self.account_id}, order_by=["name_lower"]
            )
        return [row for row in rows if str(row["path"]).startswith(path_prefix)]

    async def _tag(self, kind: IdentityKind, name: str, tags: object) -> None:
        pairs = check_tags(tags)
        async with self._write() as tx:
            row = await self._identity_row(tx, kind, name)
            await tx.update(
                _TABLE[kind], {"id": row["id"]}, {"tags": merge_tags(row["tags"], pairs)}
            )

    async def _untag(self, kind: IdentityKind, name: str, tag_keys: list[str]) -> None:
        async with self._write() as tx:
            row = await self._identity_row(tx, kind, name)
            await tx.update(
                _TABLE[kind], {"id": row["id"]}, {"tags": drop_tags(row["tags"], tag_keys)}
            )

    async def _set_boundary(self, kind: IdentityKind, name: str, boundary_arn: str | None) -> None:
        async with self._write() as tx:
            row = await self._identity_row(tx, kind, name)
            arn = None
            if boundary_arn is not None:
                arn = str((await self._policy_row(tx, boundary_arn))["arn"])
            await tx.update(_TABLE[kind], {"id": row["id"]}, {"permissions_boundary": arn})
