"""
``/_gateway/credentials`` in-process, on both backends: the container-credentials
shape botocore reads, refusals without a 500, and an audit event per issuance.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import anyio
import pytest
from botocore.utils import ContainerMetadataFetcher

from gateway.iam.workloads import WorkloadOperations
from tests.api.conftest import Api, audit_events
from tests.api.test_sts import client

pytestmark = pytest.mark.anyio

URL = "http://gateway.test/_gateway/credentials"
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


async def workload(api: Api, *, duration: int = 900, max_session: int = 3600) -> str:
    await api.iam.create_role("Backup", TRUST, max_session_duration=max_session)
    service = WorkloadOperations(api.iam.store, api.iam.cipher, account_id=api.iam.account_id)
    _, token = await service.create_workload("backup", "Backup", duration=duration)
    return token


async def test_token_gets_role_credentials_in_the_container_shape(api: Api) -> None:
    """A GET with the token returns what botocore's ContainerProvider reads, for the role."""
    token = await workload(api)
    response = await api.http.get(URL, headers={"Authorization": token})
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert set(body) >= {"AccessKeyId", "SecretAccessKey", "Token", "Expiration"}
    assert body["AccessKeyId"].startswith("ASIA")
    expiry = datetime.strptime(body["Expiration"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert timedelta(seconds=880) < expiry - datetime.now(UTC) <= timedelta(seconds=900)
    creds = {
        "AccessKeyId": body["AccessKeyId"],
        "SecretAccessKey": body["SecretAccessKey"],
        "SessionToken": body["Token"],
    }
    me = await api.run(client(api, "sts", creds).get_caller_identity)
    assert me["Arn"] == f"arn:aws:sts::{api.iam.account_id}:assumed-role/Backup/backup"
    again = (await api.http.get(URL, headers={"Authorization": token})).json()
    assert again["AccessKeyId"] != body["AccessKeyId"]


async def test_duration_is_capped_by_the_roles_maximum(api: Api) -> None:
    """A workload duration longer than the role allows gets the role's maximum."""
    token = await workload(api, duration=43200, max_session=3600)
    body = (await api.http.get(URL, headers={"Authorization": token})).json()
    expiry = datetime.strptime(body["Expiration"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert expiry - datetime.now(UTC) <= timedelta(seconds=3600)


@pytest.mark.parametrize(
    ("method", "headers", "status"),
    [
        ("GET", {}, 401),
        ("GET", {"Authorization": ""}, 401),
        ("GET", {"Authorization": "AWLAAAAAAAAAAAAAAAAAA.x"}, 403),
        ("GET", {"Authorization": "Bearer nonsense"}, 403),
        ("GET", {"Authorization": "A" * 5000}, 403),
        ("POST", {"Authorization": "anything"}, 405),
    ],
)
async def test_refusals_are_4xx_json(
    api: Api, method: str, headers: dict[str, str], status: int
) -> None:
    """Missing, wrong or oversized tokens and other methods are refused, never a 500."""
    await workload(api)
    response = await api.http.request(method, URL, headers=headers)
    assert response.status_code == status
    assert response.json()["Code"]
    assert "Traceback" not in response.text


async def test_issuance_is_audited_without_the_secret(api: Api, tmp_path: Path) -> None:
    """Every issuance is one audit event naming the role session; no secret in it."""
    token = await workload(api)
    body = (await api.http.get(URL, headers={"Authorization": token})).json()
    await api.http.get(URL, headers={"Authorization": token + "x"})
    events: list[dict[str, object]] = []
    for _ in range(200):
        events = [
            e for e in audit_events(tmp_path) if e.get("eventName") == "GetWorkloadCredentials"
        ]
        if len(events) == 2:
            break
        await anyio.sleep(0.01)
    assert [e["errorCode"] for e in events] == [None, "AccessDenied"]
    identity = events[0]["userIdentity"]
    assert isinstance(identity, dict) and identity["accessKeyId"] == body["AccessKeyId"]
    text = (tmp_path / "audit.jsonl").read_text()
    for secret in (token, token.partition(".")[2], body["SecretAccessKey"], body["Token"]):
        assert secret not in text


def test_botocore_accepts_only_loopback_over_http() -> None:
    """botocore fetches container credentials over plain HTTP from loopback only."""
    fetcher = ContainerMetadataFetcher()
    fetcher._validate_allowed_url("http://127.0.0.1:8080/_gateway/credentials")
    with pytest.raises(ValueError, match="Unsupported host"):
        fetcher._validate_allowed_url("http://10.0.0.5:8080/_gateway/credentials")
