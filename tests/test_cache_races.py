"""
A row read while IAM changes must never be cached under the new generation.

Each per-process cache (access keys, compiled grants, console sessions) is cleared
when a request observes a new generation marker. A lookup that started before the
change and finishes after another request cleared the cache may hold the old row;
caching it would keep serving it (an inactive key accepted, a detached policy still
allowing, a signed-out session alive) until the next change.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from gateway.auth.keys import KeyAuthenticator
from gateway.authz import Authorizer
from gateway.iam import IAM
from gateway.iam.sessions import STAGE_ACTIVE, ConsoleSessions
from gateway.principal import Principal, PrincipalType

pytestmark = pytest.mark.anyio


def _racing(
    read: Callable[..., Awaitable[Any]], change: Callable[[], None]
) -> Callable[..., Awaitable[Any]]:
    # The read returns what it found before the change; the change lands meanwhile.
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        found = await read(*args, **kwargs)
        change()
        return found

    return wrapper


async def test_key_read_during_a_change_is_not_cached(
    iam: IAM, monkeypatch: pytest.MonkeyPatch
) -> None:
    await iam.create_user("u")
    key = (await iam.create_access_key("u")).key.access_key_id
    auth = KeyAuthenticator(iam, region="us-east-1")
    auth.observe(1)
    monkeypatch.setattr(
        iam, "access_key_secret", _racing(iam.access_key_secret, lambda: auth.observe(2))
    )
    assert await auth._lookup(key) is not None  # answers the request in flight
    monkeypatch.undo()
    await iam.update_access_key("u", key, "Inactive")
    entry = await auth._lookup(key)  # generation 2 still: a cached row would be Active
    assert entry is not None and not entry.active
    assert (auth.hits, auth.misses) == (0, 2)


async def test_grants_read_during_a_change_are_not_cached(
    iam: IAM, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = await iam.create_user("u")
    principal = Principal(
        PrincipalType.USER,
        user.arn,
        user.account_id,
        user.user_id,
        user_name="u",
        entity_id=user.user_id,
        credential="sigv4",
    )
    authorizer = Authorizer(iam, region="us-east-1")
    authorizer.observe(1)
    monkeypatch.setattr(IAM, "user_grants", _racing(IAM.user_grants, lambda: authorizer.observe(2)))
    await authorizer.grants(principal)
    monkeypatch.undo()
    await authorizer.grants(principal)
    assert (authorizer.hits, authorizer.misses) == (0, 2)
    await authorizer.grants(principal)
    assert (authorizer.hits, authorizer.misses) == (1, 2)  # a calm read is cached


async def test_session_read_during_a_change_is_not_cached(
    iam: IAM, monkeypatch: pytest.MonkeyPatch
) -> None:
    await iam.create_user("steve")
    await iam.create_login_profile("steve", "Steve-Passw0rd!")
    clock = datetime.now(UTC)
    sessions = ConsoleSessions(iam.store, clock=lambda: clock)
    identity = await sessions.check_user_password(iam.account_id, "steve", "Steve-Passw0rd!")
    assert identity is not None
    token = await sessions.start(
        identity, stage=STAGE_ACTIVE, source_ip="10.0.0.1", user_agent="test"
    )
    sessions.observe(1)
    monkeypatch.setattr(sessions, "_load", _racing(sessions._load, lambda: sessions.observe(2)))
    assert await sessions.resolve(token) is not None
    monkeypatch.undo()
    other = ConsoleSessions(iam.store, clock=lambda: clock)
    await other.end(token)  # signed out through another replica
    assert await sessions.resolve(token) is None
