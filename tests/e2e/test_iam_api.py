"""
The IAM API of a served gateway (`gateway serve`, SQLite), driven by boto3 and by the
`aws` CLI with `--endpoint-url`, as an operator would use them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pyotp
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.e2e.conftest import REGION, Live

AWS = str(Path(sys.executable).with_name("aws"))
ADMIN = "arn:aws:iam::aws:policy/AdministratorAccess"
READ_ONLY = "arn:aws:iam::aws:policy/IAMReadOnlyAccess"


def _cli_json(live: Live, *args: str) -> dict[str, Any]:
    done = live.cli(*args)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout) if done.stdout.strip() else {}


@pytest.fixture(scope="module")
def admin(live: Live) -> Iterator[tuple[str, str, str]]:
    """An administrator with an access key, made with `gateway iam` (prefix, key id, secret)."""
    prefix = f"api-{uuid.uuid4().hex[:6]}"
    name = f"{prefix}-admin"
    _cli_json(live, "iam", "create-user", "--user-name", name)
    _cli_json(live, "iam", "attach-user-policy", "--user-name", name, "--policy-arn", ADMIN)
    key = _cli_json(live, "iam", "create-access-key", "--user-name", name)["AccessKey"]
    yield prefix, key["AccessKeyId"], key["SecretAccessKey"]


def client(live: Live, key_id: str, secret: str) -> Any:
    return boto3.session.Session().client(
        "iam",
        region_name=REGION,
        endpoint_url=f"{live.base_url}/_gateway/iam",
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
        config=Config(retries={"total_max_attempts": 1}),
    )


def test_boto3_walkthrough(live: Live, admin: tuple[str, str, str]) -> None:
    """The walkthrough over HTTP: users, a key, groups, policies, a role, MFA, paging, errors."""
    prefix, key_id, secret = admin
    iam = client(live, key_id, secret)
    steve, backup = f"{prefix}-steve", f"{prefix}-backup"
    iam.create_user(UserName=steve)
    iam.create_login_profile(
        UserName=steve, Password="Steve-Passw0rd!1", PasswordResetRequired=True
    )
    iam.attach_user_policy(
        UserName=steve, PolicyArn="arn:aws:iam::aws:policy/IAMUserChangePassword"
    )
    iam.create_user(UserName=backup)
    new_key = iam.create_access_key(UserName=backup)["AccessKey"]
    policy = iam.create_policy(
        PolicyName=f"{prefix}-backup-write",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": "backup:PutObject",
                        "Resource": "arn:aws:backup:*:*:bucket/backup/*",
                    }
                ],
            }
        ),
    )["Policy"]
    iam.attach_user_policy(UserName=backup, PolicyArn=policy["Arn"])
    iam.create_group(GroupName=f"{prefix}-ops")
    iam.add_user_to_group(GroupName=f"{prefix}-ops", UserName=steve)
    iam.create_role(
        RoleName=f"{prefix}-backup-role",
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"AWS": f"arn:aws:iam::{live.account_id}:root"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            }
        ),
    )

    # The new key works at once, through the proxy, with the policy just attached.
    iam_as_backup = client(live, new_key["AccessKeyId"], new_key["SecretAccessKey"])
    with pytest.raises(ClientError) as denied:
        iam_as_backup.list_users()
    assert denied.value.response["Error"]["Code"] == "AccessDenied"

    # MFA: enrolled with two consecutive codes from the seed.
    device = iam.create_virtual_mfa_device(VirtualMFADeviceName=f"{prefix}-steve")
    seed = device["VirtualMFADevice"]["Base32StringSeed"].decode("ascii")
    serial = device["VirtualMFADevice"]["SerialNumber"]
    totp, now = pyotp.TOTP(seed), time.time()
    iam.enable_mfa_device(
        UserName=steve,
        SerialNumber=serial,
        AuthenticationCode1=totp.at(now - 60),
        AuthenticationCode2=totp.at(now - 30),
    )
    assert iam.list_mfa_devices(UserName=steve)["MFADevices"][0]["SerialNumber"] == serial

    # Paging: a paginator over pages of two sees every user.
    names = [
        user["UserName"]
        for page in iam.get_paginator("list_users").paginate(PaginationConfig={"PageSize": 2})
        for user in page["Users"]
    ]
    assert {steve, backup, f"{prefix}-admin", "backup"} <= set(names)
    assert len(names) == len(set(names))

    # Errors raise the classes botocore raises against AWS.
    with pytest.raises(iam.exceptions.EntityAlreadyExistsException):
        iam.create_user(UserName=steve)
    with pytest.raises(iam.exceptions.NoSuchEntityException):
        iam.get_user(UserName=f"{prefix}-nobody")
    with pytest.raises(iam.exceptions.DeleteConflictException):
        iam.delete_user(UserName=backup)
    with pytest.raises(iam.exceptions.MalformedPolicyDocumentException):
        iam.put_user_policy(UserName=steve, PolicyName="x", PolicyDocument="{}")
    with pytest.raises(iam.exceptions.InvalidAuthenticationCodeException):
        iam.resync_mfa_device(
            UserName=steve,
            SerialNumber=serial,
            AuthenticationCode1="123456",
            AuthenticationCode2="654321",
        )
    with pytest.raises(iam.exceptions.LimitExceededException):
        for _ in range(2):
            iam.create_access_key(UserName=backup)


def test_read_only_user_over_http(live: Live, admin: tuple[str, str, str]) -> None:
    """IAMReadOnlyAccess lists and reads through the API but cannot create."""
    prefix, key_id, secret = admin
    iam = client(live, key_id, secret)
    name = f"{prefix}-reader"
    iam.create_user(UserName=name)
    iam.attach_user_policy(UserName=name, PolicyArn=READ_ONLY)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    reader = client(live, key["AccessKeyId"], key["SecretAccessKey"])
    assert reader.get_user()["User"]["UserName"] == name
    assert reader.list_attached_user_policies(UserName=name)["AttachedPolicies"]
    with pytest.raises(ClientError) as denied:
        reader.create_user(UserName=f"{prefix}-mallory")
    assert denied.value.response["Error"]["Code"] == "AccessDenied"
    assert denied.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def aws(live: Live, key_id: str, secret: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **{k: v for k, v in live.env.items() if not k.startswith("AWS_")},
        "AWS_ACCESS_KEY_ID": key_id,
        "AWS_SECRET_ACCESS_KEY": secret,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }
    return subprocess.run(  # noqa: S603 - the installed aws CLI, arguments built here
        [AWS, *args, "--endpoint-url", f"{live.base_url}/_gateway/iam", "--output", "json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def test_aws_cli(live: Live, admin: tuple[str, str, str]) -> None:
    """`aws iam --endpoint-url` works unchanged: output, auto-paging, and an error exit."""
    prefix, key_id, secret = admin
    name = f"{prefix}-cli"
    created = aws(live, key_id, secret, "iam", "create-user", "--user-name", name)
    assert created.returncode == 0, created.stderr
    assert json.loads(created.stdout)["User"]["UserName"] == name
    again = aws(live, key_id, secret, "iam", "create-user", "--user-name", name)
    assert again.returncode == 255
    assert (
        "An error occurred (EntityAlreadyExists) when calling the CreateUser operation"
        in again.stderr
    )
    # --page-size 1 makes the CLI follow the Marker once per user.
    listed = aws(live, key_id, secret, "iam", "list-users", "--page-size", "1")
    assert listed.returncode == 0, listed.stderr
    names = [user["UserName"] for user in json.loads(listed.stdout)["Users"]]
    assert name in names and f"{prefix}-admin" in names and len(names) == len(set(names))
