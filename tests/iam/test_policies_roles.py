"""
Managed and inline policies, attachments and roles in the IAM service layer.
"""

from __future__ import annotations

import json

import pytest

from gateway.errors import (
    DeleteConflict,
    EntityAlreadyExists,
    InvalidInput,
    LimitExceeded,
    NoSuchEntity,
)
from gateway.iam import IAM

pytestmark = pytest.mark.anyio

WRITE_BACKUPS = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Action": "backup:PutObject",
            "Resource": "arn:aws:backup:*:*:bucket/backup/*",
        }
    ],
}
TRUST_ACCOUNT = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
            "Action": "sts:AssumeRole",
        }
    ],
}
ADMIN = "arn:aws:iam::aws:policy/AdministratorAccess"


async def test_builtin_policies_are_seeded_once(iam: IAM) -> None:
    """The shipped policies exist under `aws` and seeding again adds nothing."""
    names = [p.policy_name for p in await iam.list_policies(scope="AWS")]
    assert {"AdministratorAccess", "IAMUserChangePassword", "IAMReadOnlyAccess"} <= set(names)
    assert await iam.seed_builtin_policies() == 0
    document = json.loads(await iam.policy_document(ADMIN))
    assert document["Statement"][0]["Action"] == "*"


async def test_builtin_policies_cannot_be_changed(iam: IAM) -> None:
    """AWS managed policies can be attached but not versioned or deleted."""
    with pytest.raises(InvalidInput, match="AWS managed"):
        await iam.create_policy_version(ADMIN, WRITE_BACKUPS)
    with pytest.raises(InvalidInput, match="AWS managed"):
        await iam.delete_policy(ADMIN)


async def test_create_policy_stores_document_as_given(iam: IAM) -> None:
    """The document text is kept byte for byte; the ARN carries the path."""
    text = json.dumps(WRITE_BACKUPS, indent=3)
    policy = await iam.create_policy("backup-write", text, path="/ops/")
    assert policy.arn == f"arn:aws:iam::{iam.account_id}:policy/ops/backup-write"
    assert policy.policy_id.startswith("ANPA") and policy.default_version_id == "v1"
    assert await iam.policy_document(policy.arn) == text
    with pytest.raises(EntityAlreadyExists):
        await iam.create_policy("BACKUP-WRITE", WRITE_BACKUPS)


@pytest.mark.parametrize(
    "document",
    [
        "not json",
        "[]",
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Maybe", "Action": "*", "Resource": "*"}],
        },
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*"}]},
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "*"}
            ],
        },
    ],
)
async def test_malformed_documents_are_refused(iam: IAM, document: object) -> None:
    """A malformed identity policy gets MalformedPolicyDocument and nothing is created."""
    with pytest.raises(InvalidInput) as caught:
        await iam.create_policy("bad", document)
    assert caught.value.code == "MalformedPolicyDocument"
    assert await iam.list_policies(scope="Local") == []


async def test_oversized_policy_is_refused(iam: IAM) -> None:
    """A managed policy over 6,144 non-whitespace characters exceeds the quota."""
    actions = [f"backup:Action{i:05d}" for i in range(400)]
    big = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}],
    }
    with pytest.raises(LimitExceeded, match="PolicySize: 6144"):
        await iam.create_policy("big", big)


async def test_policy_versions_limit_and_default(iam: IAM) -> None:
    """At most five versions; the default can move and is never deleted."""
    policy = await iam.create_policy("p", WRITE_BACKUPS)
    for _ in range(4):
        await iam.create_policy_version(policy.arn, WRITE_BACKUPS)
    with pytest.raises(LimitExceeded, match="up to 5 versions"):
        await iam.create_policy_version(policy.arn, WRITE_BACKUPS)
    await iam.set_default_policy_version(policy.arn, "v3")
    with pytest.raises(DeleteConflict):
        await iam.delete_policy_version(policy.arn, "v3")
    await iam.delete_policy_version(policy.arn, "v5")
    created = await iam.create_policy_version(policy.arn, WRITE_BACKUPS, set_as_default=True)
    assert created.version_id == "v6"
    versions = await iam.list_policy_versions(policy.arn)
    assert [v.version_id for v in versions if v.is_default] == ["v6"]
    with pytest.raises(NoSuchEntity):
        await iam.get_policy_version(policy.arn, "v5")


async def test_attached_policy_cannot_be_deleted(iam: IAM) -> None:
    """DeletePolicy refuses while attached or while extra versions remain."""
    policy = await iam.create_policy("p", WRITE_BACKUPS)
    await iam.create_user("backup")
    await iam.attach_policy("user", "backup", policy.arn)
    assert (await iam.get_policy(policy.arn)).attachment_count == 1
    with pytest.raises(DeleteConflict, match="attached"):
        await iam.delete_policy(policy.arn)
    await iam.detach_policy("user", "backup", policy.arn)
    await iam.create_policy_version(policy.arn, WRITE_BACKUPS)
    with pytest.raises(DeleteConflict, match="more than one version"):
        await iam.delete_policy(policy.arn)
    await iam.delete_policy_version(policy.arn, "v2")
    await iam.delete_policy(policy.arn)
    with pytest.raises(NoSuchEntity):
        await iam.get_policy(policy.arn)


async def test_attach_to_groups_and_roles(iam: IAM) -> None:
    """Attachments list per entity and per policy; detaching an unattached one fails."""
    await iam.create_group("admins")
    await iam.create_role("backup-role", TRUST_ACCOUNT)
    await iam.attach_policy("group", "admins", ADMIN)
    await iam.attach_policy("role", "backup-role", ADMIN)
    await iam.attach_policy("role", "backup-role", ADMIN)
    assert [p.policy_name for p in await iam.list_attached_policies("group", "admins")] == [
        "AdministratorAccess"
    ]
    entities = await iam.list_entities_for_policy(ADMIN)
    assert [g for g, _ in entities.groups] == ["admins"]
    assert [r for r, _ in entities.roles] == ["backup-role"]
    await iam.detach_policy("group", "admins", ADMIN)
    with pytest.raises(NoSuchEntity):
        await iam.detach_policy("group", "admins", ADMIN)
    with pytest.raises(NoSuchEntity, match="does not exist"):
        await iam.attach_policy("group", "admins", "arn:aws:iam::aws:policy/Nope")


async def test_ten_managed_policies_per_entity(iam: IAM) -> None:
    """An eleventh managed policy on one user exceeds the quota."""
    await iam.create_user("steve")
    for i in range(10):
        policy = await iam.create_policy(f"p{i}", WRITE_BACKUPS)
        await iam.attach_policy("user", "steve", policy.arn)
    extra = await iam.create_policy("p10", WRITE_BACKUPS)
    with pytest.raises(LimitExceeded):
        await iam.attach_policy("user", "steve", extra.arn)


async def test_inline_policies_and_aggregate_size(iam: IAM) -> None:
    """Inline policies replace by name, and a user's total stays under 2,048 characters."""
    await iam.create_user("backup")
    await iam.put_inline_policy("user", "backup", "write", WRITE_BACKUPS)
    await iam.put_inline_policy("user", "backup", "write", WRITE_BACKUPS)
    assert await iam.list_inline_policies("user", "backup") == ["write"]
    got = await iam.get_inline_policy("user", "backup", "write")
    assert json.loads(got.document) == WRITE_BACKUPS
    actions = [f"backup:Act{i:03d}" for i in range(60)]
    medium = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}],
    }
    await iam.put_inline_policy("user", "backup", "one", medium)
    with pytest.raises(LimitExceeded, match="2048"):
        await iam.put_inline_policy("user", "backup", "two", medium)
    await iam.delete_inline_policy("user", "backup", "one")
    with pytest.raises(NoSuchEntity):
        await iam.delete_inline_policy("user", "backup", "one")


async def test_role_trust_policy_and_session_duration(iam: IAM) -> None:
    """Roles need a valid trust policy and a 1-12 hour maximum session."""
    role = await iam.create_role("backup-role", TRUST_ACCOUNT, description="backups")
    assert role.role_id.startswith("AROA") and role.max_session_duration == 3600
    assert role.arn == f"arn:aws:iam::{iam.account_id}:role/backup-role"
    with pytest.raises(InvalidInput, match="MaxSessionDuration"):
        await iam.create_role("r2", TRUST_ACCOUNT, max_session_duration=60)
    with pytest.raises(InvalidInput) as caught:
        await iam.create_role("r3", WRITE_BACKUPS)
    assert caught.value.code == "MalformedPolicyDocument"
    await iam.update_role("backup-role", max_session_duration=43200)
    assert (await iam.get_role("backup-role")).max_session_duration == 43200


async def test_delete_role_refuses_with_policies(iam: IAM) -> None:
    """A role with attached policies is only deleted with force."""
    await iam.create_role("r", TRUST_ACCOUNT)
    await iam.attach_policy("role", "r", ADMIN)
    with pytest.raises(DeleteConflict):
        await iam.delete_role("r")
    await iam.delete_role("r", force=True)
    assert await iam.list_roles() == []


async def test_revoke_role_sessions_records_time(iam: IAM) -> None:
    """Revoking a role's sessions records the cut-off time."""
    await iam.create_role("r", TRUST_ACCOUNT)
    await iam.revoke_role_sessions("r")
    assert (await iam.get_role("r")).sessions_revoked_before is not None


async def test_permissions_boundary_must_exist(iam: IAM) -> None:
    """A user's boundary names an existing managed policy."""
    with pytest.raises(NoSuchEntity):
        await iam.create_user("steve", permissions_boundary="arn:aws:iam::aws:policy/Nope")
    user = await iam.create_user("steve", permissions_boundary=ADMIN)
    assert user.permissions_boundary == ADMIN
    await iam.delete_user_permissions_boundary("steve")
    assert (await iam.get_user("steve")).permissions_boundary is None


async def test_account_alias(iam: IAM) -> None:
    """An account has at most one valid alias."""
    with pytest.raises(InvalidInput):
        await iam.create_account_alias("Bad_Alias")
    await iam.create_account_alias("example-corp")
    assert await iam.list_account_aliases() == ["example-corp"]
    with pytest.raises(LimitExceeded):
        await iam.create_account_alias("other")
    await iam.delete_account_alias("example-corp")
    assert await iam.list_account_aliases() == []
