"""
A change made through one replica (or the CLI) holds on the other on its very next
request; the cache keeps the store out of the hot path meanwhile.
"""

from __future__ import annotations

import json

import pytest

from tests.replicas.conftest import Cluster, metric

pytestmark = pytest.mark.postgres


def _warm(cluster: Cluster, user: str) -> None:
    # Both replicas have the key and the grants cached before the change.
    for replica in cluster.replicas:
        for _ in range(3):
            assert cluster.get(replica, user)[0] == 200


def test_both_replicas_serve_and_are_ready(cluster: Cluster) -> None:
    """Each replica answers health, readiness and a signed request allowed by policy."""
    for replica in cluster.replicas:
        assert replica.fetch("/_gateway/health") == (200, b'{"status": "ok"}')
        status, body = replica.fetch("/_gateway/ready")
        assert status == 200 and json.loads(body)["status"] == "ready"
        assert cluster.get(replica, "alice") == (200, b"ok")
        assert replica.fetch("/svc/items/1")[0] == 403  # no credentials


def test_steady_state_needs_no_store_queries(cluster: Cluster) -> None:
    """Once warm, a replica answers signed requests without a store query per request."""
    _warm(cluster, "alice")
    for replica in cluster.replicas:
        before = metric(replica, "gateway_store_queries_total")
        for _ in range(50):
            assert cluster.get(replica, "alice")[0] == 200
        # Not one per request: at most the listener's pings and a batched last-used write.
        assert metric(replica, "gateway_store_queries_total") - before <= 5
        assert metric(replica, "gateway_store_listening") == 1


def test_deactivated_key_refused_on_the_other_replica(cluster: Cluster) -> None:
    """A key deactivated through the CLI is refused by B on the next request, then works again."""
    _warm(cluster, "bob")
    key_id = cluster.keys["bob"][0]
    cluster.cli(
        "iam", "update-access-key", "--user-name", "bob", "--access-key-id", key_id,
        "--status", "Inactive",
    )  # fmt: skip
    status, body = cluster.get(cluster.b, "bob")
    assert status == 403 and b"InvalidClientTokenId" in body
    assert cluster.get(cluster.a, "bob")[0] == 403
    cluster.cli(
        "iam", "update-access-key", "--user-name", "bob", "--access-key-id", key_id,
        "--status", "Active",
    )  # fmt: skip
    assert cluster.get(cluster.b, "bob")[0] == 200


def test_detached_policy_refused_on_the_other_replica(cluster: Cluster) -> None:
    """A policy detached through the CLI stops allowing on both replicas at once."""
    _warm(cluster, "carol")
    arn = f"arn:aws:iam::{cluster.account_id}:policy/read-items"
    cluster.cli("iam", "detach-user-policy", "--user-name", "carol", "--policy-arn", arn)
    for replica in (cluster.b, cluster.a):
        status, body = cluster.get(replica, "carol")
        assert status == 403 and b"AccessDenied" in body
    cluster.cli("iam", "attach-user-policy", "--user-name", "carol", "--policy-arn", arn)
    assert cluster.get(cluster.b, "carol")[0] == 200


def test_deleted_user_refused_on_the_other_replica(cluster: Cluster) -> None:
    """A user deleted (keys, policies, then the user) is refused by B with the old key."""
    _warm(cluster, "dave")
    key_id = cluster.keys["dave"][0]
    arn = f"arn:aws:iam::{cluster.account_id}:policy/read-items"
    cluster.cli("iam", "delete-access-key", "--user-name", "dave", "--access-key-id", key_id)
    cluster.cli("iam", "detach-user-policy", "--user-name", "dave", "--policy-arn", arn)
    cluster.cli("iam", "delete-user", "--user-name", "dave")
    status, body = cluster.get(cluster.b, "dave")
    assert status == 403 and b"InvalidClientTokenId" in body
    assert cluster.get(cluster.a, "dave")[0] == 403
