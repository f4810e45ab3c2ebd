"""
PostgreSQL cut off from replica B in the middle of a load: B fails closed with
503s (never a 200 that should be a 403, never a 500), A is untouched, and B
serves again by itself once the database is back.
"""

from __future__ import annotations

import threading
import time
from collections import Counter

import pytest

from tests.replicas.conftest import Cluster, Replica, wait_until

pytestmark = pytest.mark.postgres


class _Load:
    """
    One thread sending signed requests as ``user`` to a replica until stopped.
    """

    def __init__(self, cluster: Cluster, replica: Replica, user: str) -> None:
        self.cluster, self.replica, self.user = cluster, replica, user
        self.seen: list[tuple[float, int, bytes]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> _Load:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(20)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                status, body = self.cluster.get(self.replica, self.user)
            except OSError:
                status, body = -1, b""
            self.seen.append((time.monotonic(), status, body))
            time.sleep(0.005)

    def statuses(self) -> Counter[int]:
        return Counter(status for _, status, _ in self.seen)


def test_store_cut_fails_closed_and_recovers(cluster: Cluster) -> None:
    """During the cut B answers 503 or what it knew was true; never a 200 for a deny."""
    arn = f"arn:aws:iam::{cluster.account_id}:policy/read-items"
    cluster.cli("iam", "detach-user-policy", "--user-name", "frank", "--policy-arn", arn)
    cluster.keys["nobody"] = ("AKIAAAAAAAAAAAAAAAAA", "x" * 40)
    for user in ("erin", "frank", "nobody"):
        cluster.get(cluster.b, user)
    assert cluster.get(cluster.b, "erin")[0] == 200
    assert cluster.get(cluster.b, "frank")[0] == 403
    with (
        _Load(cluster, cluster.b, "erin") as allowed,
        _Load(cluster, cluster.b, "frank") as denied,
        _Load(cluster, cluster.b, "nobody") as unknown,
        _Load(cluster, cluster.a, "erin") as elsewhere,
    ):
        time.sleep(0.3)
        cluster.relay.cut()
        cut_at = time.monotonic()
        wait_until(lambda: any(s == 503 for t, s, _ in allowed.seen if t > cut_at), 10)
        time.sleep(0.5)
        cluster.relay.restore()
        restored_at = time.monotonic()
        wait_until(lambda: any(s == 200 for t, s, _ in allowed.seen if t > restored_at), 15)
        time.sleep(0.2)
    during = [body for t, status, body in allowed.seen if status == 503]
    assert during, "the cut produced no 503"
    assert all(b"ServiceUnavailable" in body for body in during)
    assert set(allowed.statuses()) <= {200, 503}
    # SECURITY: a request that should be refused is never allowed, outage or not.
    assert set(denied.statuses()) <= {403, 503} and denied.statuses()[403] > 0
    assert set(unknown.statuses()) <= {403, 503} and unknown.statuses()[403] > 0
    # The other replica never noticed.
    assert set(elsewhere.statuses()) == {200}
    # Back to normal, listener included.
    assert cluster.get(cluster.b, "erin")[0] == 200
    assert cluster.get(cluster.b, "frank")[0] == 403
    wait_until(lambda: cluster.b.fetch("/_gateway/ready")[0] == 200, 10)
    cluster.cli("iam", "attach-user-policy", "--user-name", "frank", "--policy-arn", arn)
    assert cluster.get(cluster.b, "frank")[0] == 200
