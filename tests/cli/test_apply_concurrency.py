"""
Two `apply` runs at once, from separate connections, on both backends.
"""

from __future__ import annotations

import asyncio

import pytest

from gateway.cli.apply import apply, export_data
from gateway.cli.iamfile import load_iam_file
from gateway.iam import IAM, Cipher
from gateway.store import Store
from tests.cli.conftest import EXAMPLE_IAM
from tests.conftest import StoreFactory

pytestmark = pytest.mark.anyio


async def test_concurrent_applies_lose_nothing(
    store_factory: StoreFactory, store: Store, iam: IAM, cipher: Cipher
) -> None:
    """Racing applies serialize: one makes the changes, the other finds none to make."""
    spec = load_iam_file(str(EXAMPLE_IAM))
    others = [IAM(await store_factory(), cipher, account_id=iam.account_id) for _ in range(2)]
    results = await asyncio.gather(*(apply(other, spec) for other in others))
    applied = sorted(len(changes) for changes, _ in results)
    assert applied[0] == 0 and applied[1] > 0
    notices = [notice for _, found in results for notice in found]
    assert len(notices) == 1  # one generated console password, for steve, once
    exported = await export_data(iam)
    assert [u["name"] for u in exported["users"]] == ["backup", "steve"]
    changes, _ = await apply(iam, spec)
    assert changes == []
