"""
Console state shared through the store: a session signed out on replica A is
refused on replica B, and failed sign-ins on A and B add up to one lock.
"""

from __future__ import annotations

import re
import time

import pytest
import requests

from tests.replicas.conftest import Cluster, Replica

pytestmark = pytest.mark.postgres

PASSWORD = "Console-Passw0rd!replicas"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def _console_user(cluster: Cluster, name: str) -> None:
    arn = f"arn:aws:iam::{cluster.account_id}:policy/read-items"
    cluster.cli("iam", "create-user", "--user-name", name)
    cluster.cli("iam", "attach-user-policy", "--user-name", name, "--policy-arn", arn)
    cluster.cli(
        "iam", "create-login-profile", "--user-name", name, "--password", PASSWORD,
        "--no-password-reset-required",
    )  # fmt: skip


def _base(replica: Replica) -> str:
    return f"http://127.0.0.1:{replica.port}"


def _sign_in(
    browser: requests.Session, cluster: Cluster, replica: Replica, name: str, password: str
) -> requests.Response:
    page = f"{_base(replica)}/_gateway/signin/{cluster.account_id}"
    form = browser.get(page, allow_redirects=False)
    found = CSRF.search(form.text)
    assert form.status_code == 200 and found, form.text[:500]
    return browser.post(
        page,
        data={"username": name, "password": password, "csrf": found.group(1), "next": "/"},
        allow_redirects=False,
    )


def test_signed_out_session_refused_on_the_other_replica(cluster: Cluster) -> None:
    """A console session from A works on B until it is signed out on A; then its cookie is dead."""
    _console_user(cluster, "henry")
    browser = requests.Session()
    signed_in = _sign_in(browser, cluster, cluster.a, "henry", PASSWORD)
    assert signed_in.status_code == 303, signed_in.text[:500]
    cookies = dict(browser.cookies)
    upstream = f"{_base(cluster.b)}/svc/items/1"
    allowed = requests.get(upstream, cookies=cookies, allow_redirects=False, timeout=10)
    assert (allowed.status_code, allowed.content) == (200, b"ok")
    page = browser.get(f"{_base(cluster.a)}/_gateway/signout", allow_redirects=False)
    found = CSRF.search(page.text)
    assert found, page.text[:500]
    out = browser.post(
        f"{_base(cluster.a)}/_gateway/signout",
        data={"csrf": found.group(1)},
        allow_redirects=False,
    )
    assert out.status_code == 303
    # The old cookie, replayed (as a thief would), is refused by the other replica.
    refused = requests.get(upstream, cookies=cookies, allow_redirects=False, timeout=10)
    assert refused.status_code in (303, 403) and refused.content != b"ok"


def test_failures_on_both_replicas_add_up_to_one_lock(cluster: Cluster) -> None:
    """Two failed sign-ins on A and two on B lock the user (max_failures = 4) on both."""
    _console_user(cluster, "ivan")
    browser = requests.Session()
    for replica in (cluster.a, cluster.b, cluster.a, cluster.b):
        failed = _sign_in(browser, cluster, replica, "ivan", "wrong-" + PASSWORD)
        assert failed.status_code == 401
        time.sleep(0.06)  # past the backoff, so each attempt is a real failure
    for replica in (cluster.a, cluster.b):
        locked = _sign_in(browser, cluster, replica, "ivan", PASSWORD)
        assert locked.status_code == 429, locked.text[:300]
