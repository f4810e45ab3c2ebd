"""
STS against the served gateway with real clients: boto3's STS client and the ``aws``
CLI with ``--endpoint-url``, then the temporary credentials on an upstream through
the proxy (signed by botocore's ``SigV4Auth``), MFA, revocation.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pyotp
import pytest
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from tests.e2e.conftest import REGION, Live

AWS = Path(sys.executable).parent / "aws"


def _policy(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def _cli(live: Live, *args: str) -> dict[str, Any]:
    done = live.cli(*args)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout) if done.stdout.strip() else {}


def _client(live: Live, service: str, key_id: str, secret: str, token: str | None = None) -> Any:
    return boto3.session.Session().client(
        service,
        region_name=REGION,
        endpoint_url=f"{live.base_url}/_gateway/{service}",
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
        aws_session_token=token,
        config=Config(retries={"total_max_attempts": 1}),
    )


def _put(live: Live, creds: dict[str, str], key: str, body: bytes = b"hello") -> requests.Response:
    """PUT an object in the backup bucket through the proxy, signed with STS credentials."""
    url = f"{live.base_url}/backup/buckets/backup/objects/{key}"
    request = AWSRequest(method="PUT", url=url, data=body)
    frozen = Credentials(creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])
    SigV4Auth(frozen, "backup", REGION).add_auth(request)
    prepared = request.prepare()
    return requests.put(url, data=body, headers=dict(prepared.headers.items()), timeout=10)


@pytest.fixture(scope="module")
def sts_user(live: Live) -> tuple[str, str, str]:
    """A user of its own (`sts-e2e`) with an access key: (ARN, key id, secret)."""
    created = _cli(live, "iam", "create-user", "--user-name", "sts-e2e")
    key = _cli(live, "iam", "create-access-key", "--user-name", "sts-e2e")["AccessKey"]
    return created["User"]["Arn"], key["AccessKeyId"], key["SecretAccessKey"]


@pytest.fixture(scope="module")
def writer_role(live: Live, sts_user: tuple[str, str, str]) -> str:
    """A role `sts-e2e` may assume, allowed to write under `backup/sts/` and list roles."""
    trust = _policy(
        {"Effect": "Allow", "Principal": {"AWS": sts_user[0]}, "Action": "sts:AssumeRole"}
    )
    role = _cli(
        live,
        "iam",
        "create-role",
        "--role-name",
        "StsWriter",
        "--assume-role-policy-document",
        trust,
    )
    permissions = _policy(
        {
            "Effect": "Allow",
            "Action": "backup:PutObject",
            "Resource": "arn:aws:backup:*:*:bucket/backup/sts/*",
        },
        {"Effect": "Allow", "Action": "iam:ListRoles", "Resource": "*"},
    )
    _cli(
        live,
        "iam",
        "put-role-policy",
        "--role-name",
        "StsWriter",
        "--policy-name",
        "write",
        "--policy-document",
        permissions,
    )
    return str(role["Role"]["Arn"])


def test_boto3_assume_role_then_write_through_the_proxy(
    live: Live, sts_user: tuple[str, str, str], writer_role: str
) -> None:
    """boto3's AssumeRole credentials sign an upstream call the role allows, and only that."""
    _, key_id, secret = sts_user
    sts = _client(live, "sts", key_id, secret)
    assert sts.get_caller_identity()["Arn"] == sts_user[0]
    creds = sts.assume_role(RoleArn=writer_role, RoleSessionName="e2e")["Credentials"]
    assert creds["Expiration"].tzinfo is not None
    written = _put(live, creds, "sts/hello.txt")
    assert written.status_code == 200, written.text
    assert "sts/hello.txt" in live.stored_keys("backup")
    denied = _put(live, creds, "elsewhere/hello.txt")
    assert denied.status_code == 403
    assert "assumed-role/StsWriter/e2e is not authorized" in denied.text
    me = _client(live, "sts", creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])
    identity = me.get_caller_identity()
    assert identity["Arn"] == f"arn:aws:sts::{live.account_id}:assumed-role/StsWriter/e2e"


def test_boto3_assume_role_with_mfa_and_get_session_token(live: Live) -> None:
    """A trust policy requiring MFA is met by SerialNumber/TokenCode; a code works once;
    GetSessionToken gives the user's own session."""
    user = _cli(live, "iam", "create-user", "--user-name", "sts-mfa")["User"]["Arn"]
    key = _cli(live, "iam", "create-access-key", "--user-name", "sts-mfa")["AccessKey"]
    device = _cli(live, "iam", "create-virtual-mfa-device", "--virtual-mfa-device-name", "sts-mfa")
    serial = device["VirtualMFADevice"]["SerialNumber"]
    totp = pyotp.TOTP(device["VirtualMFADevice"]["Base32StringSeed"])
    now = datetime.now(UTC)
    _cli(
        live,
        "iam",
        "enable-mfa-device",
        "--user-name",
        "sts-mfa",
        "--serial-number",
        serial,
        "--authentication-code1",
        totp.at(now - timedelta(seconds=30)),
        "--authentication-code2",
        totp.at(now),
    )
    trust = _policy(
        {
            "Effect": "Allow",
            "Principal": {"AWS": user},
            "Action": "sts:AssumeRole",
            "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "true"}},
        }
    )
    role = _cli(
        live, "iam", "create-role", "--role-name", "StsMfa", "--assume-role-policy-document", trust
    )["Role"]["Arn"]
    sts = _client(live, "sts", key["AccessKeyId"], key["SecretAccessKey"])
    with pytest.raises(ClientError) as caught:
        sts.assume_role(RoleArn=role, RoleSessionName="no-mfa")
    assert caught.value.response["Error"]["Code"] == "AccessDenied"
    code = totp.at(datetime.now(UTC) + timedelta(seconds=30))
    creds = sts.assume_role(
        RoleArn=role, RoleSessionName="mfa", SerialNumber=serial, TokenCode=code
    )["Credentials"]
    assert creds["AccessKeyId"].startswith("ASIA")
    with pytest.raises(ClientError) as caught:
        sts.get_session_token(SerialNumber=serial, TokenCode=code)
    assert caught.value.response["Error"]["Code"] == "AccessDenied"
    session = sts.get_session_token(DurationSeconds=900)["Credentials"]
    me = _client(
        live, "sts", session["AccessKeyId"], session["SecretAccessKey"], session["SessionToken"]
    )
    assert me.get_caller_identity()["Arn"] == user


def test_revoked_sessions_raise_the_botocore_error(
    live: Live, sts_user: tuple[str, str, str], writer_role: str
) -> None:
    """After `gateway iam revoke-role-sessions`, older sessions get AccessDenied; new ones work."""
    _, key_id, secret = sts_user
    sts = _client(live, "sts", key_id, secret)
    old = sts.assume_role(RoleArn=writer_role, RoleSessionName="old")["Credentials"]
    iam = _client(live, "iam", old["AccessKeyId"], old["SecretAccessKey"], old["SessionToken"])
    assert "Roles" in iam.list_roles()
    time.sleep(1.05)  # revocation has one-second precision, as AWS's
    try:
        _cli(live, "iam", "revoke-role-sessions", "--role-name", "StsWriter")
        with pytest.raises(ClientError) as caught:
            iam.list_roles()
        assert caught.value.response["Error"]["Code"] == "AccessDenied"
        assert _put(live, old, "sts/after-revoke.txt").status_code == 403
        new = sts.assume_role(RoleArn=writer_role, RoleSessionName="new")["Credentials"]
        assert _put(live, new, "sts/after-revoke.txt").status_code == 200
    finally:
        _cli(
            live,
            "iam",
            "delete-role-policy",
            "--role-name",
            "StsWriter",
            "--policy-name",
            "AWSRevokeOlderSessions",
        )


def test_aws_cli_get_caller_identity_and_assume_role(
    live: Live, sts_user: tuple[str, str, str], writer_role: str, tmp_path: Path
) -> None:
    """`aws sts get-caller-identity` and `aws sts assume-role` with --endpoint-url."""
    _, key_id, secret = sts_user
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "AWS_ACCESS_KEY_ID": key_id,
        "AWS_SECRET_ACCESS_KEY": secret,
        "AWS_DEFAULT_REGION": REGION,
    }
    endpoint = ["--endpoint-url", f"{live.base_url}/_gateway/sts", "--output", "json"]

    def aws(*args: str, extra: dict[str, str] | None = None) -> dict[str, Any]:
        done = subprocess.run(  # noqa: S603 - the venv's aws CLI, our arguments
            [str(AWS), "sts", *args, *endpoint],
            capture_output=True,
            text=True,
            env={**env, **(extra or {})},
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        return dict(json.loads(done.stdout))

    assert aws("get-caller-identity")["Arn"] == sts_user[0]
    creds = aws("assume-role", "--role-arn", writer_role, "--role-session-name", "cli")[
        "Credentials"
    ]
    assert creds["Expiration"].endswith("Z")
    session = {
        "AWS_ACCESS_KEY_ID": creds["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": creds["SecretAccessKey"],
        "AWS_SESSION_TOKEN": creds["SessionToken"],
    }
    identity = aws("get-caller-identity", extra=session)
    assert identity["Arn"] == f"arn:aws:sts::{live.account_id}:assumed-role/StsWriter/cli"


def test_forged_session_token_on_the_proxy_is_refused(
    live: Live, sts_user: tuple[str, str, str], writer_role: str
) -> None:
    """A tampered token is InvalidClientTokenId on the proxy too, and nothing is forwarded."""
    _, key_id, secret = sts_user
    creds = dict(
        _client(live, "sts", key_id, secret).assume_role(
            RoleArn=writer_role, RoleSessionName="forge"
        )["Credentials"]
    )
    token = creds["SessionToken"]
    creds["SessionToken"] = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    response = _put(live, creds, "sts/forged.txt")
    assert response.status_code == 403
    assert "<Code>InvalidClientTokenId</Code>" in response.text
    assert "sts/forged.txt" not in live.stored_keys("backup")
    log = live.audit_file.read_text()
    assert token not in log and creds["SecretAccessKey"] not in log
