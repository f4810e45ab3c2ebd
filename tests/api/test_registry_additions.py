"""
The operations added to the registry for the IAM API, as the CLI runs them too:
ChangePassword, ResyncMFADevice, GetAccountAuthorizationDetails and the simulations.
"""

from __future__ import annotations

import json
import time

import pyotp
import pytest

from gateway.errors import InvalidInput, LimitExceeded, NoSuchEntity
from gateway.iam import IAM
from gateway.iam.operations import OPERATIONS, invoke

pytestmark = pytest.mark.anyio

ALLOW_LIST = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "iam:List*", "Resource": "*"}],
}


async def test_change_password_checks_the_old_one_and_throttles(iam: IAM) -> None:
    """ChangePassword needs the old password; a wrong one is refused and slows the next try."""
    await invoke(iam, "CreateUser", {"UserName": "steve"})
    with pytest.raises(InvalidInput) as no_profile:
        await invoke(
            iam,
            "ChangePassword",
            {"UserName": "steve", "OldPassword": "x", "NewPassword": "Steve-Passw0rd!2"},
        )
    assert no_profile.value.code == "InvalidUserType"
    await invoke(
        iam,
        "CreateLoginProfile",
        {"UserName": "steve", "Password": "Steve-Passw0rd!1", "PasswordResetRequired": "true"},
    )
    with pytest.raises(LimitExceeded):
        # The failure above (no console password yet) counts like a wrong password.
        await invoke(
            iam,
            "ChangePassword",
            {
                "UserName": "steve",
                "OldPassword": "Steve-Passw0rd!1",
                "NewPassword": "N3w-Passw0rd!",
            },
        )


async def test_change_password_success_clears_the_reset(iam: IAM) -> None:
    """The right old password and a valid new one change it and clear the reset flag."""
    await invoke(iam, "CreateUser", {"UserName": "steve"})
    await invoke(
        iam,
        "CreateLoginProfile",
        {"UserName": "steve", "Password": "Steve-Passw0rd!1", "PasswordResetRequired": True},
    )
    await invoke(
        iam,
        "ChangePassword",
        {"UserName": "steve", "OldPassword": "Steve-Passw0rd!1", "NewPassword": "N3w-Passw0rd!"},
    )
    profile = await invoke(iam, "GetLoginProfile", {"UserName": "steve"})
    assert profile["LoginProfile"]["PasswordResetRequired"] is False
    with pytest.raises(InvalidInput) as old:
        await invoke(
            iam,
            "ChangePassword",
            {"UserName": "steve", "OldPassword": "Steve-Passw0rd!1", "NewPassword": "x"},
        )
    assert old.value.code == "InvalidUserType"


async def test_resync_needs_the_users_own_enabled_device(iam: IAM) -> None:
    """ResyncMFADevice accepts fresh consecutive codes of the user's device, once."""
    await invoke(iam, "CreateUser", {"UserName": "steve"})
    await invoke(iam, "CreateUser", {"UserName": "other"})
    device = (await invoke(iam, "CreateVirtualMFADevice", {"VirtualMFADeviceName": "p"}))[
        "VirtualMFADevice"
    ]
    totp, now = pyotp.TOTP(device["Base32StringSeed"]), time.time()
    serial = device["SerialNumber"]
    codes = {
        "AuthenticationCode1": totp.at(now - 60),
        "AuthenticationCode2": totp.at(now - 30),
    }
    with pytest.raises(NoSuchEntity):
        await invoke(iam, "ResyncMFADevice", {"UserName": "steve", "SerialNumber": serial, **codes})
    await invoke(iam, "EnableMFADevice", {"UserName": "steve", "SerialNumber": serial, **codes})
    fresh = {"AuthenticationCode1": totp.at(now), "AuthenticationCode2": totp.at(now + 30)}
    with pytest.raises(NoSuchEntity):
        await invoke(iam, "ResyncMFADevice", {"UserName": "other", "SerialNumber": serial, **fresh})
    await invoke(iam, "ResyncMFADevice", {"UserName": "steve", "SerialNumber": serial, **fresh})
    with pytest.raises(InvalidInput) as replayed:
        await invoke(iam, "ResyncMFADevice", {"UserName": "steve", "SerialNumber": serial, **fresh})
    assert replayed.value.code == "InvalidAuthenticationCode"


async def test_authorization_details_filter(iam: IAM) -> None:
    """The Filter picks entity types; an unknown type is a ValidationError."""
    await invoke(iam, "CreateRole", {"RoleName": "r", "AssumeRolePolicyDocument": _trust()})
    await invoke(
        iam,
        "PutRolePolicy",
        {"RoleName": "r", "PolicyName": "p", "PolicyDocument": json.dumps(ALLOW_LIST)},
    )
    details = await invoke(iam, "GetAccountAuthorizationDetails", {"Filter": ["Role"]})
    (role,) = details["RoleDetailList"]
    assert role["RolePolicyList"] == [{"PolicyName": "p", "PolicyDocument": ALLOW_LIST}]
    assert details["UserDetailList"] == [] and details["Policies"] == []
    local = await invoke(iam, "GetAccountAuthorizationDetails", {"Filter": ["LocalManagedPolicy"]})
    assert local["Policies"] == []
    aws = await invoke(iam, "GetAccountAuthorizationDetails", {"Filter": ["AWSManagedPolicy"]})
    assert {p["PolicyName"] for p in aws["Policies"]} >= {"AdministratorAccess"}
    with pytest.raises(InvalidInput):
        await invoke(iam, "GetAccountAuthorizationDetails", {"Filter": ["Users"]})


def _trust() -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
                    "Action": "sts:AssumeRole",
                }
            ],
        }
    )


async def test_simulate_principal_policy_for_groups_and_roles(iam: IAM) -> None:
    """A group's and a role's policies are simulated, named by where they came from."""
    await invoke(iam, "CreateGroup", {"GroupName": "g"})
    await invoke(
        iam,
        "PutGroupPolicy",
        {"GroupName": "g", "PolicyName": "lists", "PolicyDocument": json.dumps(ALLOW_LIST)},
    )
    group_arn = f"arn:aws:iam::{iam.account_id}:group/g"
    result = await invoke(
        iam,
        "SimulatePrincipalPolicy",
        {"PolicySourceArn": group_arn, "ActionNames": ["iam:ListRoles", "iam:CreateRole"]},
    )
    allowed, denied = result["EvaluationResults"]
    assert allowed["EvalDecision"] == "allowed" and denied["EvalDecision"] == "implicitDeny"
    assert allowed["MatchedStatements"][0]["SourcePolicyId"] == "group/g/lists"

    await invoke(iam, "CreateRole", {"RoleName": "r", "AssumeRolePolicyDocument": _trust()})
    extra = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}],
        }
    )
    role_arn = f"arn:aws:iam::{iam.account_id}:role/r"
    result = await invoke(
        iam,
        "SimulatePrincipalPolicy",
        {"PolicySourceArn": role_arn, "ActionNames": ["s3:GetObject"], "PolicyInputList": [extra]},
    )
    (only,) = result["EvaluationResults"]
    assert only["EvalDecision"] == "allowed"
    assert only["MatchedStatements"][0]["SourcePolicyId"] == "PolicyInputList.1"
    for bad in ("arn:aws:iam::999999999999:user/x", "arn:aws:s3:::bucket", "user/x"):
        with pytest.raises(InvalidInput):
            await invoke(
                iam, "SimulatePrincipalPolicy", {"PolicySourceArn": bad, "ActionNames": ["a:b"]}
            )
    with pytest.raises(NoSuchEntity):
        await invoke(
            iam,
            "SimulatePrincipalPolicy",
            {
                "PolicySourceArn": f"arn:aws:iam::{iam.account_id}:user/ghost",
                "ActionNames": ["a:b"],
            },
        )


async def test_simulate_custom_policy_context_as_cli_json(iam: IAM) -> None:
    """ContextEntries may come as JSON text (the CLI); malformed text is a ValidationError."""
    document = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": "s3:GetObject",
                    "Resource": "*",
                    "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}},
                }
            ],
        }
    )
    entries = [
        {"ContextKeyName": "aws:SourceIp", "ContextKeyValues": ["10.1.2.3"], "ContextKeyType": "ip"}
    ]
    result = await invoke(
        iam,
        "SimulateCustomPolicy",
        {
            "PolicyInputList": [document],
            "ActionNames": ["s3:GetObject"],
            "ContextEntries": json.dumps(entries),
        },
    )
    assert result["EvaluationResults"][0]["EvalDecision"] == "allowed"
    with pytest.raises(InvalidInput) as malformed:
        await invoke(
            iam,
            "SimulateCustomPolicy",
            {"PolicyInputList": [document], "ActionNames": ["s3:GetObject"], "ContextEntries": "["},
        )
    assert malformed.value.code == "ValidationError"


def test_the_registry_names_only_aws_operations_or_documented_extensions() -> None:
    """The new operations are registered under AWS's names, with AWS's parameters."""
    for name in ("ChangePassword", "ResyncMFADevice", "GetAccountAuthorizationDetails"):
        assert name in OPERATIONS
    simulate = OPERATIONS["SimulateCustomPolicy"]
    assert {p.name for p in simulate.params} >= {
        "PolicyInputList",
        "ActionNames",
        "ResourceArns",
        "ContextEntries",
        "CallerArn",
    }
