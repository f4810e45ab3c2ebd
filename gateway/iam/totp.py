"""
RFC 6238 time-based one-time passwords, as AWS virtual MFA devices use them:
HMAC-SHA-1, 6 digits, 30-second steps (pyotp computes the codes).

These functions return the matched time step, never a bare yes/no, so that the
IAM layer can record the step and refuse it the second time (a code is accepted
at most once). Every candidate step is compared in constant time, and all of
them are compared, so timing does not tell which step (if any) matched.

Part of the IAM service layer; pure functions, no I/O.
"""

from __future__ import annotations

import hmac
from datetime import datetime

import pyotp

DIGITS = 6
INTERVAL = 30
# RFC 6238 §5.2: accept one step of network delay (or clock drift) either side.
DEFAULT_DRIFT_STEPS = 1


def device(seed_base32: str) -> pyotp.TOTP:
    """
    Return the TOTP generator of a virtual MFA device's seed.
    """
    return pyotp.TOTP(seed_base32, digits=DIGITS, interval=INTERVAL)


def step_at(moment: datetime) -> int:
    """
    Return the RFC 6238 time step (T) of ``moment``.
    """
    return int(moment.timestamp()) // INTERVAL


def matching_step(
    totp: pyotp.TOTP, code: str, now: datetime, *, drift: int = DEFAULT_DRIFT_STEPS
) -> int | None:
    """
    Return the step within ``drift`` steps of ``now`` whose code is ``code``, or None.

    A code that is not exactly ``DIGITS`` ASCII digits never matches.
    """
    if not isinstance(code, str) or len(code) != DIGITS or not code.isascii() or not code.isdigit():
        return None
    current = step_at(now)
    found: int | None = None
    for step in range(current - drift, current + drift + 1):
        # SECURITY: compare every candidate; no early exit on the first match.
        if hmac.compare_digest(totp.generate_otp(step), code) and found is None:
            found = step
    return found


def consecutive_steps(
    totp: pyotp.TOTP, code1: str, code2: str, now: datetime, *, drift: int = DEFAULT_DRIFT_STEPS
) -> int | None:
    """
    Return the step of ``code1`` when ``code1`` and ``code2`` are consecutive codes
    and ``code2`` is within ``drift`` steps of ``now`` (IAM's EnableMFADevice rule).
    """
    second = matching_step(totp, code2, now, drift=drift)
    if second is None:
        return None
    first = second - 1
    return first if hmac.compare_digest(totp.generate_otp(first), str(code1)) else None
