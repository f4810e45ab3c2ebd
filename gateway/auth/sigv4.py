"""
AWS Signature Version 4: the canonicalization steps and key derivation.

Layer: auth. Each step is a pure function over plain values that the AWS test-suite
files check one at a time (``canonical_request`` -> ``.creq``, ``string_to_sign`` ->
``.sts``, ``signature``). ``gateway.auth.sigv4_verify`` composes them into the
verifier; ``gateway.auth.sigv4_parse`` reads the credentials off a request. No I/O,
no clock. Imports only ``gateway.errors`` and ``gateway.auth.sigv4_parse``.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable, Sequence
from itertools import product
from urllib.parse import quote, quote_from_bytes, unquote_to_bytes

from gateway.auth.sigv4_parse import ALGORITHM, TERMINATOR
from gateway.errors import AuthError

UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()

_UNRESERVED_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~"
_UNRESERVED_OR_ESCAPE = re.compile(r"[A-Za-z0-9_.~%-]*", re.ASCII)
# A query already in canonical form, but for its order and any `=` inside a value:
# unreserved characters, `&`, `=` and escapes of reserved bytes in uppercase hex, that is
# of every byte but `-` 2D, `.` 2E, `0-9` 30-39, `A-Z` 41-5A, `_` 5F, `a-z` 61-7A, `~` 7E.
_RESERVED_ESCAPE = r"%(?:[01][0-9A-F]|2[0-9A-CF]|3[A-F]|40|5[B-E]|60|7[B-DF]|[89A-F][0-9A-F])"
_CANONICAL_QUERY = re.compile(
    rf"[A-Za-z0-9_.~&=-]*(?:{_RESERVED_ESCAPE}[A-Za-z0-9_.~&=-]*)*", re.ASCII
)
# A path that is its own canonical URI under any flags: `/`, or non-empty segments of
# unreserved characters, none starting with `.`, and an optional trailing slash.
_PLAIN_PATH = re.compile(r"/|(?:/[A-Za-z0-9_~-][A-Za-z0-9_.~-]*)+/?", re.ASCII)
# The canonical form of every `%XX` escape, whatever the case of its hex digits: the
# character itself when it is unreserved (`%7e` is `~`), else the escape in uppercase.
_CANONICAL_ESCAPES = {
    f"{high}{low}": chr(byte) if chr(byte) in _UNRESERVED_CHARS else f"%{byte:02X}"
    for byte in range(256)
    for high, low in product(*({digit, digit.lower()} for digit in f"{byte:02X}"))
}


def canonical_uri(raw_path: str, *, double_encode: bool = True, normalize: bool = True) -> str:
    """
    Return the canonical URI of ``raw_path``, the path as the client sent it.

    The AWS rule for every service but S3 is both flags on: remove ``.``/``..``
    segments and collapse ``//`` on the wire path, then percent-encode it again
    (``%20`` becomes ``%2520``). S3 signs the wire path as sent (both flags off).
    Non-ASCII characters are encoded as UTF-8.
    """
    path = raw_path or "/"
    if _PLAIN_PATH.fullmatch(path):
        return path  # no dot segment or `//` to remove, nothing to encode
    if normalize:
        path = _remove_dot_segments(path) or "/"
    if double_encode:
        path = quote(path, safe="/~")
    return path


def canonical_query(query_string: str, *, presigned: bool = False) -> str:
    """
    Return the canonical query string of ``query_string`` (the raw query).

    AWS rule: decode ``%XX`` only (``+`` stays a literal plus), re-encode every byte but
    ``A-Za-z0-9-_.~`` with uppercase hex, and sort by name, then value. A presigned
    request leaves out its ``X-Amz-Signature`` parameter.
    """
    if not query_string:
        return ""
    # Fast path for what clients send: when the query is canonical already but for its
    # order, each name encodes to itself, and so does each value without a `=` in it.
    encoded = _CANONICAL_QUERY.fullmatch(query_string) is not None
    pairs = []
    for part in query_string.split("&"):
        if not part:
            continue
        name, _, value = part.partition("=")
        if not encoded or "=" in value:
            name, value = _encode_component(name), _encode_component(value)
        if presigned and name == "X-Amz-Signature":
            continue
        pairs.append((name, value))
    pairs.sort()
    return "&".join([f"{name}={value}" for name, value in pairs])


def canonical_headers(headers: Iterable[tuple[str, str]], signed: Sequence[str]) -> str:
    """
    Return the canonical headers block: one ``name:value\\n`` line per signed header.

    ``headers`` are (lowercase name, value) pairs in arrival order. Values are trimmed
    and inner whitespace runs collapse to one space; a repeated header's values are
    joined with ``,`` in arrival order.

    Raises:
        AuthError: a signed header is not in ``headers``.
    """
    wanted = set(signed)
    values: dict[str, list[str]] = {}
    for name, value in headers:
        if name in wanted:
            values.setdefault(name, []).append(" ".join(value.split()))
    lines = []
    for name in signed:
        if name not in values:
            raise AuthError(
                f"signed header '{name}' is not present in the request",
                code="IncompleteSignature",
                status=400,
            )
        lines.append(f"{name}:{','.join(values[name])}\n")
    return "".join(lines)


def canonical_request(
    method: str,
    raw_path: str,
    query_string: str,
    headers: Iterable[tuple[str, str]],
    signed_headers: Sequence[str],
    payload_hash: str,
    *,
    double_encode: bool = True,
    normalize: bool = True,
    presigned: bool = False,
) -> str:
    """
    Return the SigV4 canonical request (the ``.creq`` file of the test suite).
    """
    return join_canonical_request(
        method,
        canonical_uri(raw_path, double_encode=double_encode, normalize=normalize),
        canonical_query(query_string, presigned=presigned),
        canonical_headers(headers, signed_headers),
        ";".join(signed_headers),
        payload_hash,
    )


def string_to_sign(timestamp: str, scope: str, canonical_request: str) -> str:
    """
    Return the string to sign (the ``.sts`` file) for an ISO 8601 basic ``timestamp``.
    """
    digest = hashlib.sha256(canonical_request.encode("utf-8")).hexdigest()
    return f"{ALGORITHM}\n{timestamp}\n{scope}\n{digest}"


def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    """
    Derive the signing key from a secret access key for one ``YYYYMMDD`` scope.
    """
    key = _hmac(f"AWS4{secret}".encode(), date)
    key = _hmac(key, region)
    key = _hmac(key, service)
    return _hmac(key, TERMINATOR)


def signature(key: bytes, string_to_sign: str) -> str:
    """
    Return the hex signature of ``string_to_sign`` under a derived signing key.
    """
    return hmac.digest(key, string_to_sign.encode("utf-8"), "sha256").hex()


def accepted_canonical_uris(raw_path: str, service: str) -> tuple[str, ...]:
    """
    Return the canonical URIs the verifier accepts for ``raw_path``, preferred first.

    * ``s3``: the wire path as sent (AWS's S3 rule; botocore's S3 signers, curl).
    * any other service: the AWS rule (normalize, then encode again; botocore,
      awscurl, requests-aws4auth), then the wire path as sent, which is how curl
      ``--aws-sigv4`` signs (and the S3-style clients), unless the path contains
      ``%25``.

    SECURITY: every candidate is computed from the one ``raw_path`` that the gateway
    decodes, authorizes and forwards, and no canonical URI is accepted for two paths
    that decode differently. The AWS-rule output contains ``%`` only as ``%25`` or
    before the escape of a byte the path held literally, so an as-sent path equal to
    it decodes, once, to the AWS-rule path decoded twice. The two agree exactly
    when the as-sent path has no ``%25``, hence the guard: without it a signature for
    ``/a%20b`` (meaning ``/a b``) would also authorize ``/a%2520b`` (``/a%20b``).
    This assumes, as the edge guarantees, that ``view.path`` is the wire path with
    dot segments and ``//`` removed, then percent-decoded.
    """
    if service == "s3":
        return (raw_path or "/",)
    aws = canonical_uri(raw_path)
    as_sent = raw_path or "/"
    if as_sent == aws or "%25" in raw_path:
        return (aws,)
    return aws, as_sent


def join_canonical_request(
    method: str, uri: str, query: str, headers: str, signed_line: str, payload: str
) -> str:
    """
    Assemble a canonical request from its already canonical parts.

    ``headers`` is a ``canonical_headers`` block; its final newline makes the blank
    line before ``signed_line``.
    """
    return f"{method}\n{uri}\n{query}\n{headers}\n{signed_line}\n{payload}"


def _encode_component(text: str) -> str:
    if _UNRESERVED_OR_ESCAPE.fullmatch(text):
        canonical = _canonical_escapes(text)
        if canonical is not None:
            return canonical
    return quote_from_bytes(unquote_to_bytes(text), safe="~")


def _canonical_escapes(text: str) -> str | None:
    # Decoding and re-encoding text that holds no reserved character but `%` is the same
    # as canonicalizing each of its escapes on its own; None for a `%` without two hex
    # digits after it, which decoding keeps as it is.
    head, *escaped = text.split("%")
    try:
        return head + "".join([_CANONICAL_ESCAPES[part[:2]] + part[2:] for part in escaped])
    except KeyError:
        return None


def _remove_dot_segments(path: str) -> str:
    # RFC 3986 §5.2.4, plus AWS's rule that empty segments (``//``) collapse.
    output: list[str] = []
    for segment in path.split("/"):
        if segment == "..":
            if output:
                output.pop()
        elif segment and segment != ".":
            output.append(segment)
    first = "/" if path.startswith("/") else ""
    last = "/" if path.endswith("/") and output else ""
    return first + "/".join(output) + last


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.digest(key, message.encode("utf-8"), "sha256")
