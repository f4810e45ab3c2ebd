"""
Console passwords: argon2id hashing and the account password policy.

Hashing runs in a worker thread so a sign-in never blocks the event loop.
Messages say which rule a password broke and never echo the password.
"""

from __future__ import annotations

import asyncio
import secrets
import string
from dataclasses import asdict, dataclass
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from gateway.errors import InvalidInput

# AWS: the symbols a password policy's RequireSymbols counts.
SYMBOLS = "!@#$%^&*()_+-=[]{}|'"

_HASHER = PasswordHasher()  # argon2id with the library's RFC 9106 low-memory defaults


@dataclass(frozen=True, slots=True)
class PasswordPolicy:
    """
    The account password policy, with AWS's field names in snake_case.
    """

    minimum_password_length: int = 8
    require_symbols: bool = False
    require_numbers: bool = False
    require_uppercase_characters: bool = False
    require_lowercase_characters: bool = False
    allow_users_to_change_password: bool = False
    max_password_age: int | None = None
    password_reuse_prevention: int | None = None
    hard_expiry: bool = False

    @property
    def expire_passwords(self) -> bool:
        return self.max_password_age is not None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PasswordPolicy:
        return cls(**{key: value for key, value in data.items() if key in cls.__slots__})

    def check_fields(self) -> None:
        """
        Validate the policy's own values against AWS's ranges.

        Raises:
            InvalidInput: a value is out of range.
        """
        if not 6 <= self.minimum_password_length <= 128:
            raise InvalidInput("`MinimumPasswordLength` must be between 6 and 128")
        if self.max_password_age is not None and not 1 <= self.max_password_age <= 1095:
            raise InvalidInput("`MaxPasswordAge` must be between 1 and 1095")
        reuse = self.password_reuse_prevention
        if reuse is not None and not 1 <= reuse <= 24:
            raise InvalidInput("`PasswordReusePrevention` must be between 1 and 24")


# AWS applies this when an account has set no policy: at least 8 characters and at
# least three of uppercase, lowercase, numbers and symbols.
DEFAULT_POLICY = PasswordPolicy()


def check_password(password: str, policy: PasswordPolicy | None) -> None:
    """
    Check ``password`` against ``policy`` (or AWS's default when there is none).

    Raises:
        InvalidInput: with code PasswordPolicyViolation, naming every rule broken.
    """
    if not isinstance(password, str) or not password:
        raise InvalidInput("a password is required", code="PasswordPolicyViolation")
    broken: list[str] = []
    if len(password) > 128:
        broken.append("have at most 128 characters")
    classes = {
        "uppercase": any(c in string.ascii_uppercase for c in password),
        "lowercase": any(c in string.ascii_lowercase for c in password),
        "numbers": any(c in string.digits for c in password),
        "symbols": any(c in SYMBOLS for c in password),
    }
    if policy is None:
        if len(password) < 8:
            broken.append("have at least 8 characters")
        if sum(classes.values()) < 3:
            broken.append(
                "contain at least three of: uppercase letters, lowercase letters, numbers, symbols"
            )
    else:
        if len(password) < policy.minimum_password_length:
            broken.append(f"have at least {policy.minimum_password_length} characters")
        if policy.require_uppercase_characters and not classes["uppercase"]:
            broken.append("contain an uppercase letter")
        if policy.require_lowercase_characters and not classes["lowercase"]:
            broken.append("contain a lowercase letter")
        if policy.require_numbers and not classes["numbers"]:
            broken.append("contain a number")
        if policy.require_symbols and not classes["symbols"]:
            broken.append(f"contain one of these symbols: {SYMBOLS}")
    if broken:
        raise InvalidInput(
            "password does not conform to the account password policy: it must "
            + "; ".join(broken),
            code="PasswordPolicyViolation",
        )


def generate_password(policy: PasswordPolicy | None, length: int = 20) -> str:
    """
    Return a random password that satisfies ``policy`` (and AWS's default).
    """
    size = max(length, policy.minimum_password_length if policy else 8)
    alphabet = string.ascii_letters + string.digits + SYMBOLS
    while True:
        candidate = "".join(secrets.choice(alphabet) for _ in range(size))
        if all(
            any(c in group for c in candidate)
            for group in (string.ascii_uppercase, string.ascii_lowercase, string.digits, SYMBOLS)
        ):
            return candidate


async def hash_password(password: str) -> str:
    """
    Return the argon2id hash of ``password`` (computed off the event loop).
    """
    return await asyncio.to_thread(_HASHER.hash, password)


async def verify_password(password_hash: str, password: str) -> bool:
    """
    Return True when ``password`` matches ``password_hash``; the comparison is
    argon2's own, which does not leak timing about where the inputs differ.
    """

    def _verify() -> bool:
        try:
            return _HASHER.verify(password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    return await asyncio.to_thread(_verify)
