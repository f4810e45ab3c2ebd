"""
AWS IAM identifiers, ARNs and the validation rules for names and paths.

Unique ids follow AWS's shapes: a four-letter prefix that says what the entity
is (``AIDA`` user, ``AGPA`` group, ``AROA`` role, ``ANPA`` policy, ``AKIA``
access key) and random base32 characters.
"""

from __future__ import annotations

import re
import secrets
import string
from datetime import UTC, datetime

from gateway.errors import InvalidInput

_BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_SECRET_ALPHABET = string.ascii_letters + string.digits + "+/"

USER_ID_PREFIX = "AIDA"
GROUP_ID_PREFIX = "AGPA"
ROLE_ID_PREFIX = "AROA"
POLICY_ID_PREFIX = "ANPA"
ACCESS_KEY_PREFIX = "AKIA"
TEMPORARY_KEY_PREFIX = "ASIA"

# AWS: user, role and group names are alphanumerics plus `+=,.@_-`.
_NAME = re.compile(r"[\w+=,.@-]+", re.ASCII)
# AWS: a path is `/` or `/` + printable ASCII (no spaces) + `/`, up to 512 characters.
_PATH = re.compile(r"/|/[\x21-\x7e]+/")
_ACCOUNT_ALIAS = re.compile(r"[a-z0-9]([a-z0-9]|-(?!-)){1,61}[a-z0-9]")
_ACCOUNT_ID = re.compile(r"\d{12}")


def unique_id(prefix: str) -> str:
    """
    Return a new AWS-shaped unique id: ``prefix`` + 17 random base32 characters.
    """
    return prefix + "".join(secrets.choice(_BASE32) for _ in range(17))


def access_key_id(prefix: str = ACCESS_KEY_PREFIX) -> str:
    """
    Return a new access key id: ``AKIA`` (or ``ASIA``) + 16 random base32 characters.
    """
    return prefix + "".join(secrets.choice(_BASE32) for _ in range(16))


def secret_access_key() -> str:
    """
    Return a new 40-character secret access key.
    """
    return "".join(secrets.choice(_SECRET_ALPHABET) for _ in range(40))


def account_id() -> str:
    """
    Return a new random 12-digit account id (no leading zero, as AWS shows them).
    """
    return str(secrets.choice(range(1, 10))) + "".join(
        secrets.choice(string.digits) for _ in range(11)
    )


def arn(account: str, kind: str, path: str, name: str) -> str:
    """
    Return ``arn:aws:iam::<account>:<kind><path><name>``.
    """
    return f"arn:aws:iam::{account}:{kind}{path}{name}"


def now() -> datetime:
    """
    Return the current time in UTC.
    """
    return datetime.now(UTC)


def timestamp(moment: datetime) -> str:
    """
    Return the stored form of a time: ISO 8601 in UTC with microseconds and ``Z``.
    """
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_timestamp(text: str) -> datetime:
    """
    Parse the stored form of a time back into an aware datetime.
    """
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def check_name(value: object, *, field: str, max_length: int) -> str:
    """
    Validate an IAM entity name.

    Raises:
        InvalidInput: the name is empty, too long or has characters AWS refuses.
    """
    if not isinstance(value, str) or not value:
        raise InvalidInput(f"`{field}` is required")
    if len(value) > max_length:
        raise InvalidInput(
            f"1 validation error detected: value at `{field}` failed to satisfy constraint: "
            f"member must have length less than or equal to {max_length}"
        )
    if not _NAME.fullmatch(value):
        raise InvalidInput(
            f"1 validation error detected: value `{value}` at `{field}` failed to satisfy "
            r"constraint: member must satisfy regular expression pattern: [\w+=,.@-]+"
        )
    return value


def check_path(value: object, *, field: str = "Path") -> str:
    """
    Validate an IAM path (``/`` by default); returns it.

    Raises:
        InvalidInput: the path does not start and end with `/` or is too long.
    """
    if value is None:
        return "/"
    if not isinstance(value, str) or len(value) > 512 or not _PATH.fullmatch(value):
        raise InvalidInput(
            f"the specified value for `{field}` is invalid: it must begin and end with `/` "
            "and contain only printable ASCII characters without spaces"
        )
    return value


def check_account_alias(value: object) -> str:
    """
    Validate an account alias: 3-63 lowercase letters, digits and single hyphens.

    Raises:
        InvalidInput: the alias breaks AWS's rules or looks like an account id.
    """
    if not isinstance(value, str) or not _ACCOUNT_ALIAS.fullmatch(value):
        raise InvalidInput(
            f"invalid account alias `{value}`: use 3 to 63 lowercase letters, digits and "
            "hyphens, starting and ending with a letter or digit"
        )
    if _ACCOUNT_ID.fullmatch(value):
        raise InvalidInput("an account alias cannot be a 12-digit number")
    return value


def is_account_id(value: str) -> bool:
    """
    Return True when ``value`` is shaped like a 12-digit account id.
    """
    return bool(_ACCOUNT_ID.fullmatch(value))
