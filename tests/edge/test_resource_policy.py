"""
Resource-based policies on upstreams and routes, and trusted proxies.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.edge.conftest import Upstream, make_edge

pytestmark = pytest.mark.anyio

DENY_SECRETS = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "NoSecrets",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "backup:PutObject",
            "Resource": "arn:aws:backup:*:*:bucket/backup/secrets/*",
        }
    ],
}


async def test_resource_policy_deny_beats_identity_allow(
    tmp_path: Path, upstream: Upstream
) -> None:
    """A Deny in the upstream's resource policy wins over the user's Allow."""
    async with make_edge(
        tmp_path, upstream, upstream_extra={"resource_policy": DENY_SECRETS}
    ) as edge:
        assert (await edge.call("PUT", "/backup/buckets/backup/objects/ok")).status_code == 200
        denied = await edge.call("PUT", "/backup/buckets/backup/objects/secrets/k")
        assert denied.status_code == 403
        assert "explicit deny in a resource-based policy" in denied.text
    assert [seen["path"] for seen in upstream.seen] == ["/buckets/backup/objects/ok"]


async def test_resource_policy_grants_without_identity_policy(
    tmp_path: Path, upstream: Upstream
) -> None:
    """A resource policy Allow for the caller grants GetObject no identity policy allows."""
    grant = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": "*",
                "Action": "backup:GetObject",
                "Resource": "arn:aws:backup:*:*:bucket/shared/*",
                "Condition": {"StringEquals": {"aws:username": "backup"}},
            }
        ],
    }
    async with make_edge(tmp_path, upstream, upstream_extra={"resource_policy": grant}) as edge:
        assert (await edge.call("GET", "/backup/buckets/shared/objects/k")).status_code == 200
        assert (await edge.call("GET", "/backup/buckets/other/objects/k")).status_code == 403


async def test_malformed_resource_policy_is_a_config_error(
    tmp_path: Path, upstream: Upstream
) -> None:
    """A resource policy without Principal fails start-up, naming where it is."""
    bad = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Deny", "Action": "*", "Resource": "*"}],
    }
    from gateway.errors import ConfigError

    with pytest.raises(ConfigError, match=r"upstreams\[0\]\.resource_policy"):
        async with make_edge(tmp_path, upstream, upstream_extra={"resource_policy": bad}):
            pass


async def test_forwarded_for_only_from_trusted_proxies(tmp_path: Path, upstream: Upstream) -> None:
    """X-Forwarded-For is believed from a trusted peer and ignored from anyone else."""
    async with make_edge(tmp_path, upstream, server={"trusted_proxies": ["10.1.0.0/16"]}) as edge:
        response = await edge.call(
            "PUT", "/backup/buckets/backup/objects/a", headers={"X-Forwarded-For": "198.51.100.7"}
        )
        assert response.status_code == 200
    assert upstream.seen[0]["headers"]["x-forwarded-for"] == "198.51.100.7"
