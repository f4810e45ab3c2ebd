"""
Concurrent writers on one database: four ``gateway apply`` processes at once lose
no update, and racing key creations never break the two-keys-per-user limit.
"""

from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.replicas.conftest import Cluster

pytestmark = pytest.mark.postgres

APPLY_FILE = """
[[policies]]
name = "team-read"
document = {{ Version = "2012-10-17", Statement = [
  {{ Effect = "Allow", Action = "svc:GetItem", Resource = "*" }},
] }}

[[groups]]
name = "team"
policies = ["team-read"]

[[users]]
name = "member{index}"
groups = ["team"]
tags = {{ run = "{index}" }}
"""


def _gateway(cluster: Cluster, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own command line
        [sys.executable, "-m", "gateway", *args, "--config", str(cluster.config)],
        capture_output=True,
        text=True,
        cwd=cluster.directory,
        env={"GATEWAY_STORE_URL": cluster.dsn, "PATH": "/usr/bin:/bin"},
        check=False,
        timeout=60,
    )


def test_four_concurrent_applies_lose_no_update(cluster: Cluster) -> None:
    """Four applies, each adding its own member to one shared group, all land."""
    files = []
    for index in range(4):
        path = cluster.directory / f"team{index}.toml"
        path.write_text(APPLY_FILE.format(index=index))
        files.append(path)
    with ThreadPoolExecutor(4) as pool:
        runs = list(pool.map(lambda path: _gateway(cluster, "apply", str(path)), files))
    assert [run.returncode for run in runs] == [0, 0, 0, 0], [run.stderr for run in runs]
    members = json.loads(cluster.cli("iam", "get-group", "--group-name", "team"))["Users"]
    assert sorted(user["UserName"] for user in members) == [f"member{i}" for i in range(4)]
    policies = json.loads(cluster.cli("iam", "list-policies", "--scope", "Local"))["Policies"]
    assert [p["PolicyName"] for p in policies].count("team-read") == 1
    # Idempotent: a fifth run of any of them changes nothing.
    again = _gateway(cluster, "apply", str(files[0]))
    assert again.returncode == 0 and "no changes" in again.stdout.lower()


def test_racing_key_creations_respect_the_limit(cluster: Cluster) -> None:
    """Six processes create keys for one user at once: exactly two succeed."""
    cluster.cli("iam", "create-user", "--user-name", "racer")
    with ThreadPoolExecutor(6) as pool:
        runs = list(
            pool.map(
                lambda _: _gateway(cluster, "iam", "create-access-key", "--user-name", "racer"),
                range(6),
            )
        )
    assert sorted(run.returncode == 0 for run in runs) == [False] * 4 + [True] * 2
    assert all(
        "LimitExceeded" in run.stderr or "quota" in run.stderr.lower()
        for run in runs
        if run.returncode
    )
    keys = json.loads(cluster.cli("iam", "list-access-keys", "--user-name", "racer"))
    assert len(keys["AccessKeyMetadata"]) == 2
