"""
Request ids: unique within a deployment, cheap to make.

A random per-process prefix (64 bits) followed by a counter: 32 hex characters
like a uuid4's, without an ``os.urandom`` call and a UUID object per request.
Request ids name requests in audit events and responses; they are not secrets
and need not be unpredictable.
"""

from __future__ import annotations

import itertools
import secrets

_PREFIX = secrets.token_hex(8)
_COUNTER = itertools.count(1)


def new_request_id() -> str:
    """
    Return a fresh request id (32 lowercase hex characters).
    """
    return f"{_PREFIX}{next(_COUNTER) & 0xFFFFFFFFFFFFFFFF:016x}"
