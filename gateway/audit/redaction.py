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
as a second line of defence behind ``build_event``, which never adds one, and
``is_scrubbed`` lets them skip the copy when there is nothing to drop.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable, Mapping
from typing import Any, Final
from urllib.parse import unquote_plus

__all__ = [
    "MAX_TEXT_CHARS",
    "REDACTED",
    "REDACTED_KEYS",
    "TRUNCATED",
    "is_scrubbed",
    "is_secret_key",
    "redact_query",
    "sanitize_text",
    "scrub_secrets",
]

REDACTED: Final = "REDACTED"
TRUNCATED: Final = "...(truncated)"
MAX_TEXT_CHARS: Final = 1024
MAX_QUERY_CHARS: Final = 2048
# Query parameter names up to this length have their verdict cached.
_MAX_CACHED_NAME: Final = 128
# Key names proven not secret by ``is_scrubbed``, up to this many, and the value
# types it need not look into.
_MAX_SAFE_KEYS: Final = 4096
_SAFE_KEYS: Final[set[str]] = set()
_LEAF_TYPES: Final = frozenset({str, int, float, bool, type(None)})

# C0 controls and DEL; the fast path for ASCII text.
_ASCII_UNSAFE = re.compile("[\x00-\x1f\x7f]")
# Other text: controls (C1), format characters (zero-width, bidi overrides such as
# U+202E, which makes a line read backwards in a viewer, tag characters, the BOM),
# line and paragraph separators, and lone surrogates.
_UNSAFE_CATEGORIES: Final = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})
_QUERY_SEPARATOR: Final = re.compile(r"([&;])")
_NAME_PUNCTUATION: Final = re.compile(r"[-_.\s]")

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
    # INVARIANT: str.isprintable() is False for every Cc, Cf, Zl, Zp and Cs character
    # (it refuses all of Unicode's "Other" and "Separator" categories but the space),
    # so printable text, the usual case, has nothing to escape.
    if value.isprintable():
        return value
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


def _classify_parameter(name: str) -> bool:
    folded = _NAME_PUNCTUATION.sub("", unquote_plus(name)).lower()
    return folded in _SECRET_QUERY_NAMES or any(word in folded for word in _SECRET_QUERY_WORDS)


_classify_cached: Final = functools.lru_cache(maxsize=1024)(_classify_parameter)


def redact_query(query: str, *, limit: int = MAX_QUERY_CHARS) -> str:
    """
    Return ``query`` with the value of every credential-bearing parameter redacted.

    Parameters are split on ``&`` and on ``;`` (some upstreams treat both as
    separators), names are percent-decoded before they are compared, and the rest
    of the query is kept as the client sent it. The result is truncated and
    sanitized like any other string.
    """
    if ";" in query:
        # Separators are kept in the list (odd positions), so they are rejoined as sent.
        parts = _QUERY_SEPARATOR.split(query)
        step, joiner = 2, ""
    else:
        parts, step, joiner = query.split("&"), 1, "&"
    cached, longest = _classify_cached, _MAX_CACHED_NAME
    for position in range(0, len(parts), step):
        name, equals, _ = parts[position].partition("=")
        # Clients repeat the same few names (X-Amz-Date, prefix, ...), so verdicts are
        # cached; long names are not, so a client cannot fill the cache with big strings.
        if cached(name) if len(name) <= longest else _classify_parameter(name):
            parts[position] = f"{name}={REDACTED}" if equals else REDACTED
    return sanitize_text(joiner.join(parts), limit=limit)


def scrub_secrets(value: Any) -> Any:
    """
    Copy ``value`` without the mapping keys listed in ``REDACTED_KEYS``, recursively.
    """
    if isinstance(value, Mapping):
        return {key: scrub_secrets(item) for key, item in value.items() if not is_secret_key(key)}
    if isinstance(value, list | tuple):
        return [scrub_secrets(item) for item in value]
    return value


def is_scrubbed(value: Any) -> bool:
    """
    Tell whether ``value`` can be written as it is: ``scrub_secrets`` would drop nothing.

    True only when ``value`` is a ``dict`` whose containers, at every depth, are plain
    ``dict``, ``list`` or ``tuple`` values and whose keys are none of ``REDACTED_KEYS``.
    Any other mapping or sequence type answers False, so the caller falls back to
    ``scrub_secrets``, which copies it into plain types.
    """
    return type(value) is dict and _is_clean_dict(value)


def _is_clean_dict(value: dict[Any, Any]) -> bool:
    # The usual event repeats key names seen before: one set comparison in C checks them.
    if not value.keys() <= _SAFE_KEYS:
        for key in value:
            if key in _SAFE_KEYS:
                continue
            if is_secret_key(key):
                return False
            # INVARIANT: only exact str keys proven not secret enter the set.
            if type(key) is str and len(_SAFE_KEYS) < _MAX_SAFE_KEYS:
                _SAFE_KEYS.add(key)
    return _are_clean_items(value.values())


def _are_clean_items(items: Iterable[Any]) -> bool:
    for item in items:
        kind = type(item)
        if kind in _LEAF_TYPES:
            continue
        if kind is dict:
            if not _is_clean_dict(item):
                return False
        elif kind is list or kind is tuple:
            if not _are_clean_items(item):
                return False
        elif isinstance(item, Mapping | list | tuple):
            return False  # a subclass or another mapping: scrub_secrets copies it
    return True


def is_secret_key(key: object) -> bool:
    return _is_secret_name(str(key))


@functools.lru_cache(maxsize=4096)
def _is_secret_name(name: str) -> bool:
    # Cached: every event repeats the same few dozen key names.
    return name.replace("-", "").replace("_", "").lower() in REDACTED_KEYS
