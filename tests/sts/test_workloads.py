"""
Workloads in the service layer, on both backends: bootstrap tokens are shown once,
stored as hashes, rotated and revoked; a workload ends with its role.
"""

from __future__ import annotations

import hashlib
import io
import json
from contextlib import redirect_stdout
from pathlib import Path

import pytest

from gateway.cli import main
from gateway.errors import EntityAlreadyExists, InvalidInput, NoSuchEntity
from gateway.iam import IAM
from gateway.iam.workloads import WorkloadOperations, authenticate_workload

pytestmark = pytest.mark.anyio

TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "ec2.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}


def workloads(iam: IAM) -> WorkloadOperations:
    return WorkloadOperations(iam.store, iam.cipher, account_id=iam.account_id)


async def test_token_authenticates_its_workload_and_is_stored_as_a_hash(iam: IAM) -> None:
    """The bootstrap token finds the workload and its role; the store holds only a hash."""
    role = await iam.create_role("BackupRole", TRUST)
    workload, token = await workloads(iam).create_workload("backup", "BackupRole", duration=900)
    assert workload.role_arn == role.arn and workload.duration_seconds == 900
    found = await authenticate_workload(iam.store, iam.cipher, token)
    assert found is not None
    assert found[0] == workload and found[1].role_id == role.role_id
    async with iam.store.transaction() as tx:
        row = await tx.get("workloads", {"id": workload.workload_id})
    assert row is not None
    assert token not in json.dumps(row)
    secret = token.partition(".")[2]
    assert row["token_hash"] == hashlib.sha256(secret.encode()).hexdigest()


@pytest.mark.parametrize(
    "damage",
    [
        lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"),
        lambda t: t.partition(".")[0],
        lambda t: "",
        lambda t: "AWLA" + "A" * 17 + "." + t.partition(".")[2],
        lambda t: t + "\n",
        lambda t: "Bearer " + t,
    ],
)
async def test_wrong_or_malformed_tokens_find_nothing(iam: IAM, damage: object) -> None:
    """A changed secret, another id, or a malformed token authenticates nobody."""
    await iam.create_role("BackupRole", TRUST)
    _, token = await workloads(iam).create_workload("backup", "BackupRole")
    assert await authenticate_workload(iam.store, iam.cipher, damage(token)) is None  # type: ignore[operator]


async def test_rotate_replaces_the_token_at_once(iam: IAM) -> None:
    """After rotate the old token is refused and the new one works."""
    await iam.create_role("BackupRole", TRUST)
    service = workloads(iam)
    _, old = await service.create_workload("backup", "BackupRole")
    new = await service.rotate_workload("BACKUP")
    assert await authenticate_workload(iam.store, iam.cipher, old) is None
    assert await authenticate_workload(iam.store, iam.cipher, new) is not None


async def test_delete_and_role_deletion_end_the_workload(iam: IAM) -> None:
    """Deleting the workload, or its role, makes its token worthless."""
    await iam.create_role("BackupRole", TRUST)
    service = workloads(iam)
    _, first = await service.create_workload("first", "BackupRole")
    _, second = await service.create_workload("second", "BackupRole")
    await service.delete_workload("first")
    assert await authenticate_workload(iam.store, iam.cipher, first) is None
    await iam.delete_role("BackupRole", force=True)
    assert await authenticate_workload(iam.store, iam.cipher, second) is None
    assert await service.list_workloads() == []


async def test_rules_names_roles_and_durations(iam: IAM) -> None:
    """Duplicate names, unknown roles and out-of-range durations are refused."""
    await iam.create_role("BackupRole", TRUST)
    service = workloads(iam)
    await service.create_workload("backup", "BackupRole")
    with pytest.raises(EntityAlreadyExists):
        await service.create_workload("Backup", "BackupRole")
    with pytest.raises(NoSuchEntity):
        await service.create_workload("other", "NoRole")
    for seconds in (9, 43201):
        with pytest.raises(InvalidInput):
            await service.create_workload("other", "BackupRole", duration=seconds)
    with pytest.raises(InvalidInput):
        await service.create_workload("bad name", "BackupRole")
    with pytest.raises(NoSuchEntity):
        await service.rotate_workload("missing")
    assert [w.name for w in await service.list_workloads()] == ["backup"]


# --- the CLI --------------------------------------------------------------------------------------


def _gateway(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    with redirect_stdout(out):
        code = main(list(argv))
    return code, out.getvalue()


def test_workload_and_revoke_commands(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`gateway workload create|list|rotate|delete` and `gateway iam revoke-role-sessions`."""
    for name in ("GATEWAY_CONFIG", "GATEWAY_MASTER_KEY"):
        monkeypatch.delenv(name, raising=False)
    config = tmp_path / "gateway.toml"
    config.write_text(
        f'[store]\nurl = "sqlite:///{tmp_path}/gw.db"\n'
        f'[secrets]\nmaster_key_file = "{tmp_path}/master.key"\n',
        encoding="utf-8",
    )
    monkeypatch.setattr("sys.stdin", io.StringIO("Root-Passw0rd!cli\n"))
    assert _gateway("init", "--config", str(config), "--root-password-stdin")[0] == 0
    trust = json.dumps(TRUST)
    assert (
        _gateway(
            "iam",
            "create-role",
            "--role-name",
            "R",
            "--assume-role-policy-document",
            trust,
            "--config",
            str(config),
        )[0]
        == 0
    )
    code, out = _gateway(
        "workload",
        "create",
        "--name",
        "backup",
        "--role-name",
        "R",
        "--duration",
        "600",
        "--config",
        str(config),
    )
    assert code == 0
    created = json.loads(out)
    assert created["Workload"]["DurationSeconds"] == 600
    assert created["BootstrapToken"].startswith(created["Workload"]["WorkloadId"] + ".")
    code, out = _gateway("workload", "list", "--config", str(config))
    listed = json.loads(out)["Workloads"]
    assert [w["Name"] for w in listed] == ["backup"]
    assert "BootstrapToken" not in out and created["BootstrapToken"] not in out
    code, out = _gateway("workload", "rotate", "--name", "backup", "--config", str(config))
    assert json.loads(out)["BootstrapToken"] != created["BootstrapToken"]
    assert _gateway("workload", "delete", "--name", "backup", "--config", str(config)) == (0, "")
    assert _gateway("workload", "delete", "--name", "backup", "--config", str(config))[0] == 1
    code, out = _gateway("iam", "revoke-role-sessions", "--role-name", "R", "--config", str(config))
    assert code == 0 and json.loads(out)["PolicyName"] == "AWSRevokeOlderSessions"
    code, out = _gateway(
        "iam",
        "get-role-policy",
        "--role-name",
        "R",
        "--policy-name",
        "AWSRevokeOlderSessions",
        "--config",
        str(config),
    )
    assert code == 0 and "aws:TokenIssueTime" in out
