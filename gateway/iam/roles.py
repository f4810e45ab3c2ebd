"""
IAM roles: identities with a trust policy and no long-term credentials.
"""

from __future__ import annotations

import json

from gateway.errors import InvalidInput
from gateway.iam import documents, models, naming
from gateway.iam.base import check_tags, refuse_unless_forced
from gateway.iam.identities import IdentityOperations
from gateway.store import Row

# AWS: a role's maximum session duration is 1 to 12 hours, 1 hour by default.
MIN_SESSION_SECONDS = 3600
MAX_SESSION_SECONDS = 43200
DEFAULT_SESSION_SECONDS = 3600


def _check_duration(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput("`MaxSessionDuration` must be a number of seconds")
    if not MIN_SESSION_SECONDS <= value <= MAX_SESSION_SECONDS:
        raise InvalidInput(
            f"The requested MaxSessionDuration {value} is not valid: it must be between "
            f"{MIN_SESSION_SECONDS} and {MAX_SESSION_SECONDS} seconds."
        )
    return value


def _check_description(value: object) -> str:
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > 1000:
        raise InvalidInput("`Description` must be text of at most 1000 characters")
    return value


class RoleOperations(IdentityOperations):
    """
    Roles (``AROA`` ids), assumed through STS for temporary credentials.
    """

    async def create_role(
        self,
        role_name: str,
        assume_role_policy_document: object,
        *,
        path: str | None = None,
        description: str | None = None,
        max_session_duration: int = DEFAULT_SESSION_SECONDS,
        permissions_boundary: str | None = None,
        tags: object = None,
    ) -> models.Role:
        name = naming.check_name(role_name, field="RoleName", max_length=64)
        trust = documents.check_document(
            assume_role_policy_document, kind="trust", max_size=documents.TRUST_POLICY_MAX
        )
        row: Row = {
            "id": naming.unique_id(naming.ROLE_ID_PREFIX),
            "account_id": self.account_id,
            "name": name,
            "name_lower": name.lower(),
            "path": naming.check_path(path),
            "description": _check_description(description),
            "trust_policy": trust,
            "max_session_duration": _check_duration(max_session_duration),
            "permissions_boundary": None,
            "tags": json.dumps(check_tags(tags)),
            "created_at": self._now(),
        }
        await self._create_identity("role", row, permissions_boundary)
        return self._role(row)

    async def get_role(self, role_name: str) -> models.Role:
        async with self._read() as tx:
            return self._role(await self._role_row(tx, role_name))

    async def list_roles(self, *, path_prefix: str = "/") -> list[models.Role]:
        return [self._role(row) for row in await self._list_identities("role", path_prefix)]

    async def update_role(
        self,
        role_name: str,
        *,
        description: str | None = None,
        max_session_duration: int | None = None,
    ) -> None:
        values: Row = {}
        if description is not None:
            values["description"] = _check_description(description)
        if max_session_duration is not None:
            values["max_session_duration"] = _check_duration(max_session_duration)
        async with self._write() as tx:
            row = await self._role_row(tx, role_name)
            if values:
                await tx.update("roles", {"id": row["id"]}, values)

    async def update_assume_role_policy(self, role_name: str, policy_document: object) -> None:
        trust = documents.check_document(
            policy_document, kind="trust", max_size=documents.TRUST_POLICY_MAX
        )
        async with self._write() as tx:
            row = await self._role_row(tx, role_name)
            await tx.update("roles", {"id": row["id"]}, {"trust_policy": trust})

    async def revoke_role_sessions(self, role_name: str) -> None:
        """
        Make every session issued for the role until now stop working.
        """
        async with self._write() as tx:
            row = await self._role_row(tx, role_name)
            await tx.update("roles", {"id": row["id"]}, {"sessions_revoked_before": self._now()})

    async def tag_role(self, role_name: str, tags: object) -> None:
        await self._tag("role", role_name, tags)

    async def untag_role(self, role_name: str, tag_keys: list[str]) -> None:
        await self._untag("role", role_name, tag_keys)

    async def put_role_permissions_boundary(self, role_name: str, boundary_arn: str) -> None:
        await self._set_boundary("role", role_name, boundary_arn)

    async def delete_role_permissions_boundary(self, role_name: str) -> None:
        await self._set_boundary("role", role_name, None)

    async def delete_role(self, role_name: str, *, force: bool = False) -> None:
        """
        Delete a role; as AWS does, refuse while policies are attached, unless ``force``.
        """
        async with self._write() as tx:
            row = await self._role_row(tx, role_name)
            owner = {"principal_type": "role", "principal_id": row["id"]}
            blockers = {
                "inline policies": await tx.count("inline_policies", owner),
                "attached policies": await tx.count("policy_attachments", owner),
            }
            refuse_unless_forced(blockers, force=force)
            await tx.delete("inline_policies", owner)
            await tx.delete("policy_attachments", owner)
            await tx.delete("roles", {"id": row["id"]})
