"""
Real SigV4 clients against the served gateway: curl, awscurl, botocore, requests-aws4auth.

Each client signs in its own way (see shared/vectors/sigv4-clients/README.md: curl
signs the wire path and hashes the body without sending ``x-amz-content-sha256``;
awscurl and requests-aws4auth send and sign that header; botocore does not for a
non-S3 service). The object must land in the object store, read back through the
gateway, and a call outside the policy must be refused before it reaches the store.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
import requests
from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from requests_aws4auth import AWS4Auth

from tests.e2e.conftest import REGION, SERVICE, Live

CURL = shutil.which("curl") or "/usr/bin/curl"
AWSCURL = str(Path(sys.executable).with_name("awscurl"))

Result = tuple[int, bytes]
Client = Callable[[Live, str, str, bytes | None], Result]


def _run(args: list[str], live: Live) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(  # noqa: S603 - fixed client binaries, arguments built here
        args, capture_output=True, env=live.env, timeout=30, check=False
    )


def curl(live: Live, method: str, path: str, body: bytes | None) -> Result:
    """curl 7.88 ``--aws-sigv4``: the body's SHA-256 is signed but not sent as a header."""
    args = [
        CURL,
        "-sS",
        "--aws-sigv4",
        f"aws:amz:{REGION}:{SERVICE}",
        "--user",
        f"{live.key_id}:{live.secret}",
        "-X",
        method,
        "-o",
        "-",
        "-w",
        "\n%{http_code}",
    ]
    if body is not None:
        args += ["--data-binary", body.decode()]
    done = _run([*args, live.base_url + path], live)
    assert done.returncode == 0, done.stderr
    out, _, status = done.stdout.rpartition(b"\n")
    return int(status), out


def awscurl(live: Live, method: str, path: str, body: bytes | None) -> Result:
    """The awscurl CLI; it exits non-zero on an HTTP error with ``--fail-with-body``."""
    args = [
        AWSCURL,
        "--service",
        SERVICE,
        "--region",
        REGION,
        "--access_key",
        live.key_id,
        "--secret_key",
        live.secret,
        "--fail-with-body",
        "-X",
        method,
    ]
    if body is not None:
        args += ["-d", body.decode()]
    done = _run([*args, live.base_url + path], live)
    if done.returncode == 0:
        return 200, done.stdout
    # awscurl prints no status; a failure with a body is an HTTP error answered as JSON.
    error = json.loads(done.stdout)["Error"]["Code"]
    return {"AccessDenied": 403, "InvalidClientTokenId": 403}.get(error, 0), done.stdout


def botocore_signer(live: Live, method: str, path: str, body: bytes | None) -> Result:
    """botocore's ``SigV4Auth`` on an ``AWSRequest``, sent with requests."""
    request = AWSRequest(method=method, url=live.base_url + path, data=body or b"")
    SigV4Auth(Credentials(live.key_id, live.secret), SERVICE, REGION).add_auth(request)
    prepared = request.prepare()
    response = requests.request(
        method, prepared.url, headers=dict(prepared.headers), data=body or b"", timeout=10
    )
    return response.status_code, response.content


def aws4auth(live: Live, method: str, path: str, body: bytes | None) -> Result:
    """requests with requests-aws4auth's ``AWS4Auth``."""
    auth = AWS4Auth(live.key_id, live.secret, REGION, SERVICE)
    response = requests.request(
        method, live.base_url + path, auth=auth, data=body or b"", timeout=10
    )
    return response.status_code, response.content


CLIENTS = [
    pytest.param(curl, id="curl"),
    pytest.param(awscurl, id="awscurl"),
    pytest.param(botocore_signer, id="botocore"),
    pytest.param(aws4auth, id="requests-aws4auth"),
]


@pytest.mark.parametrize("client", CLIENTS)
def test_put_lands_in_the_store_and_reads_back(live: Live, client: Client) -> None:
    """The client's signed PUT is stored as `backup`, and its signed GET returns the bytes."""
    key = f"{client.__name__}/{uuid.uuid4().hex}.txt"
    body = f"written by {client.__name__} {uuid.uuid4().hex}".encode()
    status, answer = client(live, "PUT", f"/backup/buckets/backup/objects/{key}", body)
    assert status == 200, answer
    stored = json.loads(answer)
    assert stored["key"] == key
    assert stored["size"] == len(body)
    assert stored["storedBy"] == f"arn:aws:iam::{live.account_id}:user/backup"
    assert live.stored_object("backup", key) == body
    status, answer = client(live, "GET", f"/backup/buckets/backup/objects/{key}", None)
    assert (status, answer) == (200, body)


@pytest.mark.parametrize("client", CLIENTS)
def test_denied_call_is_access_denied_and_not_forwarded(live: Live, client: Client) -> None:
    """The same client writing to bucket `other` gets 403 AccessDenied; nothing is stored."""
    key = f"{client.__name__}/{uuid.uuid4().hex}"
    status, answer = client(live, "PUT", f"/backup/buckets/other/objects/{key}", b"nope")
    assert status == 403, answer
    assert b"AccessDenied" in answer
    assert key not in live.stored_keys("other")
    status, answer = client(live, "GET", f"/backup/buckets/other/objects/{key}", None)
    assert status == 403, answer
    assert b"AccessDenied" in answer


def test_botocore_presigned_get(live: Live) -> None:
    """A URL presigned by botocore's ``SigV4QueryAuth`` reads the object, without headers."""
    key = f"presigned/{uuid.uuid4().hex}"
    assert aws4auth(live, "PUT", f"/backup/buckets/backup/objects/{key}", b"shared")[0] == 200
    request = AWSRequest(method="GET", url=f"{live.base_url}/backup/buckets/backup/objects/{key}")
    SigV4QueryAuth(Credentials(live.key_id, live.secret), SERVICE, REGION, expires=60).add_auth(
        request
    )
    url = request.prepare().url
    assert "X-Amz-Signature=" in url
    response = requests.get(url, timeout=10)
    assert (response.status_code, response.content) == (200, b"shared")


def test_botocore_presigned_get_outside_the_policy_is_denied(live: Live) -> None:
    """A presigned URL for bucket `other` is refused with AccessDenied, as XML."""
    request = AWSRequest(method="GET", url=f"{live.base_url}/backup/buckets/other/objects/x")
    SigV4QueryAuth(Credentials(live.key_id, live.secret), SERVICE, REGION, expires=60).add_auth(
        request
    )
    response = requests.get(request.prepare().url, timeout=10)
    assert response.status_code == 403
    assert "<Code>AccessDenied</Code>" in response.text


def test_key_deactivated_by_another_process_is_refused_at_once(live: Live) -> None:
    """`iam update-access-key --status Inactive` run beside `serve` refuses curl's next call."""
    path = f"/backup/buckets/backup/objects/keys/{uuid.uuid4().hex}"
    assert curl(live, "PUT", path, b"one")[0] == 200
    change = ["iam", "update-access-key", "--user-name", "backup", "--access-key-id", live.key_id]
    done = live.cli(*change, "--status", "Inactive")
    assert done.returncode == 0, done.stderr
    try:
        status, answer = curl(live, "PUT", path, b"two")
        assert status == 403, answer
        assert b"<Code>InvalidClientTokenId</Code>" in answer
        assert live.stored_object("backup", path.rpartition("/objects/")[2]) == b"one"
    finally:
        done = live.cli(*change, "--status", "Active")
        assert done.returncode == 0, done.stderr
    assert curl(live, "PUT", path, b"three")[0] == 200
    assert curl(live, "GET", path, None) == (200, b"three")


def test_proxied_response_has_one_date_header(live: Live) -> None:
    """A response relayed from the upstream carries one Date header, not the upstream's and ours."""
    key = f"date/{uuid.uuid4().hex}"
    response = requests.put(
        f"{live.base_url}/backup/buckets/backup/objects/{key}",
        data=b"d",
        auth=AWS4Auth(live.key_id, live.secret, REGION, SERVICE),
        timeout=10,
    )
    assert response.status_code == 200
    dates = response.raw.headers.getlist("date")
    assert len(dates) == 1, dates


def test_denied_call_is_audited_by_request_id(live: Live) -> None:
    """The served gateway writes the denied call to its audit file, under its request id."""
    response = requests.get(
        f"{live.base_url}/backup/buckets/other/objects/audited",
        auth=AWS4Auth(live.key_id, live.secret, REGION, SERVICE),
        timeout=10,
    )
    assert response.status_code == 403
    request_id = response.headers["x-amzn-requestid"]
    deadline = time.monotonic() + 5
    events: list[dict[str, object]] = []
    while time.monotonic() < deadline:
        text = live.audit_file.read_text() if live.audit_file.exists() else ""
        events = [json.loads(line) for line in text.splitlines()]
        events = [event for event in events if event["requestID"] == request_id]
        if events:
            break
        time.sleep(0.05)
    [event] = events
    assert event["decision"] == "implicitDeny"
    assert event["errorCode"] == "AccessDenied"
    assert event["eventName"] == "GetObject"
    assert live.secret not in text
