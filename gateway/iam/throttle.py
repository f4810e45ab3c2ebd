"""
Sign-in throttling: failed passwords and MFA codes slow down, then lock, per key.

A key is a user (``user:<account>:<name in lower case>``, whether or not the user
exists, so the throttle tells nothing about existence) or a source IP
(``ip:<address>``). Each failure is one inserted row in ``signin_failures``; nothing
is read, modified and written back, so failures racing on several replicas are all
counted, and the state survives restarts.

For a user key, after ``n`` recent failures the next attempt must wait
``backoff_base * 2 ** (n - 1)`` seconds (at most ``backoff_max``); the
``max_failures``-th failure locks the key for ``lock_seconds``. Failures more than
``lock_seconds`` apart do not add up. The state is computed from the rows alone, so
it is the same on every replica. A source IP is shared by many people (offices, NAT), so its
backoff starts only after ``max_failures`` failures and it locks after four times
as many. A success clears the user key, never the IP key.

Part of the IAM service layer: no HTTP; the store is the only I/O.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from gateway.iam import naming
from gateway.iam.base import Clock
from gateway.store import Row, Store

IP_LOCK_FACTOR = 4


def user_key(account_id: str, user_name: str) -> str:
    """
    Return the throttling key of a user name in an account (case-insensitive).
    """
    return f"user:{account_id}:{user_name.lower()[:128]}"


def ip_key(address: str) -> str:
    """
    Return the throttling key of a source IP address.
    """
    return f"ip:{address[:64]}"


@dataclass(frozen=True, slots=True)
class ThrottleRules:
    """
    How failures slow down and lock (the ``[signin]`` settings).
    """

    max_failures: int = 5
    lock_seconds: int = 900
    backoff_base_seconds: float = 1.0
    backoff_max_seconds: float = 60.0

    @classmethod
    def of(cls, settings: _Rules) -> ThrottleRules:
        """
        The rules of the ``[signin]`` settings (or anything with the same fields).
        """
        return cls(
            max_failures=settings.max_failures,
            lock_seconds=settings.lock_seconds,
            backoff_base_seconds=settings.backoff_base_seconds,
            backoff_max_seconds=settings.backoff_max_seconds,
        )


class _Rules(Protocol):
    @property
    def max_failures(self) -> int: ...
    @property
    def lock_seconds(self) -> int: ...
    @property
    def backoff_base_seconds(self) -> float: ...
    @property
    def backoff_max_seconds(self) -> float: ...


@dataclass(frozen=True, slots=True)
class Wait:
    """
    An attempt that must not be made yet: how long to wait, and whether it is a lock.
    """

    seconds: int
    locked: bool

    def message(self) -> str:
        """
        The sentence a person reads; it never says whether the user exists.
        """
        if self.locked:
            minutes = max(1, math.ceil(self.seconds / 60))
            return (
                "Too many failed sign-in attempts: sign-in is locked for about "
                f"{minutes} minute{'s' if minutes != 1 else ''}. Try again later."
            )
        return (
            f"Too many failed attempts. Wait {self.seconds} second"
            f"{'s' if self.seconds != 1 else ''} and try again."
        )


class SigninThrottle:
    """
    Per-user and per-IP backoff and lock, recorded in the store.
    """

    def __init__(
        self, store: Store, rules: ThrottleRules | None = None, *, clock: Clock = naming.now
    ) -> None:
        self.store = store
        self.rules = rules or ThrottleRules()
        self.clock = clock

    def _limits(self, key: str) -> tuple[int, int]:
        # (failures allowed before any delay, failures that lock)
        if key.startswith("ip:"):
            return self.rules.max_failures, self.rules.max_failures * IP_LOCK_FACTOR
        return 0, self.rules.max_failures

    async def check(self, keys: Sequence[str]) -> Wait | None:
        """
        Return the longest wait any of ``keys`` imposes now, or None to go ahead.
        """
        now = self.clock()
        longest: Wait | None = None
        async with self.store.transaction() as tx:
            for key in keys:
                rows = await tx.select("signin_failures", {"throttle_key": key})
                wait = self._wait(key, rows, now)
                if wait is not None and (longest is None or wait.seconds > longest.seconds):
                    longest = wait
        return longest

    def _wait(self, key: str, rows: list[Row], now: datetime) -> Wait | None:
        # Replay the failures in order. An episode is a run of failures less than
        # lock_seconds apart; reaching the lock count locks the key from that
        # failure on, and an expired lock starts a new episode.
        lock_for = timedelta(seconds=self.rules.lock_seconds)
        free, lock_at = self._limits(key)
        episode: list[datetime] = []
        for moment in sorted(naming.parse_timestamp(str(row["failed_at"])) for row in rows):
            if episode and moment - episode[-1] > lock_for:
                episode = []
            episode.append(moment)
            if len(episode) >= lock_at:
                if now < moment + lock_for:
                    remaining = (moment + lock_for - now).total_seconds()
                    return Wait(max(1, math.ceil(remaining)), locked=True)
                episode = []
        if not episode or now - episode[-1] > lock_for:
            return None
        excess = len(episode) - free
        if excess <= 0:
            return None
        delay = min(
            self.rules.backoff_base_seconds * 2 ** (excess - 1), self.rules.backoff_max_seconds
        )
        ready = episode[-1] + timedelta(seconds=delay)
        if ready <= now:
            return None
        return Wait(max(1, math.ceil((ready - now).total_seconds())), locked=False)

    async def fail(self, keys: Sequence[str]) -> None:
        """
        Record one failure for each of ``keys`` (one inserted row each).
        """
        now = self.clock()
        stamp = naming.timestamp(now)
        # INVARIANT: an episode spans at most lock_at failures less than lock_seconds
        # apart, then its lock; rows older than that can no longer matter.
        async with self.store.transaction(write=True, bump=False) as tx:
            for key in keys:
                _, lock_at = self._limits(key)
                horizon = now - timedelta(seconds=self.rules.lock_seconds * (lock_at + 1))
                await tx.insert(
                    "signin_failures",
                    {"throttle_key": key, "id": secrets.token_hex(8), "failed_at": stamp},
                )
                rows = await tx.select("signin_failures", {"throttle_key": key})
                stale = [
                    str(row["id"])
                    for row in rows
                    if naming.parse_timestamp(str(row["failed_at"])) < horizon
                ]
                if stale:
                    await tx.delete("signin_failures", {"throttle_key": key, "id": stale})

    async def clear(self, key: str) -> None:
        """
        Forget the failures of ``key`` (after a successful sign-in).
        """
        async with self.store.transaction(write=True, bump=False) as tx:
            await tx.delete("signin_failures", {"throttle_key": key})
