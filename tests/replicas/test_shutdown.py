"""
A rolling restart under load: SIGTERM to one replica lets its in-flight requests
finish, writes its pending key usage, exits 0, and the other replica's clients
see no failure at all.
"""

from __future__ import annotations

import json
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.replicas.conftest import Cluster, wait_until
from tests.replicas.test_outage import _Load

pytestmark = pytest.mark.postgres


def test_sigterm_drains_in_flight_requests_and_exits_0(cluster: Cluster) -> None:
    """In-flight slow requests on the stopping replica complete; B's load sees only 200s."""
    arn = f"arn:aws:iam::{cluster.account_id}:policy/read-items"
    cluster.cli("iam", "create-user", "--user-name", "gina")
    cluster.cli("iam", "attach-user-policy", "--user-name", "gina", "--policy-arn", arn)
    key_id, _ = cluster.new_key("gina")
    stopping = cluster.start("c")
    assert cluster.get(stopping, "gina")[0] == 200
    started = threading.Barrier(5)

    def slow(index: int) -> int:
        conn = stopping.conn(timeout=20)
        try:
            conn.request(
                "GET", cluster.signed("gina", f"/svc/slow/{index}"), headers={"host": "gateway"}
            )
            started.wait(5)
            response = conn.getresponse()
            response.read()
            return response.status
        finally:
            conn.close()

    with _Load(cluster, cluster.b, "erin") as other, ThreadPoolExecutor(4) as pool:
        in_flight = [pool.submit(slow, index) for index in range(4)]
        started.wait(5)
        time.sleep(0.3)  # the requests are now waiting on the upstream
        stopping.process.send_signal(signal.SIGTERM)
        statuses = [future.result(20) for future in in_flight]
        exit_code = stopping.process.wait(20)
        time.sleep(0.2)
    assert statuses == [200, 200, 200, 200]
    assert exit_code == 0, stopping.log.read_text()
    assert other.seen and set(other.statuses()) == {200}
    # The lifespan shutdown wrote the key's last use (batched every 15 s otherwise).
    last_used = json.loads(
        cluster.cli("iam", "get-access-key-last-used", "--access-key-id", key_id)
    )["AccessKeyLastUsed"]
    assert last_used.get("ServiceName") == "svc"
    wait_until(lambda: cluster.b.fetch("/_gateway/ready")[0] == 200)
