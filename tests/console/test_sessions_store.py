"""
The service layer of the console on both backends: session records, their cache,
revocation paths and timeouts, and sign-in throttling.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from gateway.iam import IAM
from gateway.iam.sessions import (
    FLUSH_SECONDS,
    STAGE_ACTIVE,
    STAGE_MFA,
    ConsoleSessions,
    Identity,
    token_id,
)
from gateway.iam.throttle import SigninThrottle, ThrottleRules, ip_key, user_key
from gateway.store import Store
from tests.conftest import StoreFactory

pytestmark = pytest.mark.anyio
PASSWORD = "Steve-Passw0rd!"


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


async def _steve(iam: IAM) -> Identity:
    await iam.create_user("steve")
    await iam.create_login_profile("steve", PASSWORD)
    sessions = ConsoleSessions(iam.store)
    identity = await sessions.check_user_password(iam.account_id, "steve", PASSWORD)
    assert identity is not None
    return identity


def _sessions(store: Store, clock: Clock, **kwargs: int) -> ConsoleSessions:
    return ConsoleSessions(store, clock=clock, **kwargs)


async def _start(sessions: ConsoleSessions, identity: Identity, stage: str = STAGE_ACTIVE) -> str:
    return await sessions.start(identity, stage=stage, source_ip="10.0.0.1", user_agent="test")


# -- password checks ---------------------------------------------------------------------


async def test_password_check_accepts_only_the_right_password(iam: IAM) -> None:
    """The right password proves the user; a wrong one, an unknown user or no profile do not."""
    identity = await _steve(iam)
    assert identity.user_name == "steve" and not identity.has_mfa
    sessions = ConsoleSessions(iam.store)
    assert await sessions.check_user_password(iam.account_id, "steve", "wrong") is None
    assert await sessions.check_user_password(iam.account_id, "nobody", PASSWORD) is None
    await iam.create_user("noprofile")
    assert await sessions.check_user_password(iam.account_id, "noprofile", PASSWORD) is None
    assert await sessions.check_user_password("999999999999", "steve", PASSWORD) is None


async def test_unknown_users_are_checked_against_the_dummy_hash(
    iam: IAM, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An unknown user costs one argon2 verification, against the dummy hash."""
    from gateway.iam import passwords
    from gateway.iam import sessions as module

    checked: list[str] = []
    real = passwords.verify_password

    async def spy(digest: str, password: str) -> bool:
        checked.append(digest)
        return await real(digest, password)

    monkeypatch.setattr(passwords, "verify_password", spy)
    sessions = ConsoleSessions(iam.store)
    assert await sessions.check_user_password(iam.account_id, "ghost", PASSWORD) is None
    assert checked == [module._DUMMY_HASH]


async def test_root_password_check_uses_the_email(iam: IAM) -> None:
    """The root user signs in with the account's email (any case) and root password."""
    sessions = ConsoleSessions(iam.store)
    root = await sessions.check_root_password("ROOT@example.com", "Root-Passw0rd!")
    assert root is not None and root.is_root and root.account_id == iam.account_id
    assert await sessions.check_root_password("root@example.com", "nope") is None
    assert await sessions.check_root_password("other@example.com", "Root-Passw0rd!") is None


# -- records and revocation --------------------------------------------------------------


async def test_a_token_resolves_and_only_its_hash_is_stored(iam: IAM) -> None:
    """The store keeps the token's SHA-256, never the token."""
    identity = await _steve(iam)
    sessions = _sessions(iam.store, Clock())
    token = await _start(sessions, identity)
    record = await sessions.resolve(token)
    assert record is not None and record.user_name == "steve" and record.is_active
    async with iam.store.transaction() as tx:
        rows = await tx.select("console_sessions")
    assert [row["id"] for row in rows] == [token_id(token)]
    assert token not in repr(rows)
    assert await sessions.resolve(token + "x") is None


async def test_sign_out_ends_the_session_on_another_replica(store_factory: StoreFactory) -> None:
    """A sign-out on one replica is seen by another on its next request (marker bump)."""
    first = await store_factory()
    await first.migrate()
    second = await store_factory()
    from gateway.iam import create_account
    from gateway.iam.crypto import Cipher, generate_master_key, parse_master_keys

    cipher = Cipher(parse_master_keys(generate_master_key(), source="test"))
    account = await create_account(
        first, root_email="r@example.com", root_password="Root-Passw0rd!"
    )
    identity = await _steve(IAM(first, cipher, account_id=account.account_id))
    clock = Clock()
    one, two = _sessions(first, clock), _sessions(second, clock)
    token = await _start(one, identity)
    two.observe(await second.generation())
    assert await two.resolve(token) is not None
    reads = two.store_reads
    assert await two.resolve(token) is not None
    assert two.store_reads == reads, "a cached record must not hit the store"
    await one.end(token)
    two.observe(await second.generation())
    assert await two.resolve(token) is None


@pytest.mark.parametrize("change", ["password", "delete_user", "delete_profile", "revoke"])
async def test_changes_that_end_every_session_of_a_user(iam: IAM, change: str) -> None:
    """A password change, a deleted user or login profile, or a revoke end the sessions."""
    identity = await _steve(iam)
    sessions = _sessions(iam.store, Clock())
    tokens = [await _start(sessions, identity) for _ in range(2)]
    sessions.observe(await iam.store.generation())
    assert all([await sessions.resolve(token) for token in tokens])
    if change == "password":
        await iam.update_login_profile("steve", password="Another-Passw0rd!")
    elif change == "delete_user":
        await iam.delete_user("steve", force=True)
    elif change == "delete_profile":
        await iam.delete_login_profile("steve")
    else:
        assert await sessions.end_all(identity.owner) == 2
    sessions.observe(await iam.store.generation())
    for token in tokens:
        assert await sessions.resolve(token) is None


async def test_reset_required_is_seen_by_a_live_session(iam: IAM) -> None:
    """An admin setting 'password reset required' forces the change on the next request."""
    identity = await _steve(iam)
    clock = Clock()
    sessions = _sessions(iam.store, clock)
    token = await _start(sessions, identity)
    record = await sessions.resolve(token)
    assert record is not None and not record.must_change_password(clock())
    await iam.update_login_profile("steve", password_reset_required=True)
    sessions.observe(await iam.store.generation())
    record = await sessions.resolve(token)
    assert record is not None and record.must_change_password(clock())


async def test_max_password_age_forces_a_change(iam: IAM) -> None:
    """A password older than the policy's MaxPasswordAge must be changed."""
    identity = await _steve(iam)
    await iam.update_account_password_policy(MaxPasswordAge=1)
    clock = Clock()
    clock.now = datetime.now(UTC)
    sessions = _sessions(iam.store, clock)
    token = await _start(sessions, identity)
    record = await sessions.resolve(token)
    assert record is not None and not record.must_change_password(clock())
    assert record.must_change_password(clock() + timedelta(days=2))


# -- timeouts ------------------------------------------------------------------------------


async def test_idle_timeout(iam: IAM) -> None:
    """Activity keeps a session alive; silence longer than the idle timeout ends it."""
    identity = await _steve(iam)
    clock = Clock()
    sessions = _sessions(iam.store, clock, idle_timeout_seconds=60)
    token = await _start(sessions, identity)
    for _ in range(5):
        clock.advance(50)
        assert await sessions.resolve(token) is not None
    clock.advance(61)
    assert await sessions.resolve(token) is None
    async with iam.store.transaction() as tx:
        assert await tx.count("console_sessions") == 0


async def test_absolute_timeout(iam: IAM) -> None:
    """However active, a session ends at the absolute timeout."""
    identity = await _steve(iam)
    clock = Clock()
    sessions = _sessions(iam.store, clock, idle_timeout_seconds=60, absolute_timeout_seconds=120)
    token = await _start(sessions, identity)
    clock.advance(50)
    assert await sessions.resolve(token) is not None
    clock.advance(50)
    assert await sessions.resolve(token) is not None
    clock.advance(21)
    assert await sessions.resolve(token) is None


async def test_idle_timeout_counts_activity_flushed_by_another_replica(
    store_factory: StoreFactory,
) -> None:
    """Replica B does not end a session that stayed active on replica A (flushed)."""
    first = await store_factory()
    await first.migrate()
    second = await store_factory()
    from gateway.iam import create_account
    from gateway.iam.crypto import Cipher, generate_master_key, parse_master_keys

    cipher = Cipher(parse_master_keys(generate_master_key(), source="test"))
    account = await create_account(
        first, root_email="r@example.com", root_password="Root-Passw0rd!"
    )
    identity = await _steve(IAM(first, cipher, account_id=account.account_id))
    clock = Clock()
    a = _sessions(first, clock, idle_timeout_seconds=60)
    b = _sessions(second, clock, idle_timeout_seconds=60)
    token = await _start(a, identity)
    assert await b.resolve(token) is not None
    for _ in range(3):
        clock.advance(40)
        assert await a.resolve(token) is not None
        assert a.flush_due() == (clock() >= a._last_flush + timedelta(seconds=FLUSH_SECONDS))
        await a.flush()
    assert await b.resolve(token) is not None, "B must read A's flushed activity"
    clock.advance(61)
    assert await b.resolve(token) is None


async def test_a_pending_mfa_session_is_short_lived(iam: IAM) -> None:
    """Between password and code, a session lives five minutes at most."""
    identity = await _steve(iam)
    clock = Clock()
    sessions = _sessions(iam.store, clock)
    token = await _start(sessions, identity, STAGE_MFA)
    record = await sessions.resolve(token)
    assert record is not None and not record.is_active
    clock.advance(301)
    assert await sessions.resolve(token) is None


async def test_list_shows_only_live_sessions(iam: IAM) -> None:
    """The session list holds the owner's active sessions, newest first."""
    identity = await _steve(iam)
    clock = Clock()
    sessions = _sessions(iam.store, clock)
    first = await _start(sessions, identity)
    clock.advance(1)
    second = await _start(sessions, identity)
    await _start(sessions, identity, STAGE_MFA)
    listed = await sessions.list_for(identity.owner)
    assert [record.id for record in listed] == [token_id(second), token_id(first)]
    assert await sessions.end_by_id(token_id(first), owner="someone-else") is False
    assert await sessions.end_by_id(token_id(first), owner=identity.owner) is True


# -- throttling ----------------------------------------------------------------------------


def _throttle(store: Store, clock: Clock) -> SigninThrottle:
    rules = ThrottleRules(
        max_failures=3, lock_seconds=600, backoff_base_seconds=2, backoff_max_seconds=30
    )
    return SigninThrottle(store, rules, clock=clock)


async def test_backoff_grows_then_locks(store: Store) -> None:
    """Each failure doubles the wait; the third locks the user for lock_seconds."""
    clock = Clock()
    throttle = _throttle(store, clock)
    key = user_key("123456789012", "Steve")
    assert await throttle.check([key]) is None
    await throttle.fail([key])
    wait = await throttle.check([key])
    assert wait is not None and wait.seconds == 2 and not wait.locked
    clock.advance(2)
    assert await throttle.check([key]) is None
    await throttle.fail([key])
    wait = await throttle.check([key])
    assert wait is not None and wait.seconds == 4
    clock.advance(4)
    await throttle.fail([key])
    wait = await throttle.check([key])
    assert wait is not None and wait.locked and wait.seconds == 600
    assert "locked" in wait.message()
    clock.advance(599)
    assert (await throttle.check([key])) is not None
    clock.advance(2)
    assert await throttle.check([key]) is None


async def test_user_keys_ignore_case_and_success_clears(store: Store) -> None:
    """The user key is case-insensitive; a success clears it."""
    clock = Clock()
    throttle = _throttle(store, clock)
    await throttle.fail([user_key("123456789012", "STEVE")])
    assert await throttle.check([user_key("123456789012", "steve")]) is not None
    await throttle.clear(user_key("123456789012", "steve"))
    assert await throttle.check([user_key("123456789012", "Steve")]) is None


async def test_ip_key_allows_more_before_slowing_down(store: Store) -> None:
    """A source IP gets max_failures free failures, then backoff, then a lock at 4x."""
    clock = Clock()
    throttle = _throttle(store, clock)
    key = ip_key("10.0.0.9")
    for _ in range(3):
        await throttle.fail([key])
    assert await throttle.check([key]) is None
    await throttle.fail([key])
    wait = await throttle.check([key])
    assert wait is not None and not wait.locked
    for _ in range(8):
        clock.advance(60)
        await throttle.fail([key])
    wait = await throttle.check([key])
    assert wait is not None and wait.locked


async def test_failures_on_two_replicas_all_count(store_factory: StoreFactory) -> None:
    """Failures recorded through two stores (replicas) add up; nothing is lost."""
    first = await store_factory()
    await first.migrate()
    second = await store_factory()
    clock = Clock()
    key = user_key("123456789012", "steve")
    import asyncio

    await asyncio.gather(
        _throttle(first, clock).fail([key]),
        _throttle(second, clock).fail([key]),
        _throttle(first, clock).fail([key]),
    )
    wait = await _throttle(second, clock).check([key])
    assert wait is not None and wait.locked


async def test_the_state_survives_a_restart(store_factory: StoreFactory) -> None:
    """A lock recorded before a restart still holds after it."""
    store = await store_factory()
    await store.migrate()
    clock = Clock()
    key = user_key("123456789012", "steve")
    for _ in range(3):
        await _throttle(store, clock).fail([key])
    await store.close()
    reopened = await store_factory()
    wait = await _throttle(reopened, clock).check([key])
    assert wait is not None and wait.locked
