"""
Verify an AWS Signature Version 4 request: scope, clock, payload hash, signature.

Layer: auth. ``verify`` composes the pure steps of ``gateway.auth.sigv4`` for one
``SignedRequest`` (from ``gateway.auth.sigv4_parse``) and compares signatures with
``hmac.compare_digest``. It takes the time as ``now`` and the secret as an argument:
looking the key up (and checking the session token) is the caller's job, through
``gateway.iam``. Imports only ``gateway.errors``, ``gateway.types`` and the sibling
SigV4 modules.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections import OrderedDict
from datetime import datetime, timedelta

from gateway.auth.sigv4 import (
    UNSIGNED_PAYLOAD,
    accepted_canonical_uris,
    canonical_headers,
    canonical_query,
    join_canonical_request,
    signing_key,
    string_to_sign,
)
from gateway.auth.sigv4_parse import AMZ_DATE_FORMAT, MAX_EXPIRES, SignedRequest
from gateway.errors import AuthError
from gateway.types import RequestView

MAX_SKEW = timedelta(minutes=5)

_HEX64 = re.compile(r"[0-9a-f]{64}", re.ASCII)
# Values never echoed in a SignatureDoesNotMatch message (DESIGN: secrets never in errors).
_REDACTED_HEADERS = frozenset(
    {"authorization", "cookie", "proxy-authorization", "x-amz-security-token"}
)


class SignatureMismatch(AuthError):
    """
    The signature does not match; carries what the gateway computed (never the key).
    """

    code = "SignatureDoesNotMatch"
    status = 403

    def __init__(self, canonical_request: str, string_to_sign: str) -> None:
        super().__init__(
            "The request signature we calculated does not match the signature you provided. "
            "Check your AWS Secret Access Key and signing method. Consult the service "
            "documentation for details.\n\n"
            f"The Canonical String for this request should have been\n'{canonical_request}'\n\n"
            f"The String-to-Sign should have been\n'{string_to_sign}'\n"
        )
        self.canonical_request = canonical_request
        self.string_to_sign = string_to_sign


class SigningKeyCache:
    """
    A bounded LRU of derived signing keys, keyed by (access key id, date, region, service).

    A day's signing key is as sensitive as the secret for that scope: it lives only
    here and never in a repr. An entry also holds the secret it was derived from and
    its SHA-256, so that a secret that changed under the same key id is never served a
    stale key (the same string object needs no hash), and an
    HMAC-SHA256 already keyed with the signing key, which ``mac`` hands out copies of
    (copying a keyed HMAC costs less than keying a new one).
    """

    __slots__ = ("_entries", "_max_size")

    def __init__(self, max_size: int = 1024) -> None:
        self._entries: OrderedDict[
            tuple[str, str, str, str], tuple[bytes, bytes, hmac.HMAC, str]
        ] = OrderedDict()
        self._max_size = max_size

    def __repr__(self) -> str:
        return f"SigningKeyCache(size={len(self._entries)}, max_size={self._max_size})"

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, access_key_id: str, secret: str, date: str, region: str, service: str) -> bytes:
        """
        Return the signing key for the scope, deriving and caching it on a miss.
        """
        return self._entry(access_key_id, secret, date, region, service)[1]

    def mac(
        self, access_key_id: str, secret: str, date: str, region: str, service: str
    ) -> hmac.HMAC:
        """
        Return a new HMAC-SHA256 keyed with the scope's signing key, ready for ``update``.
        """
        return self._entry(access_key_id, secret, date, region, service)[2].copy()

    def _entry(
        self, access_key_id: str, secret: str, date: str, region: str, service: str
    ) -> tuple[bytes, bytes, hmac.HMAC, str]:
        cache_key = (access_key_id, date, region, service)
        entry = self._entries.get(cache_key)
        if entry is not None and entry[3] is secret:
            # The very string the entry was derived from (the key lookup caches it):
            # an identity test, which reveals nothing of the secret and costs no hash.
            self._entries.move_to_end(cache_key)
            return entry
        fingerprint = hashlib.sha256(secret.encode()).digest()
        if entry is not None and hmac.compare_digest(entry[0], fingerprint):
            self._entries.move_to_end(cache_key)
            return entry
        key = signing_key(secret, date, region, service)
        entry = (fingerprint, key, hmac.new(key, digestmod=hashlib.sha256), secret)
        self._entries[cache_key] = entry
        self._entries.move_to_end(cache_key)
        while len(self._entries) > self._max_size:
            self._entries.popitem(last=False)
        return entry


def verify(
    signed: SignedRequest,
    view: RequestView,
    secret: str,
    *,
    now: datetime,
    region: str,
    service: str,
    payload_hash: str | None,
    allow_unsigned_payload: bool,
    cache: SigningKeyCache | None = None,
) -> None:
    """
    Check that ``signed`` is a valid signature of ``view`` under ``secret``.

    Args:
        signed: what ``parse_authorization(view)`` returned.
        secret: the secret access key of ``signed.access_key_id``.
        now: the current time (aware).
        region, service: what the credential scope must name.
        payload_hash: hex SHA-256 of the body the gateway received. It may be None
            only when the request carries its own hash (``x-amz-content-sha256``) or
            an unsigned S3 presigned URL; the caller must then check that hash while
            streaming the body.
        allow_unsigned_payload: accept ``UNSIGNED-PAYLOAD``, where the body is not
            covered by the signature. An S3 presigned URL without
            ``x-amz-content-sha256`` is always unsigned; other presigned URLs sign
            the body hash, as botocore and aws-c-auth do.
        cache: optional signing-key cache.

    The path is checked under each of ``accepted_canonical_uris(view.raw_path,
    service)``; all are computed from the raw path the gateway authorizes and forwards.

    Raises:
        AuthError: ``SignatureDoesNotMatch`` (wrong scope or signature; the message
            carries the canonical request and string to sign, with session tokens
            and cookies redacted), ``RequestTimeTooSkewed`` (header form, more than 5
            minutes off), ``AccessDenied`` (presigned URL expired or not yet valid),
            ``XAmzContentSHA256Mismatch``, ``InvalidRequest``/``InvalidArgument``
            (unsupported or refused payload hash), ``AuthorizationQueryParametersError``.
        ValueError: a caller bug: ``now`` is naive, or ``payload_hash`` is None where
            the body hash is needed.
    """
    stamp = signed.amz_date
    _check_scope(signed, stamp, region=region, service=service)
    _check_time(signed, stamp, now)
    payload = _payload_line(signed, service, payload_hash, allow_unsigned_payload)
    query = canonical_query(view.query_string, presigned=signed.presigned)
    headers = canonical_headers(view.headers, signed.signed_headers)
    signed_line = ";".join(signed.signed_headers)
    if cache is not None:
        keyed = cache.mac(signed.access_key_id, secret, signed.date, signed.region, signed.service)
    else:
        key = signing_key(secret, signed.date, signed.region, signed.service)
        keyed = hmac.new(key, digestmod=hashlib.sha256)
    scope = signed.scope
    preferred, *others = accepted_canonical_uris(view.raw_path, service)
    shown: tuple[str, str] | None = None
    for uri in (preferred, *others):
        creq = join_canonical_request(view.method, uri, query, headers, signed_line, payload)
        sts = string_to_sign(stamp, scope, creq)
        mac = keyed.copy()
        mac.update(sts.encode("utf-8"))  # = signature(key, sts)
        if hmac.compare_digest(mac.hexdigest(), signed.signature):
            return
        shown = shown or (creq, sts)  # report the preferred rule's values
    creq, sts = shown or ("", "")
    raise SignatureMismatch(_redact(creq), sts)


def _check_scope(signed: SignedRequest, stamp: str, *, region: str, service: str) -> None:
    if signed.region != region:
        raise _mismatch(
            f"Credential should be scoped to a valid region: '{region}', not '{signed.region}'."
        )
    if signed.service != service:
        raise _mismatch(f"Credential should be scoped to correct service: '{service}'.")
    day = stamp[:8]
    if signed.date != day:
        raise _mismatch(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date "
            f"from HTTP: '{signed.date}' != '{day}', from '{stamp}'."
        )


def _check_time(signed: SignedRequest, stamp: str, now: datetime) -> None:
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    if signed.presigned:
        expires = signed.expires or 0
        if not 1 <= expires <= MAX_EXPIRES:
            raise AuthError(
                f"X-Amz-Expires must be less than a week (in seconds) that is {MAX_EXPIRES}",
                code="AuthorizationQueryParametersError",
                status=400,
            )
        # S3 answers AccessDenied here; an expired URL is an authentication failure that
        # the client cannot fix by retrying, not a policy decision (no Decision attached).
        if signed.timestamp - MAX_SKEW > now:
            raise AuthError("Request is not valid yet", code="AccessDenied", status=403)
        if signed.timestamp + timedelta(seconds=expires) < now:
            raise AuthError("Request has expired", code="AccessDenied", status=403)
        return
    earliest, latest = now - MAX_SKEW, now + MAX_SKEW
    fmt = AMZ_DATE_FORMAT
    if signed.timestamp < earliest:
        raise _skewed(
            f"Signature expired: {stamp} is now earlier than {earliest.strftime(fmt)} "
            f"({now.strftime(fmt)} - 5 min.)"
        )
    if signed.timestamp > latest:
        raise _skewed(
            f"Signature not yet current: {stamp} is still later than {latest.strftime(fmt)} "
            f"({now.strftime(fmt)} + 5 min.)"
        )


def _payload_line(
    signed: SignedRequest, service: str, payload_hash: str | None, allow_unsigned: bool
) -> str:
    claim = signed.content_sha256
    if claim is None:
        if not (signed.presigned and service == "s3"):
            if payload_hash is None:
                raise ValueError("payload_hash is required: the request does not carry one")
            return payload_hash
        claim = UNSIGNED_PAYLOAD  # S3 presigned URLs never cover the body
    if _HEX64.fullmatch(claim):
        if payload_hash is not None and not hmac.compare_digest(claim, payload_hash):
            raise AuthError(
                "The provided 'x-amz-content-sha256' header does not match what was computed.",
                code="XAmzContentSHA256Mismatch",
                status=400,
            )
        return claim
    if claim == UNSIGNED_PAYLOAD:
        if not allow_unsigned:
            raise AuthError(
                "UNSIGNED-PAYLOAD is not allowed for this request: sign the SHA-256 of the body",
                code="InvalidRequest",
                status=400,
            )
        return claim
    if claim.startswith("STREAMING-"):
        raise AuthError(
            "streaming (chunked) payload signing is not supported: sign the SHA-256 of the "
            "whole body in x-amz-content-sha256",
            code="InvalidRequest",
            status=400,
        )
    raise AuthError(
        "x-amz-content-sha256 must be UNSIGNED-PAYLOAD or a lowercase hex SHA-256 value",
        code="InvalidArgument",
        status=400,
    )


def _redact(creq: str) -> str:
    lines = creq.split("\n")
    query = lines[2].split("&") if lines[2] else []
    lines[2] = "&".join(
        "X-Amz-Security-Token=<redacted>" if p.startswith("X-Amz-Security-Token=") else p
        for p in query
    )
    for index, line in enumerate(lines[3:], 3):
        name, colon, _ = line.partition(":")
        if colon and name in _REDACTED_HEADERS:
            lines[index] = f"{name}:<redacted>"
    return "\n".join(lines)


def _mismatch(message: str) -> AuthError:
    return AuthError(message, code="SignatureDoesNotMatch", status=403)


def _skewed(message: str) -> AuthError:
    return AuthError(message, code="RequestTimeTooSkewed", status=403)
