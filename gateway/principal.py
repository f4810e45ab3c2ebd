"""
``Principal``: who is calling, as authentication established it.

A frozen value shared by the auth layer, the authorizer, the audit trail and
the wrapped application (``scope["gateway"].principal`` in middleware mode).
It never holds a secret: no secret key, no session token, no password.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class PrincipalType(StrEnum):
    """
    The kinds of caller; values are AWS's ``aws:PrincipalType`` / CloudTrail strings.
    """

    ROOT = "Root"
    USER = "IAMUser"
    ASSUMED_ROLE = "AssumedRole"
    ANONYMOUS = "Anonymous"


@dataclass(frozen=True, slots=True)
class Principal:
    """
    An authenticated caller.

    ``entity_id`` is the IAM user id or role id behind the caller (what policies
    are attached to); ``user_id`` is AWS's ``aws:userid`` (``AIDA...`` for a user,
    ``AROA...:session`` for a role session, the account id for root).
    """

    type: PrincipalType
    arn: str
    account_id: str
    user_id: str
    user_name: str = ""
    entity_id: str = ""
    access_key_id: str = ""
    session_name: str = ""
    session_issuer_arn: str = ""
    mfa_authenticated: bool = False
    mfa_authenticated_at: datetime | None = None
    authenticated_at: datetime | None = None
    credential: str = ""  # "sigv4", "console-session", "sts", ...
    tags: tuple[tuple[str, str], ...] = field(default=())

    @property
    def is_root(self) -> bool:
        return self.type is PrincipalType.ROOT
