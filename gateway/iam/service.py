"""
``IAM``: the service layer's one entry point, scoped to one account.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from gateway.errors import InvalidInput, NoSuchEntity
from gateway.iam import naming
from gateway.iam.accounts import AccountOperations, find_account, list_accounts
from gateway.iam.base import Clock
from gateway.iam.credentials import CredentialOperations
from gateway.iam.crypto import Cipher
from gateway.iam.grants import GrantOperations
from gateway.iam.policies import PolicyOperations
from gateway.iam.roles import RoleOperations
from gateway.iam.users import UserOperations
from gateway.store import Store


class IAM(
    AccountOperations,
    UserOperations,
    RoleOperations,
    PolicyOperations,
    CredentialOperations,
    GrantOperations,
):
    """
    IAM operations on one account, acting as its root user.

    Callers authorize before they call: the edge evaluates the caller's policies
    for the matching IAM action; the CLI acts as root on the local store.
    """

    @classmethod
    async def for_account(
        cls,
        store: Store,
        cipher: Cipher,
        account: str | None = None,
        *,
        clock: Clock = naming.now,
    ) -> IAM:
        """
        Return the service for ``account`` (id or alias), or for the only account.

        Raises:
            NoSuchEntity: there is no such account, or none at all.
            InvalidInput: there are several and none was named.
        """
        if account is not None:
            found = await find_account(store, account)
            return cls(store, cipher, account_id=found.account_id, clock=clock)
        accounts = await list_accounts(store)
        if not accounts:
            raise NoSuchEntity("the store has no account; run `gateway init --config FILE`")
        if len(accounts) > 1:
            raise InvalidInput(
                "the store holds several accounts; name one with `--account ID_OR_ALIAS`"
            )
        return cls(store, cipher, account_id=accounts[0].account_id, clock=clock)

    @asynccontextmanager
    async def batch(self) -> AsyncIterator[IAM]:
        """
        Yield a service bound to one write transaction: every change it makes commits
        together, or none does if the block raises.
        """
        if self._tx is not None:
            yield self
            return
        async with self.store.transaction(write=True) as tx:
            yield IAM(self.store, self.cipher, account_id=self.account_id, clock=self.clock, tx=tx)
