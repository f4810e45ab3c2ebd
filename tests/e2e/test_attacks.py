"""
Attacks on the served gateway, written byte for byte on raw sockets.

Real clients would "fix" these requests (merge headers, normalize paths, refuse to
sign), so each is built by hand and signed by the independent signer in conftest.
Every refusal must be a 4xx (or the documented 502/504 for a broken upstream) with
an AWS-style XML body, nothing that should not be forwarded may reach an upstream,
and the gateway must keep serving afterwards.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from tests.e2e.conftest import (
    LOOPBACK_DENIED,
    PROBE_BUCKET,
    TLS_ONLY,
    Live,
    Reply,
    aws_error_code,
    presign,
    send_raw,
    sha256_hex,
)


@pytest.fixture(autouse=True)
def still_serving(live: Live) -> Iterator[None]:
    """After every attack the gateway is healthy and has logged no traceback."""
    yield
    assert live.healthy()
    assert "Traceback" not in live.log.read_text()


def new_key() -> str:
    return f"attack/{uuid.uuid4().hex}"


def nothing_stored(live: Live, key: str) -> bool:
    """Neither bucket of the object store holds ``key`` (asked directly, not via the gateway)."""
    return key not in live.stored_keys("other") and key not in live.stored_keys("backup")


# --- the Authorization header --------------------------------------------------------------------


def test_two_authorization_headers_are_refused(live: Live) -> None:
    """Two Authorization headers (each valid alone) are IncompleteSignature, not one picked."""
    key = new_key()
    target = f"/backup/buckets/backup/objects/{key}"
    headers = live.signed("PUT", target, b"x")
    auth = [value for name, value in headers if name == "Authorization"][0]
    reply = live.send("PUT", target, [*headers, ("Authorization", auth)], b"x")
    assert reply.status == 400
    assert aws_error_code(reply) == "IncompleteSignature"
    assert nothing_stored(live, key)


def test_a_valid_signature_is_the_control(live: Live) -> None:
    """The signer the attacks tamper with is accepted as is (so refusals below are meaningful)."""
    key = new_key()
    reply = live.call("PUT", f"/backup/buckets/backup/objects/{key}", b"control")
    assert reply.status == 200, reply
    assert live.stored_object("backup", key) == b"control"


def _with_authorization(live: Live, target: str, value: str) -> list[tuple[str, str]]:
    headers = [(n, v) for n, v in live.signed("PUT", target, b"x") if n != "Authorization"]
    return [*headers, ("Authorization", value)]


SIG = "0" * 64
MALFORMED = [
    # --- missing components ---
    pytest.param("AWS4-HMAC-SHA256 SignedHeaders=host;x-amz-date, Signature={sig}", id="no-cred"),
    pytest.param("AWS4-HMAC-SHA256 Credential={cred}, Signature={sig}", id="no-signed-headers"),
    pytest.param("AWS4-HMAC-SHA256 Credential={cred}, SignedHeaders=host;x-amz-date", id="no-sig"),
    pytest.param("AWS4-HMAC-SHA256", id="algorithm-only"),
    # --- garbage ---
    pytest.param("AWS4-HMAC-SHA256 garbage", id="garbage"),
    pytest.param("AWS4-HMAC-SHA256 Credential=,,,===,", id="empty-values"),
    pytest.param(
        "AWS4-HMAC-SHA1 Credential={cred}, SignedHeaders=host, Signature={sig}", id="sha1"
    ),
    pytest.param("AWS4-HMAC-SHA256 Credential=" + "A" * 9000, id="9000-chars"),
    # --- wrong shapes ---
    pytest.param(
        "AWS4-HMAC-SHA256 Credential={key}/20200101/us-east-1/backup, "
        "SignedHeaders=host;x-amz-date, Signature={sig}",
        id="short-credential",
    ),
    pytest.param(
        "AWS4-HMAC-SHA256 Credential={cred}, SignedHeaders=host;x-amz-date, Signature=XYZ",
        id="non-hex-signature",
    ),
    pytest.param(
        "AWS4-HMAC-SHA256 Credential={cred}, SignedHeaders=x-amz-date;host, Signature={sig}",
        id="unsorted-signed-headers",
    ),
    pytest.param(
        "AWS4-HMAC-SHA256 Credential={cred}, Credential={cred}, "
        "SignedHeaders=host;x-amz-date, Signature={sig}",
        id="credential-twice",
    ),
]


@pytest.mark.parametrize("template", MALFORMED)
def test_malformed_authorization_is_a_4xx(live: Live, template: str) -> None:
    """A malformed Authorization header is a 400 IncompleteSignature, never a 500."""
    key = new_key()
    target = f"/backup/buckets/backup/objects/{key}"
    date = datetime.now(UTC).strftime("%Y%m%d")
    value = template.format(
        sig=SIG, key=live.key_id, cred=f"{live.key_id}/{date}/us-east-1/backup/aws4_request"
    )
    reply = live.send("PUT", target, _with_authorization(live, target, value), b"x")
    assert reply.status == 400, reply
    assert aws_error_code(reply) == "IncompleteSignature"
    assert nothing_stored(live, key)


def test_other_schemes_are_missing_authentication(live: Live) -> None:
    """A Bearer token is not SigV4: MissingAuthenticationToken, nothing forwarded."""
    key = new_key()
    target = f"/backup/buckets/backup/objects/{key}"
    reply = live.send("PUT", target, _with_authorization(live, target, "Bearer abc.def"), b"x")
    assert reply.status == 403
    assert aws_error_code(reply) == "MissingAuthenticationToken"
    assert nothing_stored(live, key)


def test_host_must_be_signed(live: Live) -> None:
    """A signature that leaves `host` out of SignedHeaders is refused (Host could be swapped)."""
    key = new_key()
    target = f"/backup/buckets/backup/objects/{key}"
    headers = live.signed("PUT", target, b"x", signed_names=["x-amz-date"])
    reply = live.send("PUT", target, headers, b"x")
    assert reply.status == 400
    assert aws_error_code(reply) == "IncompleteSignature"
    assert "Host" in reply.text
    assert nothing_stored(live, key)


def test_signed_header_missing_from_the_request(live: Live) -> None:
    """SignedHeaders naming a header the request does not carry is refused."""
    key = new_key()
    target = f"/backup/buckets/backup/objects/{key}"
    headers = live.signed("PUT", target, b"x", headers=[("X-Amz-Meta-Owner", "me")])
    headers = [(n, v) for n, v in headers if n != "X-Amz-Meta-Owner"]
    reply = live.send("PUT", target, headers, b"x")
    assert reply.status == 400
    assert aws_error_code(reply) == "IncompleteSignature"
    assert "x-amz-meta-owner" in reply.text
    assert nothing_stored(live, key)


def test_signature_over_another_path(live: Live) -> None:
    """A signature for the allowed path does not carry a request for another path."""
    key = new_key()
    allowed = f"/backup/buckets/backup/objects/{key}"
    sent = f"/backup/buckets/other/objects/{key}"
    reply = live.send("PUT", sent, live.signed("PUT", sent, b"x", signed_path=allowed), b"x")
    assert reply.status == 403
    assert aws_error_code(reply) == "SignatureDoesNotMatch"
    assert live.secret not in reply.text
    assert nothing_stored(live, key)


# --- oversized requests --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "extra",
    [
        pytest.param([("X-Big", "a" * 65536)], id="one-64KiB-header"),
        pytest.param([(f"X-Many-{i}", "v") for i in range(200)], id="200-headers"),
        pytest.param([("X-Huge", "b" * (1 << 20))], id="one-1MiB-header"),
    ],
)
def test_oversized_headers_are_431(live: Live, extra: list[tuple[str, str]]) -> None:
    """Too many or too large headers are 431 RequestHeaderSectionTooLarge, not a 500."""
    key = new_key()
    target = f"/backup/buckets/backup/objects/{key}"
    reply = live.send("PUT", target, live.signed("PUT", target, b"x", headers=extra), b"x")
    assert reply.status == 431
    assert aws_error_code(reply) == "RequestHeaderSectionTooLarge"
    assert nothing_stored(live, key)


def test_body_over_the_limit_is_413(live: Live) -> None:
    """A signed body over max_body_bytes is 413 before anything is forwarded."""
    key = new_key()
    body = b"z" * (1024 * 1024 + 1)
    reply = live.call("PUT", f"/backup/buckets/backup/objects/{key}", body)
    assert reply.status == 413
    assert aws_error_code(reply) == "RequestEntityTooLarge"
    assert nothing_stored(live, key)


# --- path normalization --------------------------------------------------------------------------

BYPASSES = [
    # --- dot segments resolve before authorization: the real target is denied ---
    pytest.param("/backup/buckets/backup/../other/objects/{key}", 403, "AccessDenied", id="dotdot"),
    pytest.param(
        "/backup/buckets/backup/objects/../../other/objects/{key}", 403, "AccessDenied", id="up-2"
    ),
    pytest.param("/backup/./buckets/other/objects/{key}", 403, "AccessDenied", id="dot"),
    pytest.param("//backup/buckets/other/objects/{key}", 403, "AccessDenied", id="leading-//"),
    pytest.param("/backup//buckets//other/objects/{key}", 403, "AccessDenied", id="inner-//"),
    pytest.param("/backup/buckets/%6Fther/objects/{key}", 403, "AccessDenied", id="encoded-o"),
    # --- encoded dot segments and separators are ambiguous: refused outright ---
    pytest.param("/backup/buckets/backup/%2e%2e/other/objects/{key}", 400, "InvalidURI", id="%2e"),
    pytest.param("/backup/buckets/backup/%2E%2E/other/objects/{key}", 400, "InvalidURI", id="%2E"),
    pytest.param("/backup/buckets/backup/.%2e/other/objects/{key}", 400, "InvalidURI", id=".%2e"),
    pytest.param("/backup/buckets/backup%2F..%2Fother/objects/{key}", 400, "InvalidURI", id="%2F"),
    pytest.param("/backup/buckets/backup%2f..%2fother/objects/{key}", 400, "InvalidURI", id="%2f"),
    pytest.param(
        "/backup/buckets/backup\\..\\other/objects/{key}", 400, "InvalidURI", id="backslash"
    ),
    pytest.param("/backup/buckets/backup%5C..%5Cother/objects/{key}", 400, "InvalidURI", id="%5C"),
    pytest.param(
        "/backup/buckets/backup/%EF%BC%8E%EF%BC%8E/other/objects/{key}",
        400,
        "InvalidURI",
        id="fullwidth-dots",
    ),
    pytest.param("/backup/buckets/backup/..%00/other/objects/{key}", 400, "InvalidURI", id="nul"),
    # --- `;` path parameters (Tomcat/Spring strip them) ---
    pytest.param("/backup/buckets/other;/objects/{key}", 400, "InvalidURI", id="semicolon"),
    pytest.param(
        "/backup/buckets/backup;/../other/objects/{key}", 400, "InvalidURI", id="semicolon-dotdot"
    ),
    pytest.param(
        "/backup/buckets/backup/..;/other/objects/{key}", 400, "InvalidURI", id="dotdot-semicolon"
    ),
    # --- the prefix is case-sensitive: no upstream serves these ---
    pytest.param("/BACKUP/buckets/other/objects/{key}", 404, "NotFound", id="upper-prefix"),
    pytest.param("/Backup/buckets/other/objects/{key}", 404, "NotFound", id="mixed-prefix"),
]


@pytest.mark.parametrize(("template", "status", "code"), BYPASSES)
def test_path_bypass_is_refused(live: Live, template: str, status: int, code: str) -> None:
    """A path that could reach bucket `other` is refused with its code; `other` gets nothing."""
    key = new_key()
    target = template.format(key=key)
    reply = live.call("PUT", target, b"bypass")
    assert reply.status == status, reply
    assert aws_error_code(reply) == code
    assert nothing_stored(live, key)


def test_two_host_headers_are_refused(live: Live) -> None:
    """A second Host header is 400, so no upstream can pick the other one."""
    key = new_key()
    target = f"/backup/buckets/backup/objects/{key}"
    headers = live.signed("PUT", target, b"x")
    reply = live.send("PUT", target, [*headers, ("Host", "evil.example")], b"x")
    assert reply.status == 400
    assert aws_error_code(reply) == "InvalidRequest"
    assert nothing_stored(live, key)


# --- requests the HTTP parser refuses before the gateway sees them ------------------------------
# uvicorn's httptools parser answers these itself: a plain-text 400, not the gateway's XML.


def assert_parser_refusal(reply: Reply) -> None:
    assert (reply.status, reply.body) == (400, b"Invalid HTTP request received."), reply


def test_lowercase_method_is_refused(live: Live) -> None:
    """A lowercase `put`, which a lenient upstream might treat as PUT, is a 400."""
    key = new_key()
    assert_parser_refusal(live.call("put", f"/backup/buckets/other/objects/{key}", b"x"))
    assert nothing_stored(live, key)


def test_control_bytes_in_a_header_are_refused(live: Live) -> None:
    """Control bytes in the Authorization header are a 400, not a 500."""
    key = new_key()
    target = f"/backup/buckets/backup/objects/{key}"
    headers = _with_authorization(live, target, "AWS4-HMAC-SHA256 \x01\x02\x7f")
    assert_parser_refusal(live.send("PUT", target, headers, b"x"))
    assert nothing_stored(live, key)


def test_request_smuggling_does_not_reach_the_store(live: Live) -> None:
    """Content-Length with Transfer-Encoding cannot smuggle an unsigned PUT to bucket `other`."""
    key = new_key()
    target = f"/backup/buckets/backup/objects/{key}"
    smuggled = (
        f"PUT /backup/buckets/other/objects/{key} HTTP/1.1\r\nHost: x\r\n"
        "Content-Length: 3\r\n\r\nbad"
    ).encode()
    body = b"0\r\n\r\n" + smuggled
    headers = live.signed("PUT", target, body)
    raw = (
        f"PUT {target} HTTP/1.1\r\n".encode()
        + b"".join(f"{n}: {v}\r\n".encode() for n, v in headers)
        + f"Content-Length: {len(body)}\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
        + body
    )
    assert_parser_refusal(send_raw(live.port, raw))
    assert nothing_stored(live, key)


# --- identity headers ----------------------------------------------------------------------------

SPOOFED = [
    ("X-Gateway-Principal-Arn", "arn:aws:iam::123456789012:root"),
    ("X-Gateway-User", "root"),
    ("X-Gateway-Account", "123456789012"),
    ("X-Gateway-Mfa", "true"),
    ("X-Forwarded-For", "203.0.113.9"),
    ("X-Forwarded-Host", "evil.example"),
    ("Forwarded", "for=203.0.113.9"),
]


def test_spoofed_identity_is_not_what_the_store_records(live: Live) -> None:
    """Client-sent X-Gateway-* headers do not change the principal the store records."""
    key = new_key()
    reply = live.call("PUT", f"/backup/buckets/backup/objects/{key}", b"s", headers=SPOOFED)
    assert reply.status == 200, reply
    assert json.loads(reply.body)["storedBy"] == f"arn:aws:iam::{live.account_id}:user/backup"


def _received_headers(live: Live, headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    echo = live.upstreams["echo"]
    before = len(echo.requests)
    target = f"/echo/buckets/{PROBE_BUCKET}/objects/{new_key()}"
    reply = live.call("GET", target, headers=headers)
    assert reply.status == 200, reply
    [request] = echo.requests[before:]
    head = request.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")[1:]
    return [(n.strip().lower(), v.strip()) for n, _, v in (line.partition(":") for line in head)]


def test_spoofed_headers_never_reach_the_upstream(live: Live) -> None:
    """The upstream sees each identity header once, with the gateway's value, not the client's."""
    received = _received_headers(live, SPOOFED)
    values = {name: [v for n, v in received if n == name] for name, _ in received}
    assert values["x-gateway-user"] == ["backup"]
    assert values["x-gateway-account"] == [live.account_id]
    assert values["x-gateway-principal-arn"] == [f"arn:aws:iam::{live.account_id}:user/backup"]
    assert values["x-gateway-mfa"] == ["false"]
    assert values["x-forwarded-host"] == [live.host]
    assert "forwarded" not in values
    assert values["x-forwarded-for"] == ["127.0.0.1"]


def test_underscore_spellings_of_identity_headers_are_dropped(live: Live) -> None:
    """`X_Gateway_User` never reaches the upstream: CGI/WSGI servers read it as X-Gateway-User."""
    received = _received_headers(live, [("X_Gateway_User", "root"), ("X_Forwarded_For", "1.2.3.4")])
    folded = [name.replace("_", "-") for name, _ in received]
    assert folded.count("x-gateway-user") == 1
    assert folded.count("x-forwarded-for") == 1


@pytest.mark.parametrize(
    ("prefix", "spoof"),
    [
        pytest.param(LOOPBACK_DENIED, ("X-Forwarded-For", "203.0.113.9"), id="aws:SourceIp"),
        pytest.param(TLS_ONLY, ("X-Forwarded-Proto", "https"), id="aws:SecureTransport"),
    ],
)
def test_forwarded_headers_do_not_change_the_request_context(
    live: Live, prefix: str, spoof: tuple[str, str]
) -> None:
    """A Deny on aws:SourceIp or aws:SecureTransport holds when the client sends X-Forwarded-*."""
    key = f"{prefix}/{uuid.uuid4().hex}"
    target = f"/backup/buckets/backup/objects/{key}"
    assert live.call("PUT", target, b"secret").status == 200
    reply = live.call("GET", target)
    assert reply.status == 403, reply
    assert aws_error_code(reply) == "AccessDenied"
    assert "explicit deny" in reply.text
    reply = live.call("GET", target, headers=[spoof])
    assert reply.status == 403, reply
    assert aws_error_code(reply) == "AccessDenied"


# --- presigned URLs, payload hash, clock ---------------------------------------------------------


def _presigned(live: Live, path: str, now: datetime, expires: int) -> str:
    return presign(
        "GET",
        path,
        key_id=live.key_id,
        secret=live.secret,
        host=live.host,
        now=now,
        expires=expires,
    )


def test_expired_presigned_url_is_refused(live: Live) -> None:
    """A URL presigned an hour ago for 60 s is AccessDenied; the same URL signed now works."""
    key = new_key()
    path = f"/backup/buckets/backup/objects/{key}"
    assert live.call("PUT", path, b"p").status == 200
    now = datetime.now(UTC)
    fresh = live.send("GET", _presigned(live, path, now, 60), [("Host", live.host)])
    assert (fresh.status, fresh.body) == (200, b"p")
    stale = live.send(
        "GET", _presigned(live, path, now - timedelta(hours=1), 60), [("Host", live.host)]
    )
    assert stale.status == 403
    assert aws_error_code(stale) == "AccessDenied"
    assert "expired" in stale.text


def test_presigned_expiry_over_a_week_is_refused(live: Live) -> None:
    """X-Amz-Expires of 604801 seconds is AuthorizationQueryParametersError."""
    path = "/backup/buckets/backup/objects/anything"
    reply = live.send(
        "GET", _presigned(live, path, datetime.now(UTC), 604801), [("Host", live.host)]
    )
    assert reply.status == 400
    assert aws_error_code(reply) == "AuthorizationQueryParametersError"


def test_body_not_matching_its_signed_hash(live: Live) -> None:
    """x-amz-content-sha256 of another body is XAmzContentSHA256Mismatch; nothing stored."""
    key = new_key()
    target = f"/backup/buckets/backup/objects/{key}"
    claimed = sha256_hex(b"the body that was signed")
    headers = live.signed(
        "PUT",
        target,
        b"",
        headers=[("X-Amz-Content-Sha256", claimed)],
        payload_hash=claimed,
    )
    reply = live.send("PUT", target, headers, b"a different body")
    assert reply.status == 400
    assert aws_error_code(reply) == "XAmzContentSHA256Mismatch"
    assert nothing_stored(live, key)


@pytest.mark.parametrize("minutes", [-10, 10])
def test_skewed_clock_is_refused(live: Live, minutes: int) -> None:
    """A request signed 10 minutes off is RequestTimeTooSkewed."""
    key = new_key()
    target = f"/backup/buckets/backup/objects/{key}"
    now = datetime.now(UTC) + timedelta(minutes=minutes)
    reply = live.send("PUT", target, live.signed("PUT", target, b"x", now=now), b"x")
    assert reply.status == 403
    assert aws_error_code(reply) == "RequestTimeTooSkewed"
    assert nothing_stored(live, key)


# --- misbehaving upstreams -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("upstream", "status"),
    [("hang", 504), ("reset", 502), ("garbage", 502)],
)
def test_broken_upstream_is_a_gateway_error(live: Live, upstream: str, status: int) -> None:
    """A hanging, resetting or garbage-speaking upstream is 504/502 in XML; serving goes on."""
    key = new_key()
    target = f"/{upstream}/buckets/{PROBE_BUCKET}/objects/{key}"
    reply = live.call("PUT", target, b"payload")
    assert reply.status == status, reply
    code = aws_error_code(reply)
    if status == 502:
        assert code == "BadGateway"
    assert live.upstreams[upstream].requests, "the request should have reached the upstream"
    for request in live.upstreams[upstream].requests:
        assert b"authorization:" not in request.lower()
        assert live.secret.encode() not in request
    assert live.healthy()
    again = f"/backup/buckets/backup/objects/{key}"
    assert live.call("PUT", again, b"after").status == 200


def test_upstream_timeout_code_names_a_timeout(live: Live) -> None:
    """A 504 carries a timeout code (GatewayTimeout), not the 502 code BadGateway."""
    reply = live.call("GET", f"/hang/buckets/{PROBE_BUCKET}/objects/{new_key()}")
    assert reply.status == 504
    assert aws_error_code(reply) == "GatewayTimeout"
