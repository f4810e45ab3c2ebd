"""
Request ids: unique and shaped like a uuid4 hex.
"""

from __future__ import annotations

import re

from gateway.request_ids import new_request_id


def test_request_ids_are_unique_hex() -> None:
    """Ids are 32 lowercase hex characters and never repeat within a process."""
    ids = [new_request_id() for _ in range(10_000)]
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"[0-9a-f]{32}", request_id) for request_id in ids)
