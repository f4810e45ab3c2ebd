"""
The IAM service layer: users, groups, roles, policies, credentials, accounts.

The only package that talks to the store; it knows no HTTP. Business rules and
AWS's limits live here.
"""

from __future__ import annotations

from gateway.iam.accounts import create_account, find_account, list_accounts
from gateway.iam.crypto import Cipher, load_cipher, write_master_key
from gateway.iam.service import IAM

__all__ = [
    "IAM",
    "Cipher",
    "create_account",
    "find_account",
    "list_accounts",
    "load_cipher",
    "write_master_key",
]
