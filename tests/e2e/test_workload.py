"""
The walkthrough's backup program with no stored key: boto3, given only the two
container-credential environment variables, writes through the gateway with
temporary credentials for a role and keeps working past their expiry.
"""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request
from typing import Any

from tests.e2e.conftest import Live

DURATION = 10  # seconds: workload credentials may be shorter-lived than AWS's 900
PROGRAM = r"""
import json, sys, time, urllib.error, urllib.request
import boto3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest

base, duration = sys.argv[1], float(sys.argv[2])
credentials = boto3.Session(region_name="us-east-1").get_credentials()

def put(frozen, key):
    url = f"{base}/backup/buckets/backup/objects/workload/{key}"
    request = AWSRequest(method="PUT", url=url, data=b"backup data")
    SigV4Auth(frozen, "backup", "us-east-1").add_auth(request)
    headers = dict(request.prepare().headers.items())
    sent = urllib.request.Request(url, data=b"backup data", method="PUT", headers=headers)
    try:
        with urllib.request.urlopen(sent, timeout=10) as response:
            return response.status, ""
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()

first = credentials.get_frozen_credentials()
report = {"method": credentials.method, "first": [first.access_key, *put(first, "one.txt")]}
time.sleep(duration + 1.5)
report["stale"] = list(put(first, "stale.txt"))
second = credentials.get_frozen_credentials()
report["second"] = [second.access_key, *put(second, "two.txt")]
print(json.dumps(report))
"""


def _cli(live: Live, *args: str) -> dict[str, Any]:
    done = live.cli(*args)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout) if done.stdout.strip() else {}


def test_backup_program_gets_rotating_credentials_with_only_two_variables(live: Live) -> None:
    """boto3's container provider fetches, uses and refreshes the role's credentials."""
    trust = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "ec2.amazonaws.com"},
                    "Action": "sts:AssumeRole",
                }
            ],
        }
    )
    _cli(
        live,
        "iam",
        "create-role",
        "--role-name",
        "BackupWorkload",
        "--assume-role-policy-document",
        trust,
    )
    permissions = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": "backup:PutObject",
                    "Resource": "arn:aws:backup:*:*:bucket/backup/workload/*",
                }
            ],
        }
    )
    _cli(
        live,
        "iam",
        "put-role-policy",
        "--role-name",
        "BackupWorkload",
        "--policy-name",
        "write",
        "--policy-document",
        permissions,
    )
    created = _cli(
        live,
        "workload",
        "create",
        "--name",
        "nightly",
        "--role-name",
        "BackupWorkload",
        "--duration",
        str(DURATION),
    )
    token = created["BootstrapToken"]
    env = {
        "AWS_CONTAINER_CREDENTIALS_FULL_URI": f"{live.base_url}/_gateway/credentials",
        "AWS_CONTAINER_AUTHORIZATION_TOKEN": token,
    }
    done = subprocess.run(  # noqa: S603 - our own interpreter and program
        [sys.executable, "-c", PROGRAM, live.base_url, str(DURATION)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
        cwd=live.config.parent,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["method"] == "container-role"
    first_key, first_status, _ = report["first"]
    assert first_key.startswith("ASIA") and first_status == 200
    stale_status, stale_body = report["stale"]
    assert stale_status == 403 and "<Code>ExpiredToken</Code>" in stale_body
    second_key, second_status, _ = report["second"]
    assert second_key.startswith("ASIA") and second_key != first_key
    assert second_status == 200
    stored = live.stored_keys("backup")
    assert {"workload/one.txt", "workload/two.txt"} <= set(stored)
    assert "workload/stale.txt" not in stored
    log = live.audit_file.read_text()
    issued = [
        json.loads(line)
        for line in log.splitlines()
        if '"GetWorkloadCredentials"' in line and "role/BackupWorkload" in line
    ]
    assert len(issued) >= 2
    assert all(event["errorCode"] is None for event in issued)
    assert token.partition(".")[2] not in log


def test_bad_bootstrap_token_is_refused_without_credentials(live: Live) -> None:
    """A wrong token is 403 JSON and a missing one 401: no credentials, no 500."""
    for headers, status in (({}, 401), ({"Authorization": "AWLA" + "A" * 17 + ".nope"}, 403)):
        url = f"{live.base_url}/_gateway/credentials"
        request = urllib.request.Request(url, headers=headers)  # noqa: S310 - loopback
        try:
            urllib.request.urlopen(request, timeout=10)  # noqa: S310 - loopback
            raise AssertionError("expected a refusal")
        except urllib.error.HTTPError as error:
            assert error.code == status
            assert "AccessKeyId" not in error.read().decode()
