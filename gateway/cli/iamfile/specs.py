"""
The frozen specs an IAM file is read into, and the error that names where it is wrong.

Every spec keeps ``where`` (``users[1]``), so that an error found later (an unknown
group while planning) still names its place in the file.

The outermost layer, like the rest of ``gateway.cli``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gateway.errors import InvalidInput

# The password policy's keys: snake_case here, AWS's names on the service.
PASSWORD_POLICY_FIELDS: dict[str, tuple[str, type]] = {
    "minimum_password_length": ("MinimumPasswordLength", int),
    "require_symbols": ("RequireSymbols", bool),
    "require_numbers": ("RequireNumbers", bool),
    "require_uppercase_characters": ("RequireUppercaseCharacters", bool),
    "require_lowercase_characters": ("RequireLowercaseCharacters", bool),
    "allow_users_to_change_password": ("AllowUsersToChangePassword", bool),
    "max_password_age": ("MaxPasswordAge", int),
    "password_reuse_prevention": ("PasswordReusePrevention", int),
    "hard_expiry": ("HardExpiry", bool),
}

Document = dict[str, Any]


class IAMFileError(InvalidInput):
    """
    The IAM file is malformed or names something that does not exist.
    """

    def __init__(self, file: str, where: str, message: str) -> None:
        super().__init__(f"{file}: {where}: {message}" if where else f"{file}: {message}")
        self.file = file
        self.where = where


@dataclass(frozen=True, slots=True)
class Ref:
    """
    A name in the file that refers to something else, and where it was written.
    """

    value: str
    where: str


@dataclass(frozen=True, slots=True)
class PolicySpec:
    name: str
    path: str
    description: str
    document: Document
    where: str


@dataclass(frozen=True, slots=True)
class GroupSpec:
    name: str
    path: str
    policies: tuple[Ref, ...]
    inline_policies: tuple[tuple[str, Document], ...]
    where: str


@dataclass(frozen=True, slots=True)
class UserSpec:
    name: str
    path: str
    tags: tuple[tuple[str, str], ...]
    groups: tuple[Ref, ...]
    policies: tuple[Ref, ...]
    inline_policies: tuple[tuple[str, Document], ...]
    permissions_boundary: Ref | None
    console: bool | None  # None: no login profile; else password_reset_required
    where: str


@dataclass(frozen=True, slots=True)
class RoleSpec:
    name: str
    path: str
    description: str
    max_session_duration: int
    trust_policy: Document
    tags: tuple[tuple[str, str], ...]
    policies: tuple[Ref, ...]
    inline_policies: tuple[tuple[str, Document], ...]
    permissions_boundary: Ref | None
    where: str


@dataclass(frozen=True, slots=True)
class IAMFile:
    """
    The desired state a file describes.
    """

    file: str
    account_alias: str | None
    prune: bool
    password_policy: dict[str, object] | None  # AWS field names
    policies: tuple[PolicySpec, ...]
    groups: tuple[GroupSpec, ...]
    users: tuple[UserSpec, ...]
    roles: tuple[RoleSpec, ...]

    def error(self, where: str, message: str) -> IAMFileError:
        return IAMFileError(self.file, where, message)
