"""
Parse AWS Signature Version 4 credentials out of a request.

Layer: auth. ``parse_authorization`` turns a ``RequestView`` into a ``SignedRequest``
(the header form, ``Authorization: AWS4-HMAC-SHA256 ...``, or the presigned query
form, ``?X-Amz-Algorithm=...``), or None when the request carries no SigV4
credentials at all. It only checks structure; ``gateway.auth.sigv4.verify`` checks
the signature, the scope and the clock. Malformed input raises ``AuthError`` with
AWS's error code. Imports only ``gateway.errors`` and ``gateway.types``.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import product
from typing import Final
from urllib.parse import unquote

from gateway.errors import AuthError
from gateway.types import RequestView

ALGORITHM = "AWS4-HMAC-SHA256"
TERMINATOR = "aws4_request"
MAX_EXPIRES = 604800  # seven days, AWS's limit for presigned URLs
MAX_VALUE_LENGTH = 8192  # Authorization header, each auth query parameter, the token
MAX_SIGNED_HEADERS = 128
# Credential and SignedHeaders texts up to this length have their parse cached.
_MAX_CACHED_TEXT = 512
AMZ_DATE_FORMAT = "%Y%m%dT%H%M%SZ"

_QUERY_AUTH = frozenset({"X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Signature"})
_QUERY_REQUIRED = _QUERY_AUTH | {"X-Amz-Date", "X-Amz-SignedHeaders", "X-Amz-Expires"}
_AUTH_HEADERS = frozenset(
    {"authorization", "x-amz-date", "date", "x-amz-security-token", "x-amz-content-sha256"}
)
_QUERY_PARAMS = frozenset(
    {
        "X-Amz-Algorithm",
        "X-Amz-Credential",
        "X-Amz-Date",
        "X-Amz-Expires",
        "X-Amz-SignedHeaders",
        "X-Amz-Signature",
        "X-Amz-Security-Token",
    }
)
_AMZ_DATE = re.compile(r"[0-9]{8}T[0-9]{6}Z", re.ASCII)
_HTTP_DATE = re.compile(
    r"[A-Z][a-z]{2}, ([0-9]{2}) ([A-Z][a-z]{2}) ([0-9]{4}) ([0-9]{2}):([0-9]{2}):([0-9]{2}) GMT",
    re.ASCII,
)
_MONTHS = {
    name: number
    for number, name in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1
    )
}
_ACCESS_KEY_ID = re.compile(r"[A-Za-z0-9]{1,128}", re.ASCII)
_SCOPE_DATE = re.compile(r"[0-9]{8}", re.ASCII)
_SCOPE_NAME = re.compile(r"[A-Za-z0-9._-]{1,64}", re.ASCII)
# The checks of `_parse_credential` in one pattern, all but the calendar one.
_CREDENTIAL = re.compile(
    rf"({_ACCESS_KEY_ID.pattern})/({_SCOPE_DATE.pattern})/({_SCOPE_NAME.pattern})/"
    rf"({_SCOPE_NAME.pattern})/{TERMINATOR}",
    re.ASCII,
)
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9a-z-]+", re.ASCII)
_SIGNATURE = re.compile(r"[0-9a-f]{64}", re.ASCII)
_EXPIRES = re.compile(r"[0-9]{1,9}", re.ASCII)
_PRINTABLE = re.compile(r"[^\x20-\x7e]")
# What each `%XX` escape of an ASCII byte decodes to, whatever the case of its hex digits.
_ASCII_ESCAPES = {
    f"{high}{low}": chr(byte)
    for byte in range(128)
    for high, low in product(*({digit, digit.lower()} for digit in f"{byte:02X}"))
}


@dataclass(frozen=True, slots=True)
class SignedRequest:
    """
    The SigV4 credentials a request carries, parsed but not yet verified.

    ``date``, ``region`` and ``service`` come from the credential scope;
    ``timestamp`` from ``X-Amz-Date`` (or the ``Date`` header). ``content_sha256`` is
    the ``x-amz-content-sha256`` header as sent, if any.

    ``security_token`` (``X-Amz-Security-Token``) is kept out of the repr and is not
    checked here: the caller must confirm that it is a live session of
    ``access_key_id``. In the header form it may be unsigned, as AWS allows
    (``post-sts-header-after``); in a presigned URL it is always signed.
    """

    access_key_id: str
    date: str
    region: str
    service: str
    signed_headers: tuple[str, ...]
    signature: str
    timestamp: datetime
    presigned: bool
    expires: int | None
    security_token: str | None = field(repr=False)
    content_sha256: str | None

    @property
    def scope(self) -> str:
        """
        The credential scope, ``DATE/REGION/SERVICE/aws4_request``.
        """
        return f"{self.date}/{self.region}/{self.service}/{TERMINATOR}"

    @property
    def amz_date(self) -> str:
        """
        The request time in ISO 8601 basic format, as it appears in the string to sign.
        """
        return _amz_date(self.timestamp)


@functools.lru_cache(maxsize=1024)
def _amz_date(timestamp: datetime) -> str:
    # Signed requests arrive in bursts with the same X-Amz-Date; format each once.
    return timestamp.strftime(AMZ_DATE_FORMAT)


def parse_authorization(view: RequestView) -> SignedRequest | None:
    """
    Parse the SigV4 credentials of ``view``, from its header or its query string.

    Returns:
        The parsed credentials, or None when the request has neither an AWS
        ``Authorization`` header nor ``X-Amz-Algorithm``/``X-Amz-Credential``/
        ``X-Amz-Signature`` query parameters (so that another authenticator, such as
        the session cookie, may try). An ``Authorization`` header of another scheme
        (``Bearer``, ``Basic``) is not SigV4 and is left alone.

    Raises:
        AuthError: the credentials are malformed or ambiguous (two ``Authorization``
            headers, header and query authentication together, a missing or
            misplaced component, a signed header the request lacks, a bad date).
    """
    headers = _auth_headers(view)
    authorizations = headers.get("authorization", [])
    if len(authorizations) > 1:
        raise _incomplete("the request has more than one Authorization header")
    header = authorizations[0] if authorizations else None
    if header is not None and not header.lstrip()[:3].upper() == "AWS":
        header = None  # another scheme: not ours to judge
    params = _query_auth_params(view.query_string) if "X-Amz-" in view.query_string else {}
    in_query = not _QUERY_AUTH.isdisjoint(params)
    if header is not None and in_query:
        raise AuthError(
            "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter "
            "or the Authorization header should be specified",
            code="InvalidArgument",
            status=400,
        )
    if header is not None:
        return _parse_header_form(view, headers, header)
    if in_query:
        return _parse_query_form(view, headers, params)
    return None


def _auth_headers(view: RequestView) -> dict[str, list[str]]:
    # One pass over the headers: the values SigV4 reads, keyed by name.
    found: dict[str, list[str]] = {}
    for name, value in view.headers:
        if name in _AUTH_HEADERS:
            found.setdefault(name, []).append(value)
    return found


def parse_amz_date(text: str) -> datetime | None:
    """
    Parse ``YYYYMMDDTHHMMSSZ`` into an aware UTC datetime, or None if it is not one.
    """
    if len(text) != 16:  # also keeps long strings out of the cache
        return None
    return _parse_amz_date(text)


@functools.lru_cache(maxsize=256)
def _parse_amz_date(text: str) -> datetime | None:
    # Cached: requests signed in the same second share their X-Amz-Date.
    if _AMZ_DATE.fullmatch(text) is None:
        return None
    return _datetime(
        int(text[0:4]),
        int(text[4:6]),
        int(text[6:8]),
        int(text[9:11]),
        int(text[11:13]),
        int(text[13:15]),
    )


def _parse_header_form(
    view: RequestView, headers: dict[str, list[str]], header: str
) -> SignedRequest:
    if len(header) > MAX_VALUE_LENGTH:
        raise _incomplete(f"the Authorization header is longer than {MAX_VALUE_LENGTH} characters")
    algorithm, _, rest = header.strip().partition(" ")
    if algorithm != ALGORITHM:
        raise _incomplete(f"Unsupported AWS 'algorithm': '{_show(algorithm)}': use {ALGORITHM}")
    components: dict[str, str] = {}
    for component in rest.split(","):
        component = component.strip()
        if not component:
            continue
        key, equals, value = component.partition("=")
        if not equals:
            raise _incomplete(
                f"'{_show(component)}' not a valid key=value pair (missing equal-sign) "
                "in Authorization header"
            )
        if key not in ("Credential", "SignedHeaders", "Signature"):
            raise _incomplete(f"unknown component '{_show(key)}' in Authorization header")
        if key in components:
            raise _incomplete(f"Authorization header has more than one '{key}' component")
        components[key] = value
    missing = [k for k in ("Credential", "SignedHeaders", "Signature") if k not in components]
    if missing:
        raise _incomplete(
            " ".join(f"Authorization header requires '{key}' parameter." for key in missing)
        )
    access_key_id, date, region, service = _parse_credential(
        components["Credential"], code="IncompleteSignature"
    )
    signed_headers = _parse_signed_headers(
        view, components["SignedHeaders"], code="IncompleteSignature"
    )
    signature = _parse_signature(components["Signature"], code="IncompleteSignature")
    timestamp = _header_timestamp(headers, signed_headers)
    return SignedRequest(
        access_key_id=access_key_id,
        date=date,
        region=region,
        service=service,
        signed_headers=signed_headers,
        signature=signature,
        timestamp=timestamp,
        presigned=False,
        expires=None,
        security_token=_single_header(headers, "x-amz-security-token"),
        content_sha256=_single_header(headers, "x-amz-content-sha256"),
    )


def _parse_query_form(
    view: RequestView, headers: dict[str, list[str]], params: dict[str, str]
) -> SignedRequest:
    code = "AuthorizationQueryParametersError"
    if not _QUERY_REQUIRED <= params.keys():
        raise _query_error(
            "Query-string authentication version 4 requires the X-Amz-Algorithm, "
            "X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, "
            "and X-Amz-Expires parameters."
        )
    if params["X-Amz-Algorithm"] != ALGORITHM:
        raise _query_error(f'X-Amz-Algorithm only supports "{ALGORITHM}"')
    access_key_id, date, region, service = _parse_credential(params["X-Amz-Credential"], code=code)
    timestamp = parse_amz_date(params["X-Amz-Date"])
    if timestamp is None:
        raise _query_error("X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"")
    expires_text = params["X-Amz-Expires"]
    if _EXPIRES.fullmatch(expires_text) is None:
        raise _query_error("X-Amz-Expires should be a number")
    expires = int(expires_text)
    if expires < 1:
        raise _query_error("X-Amz-Expires must be greater than 0")
    if expires > MAX_EXPIRES:
        raise _query_error(
            f"X-Amz-Expires must be less than a week (in seconds) that is {MAX_EXPIRES}"
        )
    return SignedRequest(
        access_key_id=access_key_id,
        date=date,
        region=region,
        service=service,
        signed_headers=_parse_signed_headers(view, params["X-Amz-SignedHeaders"], code=code),
        signature=_parse_signature(params["X-Amz-Signature"], code=code),
        timestamp=timestamp,
        presigned=True,
        expires=expires,
        security_token=params.get("X-Amz-Security-Token"),
        content_sha256=_single_header(headers, "x-amz-content-sha256"),
    )


def _query_auth_params(query_string: str) -> dict[str, str]:
    # AWS rule: decode %XX only; '+' stays a literal plus.
    params: dict[str, str] = {}
    for part in query_string.split("&"):
        raw_name, _, raw_value = part.partition("=")
        name = _unquote(raw_name) if "%" in raw_name else raw_name
        if name not in _QUERY_PARAMS:
            continue
        if name in params:
            raise _query_error(f"{name} appears more than once in the query string")
        if len(raw_value) > MAX_VALUE_LENGTH:
            raise _query_error(f"{name} is longer than {MAX_VALUE_LENGTH} characters")
        if "%" not in raw_value:
            params[name] = raw_value
        elif name == "X-Amz-Credential" and len(raw_value) <= _MAX_CACHED_TEXT:
            params[name] = _unquote_cached(raw_value)  # the same for a key all day long
        else:
            params[name] = _unquote(raw_value)  # never cached: a token is a secret
    return params


def _unquote(text: str) -> str:
    head, *escaped = text.split("%")
    try:
        # Escapes of ASCII bytes decode one by one, as `unquote` decodes them together.
        return head + "".join([_ASCII_ESCAPES[part[:2]] + part[2:] for part in escaped])
    except KeyError:  # an escape of a UTF-8 byte, or a `%` without two hex digits after it
        return unquote(text, errors="replace")


_unquote_cached: Final = functools.lru_cache(maxsize=1024)(_unquote)


def _parse_credential(text: str, *, code: str) -> tuple[str, str, str, str]:
    parts = _credential_parts(text) if len(text) <= _MAX_CACHED_TEXT else _split_credential(text)
    if parts is None:
        raise _credential_error(text, code)
    return parts


def _split_credential(text: str) -> tuple[str, str, str, str] | None:
    match = _CREDENTIAL.fullmatch(text)
    if match is None or not _is_date(match[2]):
        return None
    return match[1], match[2], match[3], match[4]


# Cached: every request of one key on one day has the same credential (no secret in it).
_credential_parts: Final = functools.lru_cache(maxsize=1024)(_split_credential)


def _credential_error(text: str, code: str) -> AuthError:
    # Say which check of `_CREDENTIAL` (or of the calendar) `text` fails, the first one.
    parts = text.split("/")
    if len(parts) != 5:
        return _error(
            "Credential must have the form ACCESS_KEY_ID/YYYYMMDD/REGION/SERVICE/aws4_request",
            code,
        )
    access_key_id, date, region, service, terminator = parts
    if terminator != TERMINATOR:
        return _error(
            "Credential should be scoped with a valid terminator: "
            f"'{TERMINATOR}', not '{_show(terminator)}'",
            code,
        )
    if _ACCESS_KEY_ID.fullmatch(access_key_id) is None:
        return _error("Credential has a malformed access key id", code)
    if _SCOPE_DATE.fullmatch(date) is None or not _is_date(date):
        return _error(f"Credential has a malformed date '{_show(date)}': expected YYYYMMDD", code)
    if _SCOPE_NAME.fullmatch(region) is None:
        return _error(f"Credential has a malformed region '{_show(region)}'", code)
    # INVARIANT: every other check passed, so the service is what `_CREDENTIAL` refused.
    return _error(f"Credential has a malformed service '{_show(service)}'", code)


def _is_date(text: str) -> bool:
    # INVARIANT: `text` is eight digits.
    return _datetime(int(text[:4]), int(text[4:6]), int(text[6:]), 0, 0, 0) is not None


def _parse_signed_headers(view: RequestView, text: str, *, code: str) -> tuple[str, ...]:
    if len(text) <= _MAX_CACHED_TEXT:
        names = _signed_header_names(text, code)
    else:
        names = _check_signed_header_names(text, code)
    present = {name for name, _ in view.headers}
    for name in names:
        if name not in present:
            raise _error(f"signed header '{name}' is not present in the request", code)
    return names


def _check_signed_header_names(text: str, code: str) -> tuple[str, ...]:
    names = tuple(text.split(";"))
    if len(names) > MAX_SIGNED_HEADERS:
        raise _error(f"SignedHeaders lists more than {MAX_SIGNED_HEADERS} headers", code)
    for name in names:
        if _HEADER_NAME.fullmatch(name) is None:
            raise _error(
                f"SignedHeaders has an invalid entry '{_show(name)}': header names must be "
                "lowercase and separated by ';'",
                code,
            )
    # SigV4 requires the list sorted; a repeated name (curl lists a duplicated header
    # twice) would make the canonical headers ambiguous.
    if any(a >= b for a, b in zip(names, names[1:], strict=False)):
        raise _error("SignedHeaders must be sorted and list each header once", code)
    if "host" not in names:
        raise _error(
            "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.", code
        )
    return names


# Cached: a client sends the same SignedHeaders list again and again; errors are not cached.
_signed_header_names: Final = functools.lru_cache(maxsize=1024)(_check_signed_header_names)


def _parse_signature(text: str, *, code: str) -> str:
    if _SIGNATURE.fullmatch(text) is None:
        raise _error("Signature must be 64 lowercase hexadecimal characters", code)
    return text


def _header_timestamp(headers: dict[str, list[str]], signed_headers: tuple[str, ...]) -> datetime:
    amz_date = _single_header(headers, "x-amz-date")
    if amz_date is not None:
        name, timestamp = "x-amz-date", parse_amz_date(amz_date.strip())
    else:
        date = _single_header(headers, "date")
        if date is None:
            raise _incomplete(
                "Authorization header requires existence of either a 'X-Amz-Date' or a "
                "'Date' header."
            )
        name, timestamp = "date", parse_amz_date(date.strip()) or _parse_http_date(date.strip())
    if timestamp is None:
        raise _incomplete(
            f"the {name} header must be an ISO 8601 basic date such as 20150830T123600Z"
        )
    if name not in signed_headers:
        raise _incomplete(f"the {name} header must be listed in SignedHeaders")
    return timestamp


def _parse_http_date(text: str) -> datetime | None:
    match = _HTTP_DATE.fullmatch(text)
    if match is None or match.group(2) not in _MONTHS:
        return None
    day, month, year, hour, minute, second = match.groups()
    return _datetime(int(year), _MONTHS[month], int(day), int(hour), int(minute), int(second))


def _datetime(
    year: int, month: int, day: int, hour: int, minute: int, second: int
) -> datetime | None:
    try:
        return datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    except ValueError:  # the regex checks the shape; this catches 20150231 and hour 25
        return None


def _single_header(headers: dict[str, list[str]], name: str) -> str | None:
    values = headers.get(name, [])
    if len(values) > 1:
        raise _incomplete(f"the request has more than one {name} header")
    if values and len(values[0]) > MAX_VALUE_LENGTH:
        raise _incomplete(f"the {name} header is longer than {MAX_VALUE_LENGTH} characters")
    return values[0] if values else None


def _show(text: str) -> str:
    """Echo client input safely: printable ASCII only, at most 64 characters."""
    shown = _PRINTABLE.sub("?", text[:64])
    return shown + "..." if len(text) > 64 else shown


def _error(message: str, code: str) -> AuthError:
    return AuthError(message, code=code, status=400)


def _incomplete(message: str) -> AuthError:
    return _error(message, "IncompleteSignature")


def _query_error(message: str) -> AuthError:
    return _error(message, "AuthorizationQueryParametersError")
