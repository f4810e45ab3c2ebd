"""
Keeping secrets and control characters out of audit text.

Layer: auth (beside ``routing``). Pure functions on strings and JSON-ready values;
imports nothing from the gateway.

SECURITY: ``sanitize_text`` escapes control, line-separator, zero-width and bidi
characters, so a client cannot forge log lines or hide text in a viewer (log
injection). ``redact_query`` replaces the values of credential-bearing query
parameters (``X-Amz-Signature``, ``X-Amz-Security-Token``, ``X-Amz-Credential``,
anything named like a token, secret, password or signature) by ``REDACTED``.
``scrub_secrets`` drops keys that name a secret; sinks run every event through it
as a second line of defence behind ``build_event``, which never adds one.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Mapping
from typing import Any, Final
from urllib.parse import unquote_plus

__all__ = [
    "MAX_TEXT_CHARS",
    "REDACTED",
    "REDACTED_KEYS",
    "TRUNCATED",
    "is_secret_key",
    "redact_query",
    "sanitize_text",
    "scrub_secrets",
]

REDACTED: Final = "REDACTED"
TRUNCATED: Final = "...(truncated)"
MAX_TEXT_CHARS: Final = 1024
MAX_QUERY_CHARS: Final = 2048

# C0 controls and DEL; the fast path for ASCII text.
_ASCII_UNSAFE = re.compile("[\x00-\x1f\x7f]")
# Other text: controls (C1), format characters (zero-width, bidi overrides such as
# U+202E, which makes a line read backwards in a viewer, tag characters, the BOM),
# line and paragraph separators, and lone surrogates.
_UNSAFE_CATEGORIES: Final = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})

# SECURITY: keys never written by a sink, compared without case, `-` or `_`.
REDACTED_KEYS: Final = frozenset(
    {
        "authorization",
        "cookie",
        "setcookie",
        "password",
        "secret",
        "secretaccesskey",
        "secretkey",
        "sessiontoken",
        "securitytoken",
        "token",
    }
)

# SECURITY: query parameters whose value is or derives from a credential. A name is
# compared lowercase with `-`, `_` and `.` removed; any of these words redacts it.
_SECRET_QUERY_WORDS: Final = (
    "signature",
    "token",
    "secret",
    "password",
    "passwd",
    "credential",
    "auth",
    "session",
    "apikey",
    "accesskey",
    "privatekey",
)
# Names too short to match by substring: Azure SAS `sig`, OAuth `code`, one-time codes.
_SECRET_QUERY_NAMES: Final = frozenset({"sig", "code", "otp", "totp", "mfacode", "key"})


def sanitize_text(value: str, *, limit: int = MAX_TEXT_CHARS) -> str:
    """
    Truncate ``value`` to ``limit`` characters and escape unsafe characters.

    Control characters (newlines included), Unicode line separators and format
    characters (zero-width, bidi controls) become ``\\xNN`` / ``\\uNNNN`` text, so
    one event is always one line and reads the same in every viewer.
    """
    if len(value) > limit:
        value = value[:limit] + TRUNCATED
    if value.isascii():
        return _ASCII_UNSAFE.sub(_escape_match, value)
    return "".join(
        _escape(char) if unicodedata.category(char) in _UNSAFE_CATEGORIES else char
        for char in value
    )


def _escape_match(match: re.Match[str]) -> str:
    return _escape(match.group())


def _escape(char: str) -> str:
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def _is_secret_parameter(name: str) -> bool:
    folded = re.sub(r"[-_.\s]", "", unquote_plus(name)).lower()
    return folded in _SECRET_QUERY_NAMES or any(word in folded for word in _SECRET_QUERY_WORDS)


def redact_query(query: str, *, limit: int = MAX_QUERY_CHARS) -> str:
    """
    Return ``query`` with the value of every credential-bearing parameter redacted.

    Parameters are split on ``&`` and on ``;`` (some upstreams treat both as
    separators), names are percent-decoded before they are compared, and the rest
    of the query is kept as the client sent it. The result is truncated and
    sanitized like any other string.
    """
    parts = re.split(r"([&;])", query)
    for position in range(0, len(parts), 2):
        name, equals, _ = parts[position].partition("=")
        if _is_secret_parameter(name):
            parts[position] = f"{name}={REDACTED}" if equals else REDACTED
    return sanitize_text("".join(parts), limit=limit)


def scrub_secrets(value: Any) -> Any:
    """
    Copy ``value`` without the mapping keys listed in ``REDACTED_KEYS``, recursively.
    """
    if isinstance(value, Mapping):
        return {key: scrub_secrets(item) for key, item in value.items() if not is_secret_key(key)}
    if isinstance(value, list | tuple):
        return [scrub_secrets(item) for item in value]
    return value


def is_secret_key(key: object) -> bool:
    return _is_secret_name(str(key))


@functools.lru_cache(maxsize=4096)
def _is_secret_name(name: str) -> bool:
    # Cached: every event repeats the same few dozen key names.
    return name.replace("-", "").replace("_", "").lower() in REDACTED_KEYS
