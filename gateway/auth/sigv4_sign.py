"""
Sign requests and presign URLs with AWS Signature Version 4 (the client side).

Layer: auth. Pure helpers for tests, ``gateway.testing`` and users: they take the time
as ``now`` and return what to send. They follow botocore's rules (S3: path as sent
and an ``X-Amz-Content-SHA256`` header; other services: normalized, re-encoded path),
so whatever they produce, ``gateway.auth.sigv4.verify`` accepts. Imports only the
sibling SigV4 modules.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime
from urllib.parse import quote, urlsplit

from gateway.auth.sigv4 import (
    UNSIGNED_PAYLOAD,
    canonical_request,
    signature,
    signing_key,
    string_to_sign,
)
from gateway.auth.sigv4_parse import ALGORITHM, AMZ_DATE_FORMAT, MAX_EXPIRES, TERMINATOR

# Headers a proxy or the transport may add, drop or rewrite; botocore skips them too.
_UNSIGNED_HEADERS = frozenset(
    {"authorization", "user-agent", "expect", "x-amzn-trace-id", "connection", "content-length"}
)


def sign_request(
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes,
    access_key_id: str,
    secret: str,
    region: str,
    service: str,
    now: datetime,
    *,
    session_token: str | None = None,
) -> dict[str, str]:
    """
    Sign a request in the ``Authorization`` header form.

    Args:
        url: the URL exactly as it will be sent (path and query already encoded).
        headers: the headers to send; every one is signed except a few a transport
            may rewrite (``User-Agent``, ``Content-Length``, ...).
        now: the signing time (aware).

    Returns:
        ``headers`` plus ``Host``, ``X-Amz-Date``, ``Authorization`` and, when they
        apply, ``X-Amz-Security-Token`` and ``X-Amz-Content-SHA256`` (always for S3).
        An ``X-Amz-Content-SHA256`` given in ``headers`` (``UNSIGNED-PAYLOAD``, say)
        is kept and signed as the payload line.
    """
    parts = urlsplit(url)
    amz_date = now.astimezone(UTC).strftime(AMZ_DATE_FORMAT)
    replaced = {"authorization", "x-amz-date"}
    if session_token is not None:
        replaced.add("x-amz-security-token")
    out = {k: v for k, v in headers.items() if k.lower() not in replaced}
    if not any(k.lower() == "host" for k in out):
        out["Host"] = parts.netloc
    out["X-Amz-Date"] = amz_date
    if session_token is not None:
        out["X-Amz-Security-Token"] = session_token
    claimed = [v for k, v in out.items() if k.lower() == "x-amz-content-sha256"]
    payload = claimed[0] if claimed else hashlib.sha256(body).hexdigest()
    if service == "s3" and not claimed:
        out["X-Amz-Content-SHA256"] = payload
    pairs = [(k.lower(), v) for k, v in out.items()]
    signed = tuple(sorted({name for name, _ in pairs} - _UNSIGNED_HEADERS))
    s3 = service == "s3"
    creq = canonical_request(
        method,
        parts.path,
        parts.query,
        pairs,
        signed,
        payload,
        double_encode=not s3,
        normalize=not s3,
    )
    scope = f"{amz_date[:8]}/{region}/{service}/{TERMINATOR}"
    key = signing_key(secret, amz_date[:8], region, service)
    out["Authorization"] = (
        f"{ALGORITHM} Credential={access_key_id}/{scope}, SignedHeaders={';'.join(signed)}, "
        f"Signature={signature(key, string_to_sign(amz_date, scope, creq))}"
    )
    return out


def presign_url(
    method: str,
    url: str,
    access_key_id: str,
    secret: str,
    region: str,
    service: str,
    now: datetime,
    *,
    expires: int = 3600,
    session_token: str | None = None,
    headers: Mapping[str, str] | None = None,
    body: bytes = b"",
) -> str:
    """
    Return ``url`` with presigned query-string authentication added.

    ``Host`` (from the URL unless given) and ``headers`` are signed. The payload line
    is ``UNSIGNED-PAYLOAD`` for S3 and the SHA-256 of ``body`` for other services,
    as botocore does.

    Raises:
        ValueError: ``expires`` is not between 1 and 604800 seconds.
    """
    if not 1 <= expires <= MAX_EXPIRES:
        raise ValueError(f"expires must be between 1 and {MAX_EXPIRES} seconds")
    parts = urlsplit(url)
    amz_date = now.astimezone(UTC).strftime(AMZ_DATE_FORMAT)
    scope = f"{amz_date[:8]}/{region}/{service}/{TERMINATOR}"
    pairs = [(k.lower(), v) for k, v in (headers or {}).items()]
    if not any(name == "host" for name, _ in pairs):
        pairs.append(("host", parts.netloc))
    signed = tuple(sorted({name for name, _ in pairs}))
    params = [
        ("X-Amz-Algorithm", ALGORITHM),
        ("X-Amz-Credential", f"{access_key_id}/{scope}"),
        ("X-Amz-Date", amz_date),
        ("X-Amz-Expires", str(expires)),
        ("X-Amz-SignedHeaders", ";".join(signed)),
    ]
    if session_token is not None:
        params.append(("X-Amz-Security-Token", session_token))
    added = "&".join(f"{name}={quote(value, safe='~')}" for name, value in params)
    query = f"{parts.query}&{added}" if parts.query else added
    s3 = service == "s3"
    payload = UNSIGNED_PAYLOAD if s3 else hashlib.sha256(body).hexdigest()
    creq = canonical_request(
        method,
        parts.path,
        query,
        pairs,
        signed,
        payload,
        double_encode=not s3,
        normalize=not s3,
    )
    key = signing_key(secret, amz_date[:8], region, service)
    sig = signature(key, string_to_sign(amz_date, scope, creq))
    return parts._replace(query=f"{query}&X-Amz-Signature={sig}").geturl()
