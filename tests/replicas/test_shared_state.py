"""
Security state shared through the store, not process memory: an MFA code spent on
replica A is refused on replica B; role sessions revoked through the CLI are refused
on replica B.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import boto3
import botocore.config
import botocore.exceptions
import pyotp
import pytest

from gateway.auth.sigv4_sign import presign_url
from tests.replicas.conftest import REGION, Cluster, Replica

pytestmark = pytest.mark.postgres


def _sts(cluster: Cluster, replica: Replica, user: str) -> object:
    key_id, secret = cluster.keys[user]
    return boto3.client(
        "sts",
        endpoint_url=f"http://127.0.0.1:{replica.port}/_gateway/sts",
        region_name=REGION,
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
        config=botocore.config.Config(retries={"max_attempts": 1}),
    )


def test_mfa_code_spent_on_a_is_refused_on_b(cluster: Cluster) -> None:
    """GetSessionToken with a TOTP code works once on A; the same code on B is refused."""
    device = json.loads(
        cluster.cli("iam", "create-virtual-mfa-device", "--virtual-mfa-device-name", "erin-phone")
    )["VirtualMFADevice"]
    serial, seed = device["SerialNumber"], device["Base32StringSeed"]
    totp = pyotp.TOTP(seed)
    now = time.time()
    # Enable with the two previous steps, so the current one is still unspent.
    cluster.cli(
        "iam", "enable-mfa-device", "--user-name", "erin", "--serial-number", serial,
        "--authentication-code1", totp.at(now - 60), "--authentication-code2", totp.at(now - 30),
    )  # fmt: skip
    code = totp.at(now)
    issued = _sts(cluster, cluster.a, "erin").get_session_token(  # type: ignore[attr-defined]
        SerialNumber=serial, TokenCode=code
    )
    assert issued["Credentials"]["AccessKeyId"].startswith("ASIA")
    with pytest.raises(botocore.exceptions.ClientError) as refused:
        _sts(cluster, cluster.b, "erin").get_session_token(  # type: ignore[attr-defined]
            SerialNumber=serial, TokenCode=code
        )
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_revoked_role_sessions_refused_on_the_other_replica(cluster: Cluster) -> None:
    """Role credentials from A work on B until the role's sessions are revoked through the CLI."""
    arn = f"arn:aws:iam::{cluster.account_id}:policy/read-items"
    alice = f"arn:aws:iam::{cluster.account_id}:user/alice"
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": alice}, "Action": "sts:AssumeRole"}],
    }
    cluster.cli(
        "iam", "create-role", "--role-name", "reader",
        "--assume-role-policy-document", json.dumps(trust),
    )  # fmt: skip
    cluster.cli("iam", "attach-role-policy", "--role-name", "reader", "--policy-arn", arn)
    role = f"arn:aws:iam::{cluster.account_id}:role/reader"
    credentials = _sts(cluster, cluster.a, "alice").assume_role(  # type: ignore[attr-defined]
        RoleArn=role, RoleSessionName="job"
    )["Credentials"]

    def get_on_b() -> tuple[int, bytes]:
        url = presign_url(
            "GET",
            "http://127.0.0.1/svc/items/1",
            credentials["AccessKeyId"],
            credentials["SecretAccessKey"],
            REGION,
            "svc",
            datetime.now(UTC),
            session_token=credentials["SessionToken"],
            headers={"host": "gateway"},
        ).removeprefix("http://127.0.0.1")
        conn = cluster.b.conn()
        try:
            conn.request("GET", url, headers={"host": "gateway"})
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()

    assert get_on_b() == (200, b"ok")
    time.sleep(1.1)  # AWS compares the token's issue time to the revocation, to the second
    cluster.cli("iam", "revoke-role-sessions", "--role-name", "reader")
    status, body = get_on_b()
    assert status == 403 and b"AccessDenied" in body
