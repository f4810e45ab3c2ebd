"""
Failed MFA codes in the STS API are throttled in the store, per user.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from gateway.api.sts import MfaAttempts
from gateway.errors import AccessDenied
from gateway.iam.throttle import SigninThrottle, ThrottleRules
from gateway.store import Store

pytestmark = pytest.mark.anyio

NOW = datetime(2026, 11, 28, 1, 0, tzinfo=UTC)


async def test_lock_after_the_limit_and_release_after_the_window(store: Store) -> None:
    """Failures back off, the limit-th locks the user, the lock lifts after its time."""
    clock = [NOW]
    rules = ThrottleRules(max_failures=3, lock_seconds=60, backoff_base_seconds=1.0)
    attempts = MfaAttempts(SigninThrottle(store, rules, clock=lambda: clock[0]))
    await attempts.check("user:1:a")
    await attempts.failed("user:1:a")
    with pytest.raises(AccessDenied, match="try again in 1 seconds"):
        await attempts.check("user:1:a")  # backing off
    clock[0] += timedelta(seconds=2)
    await attempts.check("user:1:a")
    await attempts.failed("user:1:a")
    await attempts.failed("user:1:a")
    clock[0] += timedelta(seconds=10)
    with pytest.raises(AccessDenied):
        await attempts.check("user:1:a")  # locked
    await attempts.check("user:1:b")  # others are not
    # Another process with the same store sees the same lock.
    other = MfaAttempts(SigninThrottle(store, rules, clock=lambda: clock[0]))
    with pytest.raises(AccessDenied):
        await other.check("user:1:a")
    clock[0] += timedelta(seconds=61)
    await other.check("user:1:a")
