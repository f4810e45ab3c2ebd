"""
``Principal``: who is calling, as authentication established it.

A frozen value shared by the auth layer, the authorizer, the audit trail and
the wrapped application (``scope["gateway"].principal`` in middleware mode).
It never holds a secret: no secret key, no session token, no password.

A temporary-credential session (``credential == "sts"``) also carries what STS
fixed when it was issued: its source identity and its session policies (the
inline document, compiled, and managed policy ARNs, resolved at evaluation time
so their current default version applies). Session policies only narrow.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from gateway.policy import Policy


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
    source_identity: str = ""
    transitive_tag_keys: tuple[str, ...] = ()
    session_policy_arns: tuple[str, ...] = ()
    # Compiled once per session token; not part of the principal's identity.
    session_policies: tuple[Policy, ...] = field(default=(), compare=False, repr=False)
    expires_at: datetime | None = None

    @property
    def is_root(self) -> bool:
        return self.type is PrincipalType.ROOT

    @property
    def has_session_policies(self) -> bool:
        """
        True when STS narrowed this session with session policies.
        """
        return bool(self.session_policies or self.session_policy_arns)
