"""
Workloads: programs bound to a role that fetch rotating temporary credentials.

An operator binds a workload to a role (``gateway workload create --name backup
--role-name R``) and hands the program a bootstrap token, shown once. The program
presents it to ``/_gateway/credentials`` (the AWS SDKs' container credential
provider does this by itself) and receives temporary credentials for a session of
the role, named after the workload. No access key is ever stored. The binding is
the operator's decision: the role's trust policy is not consulted for workloads.

The bootstrap token is ``<workload id>.<secret>``; the store keeps only the
SHA-256 of the secret, compared in constant time. ``rotate`` replaces the secret
(the old token stops working at once); deleting the workload, or its role, ends
it. Sessions already issued live until they expire, as AWS's do; revoke the
role's sessions to end them sooner.

Part of the IAM service layer: imports nothing from the edge.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime

from gateway.errors import EntityAlreadyExists, InvalidInput, NoSuchEntity
from gateway.iam import models, naming
from gateway.iam.base import ServiceBase
from gateway.iam.crypto import Cipher
from gateway.store import Conflict, Row, Store, Transaction

WORKLOAD_ID_PREFIX = "AWLA"
# Workload credentials may be shorter-lived than AWS's 900-second minimum: the
# SDKs refresh them by themselves (always, when less than 15 minutes remain).
MIN_DURATION = 10
MAX_DURATION = 43200
DEFAULT_DURATION = 3600
_TOKEN = re.compile(r"(AWLA[A-Z2-7]{17})\.([A-Za-z0-9_-]{43})", re.ASCII)


@dataclass(frozen=True, slots=True)
class Workload:
    """
    A workload and the role whose sessions it receives.
    """

    name: str
    workload_id: str
    account_id: str
    role_name: str
    role_arn: str
    duration_seconds: int
    created: datetime
    rotated: datetime


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("ascii")).hexdigest()


def _new_token(workload_id: str) -> tuple[str, str]:
    secret = secrets.token_urlsafe(32)
    return f"{workload_id}.{secret}", _digest(secret)


def _check_duration(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput("`duration` must be a whole number of seconds")
    if not MIN_DURATION <= value <= MAX_DURATION:
        raise InvalidInput(
            f"the duration must be between {MIN_DURATION} and {MAX_DURATION} seconds, got {value}"
        )
    return value


class WorkloadOperations(ServiceBase):
    """
    Create, list, rotate and delete the workloads of one account.
    """

    async def _workload_row(self, tx: Transaction, name: object) -> Row:
        checked = naming.check_name(name, field="name", max_length=64)
        row = await tx.get(
            "workloads", {"account_id": self.account_id, "name_lower": checked.lower()}
        )
        if row is None:
            raise NoSuchEntity(f"The workload with name {checked} cannot be found.")
        return row

    async def _workload(self, tx: Transaction, row: Row) -> Workload:
        role = await tx.get("roles", {"id": row["role_id"]})
        if role is None:  # pragma: no cover - the foreign key deletes it with the role
            raise NoSuchEntity(f"The workload {row['name']} has no role.")
        model = self._role(role)
        return Workload(
            name=str(row["name"]),
            workload_id=str(row["id"]),
            account_id=str(row["account_id"]),
            role_name=model.role_name,
            role_arn=model.arn,
            duration_seconds=int(row["duration_seconds"] or DEFAULT_DURATION),
            created=naming.parse_timestamp(str(row["created_at"])),
            rotated=naming.parse_timestamp(str(row["rotated_at"])),
        )

    async def create_workload(
        self, name: str, role_name: str, *, duration: int = DEFAULT_DURATION
    ) -> tuple[Workload, str]:
        """
        Bind a new workload to a role; return it and its bootstrap token (shown once).

        Raises:
            NoSuchEntity: no such role. EntityAlreadyExists: the name is taken.
            InvalidInput: a bad name or duration.
        """
        checked = naming.check_name(name, field="name", max_length=64)
        seconds = _check_duration(duration)
        workload_id = naming.unique_id(WORKLOAD_ID_PREFIX)
        token, digest = _new_token(workload_id)
        now = self._now()
        async with self._write() as tx:
            role = await self._role_row(tx, role_name)
            row: Row = {
                "id": workload_id,
                "account_id": self.account_id,
                "name": checked,
                "name_lower": checked.lower(),
                "role_id": role["id"],
                "duration_seconds": seconds,
                "token_hash": digest,
                "created_at": now,
                "rotated_at": now,
            }
            try:
                await tx.insert("workloads", row)
            except Conflict:
                raise EntityAlreadyExists(f"Workload with name {checked} already exists.") from None
            workload = await self._workload(tx, row)
        return workload, token

    async def list_workloads(self) -> list[Workload]:
        async with self._read() as tx:
            rows = await tx.select(
                "workloads", {"account_id": self.account_id}, order_by=["name_lower"]
            )
            return [await self._workload(tx, row) for row in rows]

    async def rotate_workload(self, name: str) -> str:
        """
        Replace a workload's bootstrap token; the old one stops working at once.
        """
        async with self._write() as tx:
            row = await self._workload_row(tx, name)
            token, digest = _new_token(str(row["id"]))
            await tx.update(
                "workloads", {"id": row["id"]}, {"token_hash": digest, "rotated_at": self._now()}
            )
        return token

    async def delete_workload(self, name: str) -> None:
        async with self._write() as tx:
            row = await self._workload_row(tx, name)
            await tx.delete("workloads", {"id": row["id"]})


async def authenticate_workload(
    store: Store, cipher: Cipher, token: str
) -> tuple[Workload, models.Role] | None:
    """
    Return the workload a bootstrap token belongs to, and its role, or None.

    The secret is compared (as a SHA-256) in constant time; a malformed token, an
    unknown workload and a wrong secret all give None.
    """
    match = _TOKEN.fullmatch(token)
    if match is None:
        return None
    workload_id, secret = match.groups()
    async with store.transaction() as tx:
        row = await tx.get("workloads", {"id": workload_id})
        if row is None:
            return None
        if not hmac.compare_digest(_digest(secret), str(row["token_hash"])):
            return None
        service = WorkloadOperations(store, cipher, account_id=str(row["account_id"]))
        workload = await service._workload(tx, row)
        role_row = await tx.get("roles", {"id": row["role_id"]})
    if role_row is None:  # pragma: no cover - deleted with the role
        return None
    return workload, service._role(role_row)
