"""
The IAM API through a real boto3 client, on both store backends: every area of the
API, paginators, and each AWS error code as the botocore exception AWS would raise.
"""

from __future__ import annotations

import json
import time
from typing import Any

import anyio
import pyotp
import pytest
from botocore.exceptions import ClientError

from .conftest import ADMIN, READ_ONLY, Api

pytestmark = pytest.mark.anyio

ALLOW_S3 = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}],
}
ALLOW_S3_ALL = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
}
TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
            "Action": "sts:AssumeRole",
        }
    ],
}


def code_of(error: ClientError) -> tuple[str, int]:
    return error.response["Error"]["Code"], error.response["ResponseMetadata"]["HTTPStatusCode"]


async def test_users_tags_and_errors(api: Api) -> None:
    """Users are created, read, tagged, renamed and deleted; errors raise botocore's classes."""
    iam = api.client()
    created = await api.run(
        iam.create_user,
        UserName="alice",
        Path="/staff/",
        Tags=[{"Key": "team", "Value": "cost center"}],
    )
    user = created["User"]
    assert user["Arn"].endswith(":user/staff/alice") and user["UserId"].startswith("AIDA")
    assert user["CreateDate"].utcoffset().total_seconds() == 0
    assert user["Tags"] == [{"Key": "team", "Value": "cost center"}]
    with pytest.raises(iam.exceptions.EntityAlreadyExistsException) as exists:
        await api.run(iam.create_user, UserName="ALICE")
    assert code_of(exists.value) == ("EntityAlreadyExists", 409)
    await api.run(iam.tag_user, UserName="alice", Tags=[{"Key": "env", "Value": "prod"}])
    await api.run(iam.untag_user, UserName="alice", TagKeys=["team"])
    tags = await api.run(iam.list_user_tags, UserName="alice")
    assert tags["Tags"] == [{"Key": "env", "Value": "prod"}] and tags["IsTruncated"] is False
    await api.run(iam.update_user, UserName="alice", NewUserName="alicia")
    assert (await api.run(iam.get_user, UserName="alicia"))["User"]["Path"] == "/staff/"
    with pytest.raises(iam.exceptions.NoSuchEntityException) as missing:
        await api.run(iam.get_user, UserName="alice")
    assert code_of(missing.value) == ("NoSuchEntity", 404)
    with pytest.raises(ClientError) as invalid:
        await api.run(iam.create_user, UserName="bad name!")
    assert code_of(invalid.value) == ("ValidationError", 400)
    await api.run(iam.delete_user, UserName="alicia")
    names = [u["UserName"] for u in (await api.run(iam.list_users))["Users"]]
    assert "alicia" not in names and "admin" in names


async def test_get_user_without_name_is_the_caller(api: Api) -> None:
    """GetUser without UserName describes the calling user, as AWS does."""
    me = await api.run(api.client("reader").get_user)
    assert me["User"]["UserName"] == "reader"


async def test_paginators_walk_every_page(api: Api) -> None:
    """ListUsers pages with MaxItems and an opaque Marker; botocore's paginator follows it."""
    iam = api.client()
    for n in range(7):
        await api.run(iam.create_user, UserName=f"page-{n}")
    first = await api.run(iam.list_users, MaxItems=4)
    assert len(first["Users"]) == 4 and first["IsTruncated"] is True and first["Marker"]
    pages = await api.run(
        lambda: list(iam.get_paginator("list_users").paginate(PaginationConfig={"PageSize": 3}))
    )
    assert len(pages) == 4  # 10 users: admin, reader, nobody and seven more
    names = [user["UserName"] for page in pages for user in page["Users"]]
    assert len(names) == len(set(names)) == 10
    assert {f"page-{n}" for n in range(7)} <= set(names)
    assert pages[-1]["IsTruncated"] is False and "Marker" not in pages[-1]


@pytest.mark.parametrize("marker", ["bogus", "TGlzdFVzZXJzOjI6MDA=", "x" * 600])
async def test_a_bad_or_forged_marker_is_refused(api: Api, marker: str) -> None:
    """A marker the gateway did not issue (or issued for another listing) is a 400."""
    iam = api.client()
    with pytest.raises(ClientError) as caught:
        await api.run(iam.list_users, Marker=marker)
    assert code_of(caught.value) == ("ValidationError", 400)
    other = (await api.run(iam.list_policies, MaxItems=1))["Marker"]
    with pytest.raises(ClientError):
        await api.run(iam.list_users, Marker=other)
    with pytest.raises(ClientError) as too_many:
        await api.run(iam.list_users, MaxItems=1001)
    assert code_of(too_many.value) == ("ValidationError", 400)


async def test_access_keys_for_others_and_for_the_caller(api: Api) -> None:
    """Access keys are listed, deactivated and deleted; without UserName, the caller's keys."""
    iam = api.client()
    await api.run(iam.create_user, UserName="backup")
    key = (await api.run(iam.create_access_key, UserName="backup"))["AccessKey"]
    assert key["AccessKeyId"].startswith("AKIA") and len(key["SecretAccessKey"]) == 40
    await api.run(iam.create_access_key, UserName="backup")
    with pytest.raises(iam.exceptions.LimitExceededException) as limit:
        await api.run(iam.create_access_key, UserName="backup")
    assert code_of(limit.value) == ("LimitExceeded", 409)
    listed = (await api.run(iam.list_access_keys, UserName="backup"))["AccessKeyMetadata"]
    assert len(listed) == 2 and all("SecretAccessKey" not in k for k in listed)
    mine = (await api.run(iam.list_access_keys))["AccessKeyMetadata"]
    assert [k["AccessKeyId"] for k in mine] == [api.keys["admin"][0]]
    await api.run(
        iam.update_access_key, UserName="backup", AccessKeyId=key["AccessKeyId"], Status="Inactive"
    )
    last = await api.run(iam.get_access_key_last_used, AccessKeyId=key["AccessKeyId"])
    assert last["UserName"] == "backup"
    assert last["AccessKeyLastUsed"]["ServiceName"] == "N/A"
    with pytest.raises(iam.exceptions.DeleteConflictException) as conflict:
        await api.run(iam.delete_user, UserName="backup")
    assert code_of(conflict.value) == ("DeleteConflict", 409)
    await api.run(iam.delete_access_key, UserName="backup", AccessKeyId=key["AccessKeyId"])
    remaining = (await api.run(iam.list_access_keys, UserName="backup"))["AccessKeyMetadata"]
    assert key["AccessKeyId"] not in [k["AccessKeyId"] for k in remaining]


async def test_a_deactivated_key_is_refused_on_the_next_call(api: Api) -> None:
    """Deactivating the key a client signs with locks that client out at once."""
    iam = api.client()
    reader = api.client("reader")
    await api.run(reader.list_users)
    await api.run(
        iam.update_access_key,
        UserName="reader",
        AccessKeyId=api.keys["reader"][0],
        Status="Inactive",
    )
    with pytest.raises(ClientError) as caught:
        await api.run(reader.list_users)
    assert code_of(caught.value) == ("InvalidClientTokenId", 403)


async def test_groups_and_membership(api: Api) -> None:
    """Groups hold users; GetGroup pages its users; a non-empty group cannot be deleted."""
    iam = api.client()
    await api.run(iam.create_group, GroupName="ops", Path="/teams/")
    await api.run(iam.add_user_to_group, GroupName="ops", UserName="reader")
    await api.run(iam.add_user_to_group, GroupName="ops", UserName="nobody")
    group = await api.run(iam.get_group, GroupName="ops", MaxItems=1)
    assert group["Group"]["Arn"].endswith(":group/teams/ops")
    assert len(group["Users"]) == 1 and group["IsTruncated"] is True
    everyone = await api.run(
        lambda: [
            user["UserName"]
            for page in iam.get_paginator("get_group").paginate(
                GroupName="ops", PaginationConfig={"PageSize": 1}
            )
            for user in page["Users"]
        ]
    )
    assert sorted(everyone) == ["nobody", "reader"]
    groups = (await api.run(iam.list_groups_for_user, UserName="reader"))["Groups"]
    assert [g["GroupName"] for g in groups] == ["ops"]
    with pytest.raises(iam.exceptions.DeleteConflictException):
        await api.run(iam.delete_group, GroupName="ops")
    await api.run(iam.remove_user_from_group, GroupName="ops", UserName="reader")
    await api.run(iam.remove_user_from_group, GroupName="ops", UserName="nobody")
    await api.run(iam.delete_group, GroupName="ops")
    assert (await api.run(iam.list_groups))["Groups"] == []


async def test_managed_policies_versions_and_attachments(api: Api) -> None:
    """Policies get versions (documents decoded), attach to users, groups and roles."""
    iam = api.client()
    policy = (
        await api.run(iam.create_policy, PolicyName="read", PolicyDocument=json.dumps(ALLOW_S3))
    )["Policy"]
    arn = policy["Arn"]
    assert policy["DefaultVersionId"] == "v1" and policy["IsAttachable"] is True
    await api.run(
        iam.create_policy_version,
        PolicyArn=arn,
        PolicyDocument=json.dumps(ALLOW_S3_ALL),
        SetAsDefault=True,
    )
    versions = (await api.run(iam.list_policy_versions, PolicyArn=arn))["Versions"]
    assert {(v["VersionId"], v["IsDefaultVersion"]) for v in versions} == {
        ("v1", False),
        ("v2", True),
    }
    v2 = await api.run(iam.get_policy_version, PolicyArn=arn, VersionId="v2")
    assert v2["PolicyVersion"]["Document"] == ALLOW_S3_ALL
    await api.run(iam.delete_policy_version, PolicyArn=arn, VersionId="v1")
    await api.run(iam.create_group, GroupName="readers")
    await api.run(iam.create_role, RoleName="worker", AssumeRolePolicyDocument=json.dumps(TRUST))
    await api.run(iam.attach_user_policy, UserName="nobody", PolicyArn=arn)
    await api.run(iam.attach_group_policy, GroupName="readers", PolicyArn=arn)
    await api.run(iam.attach_role_policy, RoleName="worker", PolicyArn=arn)
    entities = await api.run(iam.list_entities_for_policy, PolicyArn=arn)
    assert [u["UserName"] for u in entities["PolicyUsers"]] == ["nobody"]
    assert [g["GroupName"] for g in entities["PolicyGroups"]] == ["readers"]
    assert [r["RoleName"] for r in entities["PolicyRoles"]] == ["worker"]
    attached = await api.run(iam.list_attached_user_policies, UserName="nobody")
    assert attached["AttachedPolicies"] == [{"PolicyName": "read", "PolicyArn": arn}]
    with pytest.raises(iam.exceptions.DeleteConflictException):
        await api.run(iam.delete_policy, PolicyArn=arn)
    await api.run(iam.detach_user_policy, UserName="nobody", PolicyArn=arn)
    await api.run(iam.detach_group_policy, GroupName="readers", PolicyArn=arn)
    await api.run(iam.detach_role_policy, RoleName="worker", PolicyArn=arn)
    assert (await api.run(iam.list_attached_role_policies, RoleName="worker"))[
        "AttachedPolicies"
    ] == []
    await api.run(iam.delete_policy, PolicyArn=arn)
    with pytest.raises(iam.exceptions.NoSuchEntityException):
        await api.run(iam.get_policy, PolicyArn=arn)
    with pytest.raises(iam.exceptions.MalformedPolicyDocumentException) as malformed:
        await api.run(iam.create_policy, PolicyName="bad", PolicyDocument='{"Statement": 3}')
    assert code_of(malformed.value) == ("MalformedPolicyDocument", 400)


@pytest.mark.parametrize("kind", ["user", "group", "role"])
async def test_inline_policies(api: Api, kind: str) -> None:
    """Inline policies are put, read back decoded, listed and deleted for each kind."""
    iam = api.client()
    name = {"user": "nobody", "group": "g", "role": "r"}[kind]
    if kind == "group":
        await api.run(iam.create_group, GroupName=name)
    if kind == "role":
        await api.run(iam.create_role, RoleName=name, AssumeRolePolicyDocument=json.dumps(TRUST))
    title = kind.capitalize()
    target = {f"{title}Name": name}
    text = json.dumps(ALLOW_S3, indent=4) + "\n"
    await api.run(
        getattr(iam, f"put_{kind}_policy"), **target, PolicyName="inline", PolicyDocument=text
    )
    got = await api.run(getattr(iam, f"get_{kind}_policy"), **target, PolicyName="inline")
    assert got["PolicyDocument"] == ALLOW_S3 and got["PolicyName"] == "inline"
    listed = await api.run(getattr(iam, f"list_{kind}_policies"), **target)
    assert listed["PolicyNames"] == ["inline"] and listed["IsTruncated"] is False
    await api.run(getattr(iam, f"delete_{kind}_policy"), **target, PolicyName="inline")
    with pytest.raises(iam.exceptions.NoSuchEntityException):
        await api.run(getattr(iam, f"get_{kind}_policy"), **target, PolicyName="inline")


async def test_roles_and_permission_boundaries(api: Api) -> None:
    """Roles are created, updated and deleted; boundaries are put and removed."""
    iam = api.client()
    boundary = (
        await api.run(iam.create_policy, PolicyName="edge", PolicyDocument=json.dumps(ALLOW_S3))
    )["Policy"]["Arn"]
    role = (
        await api.run(
            iam.create_role,
            RoleName="backup",
            AssumeRolePolicyDocument=json.dumps(TRUST),
            Description="backups",
            MaxSessionDuration=7200,
        )
    )["Role"]
    assert role["AssumeRolePolicyDocument"] == TRUST and role["MaxSessionDuration"] == 7200
    await api.run(iam.update_role, RoleName="backup", Description="nightly backups")
    changed = {**TRUST, "Statement": [{**TRUST["Statement"][0], "Sid": "Ops"}]}
    await api.run(
        iam.update_assume_role_policy, RoleName="backup", PolicyDocument=json.dumps(changed)
    )
    got = (await api.run(iam.get_role, RoleName="backup"))["Role"]
    assert got["Description"] == "nightly backups"
    assert got["AssumeRolePolicyDocument"] == changed
    await api.run(
        iam.put_role_permissions_boundary, RoleName="backup", PermissionsBoundary=boundary
    )
    await api.run(
        iam.put_user_permissions_boundary, UserName="nobody", PermissionsBoundary=boundary
    )
    got = (await api.run(iam.get_role, RoleName="backup"))["Role"]
    assert got["PermissionsBoundary"]["PermissionsBoundaryArn"] == boundary
    user = (await api.run(iam.get_user, UserName="nobody"))["User"]
    assert user["PermissionsBoundary"]["PermissionsBoundaryArn"] == boundary
    await api.run(iam.delete_role_permissions_boundary, RoleName="backup")
    await api.run(iam.delete_user_permissions_boundary, UserName="nobody")
    assert "PermissionsBoundary" not in (await api.run(iam.get_role, RoleName="backup"))["Role"]
    roles = (await api.run(iam.list_roles))["Roles"]
    assert [r["RoleName"] for r in roles] == ["backup"]
    await api.run(iam.delete_role, RoleName="backup")
    with pytest.raises(iam.exceptions.NoSuchEntityException):
        await api.run(iam.get_role, RoleName="backup")
    with pytest.raises(iam.exceptions.MalformedPolicyDocumentException):
        await api.run(iam.create_role, RoleName="x", AssumeRolePolicyDocument=json.dumps(ALLOW_S3))


def codes(seed: str, *offsets: int) -> list[str]:
    totp = pyotp.TOTP(seed)
    now = time.time()
    return [totp.at(now + 30 * offset) for offset in offsets]


async def test_virtual_mfa_enable_resync_deactivate(api: Api) -> None:
    """A virtual MFA device is created, enabled with two consecutive codes, resynced, removed."""
    iam = api.client()
    device = (await api.run(iam.create_virtual_mfa_device, VirtualMFADeviceName="reader-phone"))[
        "VirtualMFADevice"
    ]
    serial = device["SerialNumber"]
    seed = device["Base32StringSeed"].decode("ascii")
    assert serial.endswith(":mfa/reader-phone") and len(seed) == 32
    with pytest.raises(iam.exceptions.InvalidAuthenticationCodeException) as wrong:
        await api.run(
            iam.enable_mfa_device,
            UserName="reader",
            SerialNumber=serial,
            AuthenticationCode1="000000",
            AuthenticationCode2="000001",
        )
    assert code_of(wrong.value) == ("InvalidAuthenticationCode", 403)
    first, second = codes(seed, -2, -1)
    await api.run(
        iam.enable_mfa_device,
        UserName="reader",
        SerialNumber=serial,
        AuthenticationCode1=first,
        AuthenticationCode2=second,
    )
    devices = (await api.run(iam.list_mfa_devices, UserName="reader"))["MFADevices"]
    assert [d["SerialNumber"] for d in devices] == [serial] and devices[0]["EnableDate"]
    listed = (await api.run(iam.list_virtual_mfa_devices, AssignmentStatus="Assigned"))[
        "VirtualMFADevices"
    ]
    assert listed[0]["User"]["UserName"] == "reader"
    with pytest.raises(iam.exceptions.InvalidAuthenticationCodeException):
        # The codes that enabled the device are spent.
        await api.run(
            iam.resync_mfa_device,
            UserName="reader",
            SerialNumber=serial,
            AuthenticationCode1=first,
            AuthenticationCode2=second,
        )
    third, fourth = codes(seed, 0, 1)
    await api.run(
        iam.resync_mfa_device,
        UserName="reader",
        SerialNumber=serial,
        AuthenticationCode1=third,
        AuthenticationCode2=fourth,
    )
    with pytest.raises(iam.exceptions.DeleteConflictException):
        await api.run(iam.delete_virtual_mfa_device, SerialNumber=serial)
    await api.run(iam.deactivate_mfa_device, UserName="reader", SerialNumber=serial)
    await api.run(iam.delete_virtual_mfa_device, SerialNumber=serial)
    assert (await api.run(iam.list_virtual_mfa_devices))["VirtualMFADevices"] == []


async def test_login_profiles_and_change_password(api: Api) -> None:
    """ChangePassword follows AWS: own password only, allowed by the account policy or a policy."""
    iam = api.client()
    await api.run(
        iam.create_login_profile,
        UserName="nobody",
        Password="First-Passw0rd!",
        PasswordResetRequired=True,
    )
    profile = (await api.run(iam.get_login_profile, UserName="nobody"))["LoginProfile"]
    assert profile["PasswordResetRequired"] is True
    nobody = api.client("nobody")
    with pytest.raises(ClientError) as denied:
        await api.run(
            nobody.change_password, OldPassword="First-Passw0rd!", NewPassword="Second-Passw0rd!"
        )
    assert code_of(denied.value) == ("AccessDenied", 403)
    await api.run(
        iam.update_account_password_policy,
        MinimumPasswordLength=12,
        AllowUsersToChangePassword=True,
    )
    policy = (await api.run(iam.get_account_password_policy))["PasswordPolicy"]
    assert policy["AllowUsersToChangePassword"] is True and policy["MinimumPasswordLength"] == 12
    with pytest.raises(nobody.exceptions.PasswordPolicyViolationException) as weak:
        await api.run(nobody.change_password, OldPassword="First-Passw0rd!", NewPassword="short")
    assert code_of(weak.value) == ("PasswordPolicyViolation", 400)
    with pytest.raises(ClientError) as wrong:
        await api.run(nobody.change_password, OldPassword="not-it", NewPassword="Second-Passw0rd!")
    assert code_of(wrong.value) == ("InvalidUserType", 400)
    # A wrong old password slows the next attempt down, so it cannot be guessed.
    with pytest.raises(nobody.exceptions.LimitExceededException):
        await api.run(
            nobody.change_password, OldPassword="First-Passw0rd!", NewPassword="Second-Passw0rd!"
        )
    await anyio.sleep(1.1)
    await api.run(
        nobody.change_password, OldPassword="First-Passw0rd!", NewPassword="Second-Passw0rd!"
    )
    profile = (await api.run(iam.get_login_profile, UserName="nobody"))["LoginProfile"]
    assert profile["PasswordResetRequired"] is False
    await api.run(iam.update_login_profile, UserName="nobody", PasswordResetRequired=True)
    await api.run(iam.delete_login_profile, UserName="nobody")
    with pytest.raises(iam.exceptions.NoSuchEntityException):
        await api.run(iam.get_login_profile, UserName="nobody")
    await api.run(iam.delete_account_password_policy)
    with pytest.raises(iam.exceptions.NoSuchEntityException):
        await api.run(iam.get_account_password_policy)


async def test_an_explicit_deny_beats_users_may_change_their_password(api: Api) -> None:
    """AllowUsersToChangePassword does not override an explicit Deny on iam:ChangePassword."""
    iam = api.client()
    await api.run(iam.create_login_profile, UserName="nobody", Password="First-Passw0rd!")
    await api.run(iam.update_account_password_policy, AllowUsersToChangePassword=True)
    deny = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Deny", "Action": "iam:ChangePassword", "Resource": "*"}],
    }
    await api.run(
        iam.put_user_policy, UserName="nobody", PolicyName="no", PolicyDocument=json.dumps(deny)
    )
    with pytest.raises(ClientError) as denied:
        await api.run(
            api.client("nobody").change_password,
            OldPassword="First-Passw0rd!",
            NewPassword="Second-Passw0rd!",
        )
    assert code_of(denied.value) == ("AccessDenied", 403)


async def test_account_alias(api: Api) -> None:
    """The account alias is created, listed and deleted."""
    iam = api.client()
    await api.run(iam.create_account_alias, AccountAlias="example-corp")
    assert (await api.run(iam.list_account_aliases))["AccountAliases"] == ["example-corp"]
    await api.run(iam.delete_account_alias, AccountAlias="example-corp")
    assert (await api.run(iam.list_account_aliases))["AccountAliases"] == []


async def test_authorization_details_and_simulations(api: Api) -> None:
    """GetAccountAuthorizationDetails reports everything; simulations use the engine."""
    iam = api.client()
    await api.run(
        iam.put_user_policy, UserName="nobody", PolicyName="s3", PolicyDocument=json.dumps(ALLOW_S3)
    )
    details = await api.run(iam.get_account_authorization_details)
    users = {u["UserName"]: u for u in details["UserDetailList"]}
    assert users["nobody"]["UserPolicyList"] == [{"PolicyName": "s3", "PolicyDocument": ALLOW_S3}]
    assert users["admin"]["AttachedManagedPolicies"][0]["PolicyArn"] == ADMIN
    policies = {p["Arn"]: p for p in details["Policies"]}
    assert READ_ONLY in policies and policies[READ_ONLY]["PolicyVersionList"][0]["Document"]
    only_users = await api.run(iam.get_account_authorization_details, Filter=["User"])
    assert only_users["Policies"] == [] and only_users["UserDetailList"]

    reader_arn = (await api.run(iam.get_user, UserName="reader"))["User"]["Arn"]
    simulated = await api.run(
        iam.simulate_principal_policy,
        PolicySourceArn=reader_arn,
        ActionNames=["iam:ListUsers", "iam:CreateUser"],
    )
    decisions = {r["EvalActionName"]: r for r in simulated["EvaluationResults"]}
    assert decisions["iam:ListUsers"]["EvalDecision"] == "allowed"
    assert decisions["iam:ListUsers"]["MatchedStatements"][0]["SourcePolicyId"] == READ_ONLY
    assert decisions["iam:CreateUser"]["EvalDecision"] == "implicitDeny"

    custom = await api.run(
        iam.simulate_custom_policy,
        PolicyInputList=[json.dumps(ALLOW_S3)],
        ActionNames=["s3:GetObject", "s3:PutObject"],
        ResourceArns=["arn:aws:s3:::bucket/key"],
        ContextEntries=[
            {
                "ContextKeyName": "aws:SourceIp",
                "ContextKeyValues": ["10.0.0.1"],
                "ContextKeyType": "ip",
            }
        ],
    )
    verdicts = [r["EvalDecision"] for r in custom["EvaluationResults"]]
    assert verdicts == ["allowed", "implicitDeny"]
    with pytest.raises(iam.exceptions.MalformedPolicyDocumentException):
        await api.run(
            iam.simulate_custom_policy, PolicyInputList=["{}"], ActionNames=["s3:GetObject"]
        )
    with pytest.raises(ClientError) as bad_context:
        await api.run(
            iam.simulate_custom_policy,
            PolicyInputList=[json.dumps(ALLOW_S3)],
            ActionNames=["s3:GetObject"],
            ContextEntries=[
                {
                    "ContextKeyName": "aws:SourceIp",
                    "ContextKeyValues": ["x"],
                    "ContextKeyType": "ip",
                }
            ],
        )
    assert code_of(bad_context.value) == ("InvalidInput", 400)


async def test_a_user_without_permissions_is_denied(api: Api) -> None:
    """A user with no policy gets AccessDenied with AWS's explanation, and nothing changes."""
    nobody = api.client("nobody")
    with pytest.raises(ClientError) as denied:
        await api.run(nobody.create_user, UserName="mallory")
    assert code_of(denied.value) == ("AccessDenied", 403)
    message = denied.value.response["Error"]["Message"]
    assert "iam:CreateUser" in message and ":user/mallory" in message
    with pytest.raises(ClientError):
        # Denied before the lookup: a stranger cannot probe which names exist.
        await api.run(nobody.get_user, UserName="does-not-exist")
    names = [u["UserName"] for u in (await api.run(api.client().list_users))["Users"]]
    assert "mallory" not in names


async def test_read_only_can_list_but_not_create(api: Api) -> None:
    """IAMReadOnlyAccess lists and reads everything and changes nothing."""
    reader = api.client("reader")
    assert (await api.run(reader.list_users))["Users"]
    assert (await api.run(reader.list_policies, Scope="AWS"))["Policies"]
    await api.run(reader.get_account_authorization_details)
    for call, kwargs in [
        (reader.create_user, {"UserName": "x"}),
        (reader.create_access_key, {"UserName": "admin"}),
        (reader.attach_user_policy, {"UserName": "reader", "PolicyArn": ADMIN}),
        (reader.delete_user, {"UserName": "admin"}),
    ]:
        with pytest.raises(ClientError) as denied:
            await api.run(call, **kwargs)
        assert code_of(denied.value) == ("AccessDenied", 403)
    attached = await api.run(api.client().list_attached_user_policies, UserName="reader")
    assert [p["PolicyArn"] for p in attached["AttachedPolicies"]] == [READ_ONLY]


async def test_resource_scoped_self_service(api: Api) -> None:
    """A policy on `user/${aws:username}` lets a user manage their own keys, not others'."""
    iam = api.client()
    own_keys = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["iam:ListAccessKeys", "iam:CreateAccessKey"],
                "Resource": "arn:aws:iam::*:user/${aws:username}",
            }
        ],
    }
    await api.run(
        iam.put_user_policy,
        UserName="nobody",
        PolicyName="own",
        PolicyDocument=json.dumps(own_keys),
    )
    nobody = api.client("nobody")
    mine = (await api.run(nobody.list_access_keys))["AccessKeyMetadata"]
    assert [k["UserName"] for k in mine] == ["nobody"]
    with pytest.raises(ClientError) as denied:
        await api.run(nobody.list_access_keys, UserName="admin")
    assert code_of(denied.value) == ("AccessDenied", 403)


async def test_attach_condition_on_policy_arn(api: Api) -> None:
    """iam:PolicyARN is set on attach calls, so a delegated admin can attach only some policies."""
    iam = api.client()
    delegated: dict[str, Any] = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "iam:AttachUserPolicy",
                "Resource": "*",
                "Condition": {"ArnEquals": {"iam:PolicyARN": READ_ONLY}},
            }
        ],
    }
    await api.run(
        iam.put_user_policy, UserName="nobody", PolicyName="d", PolicyDocument=json.dumps(delegated)
    )
    nobody = api.client("nobody")
    await api.run(nobody.attach_user_policy, UserName="nobody", PolicyArn=READ_ONLY)
    with pytest.raises(ClientError) as denied:
        await api.run(nobody.attach_user_policy, UserName="nobody", PolicyArn=ADMIN)
    assert code_of(denied.value) == ("AccessDenied", 403)


async def test_any_signing_region_is_accepted(api: Api) -> None:
    """IAM is global: a client configured for another region works, as against AWS."""
    result = await api.run(api.client("reader", region="eu-west-1").list_users)
    assert result["Users"]


async def test_tags_need_tagging_permission_and_set_request_tags(api: Api) -> None:
    """Creating a tagged user also needs iam:TagUser; aws:RequestTag/* conditions see the tags."""
    iam = api.client()
    creator = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "iam:CreateUser", "Resource": "*"},
            {
                "Effect": "Allow",
                "Action": "iam:TagUser",
                "Resource": "*",
                "Condition": {"StringEquals": {"aws:RequestTag/team": "ops"}},
            },
        ],
    }
    await api.run(
        iam.put_user_policy, UserName="nobody", PolicyName="c", PolicyDocument=json.dumps(creator)
    )
    nobody = api.client("nobody")
    await api.run(nobody.create_user, UserName="plain")
    await api.run(nobody.create_user, UserName="ops-1", Tags=[{"Key": "team", "Value": "ops"}])
    with pytest.raises(ClientError) as denied:
        await api.run(nobody.create_user, UserName="dev-1", Tags=[{"Key": "team", "Value": "dev"}])
    assert code_of(denied.value) == ("AccessDenied", 403)
    assert "iam:TagUser" in denied.value.response["Error"]["Message"]
    names = {u["UserName"] for u in (await api.run(iam.list_users))["Users"]}
    assert {"plain", "ops-1"} <= names and "dev-1" not in names


async def test_renaming_needs_permission_on_source_and_target(api: Api) -> None:
    """As AWS: UpdateUser with a new name or path is authorized on both ARNs."""
    from gateway.iam.operations import invoke

    await api.user_with_key("renamer")
    team_only = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "iam:UpdateUser",
                "Resource": "arn:aws:iam::*:user/team/*",
            }
        ],
    }
    await invoke(
        api.iam,
        "PutUserPolicy",
        {"UserName": "renamer", "PolicyName": "team", "PolicyDocument": json.dumps(team_only)},
    )
    await invoke(api.iam, "CreateUser", {"UserName": "bob", "Path": "/team/"})
    renamer = api.client("renamer")
    await api.run(renamer.update_user, UserName="bob", NewUserName="bobby")
    with pytest.raises(ClientError) as denied:
        await api.run(renamer.update_user, UserName="bobby", NewPath="/admins/")
    assert code_of(denied.value) == ("AccessDenied", 403)
    assert ":user/admins/bobby" in denied.value.response["Error"]["Message"]
    user = (await api.run(api.client().get_user, UserName="bobby"))["User"]
    assert user["Path"] == "/team/"
