"""
What applies to a principal: the policy documents an authorization decision needs.

For a user: its inline and attached policies, those of its groups, and its
permissions boundary; for a role: its inline and attached policies, boundary
and trust policy. Documents are returned as stored text with an id naming where
they came from (a managed policy's ARN, or ``user/<name>/<inline name>``), so a
decision can say which statement decided it. Compiling and caching them is the
caller's business.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.iam import models
from gateway.iam.base import ServiceBase
from gateway.store import Row, Transaction


@dataclass(frozen=True, slots=True)
class PolicySource:
    """
    One policy document and where it came from.
    """

    policy_id: str
    document: str


@dataclass(frozen=True, slots=True)
class Grants:
    """
    The identity policies, the permissions boundary (if any) and, for a role,
    the trust policy.
    """

    identity: tuple[PolicySource, ...]
    boundary: PolicySource | None
    trust: PolicySource | None = None


class GrantOperations(ServiceBase):
    """
    Read the policies that apply to a user or a role, in one read transaction.
    """

    async def _managed(self, tx: Transaction, kind: str, principal_ids: list[str]) -> list[Row]:
        links = await tx.select(
            "policy_attachments", {"principal_type": kind, "principal_id": principal_ids}
        )
        return await tx.select(
            "policies", {"id": sorted({str(link["policy_id"]) for link in links})}
        )

    async def _default_documents(self, tx: Transaction, policies: list[Row]) -> list[PolicySource]:
        found: list[PolicySource] = []
        for policy in sorted(policies, key=lambda row: str(row["arn"])):
            version = await tx.get(
                "policy_versions",
                {"policy_id": policy["id"], "version_id": policy["default_version"]},
            )
            if version is not None:
                found.append(PolicySource(str(policy["arn"]), str(version["document"])))
        return found

    async def _boundary(self, tx: Transaction, arn: object) -> PolicySource | None:
        if arn is None:
            return None
        policy = await tx.get("policies", {"arn": str(arn)})
        if policy is None:
            # SECURITY: a boundary that vanished allows nothing rather than everything.
            return PolicySource(str(arn), '{"Version": "2012-10-17", "Statement": []}')
        documents = await self._default_documents(tx, [policy])
        return documents[0] if documents else None

    async def user_grants(self, user: models.User) -> Grants:
        """
        Return the policies that apply to ``user`` (its own and its groups').
        """
        async with self._read() as tx:
            links = await tx.select("group_members", {"user_id": user.user_id})
            group_ids = [str(link["group_id"]) for link in links]
            groups = {
                str(g["id"]): str(g["name"]) for g in await tx.select("groups", {"id": group_ids})
            }
            inline: list[PolicySource] = [
                PolicySource(f"user/{user.user_name}/{row['name']}", str(row["document"]))
                for row in await tx.select(
                    "inline_policies",
                    {"principal_type": "user", "principal_id": user.user_id},
                    order_by=["name"],
                )
            ]
            inline += [
                PolicySource(
                    f"group/{groups.get(str(row['principal_id']), '?')}/{row['name']}",
                    str(row["document"]),
                )
                for row in await tx.select(
                    "inline_policies",
                    {"principal_type": "group", "principal_id": group_ids},
                    order_by=["name"],
                )
            ]
            managed = await self._managed(tx, "user", [user.user_id])
            managed += await self._managed(tx, "group", group_ids)
            unique = {str(row["id"]): row for row in managed}
            attached = await self._default_documents(tx, list(unique.values()))
            boundary = await self._boundary(tx, user.permissions_boundary)
        return Grants(tuple(inline + attached), boundary)

    async def role_grants(self, role: models.Role) -> Grants:
        """
        Return the policies that apply to sessions of ``role``, and its trust policy.
        """
        async with self._read() as tx:
            inline = [
                PolicySource(f"role/{role.role_name}/{row['name']}", str(row["document"]))
                for row in await tx.select(
                    "inline_policies",
                    {"principal_type": "role", "principal_id": role.role_id},
                    order_by=["name"],
                )
            ]
            attached = await self._default_documents(
                tx, await self._managed(tx, "role", [role.role_id])
            )
            boundary = await self._boundary(tx, role.permissions_boundary)
        trust = PolicySource(f"role/{role.role_name}/trust", role.assume_role_policy_document)
        return Grants(tuple(inline + attached), boundary, trust)
