"""
The IAM entities as frozen values, as the service layer returns them.

Field names are AWS's, in snake_case. Secrets appear only on the values that
a create call returns once (``NewAccessKey.secret_access_key``,
``NewVirtualMFADevice.base32_seed``) and are redacted from their reprs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Account:
    account_id: str
    alias: str | None
    root_email: str
    created: datetime

    @property
    def root_arn(self) -> str:
        return f"arn:aws:iam::{self.account_id}:root"


@dataclass(frozen=True, slots=True)
class User:
    user_name: str
    user_id: str
    arn: str
    path: str
    created: datetime
    account_id: str
    permissions_boundary: str | None = None
    tags: tuple[tuple[str, str], ...] = ()
    password_last_used: datetime | None = None


@dataclass(frozen=True, slots=True)
class Group:
    group_name: str
    group_id: str
    arn: str
    path: str
    created: datetime


@dataclass(frozen=True, slots=True)
class Role:
    role_name: str
    role_id: str
    arn: str
    path: str
    created: datetime
    assume_role_policy_document: str
    description: str
    max_session_duration: int
    permissions_boundary: str | None = None
    tags: tuple[tuple[str, str], ...] = ()
    sessions_revoked_before: datetime | None = None


@dataclass(frozen=True, slots=True)
class ManagedPolicy:
    policy_name: str
    policy_id: str
    arn: str
    path: str
    description: str
    default_version_id: str
    attachment_count: int
    created: datetime
    updated: datetime

    @property
    def is_aws_managed(self) -> bool:
        return self.arn.startswith("arn:aws:iam::aws:")


@dataclass(frozen=True, slots=True)
class PolicyVersion:
    version_id: str
    document: str
    is_default: bool
    created: datetime


@dataclass(frozen=True, slots=True)
class AttachedPolicy:
    policy_name: str
    policy_arn: str


@dataclass(frozen=True, slots=True)
class InlinePolicy:
    policy_name: str
    document: str


@dataclass(frozen=True, slots=True)
class PolicyEntities:
    users: tuple[tuple[str, str], ...]  # (name, id)
    groups: tuple[tuple[str, str], ...]
    roles: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class AccessKey:
    user_name: str
    access_key_id: str
    status: str
    created: datetime
    last_used: datetime | None = None
    last_used_service: str | None = None
    last_used_region: str | None = None


@dataclass(frozen=True, slots=True)
class NewAccessKey:
    """
    A freshly created key: the only value that ever carries the secret.
    """

    key: AccessKey
    secret_access_key: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class LoginProfile:
    user_name: str
    created: datetime
    password_reset_required: bool
    password_changed: datetime


@dataclass(frozen=True, slots=True)
class MFADevice:
    serial_number: str
    user_name: str | None
    enabled: datetime | None
    created: datetime


@dataclass(frozen=True, slots=True)
class NewVirtualMFADevice:
    """
    A freshly created virtual MFA device, with the seed shown once for enrollment.
    """

    serial_number: str
    base32_seed: str = field(repr=False)
    otpauth_uri: str = field(repr=False)
