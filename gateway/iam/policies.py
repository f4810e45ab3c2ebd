"""
Managed policies (versioned, attachable), inline policies and attachments.

Built-in AWS-managed policies live under account ``aws`` with ARNs
``arn:aws:iam::aws:policy/<name>``; they are seeded by ``gateway init`` and can
be attached but not changed.
"""

from __future__ import annotations

import json
from typing import Literal

from gateway.errors import (
    DeleteConflict,
    EntityAlreadyExists,
    InvalidInput,
    LimitExceeded,
    NoSuchEntity,
)
from gateway.iam import documents, models, naming
from gateway.iam.base import (
    MAX_MANAGED_POLICIES_PER_ENTITY,
    MAX_POLICY_VERSIONS,
    ServiceBase,
)
from gateway.store import Conflict, Row, Transaction

PrincipalKind = Literal["user", "group", "role"]

BUILTIN_POLICIES: dict[str, tuple[str, dict[str, object]]] = {
    "AdministratorAccess": (
        "Provides full access to every action and resource.",
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
        },
    ),
    "IAMUserChangePassword": (
        "Lets an IAM user change their own console password.",
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": ["iam:ChangePassword"],
                    "Resource": ["arn:aws:iam::*:user/${aws:username}"],
                },
                {"Effect": "Allow", "Action": ["iam:GetAccountPasswordPolicy"], "Resource": "*"},
            ],
        },
    ),
    "IAMReadOnlyAccess": (
        "Provides read-only access to IAM.",
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": [
                        "iam:GenerateCredentialReport",
                        "iam:Get*",
                        "iam:List*",
                        "iam:SimulateCustomPolicy",
                        "iam:SimulatePrincipalPolicy",
                    ],
                    "Resource": "*",
                }
            ],
        },
    ),
    "IAMFullAccess": (
        "Provides full access to IAM.",
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "iam:*", "Resource": "*"}],
        },
    ),
}

_TABLE_OF: dict[str, str] = {"user": "users", "group": "groups", "role": "roles"}


class PolicyOperations(ServiceBase):
    """
    Managed policies and their versions, inline policies, and attachments.
    """

    async def seed_builtin_policies(self) -> int:
        """
        Create any missing built-in policy; returns how many were created.
        """
        created = 0
        async with self._write() as tx:
            for name, (description, document) in BUILTIN_POLICIES.items():
                arn = f"arn:aws:iam::aws:policy/{name}"
                if await tx.count("policies", {"arn": arn}):
                    continue
                await self._insert_policy(
                    tx, "aws", arn, name, "/", description, json.dumps(document, indent=2)
                )
                created += 1
        return created

    async def _insert_policy(
        self,
        tx: Transaction,
        account: str,
        arn: str,
        name: str,
        path: str,
        description: str,
        document: str,
    ) -> Row:
        now = self._now()
        row: Row = {
            "id": naming.unique_id(naming.POLICY_ID_PREFIX),
            "account_id": account,
            "arn": arn,
            "name": name,
            "name_lower": name.lower(),
            "path": path,
            "description": description,
            "default_version": "v1",
            "next_version": 2,
            "created_at": now,
            "updated_at": now,
        }
        try:
            await tx.insert("policies", row)
        except Conflict:
            raise EntityAlreadyExists(
                f"A policy called {name} already exists. Duplicate names are not allowed."
            ) from None
        await tx.insert(
            "policy_versions",
            {"policy_id": row["id"], "version_id": "v1", "document": document, "created_at": now},
        )
        return row

    async def create_policy(
        self,
        policy_name: str,
        policy_document: object,
        *,
        path: str | None = None,
        description: str | None = None,
    ) -> models.ManagedPolicy:
        name = naming.check_name(policy_name, field="PolicyName", max_length=128)
        checked_path = naming.check_path(path)
        text = documents.check_document(
            policy_document, kind="identity", max_size=documents.MANAGED_POLICY_MAX
        )
        if description is not None and (
            not isinstance(description, str) or len(description) > 1000
        ):
            raise InvalidInput("`Description` must be text of at most 1000 characters")
        arn = naming.arn(self.account_id, "policy", checked_path, name)
        async with self._write() as tx:
            row = await self._insert_policy(
                tx, self.account_id, arn, name, checked_path, description or "", text
            )
        return self._policy(row, 0)

    async def get_policy(self, policy_arn: str) -> models.ManagedPolicy:
        async with self._read() as tx:
            row = await self._policy_row(tx, policy_arn)
            count = await tx.count("policy_attachments", {"policy_id": row["id"]})
        return self._policy(row, count)

    async def list_policies(
        self,
        *,
        scope: Literal["All", "AWS", "Local"] = "All",
        only_attached: bool = False,
        path_prefix: str = "/",
    ) -> list[models.ManagedPolicy]:
        if scope not in ("All", "AWS", "Local"):
            raise InvalidInput(f"`Scope` must be `All`, `AWS` or `Local`, not `{scope}`")
        owners = {"All": ["aws", self.account_id], "AWS": ["aws"], "Local": [self.account_id]}
        async with self._read() as tx:
            rows = await tx.select(
                "policies", {"account_id": owners[scope]}, order_by=["name_lower"]
            )
            links = await tx.select(
                "policy_attachments", {"policy_id": [str(row["id"]) for row in rows]}
            )
        counts: dict[str, int] = {}
        for link in links:
            counts[str(link["policy_id"])] = counts.get(str(link["policy_id"]), 0) + 1
        found = [self._policy(row, counts.get(str(row["id"]), 0)) for row in rows]
        return [
            policy
            for policy in found
            if policy.path.startswith(path_prefix)
            and (policy.attachment_count or not only_attached)
        ]

    async def delete_policy(self, policy_arn: str) -> None:
        """
        Delete a customer managed policy; as AWS does, refuse while it is attached or
        has versions other than the default.
        """
        async with self._write() as tx:
            row = await self._local_policy_row(tx, policy_arn)
            if await tx.count("policy_attachments", {"policy_id": row["id"]}):
                raise DeleteConflict("Cannot delete a policy attached to entities.")
            if await tx.count("policy_versions", {"policy_id": row["id"]}) > 1:
                raise DeleteConflict(
                    "This policy has more than one version. Before you delete a policy, you "
                    "must delete the policy's versions. The default version is deleted with "
                    "the policy."
                )
            await tx.delete("policy_versions", {"policy_id": row["id"]})
            await tx.delete("policies", {"id": row["id"]})

    async def _local_policy_row(self, tx: Transaction, policy_arn: str) -> Row:
        row = await self._policy_row(tx, policy_arn)
        if row["account_id"] == "aws":
            raise InvalidInput(
                f"Policy {policy_arn} is AWS managed and cannot be changed.",
                code="AccessDenied",
                status=403,
            )
        return row

    # -- versions ----------------------------------------------------------------------

    async def create_policy_version(
        self, policy_arn: str, policy_document: object, *, set_as_default: bool = False
    ) -> models.PolicyVersion:
        text = documents.check_document(
            policy_document, kind="identity", max_size=documents.MANAGED_POLICY_MAX
        )
        now = self._now()
        async with self._write() as tx:
            row = await self._local_policy_row(tx, policy_arn)
            if await tx.count("policy_versions", {"policy_id": row["id"]}) >= MAX_POLICY_VERSIONS:
                raise LimitExceeded(
                    f"A managed policy can have up to {MAX_POLICY_VERSIONS} versions. Before "
                    "you create a new version, you must delete an existing version."
                )
            version = f"v{row['next_version']}"
            await tx.insert(
                "policy_versions",
                {
                    "policy_id": row["id"],
                    "version_id": version,
                    "document": text,
                    "created_at": now,
                },
            )
            values: Row = {"next_version": int(row["next_version"] or 1) + 1, "updated_at": now}
            if set_as_default:
                values["default_version"] = version
            await tx.update("policies", {"id": row["id"]}, values)
        return models.PolicyVersion(version, text, set_as_default, naming.parse_timestamp(now))

    async def get_policy_version(self, policy_arn: str, version_id: str) -> models.PolicyVersion:
        async with self._read() as tx:
            row = await self._policy_row(tx, policy_arn)
            version = await tx.get(
                "policy_versions", {"policy_id": row["id"], "version_id": version_id}
            )
        if version is None:
            raise NoSuchEntity(f"Policy {policy_arn} version {version_id} does not exist.")
        return _version(version, str(row["default_version"]))

    async def list_policy_versions(self, policy_arn: str) -> list[models.PolicyVersion]:
        async with self._read() as tx:
            row = await self._policy_row(tx, policy_arn)
            versions = await tx.select("policy_versions", {"policy_id": row["id"]})
        found = [_version(v, str(row["default_version"])) for v in versions]
        return sorted(found, key=lambda v: int(v.version_id[1:]), reverse=True)

    async def set_default_policy_version(self, policy_arn: str, version_id: str) -> None:
        async with self._write() as tx:
            row = await self._local_policy_row(tx, policy_arn)
            if not await tx.count(
                "policy_versions", {"policy_id": row["id"], "version_id": version_id}
            ):
                raise NoSuchEntity(f"Policy {policy_arn} version {version_id} does not exist.")
            await tx.update(
                "policies",
                {"id": row["id"]},
                {"default_version": version_id, "updated_at": self._now()},
            )

    async def delete_policy_version(self, policy_arn: str, version_id: str) -> None:
        async with self._write() as tx:
            row = await self._local_policy_row(tx, policy_arn)
            if row["default_version"] == version_id:
                raise DeleteConflict("Cannot delete the default version of a policy.")
            gone = await tx.delete(
                "policy_versions", {"policy_id": row["id"], "version_id": version_id}
            )
            if not gone:
                raise NoSuchEntity(f"Policy {policy_arn} version {version_id} does not exist.")

    async def policy_document(self, policy_arn: str) -> str:
        """
        Return the default version's document of a managed policy.
        """
        async with self._read() as tx:
            row = await self._policy_row(tx, policy_arn)
            version = await tx.get(
                "policy_versions", {"policy_id": row["id"], "version_id": row["default_version"]}
            )
        return str(version["document"]) if version else ""

    # -- attachments -------------------------------------------------------------------

    async def _principal_id(self, tx: Transaction, kind: PrincipalKind, name: str) -> str:
        if kind == "user":
            return str((await self._user_row(tx, name))["id"])
        if kind == "group":
            return str((await self._group_row(tx, name))["id"])
        return str((await self._role_row(tx, name))["id"])

    async def attach_policy(self, kind: PrincipalKind, name: str, policy_arn: str) -> None:
        """
        Attach a managed policy to a user, group or role (attaching twice is a no-op).
        """
        async with self._write() as tx:
            principal = await self._principal_id(tx, kind, name)
            policy = await self._policy_row(tx, policy_arn)
            link = {"principal_type": kind, "principal_id": principal, "policy_id": policy["id"]}
            if await tx.count("policy_attachments", link):
                return
            owner = {"principal_type": kind, "principal_id": principal}
            if await tx.count("policy_attachments", owner) >= MAX_MANAGED_POLICIES_PER_ENTITY:
                raise LimitExceeded(
                    f"Cannot exceed quota for PoliciesPerUser: {MAX_MANAGED_POLICIES_PER_ENTITY}"
                )
            await tx.insert("policy_attachments", link)

    async def detach_policy(self, kind: PrincipalKind, name: str, policy_arn: str) -> None:
        async with self._write() as tx:
            principal = await self._principal_id(tx, kind, name)
            policy = await self._policy_row(tx, policy_arn)
            gone = await tx.delete(
                "policy_attachments",
                {"principal_type": kind, "principal_id": principal, "policy_id": policy["id"]},
            )
            if not gone:
                raise NoSuchEntity(f"Policy {policy_arn} was not found.")

    async def list_attached_policies(
        self, kind: PrincipalKind, name: str
    ) -> list[models.AttachedPolicy]:
        async with self._read() as tx:
            principal = await self._principal_id(tx, kind, name)
            links = await tx.select(
                "policy_attachments", {"principal_type": kind, "principal_id": principal}
            )
            rows = await tx.select(
                "policies",
                {"id": [str(link["policy_id"]) for link in links]},
                order_by=["name_lower"],
            )
        return [models.AttachedPolicy(str(row["name"]), str(row["arn"])) for row in rows]

    async def list_entities_for_policy(self, policy_arn: str) -> models.PolicyEntities:
        async with self._read() as tx:
            policy = await self._policy_row(tx, policy_arn)
            links = await tx.select("policy_attachments", {"policy_id": policy["id"]})
            found: dict[str, list[tuple[str, str]]] = {"user": [], "group": [], "role": []}
            for kind, table in _TABLE_OF.items():
                ids = [
                    str(link["principal_id"]) for link in links if link["principal_type"] == kind
                ]
                rows = await tx.select(table, {"id": ids}, order_by=["name_lower"])
                found[kind] = [(str(row["name"]), str(row["id"])) for row in rows]
        return models.PolicyEntities(
            tuple(found["user"]), tuple(found["group"]), tuple(found["role"])
        )

    # -- inline policies ---------------------------------------------------------------

    async def put_inline_policy(
        self, kind: PrincipalKind, name: str, policy_name: str, policy_document: object
    ) -> None:
        """
        Create or replace an inline policy; AWS's aggregate size quota applies per entity.
        """
        pname = naming.check_name(policy_name, field="PolicyName", max_length=128)
        limit = documents.INLINE_AGGREGATE_MAX[kind]
        text = documents.check_document(policy_document, kind="identity", max_size=limit)
        async with self._write() as tx:
            principal = await self._principal_id(tx, kind, name)
            owner = {"principal_type": kind, "principal_id": principal}
            others = [
                row for row in await tx.select("inline_policies", owner) if row["name"] != pname
            ]
            total = documents.policy_size(text) + sum(
                documents.policy_size(str(row["document"])) for row in others
            )
            if total > limit:
                raise LimitExceeded(
                    f"Maximum policy size of {limit} bytes exceeded for {kind} {name}."
                )
            key = {**owner, "name": pname}
            if not await tx.update("inline_policies", key, {"document": text}):
                await tx.insert("inline_policies", {**key, "document": text})

    async def get_inline_policy(
        self, kind: PrincipalKind, name: str, policy_name: str
    ) -> models.InlinePolicy:
        async with self._read() as tx:
            principal = await self._principal_id(tx, kind, name)
            row = await tx.get(
                "inline_policies",
                {"principal_type": kind, "principal_id": principal, "name": policy_name},
            )
        if row is None:
            raise NoSuchEntity(f"The {kind} policy with name {policy_name} cannot be found.")
        return models.InlinePolicy(str(row["name"]), str(row["document"]))

    async def delete_inline_policy(self, kind: PrincipalKind, name: str, policy_name: str) -> None:
        async with self._write() as tx:
            principal = await self._principal_id(tx, kind, name)
            gone = await tx.delete(
                "inline_policies",
                {"principal_type": kind, "principal_id": principal, "name": policy_name},
            )
        if not gone:
            raise NoSuchEntity(f"The {kind} policy with name {policy_name} cannot be found.")

    async def list_inline_policies(self, kind: PrincipalKind, name: str) -> list[str]:
        async with self._read() as tx:
            principal = await self._principal_id(tx, kind, name)
            rows = await tx.select(
                "inline_policies",
                {"principal_type": kind, "principal_id": principal},
                order_by=["name"],
            )
        return [str(row["name"]) for row in rows]


def _version(row: Row, default: str) -> models.PolicyVersion:
    return models.PolicyVersion(
        version_id=str(row["version_id"]),
        document=str(row["document"]),
        is_default=row["version_id"] == default,
        created=naming.parse_timestamp(str(row["created_at"])),
    )
