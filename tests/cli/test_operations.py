"""
The IAM operation registry: AWS names, parameter validation and response shapes.
"""

from __future__ import annotations

import json
import re

import pytest

from gateway.cli.iam import kebab
from gateway.errors import InvalidInput, LimitExceeded, NoSuchEntity
from gateway.iam import IAM
from gateway.iam.operations import OPERATIONS, invoke

pytestmark = pytest.mark.anyio

ISO_DATE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00")
READ_ONLY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}],
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

REQUIRED = {
    "CreateUser", "GetUser", "ListUsers", "UpdateUser", "DeleteUser", "TagUser", "UntagUser",
    "ListUserTags", "PutUserPermissionsBoundary", "DeleteUserPermissionsBoundary",
    "CreateGroup", "GetGroup", "ListGroups", "ListGroupsForUser", "UpdateGroup", "DeleteGroup",
    "AddUserToGroup", "RemoveUserFromGroup", "CreateRole", "GetRole", "ListRoles", "UpdateRole",
    "UpdateAssumeRolePolicy", "DeleteRole", "TagRole", "UntagRole", "ListRoleTags",
    "CreatePolicy", "GetPolicy", "ListPolicies", "DeletePolicy", "CreatePolicyVersion",
    "GetPolicyVersion", "ListPolicyVersions", "DeletePolicyVersion", "SetDefaultPolicyVersion",
    "AttachUserPolicy", "AttachGroupPolicy", "AttachRolePolicy", "DetachUserPolicy",
    "DetachGroupPolicy", "DetachRolePolicy", "ListAttachedUserPolicies",
    "ListAttachedGroupPolicies", "ListAttachedRolePolicies", "ListEntitiesForPolicy",
    "PutUserPolicy", "GetUserPolicy", "DeleteUserPolicy", "ListUserPolicies", "PutGroupPolicy",
    "GetGroupPolicy", "DeleteGroupPolicy", "ListGroupPolicies", "PutRolePolicy",
    "GetRolePolicy", "DeleteRolePolicy", "ListRolePolicies", "CreateAccessKey",
    "ListAccessKeys", "UpdateAccessKey", "DeleteAccessKey", "GetAccessKeyLastUsed",
    "CreateLoginProfile", "GetLoginProfile", "UpdateLoginProfile", "DeleteLoginProfile",
    "CreateVirtualMFADevice", "EnableMFADevice", "DeactivateMFADevice",
    "DeleteVirtualMFADevice", "ListMFADevices", "ListVirtualMFADevices",
    "UpdateAccountPasswordPolicy", "GetAccountPasswordPolicy", "DeleteAccountPasswordPolicy",
    "CreateAccountAlias", "DeleteAccountAlias", "ListAccountAliases",
}  # fmt: skip


# --- the table ----------------------------------------------------------------------------------


def test_registry_covers_the_required_operations() -> None:
    """Every operation the CLI and the HTTP API promise is registered."""
    assert REQUIRED <= set(OPERATIONS)


def test_registry_entries_are_consistent() -> None:
    """Each entry is keyed by its AWS name, maps to `iam:<Name>` and has a unique CLI name."""
    for name, operation in OPERATIONS.items():
        assert operation.name == name
        assert operation.action == f"iam:{name}"
        assert len({param.name for param in operation.params}) == len(operation.params)
    assert len({kebab(name) for name in OPERATIONS}) == len(OPERATIONS)


@pytest.mark.parametrize(
    ("aws", "cli"),
    [
        ("CreateUser", "create-user"),
        ("ListMFADevices", "list-mfa-devices"),
        ("CreateVirtualMFADevice", "create-virtual-mfa-device"),
        ("VirtualMFADeviceName", "virtual-mfa-device-name"),
        ("AuthenticationCode1", "authentication-code1"),
        ("PolicyArn", "policy-arn"),
    ],
)
def test_kebab_case_matches_the_aws_cli(aws: str, cli: str) -> None:
    """AWS names become the aws CLI's kebab-case spelling, acronyms kept whole."""
    assert kebab(aws) == cli


def test_read_only_operations_are_gets_and_lists() -> None:
    """Get* and List* are read-only; everything else changes state."""
    assert OPERATIONS["ListUsers"].is_read_only
    assert not OPERATIONS["CreateUser"].is_read_only
    assert OPERATIONS["GetGroup"].is_paginated


# --- validation ---------------------------------------------------------------------------------


async def test_unknown_operation_is_invalid_action(iam: IAM) -> None:
    """An unknown operation name is AWS's InvalidAction."""
    with pytest.raises(InvalidInput) as caught:
        await invoke(iam, "CreateUsers", {})
    assert caught.value.code == "InvalidAction"


async def test_unknown_parameter_is_named(iam: IAM) -> None:
    """An unknown parameter is a ValidationError that names it and suggests the right one."""
    with pytest.raises(InvalidInput) as caught:
        await invoke(iam, "CreateUser", {"UserName": "bob", "Username": "bob"})
    assert caught.value.code == "ValidationError"
    assert "`Username`" in caught.value.message
    assert "did you mean `UserName`?" in caught.value.message


async def test_missing_required_parameter_uses_aws_wording(iam: IAM) -> None:
    """A missing required parameter gets AWS's `Value null at 'userName'` message."""
    with pytest.raises(InvalidInput) as caught:
        await invoke(iam, "GetUser", {})
    assert caught.value.message == (
        "1 validation error detected: Value null at 'userName' failed to satisfy "
        "constraint: Member must not be null"
    )


async def test_several_missing_parameters_are_counted(iam: IAM) -> None:
    """Every missing parameter is reported, with the count AWS puts first."""
    with pytest.raises(InvalidInput, match=r"^2 validation errors detected: .*'policyName'"):
        await invoke(iam, "PutUserPolicy", {"UserName": "bob"})


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("CreateUser", {"UserName": 42}),
        ("UpdateRole", {"RoleName": "r", "MaxSessionDuration": "an hour"}),
        ("CreatePolicyVersion", {"PolicyArn": "arn:x", "PolicyDocument": 1, "SetAsDefault": 1}),
        ("UntagUser", {"UserName": "bob", "TagKeys": "team"}),
        ("TagUser", {"UserName": "bob", "Tags": [{"Name": "team"}]}),
    ],
)
async def test_wrong_types_are_validation_errors(
    iam: IAM, name: str, params: dict[str, object]
) -> None:
    """A value of the wrong type is a ValidationError before the service runs."""
    with pytest.raises(InvalidInput) as caught:
        await invoke(iam, name, params)
    assert caught.value.code == "ValidationError"
    assert "failed to satisfy constraint" in caught.value.message


async def test_enum_parameters_list_their_values(iam: IAM) -> None:
    """A value outside an enum names the allowed set, as AWS does."""
    with pytest.raises(InvalidInput, match=r"enum value set: \[Active, Inactive\]"):
        await invoke(iam, "UpdateAccessKey", {"UserName": "u", "AccessKeyId": "A", "Status": "On"})


async def test_query_protocol_text_is_converted(iam: IAM) -> None:
    """Integers and booleans given as Query-protocol text are accepted."""
    await invoke(
        iam,
        "CreateRole",
        {
            "RoleName": "r",
            "AssumeRolePolicyDocument": json.dumps(TRUST),
            "MaxSessionDuration": "7200",
        },
    )
    role = await invoke(iam, "GetRole", {"RoleName": "r"})
    assert role["Role"]["MaxSessionDuration"] == 7200
    await invoke(iam, "ListPolicies", {"OnlyAttached": "true"})


async def test_caller_fills_in_the_user_name(iam: IAM) -> None:
    """A user-name parameter AWS defaults to the caller is filled from `caller`."""
    await invoke(iam, "CreateUser", {"UserName": "bob"})
    result = await invoke(iam, "CreateAccessKey", {}, caller="bob")
    assert result["AccessKey"]["UserName"] == "bob"


# --- response shapes ----------------------------------------------------------------------------


async def test_create_user_shape(iam: IAM) -> None:
    """CreateUser returns AWS's User shape with an ISO 8601 `+00:00` date."""
    result = await invoke(
        iam,
        "CreateUser",
        {"UserName": "bob", "Path": "/ops/", "Tags": [{"Key": "k", "Value": "v"}]},
    )
    user = result["User"]
    assert list(user) == ["Path", "UserName", "UserId", "Arn", "CreateDate", "Tags"]
    assert user["Arn"] == f"arn:aws:iam::{iam.account_id}:user/ops/bob"
    assert user["UserId"].startswith("AIDA")
    assert ISO_DATE.fullmatch(user["CreateDate"])
    assert user["Tags"] == [{"Key": "k", "Value": "v"}]
    listed = await invoke(iam, "ListUsers", {})
    assert [u["UserName"] for u in listed["Users"]] == ["bob"]
    assert "Tags" not in listed["Users"][0]


async def test_access_key_shapes(iam: IAM) -> None:
    """CreateAccessKey carries the secret once; ListAccessKeys never does."""
    await invoke(iam, "CreateUser", {"UserName": "backup"})
    created = (await invoke(iam, "CreateAccessKey", {"UserName": "backup"}))["AccessKey"]
    assert list(created) == ["UserName", "AccessKeyId", "Status", "SecretAccessKey", "CreateDate"]
    assert created["AccessKeyId"].startswith("AKIA") and len(created["SecretAccessKey"]) == 40
    listed = await invoke(iam, "ListAccessKeys", {"UserName": "backup"})
    assert listed == {
        "AccessKeyMetadata": [
            {
                "UserName": "backup",
                "AccessKeyId": created["AccessKeyId"],
                "Status": "Active",
                "CreateDate": created["CreateDate"],
            }
        ]
    }
    last = await invoke(iam, "GetAccessKeyLastUsed", {"AccessKeyId": created["AccessKeyId"]})
    assert last["AccessKeyLastUsed"] == {"ServiceName": "N/A", "Region": "N/A"}
    await invoke(iam, "CreateAccessKey", {"UserName": "backup"})
    with pytest.raises(LimitExceeded):
        await invoke(iam, "CreateAccessKey", {"UserName": "backup"})


async def test_policy_shapes_decode_documents(iam: IAM) -> None:
    """Managed and inline policy documents come back decoded, versions in AWS's shape."""
    created = await invoke(
        iam, "CreatePolicy", {"PolicyName": "read", "PolicyDocument": json.dumps(READ_ONLY)}
    )
    policy = created["Policy"]
    assert policy["DefaultVersionId"] == "v1" and policy["IsAttachable"] is True
    arn = policy["Arn"]
    version = await invoke(
        iam,
        "CreatePolicyVersion",
        {"PolicyArn": arn, "PolicyDocument": READ_ONLY, "SetAsDefault": True},
    )
    assert version["PolicyVersion"]["VersionId"] == "v2"
    assert "Document" not in version["PolicyVersion"]
    got = await invoke(iam, "GetPolicyVersion", {"PolicyArn": arn, "VersionId": "v2"})
    assert got["PolicyVersion"]["Document"] == READ_ONLY
    assert got["PolicyVersion"]["IsDefaultVersion"] is True
    await invoke(iam, "CreateUser", {"UserName": "bob"})
    await invoke(iam, "AttachUserPolicy", {"UserName": "bob", "PolicyArn": arn})
    entities = await invoke(iam, "ListEntitiesForPolicy", {"PolicyArn": arn})
    assert entities["PolicyUsers"] == [
        {"UserName": "bob", "UserId": (await iam.get_user("bob")).user_id}
    ]
    assert (await invoke(iam, "GetPolicy", {"PolicyArn": arn}))["Policy"]["AttachmentCount"] == 1
    await invoke(
        iam, "PutUserPolicy", {"UserName": "bob", "PolicyName": "p", "PolicyDocument": READ_ONLY}
    )
    inline = await invoke(iam, "GetUserPolicy", {"UserName": "bob", "PolicyName": "p"})
    assert inline == {"UserName": "bob", "PolicyName": "p", "PolicyDocument": READ_ONLY}


async def test_role_shape(iam: IAM) -> None:
    """GetRole prints the trust policy decoded, with MaxSessionDuration and RoleLastUsed."""
    await invoke(
        iam,
        "CreateRole",
        {"RoleName": "backup", "AssumeRolePolicyDocument": json.dumps(TRUST), "Description": "d"},
    )
    role = (await invoke(iam, "GetRole", {"RoleName": "backup"}))["Role"]
    assert role["AssumeRolePolicyDocument"] == TRUST
    assert role["MaxSessionDuration"] == 3600 and role["Description"] == "d"
    assert role["RoleLastUsed"] == {}


async def test_password_policy_shape(iam: IAM) -> None:
    """The password policy uses AWS's field names, with the derived ExpirePasswords."""
    with pytest.raises(NoSuchEntity):
        await invoke(iam, "GetAccountPasswordPolicy", {})
    await invoke(
        iam, "UpdateAccountPasswordPolicy", {"MinimumPasswordLength": 12, "MaxPasswordAge": 90}
    )
    policy = (await invoke(iam, "GetAccountPasswordPolicy", {}))["PasswordPolicy"]
    assert policy["MinimumPasswordLength"] == 12
    assert policy["ExpirePasswords"] is True and policy["MaxPasswordAge"] == 90
    assert await invoke(iam, "DeleteAccountPasswordPolicy", {}) == {}


async def test_virtual_mfa_device_shapes(iam: IAM) -> None:
    """A new device shows its seed and otpauth URI once; listings show the assignment."""
    created = await invoke(iam, "CreateVirtualMFADevice", {"VirtualMFADeviceName": "steve"})
    device = created["VirtualMFADevice"]
    assert device["SerialNumber"] == f"arn:aws:iam::{iam.account_id}:mfa/steve"
    assert device["OtpauthUri"].startswith("otpauth://totp/")
    listed = await invoke(iam, "ListVirtualMFADevices", {"AssignmentStatus": "Unassigned"})
    assert listed == {"VirtualMFADevices": [{"SerialNumber": device["SerialNumber"]}]}
    assert await invoke(iam, "ListVirtualMFADevices", {"AssignmentStatus": "Assigned"}) == {
        "VirtualMFADevices": []
    }


async def test_delete_user_force_is_a_gateway_extension(iam: IAM) -> None:
    """DeleteUser refuses while keys exist; `Force` removes them first."""
    await invoke(iam, "CreateUser", {"UserName": "bob"})
    await invoke(iam, "CreateAccessKey", {"UserName": "bob"})
    with pytest.raises(InvalidInput) as caught:
        await invoke(iam, "DeleteUser", {"UserName": "bob"})
    assert caught.value.code == "DeleteConflict"
    assert await invoke(iam, "DeleteUser", {"UserName": "bob", "Force": True}) == {}
    assert await invoke(iam, "ListUsers", {}) == {"Users": []}


async def test_account_alias_operations(iam: IAM) -> None:
    """Aliases are set, listed and removed as AWS does."""
    assert await invoke(iam, "ListAccountAliases", {}) == {"AccountAliases": []}
    await invoke(iam, "CreateAccountAlias", {"AccountAlias": "example"})
    assert await invoke(iam, "ListAccountAliases", {}) == {"AccountAliases": ["example"]}
    await invoke(iam, "DeleteAccountAlias", {"AccountAlias": "example"})
    assert await invoke(iam, "ListAccountAliases", {}) == {"AccountAliases": []}
