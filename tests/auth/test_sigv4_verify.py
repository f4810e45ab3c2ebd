"""
Negative cases for parse_authorization and verify, plus properties checked with Hypothesis.
"""

from __future__ import annotations

import dataclasses
import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote, unquote_to_bytes, urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.auth import (
    SignatureMismatch,
    SigningKeyCache,
    accepted_canonical_uris,
    canonical_request,
    canonical_uri,
    parse_authorization,
    presign_url,
    sign_request,
    signature,
    signing_key,
    string_to_sign,
    verify,
)
from gateway.errors import AuthError
from gateway.types import RequestView

AKID = "AKIAIOSFODNN7EXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
TOKEN = "FwoGZXIvYXdzSESSIONTOKENSECRET"
NOW = datetime(2015, 8, 30, 12, 36, tzinfo=UTC)
URL = "https://gw.example/stage/a%20b/?b=2&a=1"
EMPTY = hashlib.sha256(b"").hexdigest()
AUTH = (
    "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20150830/us-east-1/service/aws4_request, "
    "SignedHeaders=host;x-amz-date, Signature=" + "0" * 64
)


def _view(headers: dict[str, str], url: str = URL, method: str = "GET") -> RequestView:
    parts = urlsplit(url)
    pairs = [(name.lower(), value) for name, value in headers.items()]
    if "host" not in {name for name, _ in pairs}:
        pairs.insert(0, ("host", parts.netloc))
    return RequestView(method, parts.path, parts.path, parts.query, tuple(pairs))


def _signed(
    *,
    url: str = URL,
    method: str = "GET",
    headers: dict[str, str] | None = None,
    body: bytes = b"",
    service: str = "service",
    token: str | None = None,
) -> RequestView:
    out = sign_request(
        method,
        url,
        headers or {},
        body,
        AKID,
        SECRET,
        "us-east-1",
        service,
        NOW,
        session_token=token,
    )
    return _view(out, url, method)


def _check(
    view: RequestView,
    *,
    secret: str = SECRET,
    now: datetime = NOW,
    region: str = "us-east-1",
    service: str = "service",
    body: bytes | None = b"",
    allow_unsigned_payload: bool = False,
) -> None:
    signed = parse_authorization(view)
    assert signed is not None
    verify(
        signed,
        view,
        secret,
        now=now,
        region=region,
        service=service,
        payload_hash=None if body is None else hashlib.sha256(body).hexdigest(),
        allow_unsigned_payload=allow_unsigned_payload,
    )


def _with_header(view: RequestView, name: str, value: str) -> RequestView:
    headers = tuple((n, v) for n, v in view.headers if n != name) + ((name, value),)
    return dataclasses.replace(view, headers=headers)


# --- the happy path, as a control ------------------------------------------------------


def test_signed_request_verifies() -> None:
    """A request signed by sign_request verifies at its signing time."""
    _check(_signed())


@pytest.mark.parametrize("skew", [timedelta(minutes=-5), timedelta(minutes=5)])
def test_skew_within_five_minutes_is_accepted(skew: timedelta) -> None:
    """A clock difference of exactly five minutes either way is still accepted."""
    _check(_signed(), now=NOW + skew)


# --- tampering -------------------------------------------------------------------------


def test_tampered_signature() -> None:
    """Flipping one hex digit of the signature gives SignatureDoesNotMatch."""
    view = _signed()
    auth = view.header("authorization") or ""
    flipped = auth[:-1] + ("1" if auth[-1] != "1" else "2")
    with pytest.raises(SignatureMismatch) as caught:
        _check(_with_header(view, "authorization", flipped))
    assert caught.value.code == "SignatureDoesNotMatch" and caught.value.status == 403


def test_wrong_secret_never_echoes_the_secret() -> None:
    """A wrong secret gives SignatureDoesNotMatch; neither secret nor key is in the error."""
    view = _signed(token=TOKEN)
    wrong = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    with pytest.raises(SignatureMismatch) as caught:
        _check(view, secret=wrong)
    error = caught.value
    text = f"{error} {error!r} {error.canonical_request} {error.string_to_sign}"
    for secret in (SECRET, wrong, TOKEN, signing_key(wrong, "20150830", "us-east-1", "service")):
        assert str(secret) not in text
    assert "x-amz-security-token:<redacted>" in error.canonical_request
    assert error.string_to_sign.startswith("AWS4-HMAC-SHA256\n20150830T123600Z\n")


def test_different_path() -> None:
    """A signature for one path does not authorize another."""
    view = _signed()
    with pytest.raises(SignatureMismatch):
        _check(dataclasses.replace(view, raw_path="/stage/a%20c/", path="/stage/a c/"))


def test_double_encoded_replay_is_refused() -> None:
    """A signature for `/a%20b` (AWS rule) cannot be replayed on `/a%2520b`."""
    view = _signed(url="https://gw.example/a%20b")
    assert canonical_uri("/a%20b") == "/a%2520b"
    with pytest.raises(SignatureMismatch):
        _check(dataclasses.replace(view, raw_path="/a%2520b", path="/a%20b"))


def test_different_query() -> None:
    """Changing a query value after signing gives SignatureDoesNotMatch."""
    view = _signed()
    with pytest.raises(SignatureMismatch):
        _check(dataclasses.replace(view, query_string="b=2&a=2"))


def test_different_method() -> None:
    """A GET signature does not authorize a DELETE."""
    with pytest.raises(SignatureMismatch):
        _check(dataclasses.replace(_signed(), method="DELETE"))


def test_tampered_body_without_hash_header() -> None:
    """For non-S3 services the body hash is in the canonical request: a new body mismatches."""
    view = _signed(method="POST", body=b"Action=GetUser")
    with pytest.raises(SignatureMismatch):
        _check(view, body=b"Action=DeleteUser")


def test_signed_header_value_changed() -> None:
    """Changing a signed header's value gives SignatureDoesNotMatch."""
    view = _signed(headers={"X-Amz-Target": "read"})
    with pytest.raises(SignatureMismatch):
        _check(_with_header(view, "x-amz-target", "write"))


def test_unsigned_header_may_change() -> None:
    """Headers outside SignedHeaders are not covered (User-Agent is never signed)."""
    view = _signed(headers={"User-Agent": "a"})
    _check(_with_header(view, "user-agent", "b"))


# --- signed headers ----------------------------------------------------------------------


def test_signed_header_absent() -> None:
    """A header listed in SignedHeaders but missing from the request is refused."""
    view = _signed(headers={"X-Amz-Target": "read"})
    view = dataclasses.replace(
        view, headers=tuple(h for h in view.headers if h[0] != "x-amz-target")
    )
    with pytest.raises(AuthError, match="'x-amz-target' is not present") as caught:
        _check(view)
    assert caught.value.code == "IncompleteSignature" and caught.value.status == 400


def test_host_not_signed() -> None:
    """SignedHeaders must include host."""
    view = _view({"x-amz-date": "20150830T123600Z", "authorization": AUTH.replace("host;", "")})
    with pytest.raises(AuthError, match="'Host' or ':authority' must be a 'SignedHeader'"):
        parse_authorization(view)


# --- the clock ---------------------------------------------------------------------------


def test_request_too_old() -> None:
    """A header-signed request older than five minutes is RequestTimeTooSkewed."""
    with pytest.raises(AuthError) as caught:
        _check(_signed(), now=NOW + timedelta(minutes=5, seconds=1))
    assert caught.value.code == "RequestTimeTooSkewed" and caught.value.status == 403
    assert caught.value.message == (
        "Signature expired: 20150830T123600Z is now earlier than 20150830T123601Z "
        "(20150830T124101Z - 5 min.)"
    )


def test_request_from_the_future() -> None:
    """A header-signed request more than five minutes ahead is RequestTimeTooSkewed."""
    with pytest.raises(AuthError) as caught:
        _check(_signed(), now=NOW - timedelta(minutes=6))
    assert caught.value.code == "RequestTimeTooSkewed"
    assert caught.value.message.startswith("Signature not yet current: 20150830T123600Z is still")


def test_scope_date_must_match_request_date() -> None:
    """The credential scope's date must be the day of X-Amz-Date."""
    view = _signed()
    auth = (view.header("authorization") or "").replace("/20150830/", "/20150829/")
    with pytest.raises(AuthError, match="'20150829' != '20150830'") as caught:
        _check(_with_header(view, "authorization", auth))
    assert caught.value.code == "SignatureDoesNotMatch"


def test_naive_now_is_a_programming_error() -> None:
    """verify refuses a naive `now` loudly rather than comparing wrong times."""
    with pytest.raises(ValueError, match="aware"):
        _check(_signed(), now=NOW.replace(tzinfo=None))


# --- presigned URLs ----------------------------------------------------------------------


def _presigned(expires: int = 300, **kw: Any) -> RequestView:
    return _view(
        {},
        presign_url("GET", URL, AKID, SECRET, "us-east-1", "service", NOW, expires=expires, **kw),
    )


def test_presigned_verifies_until_it_expires() -> None:
    """A presigned URL is valid from X-Amz-Date to X-Amz-Date + X-Amz-Expires."""
    view = _presigned(300)
    _check(view, now=NOW + timedelta(seconds=300))
    with pytest.raises(AuthError, match="^Request has expired$") as caught:
        _check(view, now=NOW + timedelta(seconds=301))
    assert caught.value.code == "AccessDenied" and caught.value.status == 403


def test_presigned_not_yet_valid() -> None:
    """A presigned URL dated more than five minutes ahead is refused."""
    with pytest.raises(AuthError, match="not valid yet") as caught:
        _check(_presigned(), now=NOW - timedelta(minutes=6))
    assert caught.value.code == "AccessDenied"


def test_presigned_token_is_returned_and_signed() -> None:
    """X-Amz-Security-Token in a presigned URL is parsed, and covered by the signature."""
    view = _presigned(session_token="tok/en+==")
    signed = parse_authorization(view)
    assert signed is not None and signed.security_token == "tok/en+=="
    _check(view)
    swapped = view.query_string.replace("tok%2Fen%2B%3D%3D", "other")
    with pytest.raises(SignatureMismatch) as caught:
        _check(dataclasses.replace(view, query_string=swapped))
    assert "X-Amz-Security-Token=<redacted>" in caught.value.canonical_request


def test_parse_caches_hold_no_secret_and_no_verdict() -> None:
    """The parse caches (credential scope, date, SignedHeaders) never see the session
    token, and a malformed value after a good one of the same shape is still refused."""
    from gateway.auth import sigv4_parse

    first = _presigned(session_token="tok/en+==")
    assert parse_authorization(first) is not None
    # Misses, not sizes: a cache filled by earlier tests keeps its size when it takes
    # a new entry, but every value it has not seen is a miss.
    misses = (
        sigv4_parse._unquote_cached.cache_info().misses,
        sigv4_parse._credential_parts.cache_info().misses,
    )
    again = _presigned(session_token="another%token/with+escapes==")
    signed = parse_authorization(again)
    assert signed is not None and signed.security_token == "another%token/with+escapes=="
    assert (
        sigv4_parse._unquote_cached.cache_info().misses,
        sigv4_parse._credential_parts.cache_info().misses,
    ) == misses
    for change in (
        ("%2Faws4_request", "%2Faws4_requesT"),
        ("X-Amz-Date=20150830T123600Z", "X-Amz-Date=20150830T123600z"),
        ("X-Amz-SignedHeaders=host", "X-Amz-SignedHeaders=host%3Bhost"),
    ):
        bad = dataclasses.replace(first, query_string=first.query_string.replace(*change, 1))
        with pytest.raises(AuthError):
            parse_authorization(bad)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("X-Amz-Expires=300", "X-Amz-Expires=604801"), "less than a week"),
        (("X-Amz-Expires=300", "X-Amz-Expires=0"), "greater than 0"),
        (("X-Amz-Expires=300", "X-Amz-Expires=five"), "should be a number"),
        (("X-Amz-Expires=300", "X-Amz-Expires=%EF%BC%91"), "should be a number"),
        (("X-Amz-Expires=300&", ""), "requires the X-Amz-Algorithm"),
        (("X-Amz-Date=20150830T123600Z", "X-Amz-Date=2015-08-30T12:36:00Z"), "ISO8601"),
        (("AWS4-HMAC-SHA256", "AWS4-HMAC-SHA512"), 'only supports "AWS4-HMAC-SHA256"'),
        (("&X-Amz-Signature=", "&X-Amz-Date=20150830T123600Z&X-Amz-Signature="), "more than once"),
        (("%2Faws4_request", "%2Faws4"), "valid terminator"),
        (("X-Amz-SignedHeaders=host", "X-Amz-SignedHeaders=x-amz-date"), "'Host'"),
    ],
)
def test_malformed_presigned_parameters(change: tuple[str, str], message: str) -> None:
    """Malformed presigned parameters are AuthorizationQueryParametersError (400)."""
    view = _presigned()
    assert change[0] in view.query_string
    view = dataclasses.replace(view, query_string=view.query_string.replace(*change, 1))
    with pytest.raises(AuthError, match=message) as caught:
        parse_authorization(view)
    assert caught.value.code == "AuthorizationQueryParametersError" and caught.value.status == 400


def test_expires_over_a_week_refused_by_verify() -> None:
    """verify itself refuses X-Amz-Expires over 604800, even on a hand-built SignedRequest."""
    view = _presigned()
    signed = parse_authorization(view)
    assert signed is not None
    with pytest.raises(AuthError, match="less than a week"):
        verify(
            dataclasses.replace(signed, expires=604801),
            view,
            SECRET,
            now=NOW,
            region="us-east-1",
            service="service",
            payload_hash=EMPTY,
            allow_unsigned_payload=False,
        )


# --- the payload hash --------------------------------------------------------------------


def test_body_hash_mismatch() -> None:
    """x-amz-content-sha256 must equal the hash of the body the gateway received."""
    view = _signed(method="PUT", body=b"data", service="s3")
    _check(view, body=b"data", service="s3")
    with pytest.raises(AuthError) as caught:
        _check(view, body=b"DATA", service="s3")
    assert caught.value.code == "XAmzContentSHA256Mismatch" and caught.value.status == 400


def test_claimed_hash_without_body_hash_is_trusted_for_streaming() -> None:
    """With payload_hash=None the claimed hash is signed over; the caller checks the body."""
    _check(_signed(method="PUT", body=b"data", service="s3"), body=None, service="s3")


def test_body_hash_required_when_not_claimed() -> None:
    """Without x-amz-content-sha256 the caller must pass the body hash."""
    with pytest.raises(ValueError, match="payload_hash"):
        _check(_signed(), body=None)


def test_unsigned_payload_only_when_allowed() -> None:
    """UNSIGNED-PAYLOAD is refused unless allow_unsigned_payload, then verifies."""
    view = _signed(method="PUT", headers={"X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"})
    with pytest.raises(AuthError, match="UNSIGNED-PAYLOAD is not allowed") as caught:
        _check(view, body=b"anything")
    assert caught.value.code == "InvalidRequest"
    _check(view, body=b"anything", allow_unsigned_payload=True)


def test_streaming_payload_refused() -> None:
    """STREAMING-* (aws-chunked) payloads are refused with a clear message."""
    value = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
    view = _signed(method="PUT", headers={"X-Amz-Content-SHA256": value})
    with pytest.raises(AuthError, match="streaming .* not supported"):
        _check(view, allow_unsigned_payload=True)


def test_invalid_payload_hash_value() -> None:
    """An x-amz-content-sha256 that is neither a hash nor a keyword is InvalidArgument."""
    view = _signed(method="PUT", headers={"X-Amz-Content-SHA256": "ABC"})
    with pytest.raises(AuthError) as caught:
        _check(view)
    assert caught.value.code == "InvalidArgument"


# --- scope -------------------------------------------------------------------------------


def test_wrong_region() -> None:
    """The scope's region must be the gateway's region."""
    with pytest.raises(AuthError, match="scoped to a valid region: 'eu-west-1'") as caught:
        _check(_signed(), region="eu-west-1")
    assert caught.value.code == "SignatureDoesNotMatch"


def test_wrong_service() -> None:
    """The scope's service must be the expected service."""
    with pytest.raises(AuthError, match="scoped to correct service: 'sts'"):
        _check(_signed(), service="sts")


# --- malformed Authorization -------------------------------------------------------------

CRED = "Credential=AKIAIOSFODNN7EXAMPLE/20150830/us-east-1/service/aws4_request"
SIG = "Signature=" + "0" * 64
MALFORMED = [
    ("AWS4-HMAC-SHA256", "requires 'Credential' parameter. .* 'Signature' parameter"),
    (f"AWS4-HMAC-SHA256 {CRED}, {SIG}", "requires 'SignedHeaders' parameter"),
    (f"AWS4-HMAC-SHA256 {CRED}, SignedHeaders=host;x-amz-date", "requires 'Signature'"),
    (f"AWS4-HMAC-SHA256 SignedHeaders=host;x-amz-date, {SIG}", "requires 'Credential'"),
    (AUTH.replace("aws4_request", "aws4_reques"), "valid terminator: 'aws4_request', not"),
    (AUTH.replace("/service/", "/"), "ACCESS_KEY_ID/YYYYMMDD/REGION/SERVICE"),
    (AUTH.replace("20150830", "20151330"), "malformed date"),
    (AUTH.replace("us-east-1", "us east 1"), "malformed region"),
    (AUTH.replace("AKIAIOSFODNN7EXAMPLE", "AKIA/IOSF"), "ACCESS_KEY_ID"),
    (AUTH.replace("AKIAIOSFODNN7EXAMPLE", ""), "access key id"),
    (AUTH.replace("host;x-amz-date", "Host;X-Amz-Date"), "must be lowercase"),
    (AUTH.replace("host;x-amz-date", "x-amz-date;host"), "must be sorted"),
    (AUTH.replace("host;x-amz-date", "host;host;x-amz-date"), "list each header once"),
    (AUTH.replace("host;x-amz-date", "host;;x-amz-date"), "invalid entry"),
    (AUTH.replace("0" * 64, "0" * 63), "64 lowercase hexadecimal"),
    (AUTH.replace("0" * 64, "A" * 64), "64 lowercase hexadecimal"),
    (AUTH + ", Foo=bar", "unknown component 'Foo'"),
    (AUTH + ", " + SIG, "more than one 'Signature'"),
    (AUTH + ", bogus", "missing equal-sign"),
    (AUTH.replace(", ", " "), "requires 'SignedHeaders' parameter"),
    (AUTH.replace("AWS4-HMAC-SHA256", "AWS4-HMAC-SHA512"), "Unsupported AWS 'algorithm'"),
    (AUTH.replace("AWS4-HMAC-SHA256", "AWS4-ECDSA-P256-SHA256"), "Unsupported AWS 'algorithm'"),
    ("AWS AKIAIOSFODNN7EXAMPLE:frJIUN8DYpKDtOLCwo//yllqDzg=", "Unsupported AWS 'algorithm'"),
    (AUTH + " " * 9000, "longer than 8192"),
]


@pytest.mark.parametrize(("authorization", "message"), MALFORMED)
def test_malformed_authorization(authorization: str, message: str) -> None:
    """Each malformed Authorization header is IncompleteSignature (400) with a clear reason."""
    view = _view({"x-amz-date": "20150830T123600Z", "authorization": authorization})
    with pytest.raises(AuthError, match=message) as caught:
        parse_authorization(view)
    assert caught.value.code == "IncompleteSignature" and caught.value.status == 400


def test_components_in_any_order_without_spaces() -> None:
    """Components may come in any order and without the space after the comma."""
    view = _signed()
    auth = view.header("authorization") or ""
    algorithm, rest = auth.split(" ", 1)
    credential, signed_headers, sig = rest.split(", ")
    reordered = f"{algorithm} {sig},{credential},{signed_headers}"
    _check(_with_header(view, "authorization", reordered))


def test_duplicated_authorization_header() -> None:
    """Two Authorization headers are refused, even if both are valid."""
    view = _signed()
    auth = view.header("authorization") or ""
    view = dataclasses.replace(view, headers=(*view.headers, ("authorization", auth)))
    with pytest.raises(AuthError, match="more than one Authorization header"):
        parse_authorization(view)


def test_header_and_query_auth_together() -> None:
    """Header and presigned query authentication on one request are refused."""
    presigned = _presigned()
    view = dataclasses.replace(_signed(), query_string=presigned.query_string)
    with pytest.raises(AuthError, match="Only one auth mechanism allowed") as caught:
        parse_authorization(view)
    assert caught.value.code == "InvalidArgument"


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"authorization": "Bearer abc.def"},
        {"authorization": "Basic dXNlcjpwYXNz"},
        {"cookie": "session=abc"},
    ],
)
def test_no_sigv4_credentials_returns_none(headers: dict[str, str]) -> None:
    """Requests without SigV4 credentials parse to None (another authenticator may try)."""
    assert parse_authorization(_view(headers)) is None


# --- the date headers --------------------------------------------------------------------


def _hand_signed(headers: dict[str, str], signed_headers: tuple[str, ...]) -> RequestView:
    view = _view(headers, url="https://gw.example/")
    creq = canonical_request("GET", "/", "", view.headers, signed_headers, EMPTY)
    sts = string_to_sign("20150830T123600Z", "20150830/us-east-1/service/aws4_request", creq)
    sig = signature(signing_key(SECRET, "20150830", "us-east-1", "service"), sts)
    auth = AUTH.replace("host;x-amz-date", ";".join(signed_headers)).replace("0" * 64, sig)
    return _with_header(view, "authorization", auth)


def test_date_header_in_http_format() -> None:
    """Without X-Amz-Date, a signed RFC 7231 Date header supplies the time."""
    view = _hand_signed({"date": "Sun, 30 Aug 2015 12:36:00 GMT"}, ("date", "host"))
    signed = parse_authorization(view)
    assert signed is not None and signed.amz_date == "20150830T123600Z"
    _check(view)


def test_x_amz_date_wins_over_date() -> None:
    """When both are present, X-Amz-Date is the request time."""
    headers = {"date": "Mon, 31 Aug 2015 00:00:00 GMT", "x-amz-date": "20150830T123600Z"}
    _check(_hand_signed(headers, ("host", "x-amz-date")))


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({}, "requires existence of either a 'X-Amz-Date' or a 'Date' header"),
        ({"x-amz-date": "2015-08-30T12:36:00Z"}, "ISO 8601 basic"),
        ({"x-amz-date": "20150230T123600Z"}, "ISO 8601 basic"),
        ({"date": "Sun, 30 Aug 2015 12:36:00 PST"}, "ISO 8601 basic"),
        ({"date": "Sun, 30 Foo 2015 12:36:00 GMT"}, "ISO 8601 basic"),
    ],
)
def test_bad_or_missing_date(headers: dict[str, str], message: str) -> None:
    """A missing or malformed request time is IncompleteSignature."""
    view = _view({**headers, "authorization": AUTH.replace("host;x-amz-date", "host")})
    with pytest.raises(AuthError, match=message) as caught:
        parse_authorization(view)
    assert caught.value.code == "IncompleteSignature"


def test_date_header_must_be_signed() -> None:
    """The header that supplies the request time must be in SignedHeaders."""
    view = _hand_signed({"x-amz-date": "20150830T123600Z"}, ("host",))
    with pytest.raises(AuthError, match="x-amz-date header must be listed in SignedHeaders"):
        parse_authorization(view)


@pytest.mark.parametrize("name", ["x-amz-date", "x-amz-security-token", "x-amz-content-sha256"])
def test_duplicated_auth_headers(name: str) -> None:
    """A repeated X-Amz-Date, token or content hash header is refused."""
    view = _signed(token=TOKEN, service="s3")
    value = view.header(name) or ""
    view = dataclasses.replace(view, headers=(*view.headers, (name, value)))
    with pytest.raises(AuthError, match=f"more than one {name} header"):
        parse_authorization(view)


# --- reprs and the key cache -------------------------------------------------------------


def test_reprs_hold_no_secrets() -> None:
    """SignedRequest hides the session token; the key cache shows only its size."""
    signed = parse_authorization(_signed(token=TOKEN))
    assert signed is not None and TOKEN not in repr(signed)
    cache = SigningKeyCache()
    key = cache.get(AKID, SECRET, "20150830", "us-east-1", "service")
    assert repr(cache) == "SigningKeyCache(size=1, max_size=1024)"
    assert SECRET not in repr(cache) and key.hex() not in repr(cache)


def test_key_cache_macs_are_fresh_copies_of_the_signing_key() -> None:
    """Each MAC the cache hands out signs like `signature`, and none shares state with
    another or with the cached one, also after a secret change."""
    cache = SigningKeyCache()
    key = signing_key(SECRET, "20150830", "us-east-1", "service")
    first = cache.mac(AKID, SECRET, "20150830", "us-east-1", "service")
    first.update(b"one")
    second = cache.mac(AKID, SECRET, "20150830", "us-east-1", "service")
    second.update(b"two")
    assert first.hexdigest() == signature(key, "one")
    assert second.hexdigest() == signature(key, "two")
    rotated = cache.mac(AKID, "new secret", "20150830", "us-east-1", "service")
    rotated.update(b"one")
    assert rotated.hexdigest() == signature(
        signing_key("new secret", "20150830", "us-east-1", "service"), "one"
    )


def test_key_cache_hits_and_follows_secret_changes() -> None:
    """The cache returns the derived key, re-derives when the secret changes, and is bounded."""
    cache = SigningKeyCache(max_size=2)
    expected = signing_key(SECRET, "20150830", "us-east-1", "service")
    assert cache.get(AKID, SECRET, "20150830", "us-east-1", "service") == expected
    assert cache.get(AKID, SECRET, "20150830", "us-east-1", "service") == expected
    equal = SECRET[:1] + SECRET[1:]  # the same secret in another string object
    assert equal is not SECRET
    assert cache.get(AKID, equal, "20150830", "us-east-1", "service") == expected
    assert len(cache) == 1
    other = cache.get(AKID, "new secret", "20150830", "us-east-1", "service")
    assert other == signing_key("new secret", "20150830", "us-east-1", "service")
    cache.get(AKID, SECRET, "20150831", "us-east-1", "service")
    cache.get(AKID, SECRET, "20150901", "us-east-1", "service")
    assert len(cache) == 2
    view = _signed()
    signed = parse_authorization(view)
    assert signed is not None
    verify(
        signed,
        view,
        SECRET,
        now=NOW,
        region="us-east-1",
        service="service",
        payload_hash=EMPTY,
        allow_unsigned_payload=False,
        cache=cache,
    )


# --- properties --------------------------------------------------------------------------

_text = st.text(st.characters(codec="latin-1"), max_size=200)
_auth_like = st.builds(
    lambda parts: "AWS4-HMAC-SHA256 " + "".join(parts),
    st.lists(
        st.sampled_from(
            [
                "Credential=",
                "SignedHeaders=",
                "Signature=",
                ", ",
                ",",
                "=",
                "/",
                ";",
                "AKIDEXAMPLE",
                "20150830",
                "us-east-1",
                "service",
                "aws4_request",
                "host",
                "x-amz-date",
                "0" * 64,
                " ",
                "\t",
                "\x00",
                "é",
                "%",
            ]
        ),
        max_size=30,
    ),
)
_query_like = st.lists(
    st.tuples(
        st.sampled_from(
            [
                "X-Amz-Algorithm",
                "X-Amz-Credential",
                "X-Amz-Date",
                "X-Amz-Expires",
                "X-Amz-SignedHeaders",
                "X-Amz-Signature",
                "X-Amz-Security-Token",
                "a",
            ]
        ),
        st.one_of(
            _text,
            st.sampled_from(
                [
                    "AWS4-HMAC-SHA256",
                    "AKIDEXAMPLE%2F20150830%2Fus-east-1%2Fservice%2Faws4_request",
                    "20150830T123600Z",
                    "3600",
                    "host",
                    "0" * 64,
                    "%zz",
                    "%ff",
                ]
            ),
        ),
    ),
    max_size=10,
).map(lambda pairs: "&".join(f"{k}={v}" for k, v in pairs))


@settings(max_examples=300, deadline=None)
@given(
    authorization=st.one_of(st.none(), _text, _auth_like),
    query=st.one_of(_text, _query_like),
    date=st.one_of(st.none(), _text, st.just("20150830T123600Z")),
    extra=st.lists(
        st.tuples(
            st.sampled_from(
                ["host", "date", "x-amz-date", "x-amz-security-token", "authorization"]
            ),
            _text,
        ),
        max_size=3,
    ),
)
def test_parse_and_verify_raise_only_auth_errors(
    authorization: str | None, query: str, date: str | None, extra: list[tuple[str, str]]
) -> None:
    """On arbitrary header and query text, parse and verify raise nothing but AuthError."""
    headers = [("host", "gw.example")]
    if authorization is not None:
        headers.append(("authorization", authorization))
    if date is not None:
        headers.append(("x-amz-date", date))
    view = RequestView("GET", "/", "/", query, (*headers, *extra))
    try:
        signed = parse_authorization(view)
        if signed is not None:
            verify(
                signed,
                view,
                SECRET,
                now=NOW,
                region="us-east-1",
                service="service",
                payload_hash=EMPTY,
                allow_unsigned_payload=False,
            )
    except AuthError as error:
        assert SECRET not in error.message
        assert "\r" not in error.message


_segments = st.sampled_from(
    [
        "/",
        "a",
        "b",
        ".",
        "..",
        "%",
        "25",
        "2F",
        "41",
        "%20",
        "%25",
        "%2525",
        "%2F",
        "%41",
        " ",
        "+",
        "é",
        "~",
        ";",
        "%E2%82%AC",
        "%c3%a9",
        "//",
    ]
)
_paths = st.lists(_segments, max_size=8).map(lambda parts: "/" + "".join(parts))


def _meaning(raw_path: str) -> bytes:
    """What the edge authorizes: the wire path without dot segments or `//`, decoded."""
    segments: list[str] = []
    for segment in raw_path.split("/"):
        if segment == "..":
            if segments:
                segments.pop()
        elif segment and segment != ".":
            segments.append(segment)
    trailing = "/" if raw_path.endswith("/") and segments else ""
    return unquote_to_bytes("/" + "/".join(segments) + trailing)


@settings(max_examples=1000, deadline=None)
@given(first=_paths, second=_paths, service=st.sampled_from(["execute-api", "s3"]))
def test_no_canonical_uri_serves_two_meanings(first: str, second: str, service: str) -> None:
    """Two raw paths that share an accepted canonical URI always mean the same path."""
    # Random pairs rarely collide, so also try each canonical URI of `first` as a raw
    # path of its own (the replay an attacker would attempt) and its one-step decoding.
    candidates = {second, *accepted_canonical_uris(first, service)}
    candidates |= {unquote(c) for c in set(candidates)}
    for other in candidates:
        shared = set(accepted_canonical_uris(first, service)) & set(
            accepted_canonical_uris(other, service)
        )
        if shared:
            assert _meaning(first) == _meaning(other), (other, shared)


def test_variant_guard_is_needed() -> None:
    """Without the `%25` guard, `/a%2520b` as sent would equal the AWS rule for `/a%20b`."""
    assert canonical_uri("/a%20b") == "/a%2520b"
    assert accepted_canonical_uris("/a%2520b", "execute-api") == ("/a%252520b",)
    assert _meaning("/a%2520b") != _meaning("/a%20b")
