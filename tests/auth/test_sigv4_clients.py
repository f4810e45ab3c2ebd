"""
Real clients: captured requests from curl, awscurl, requests-aws4auth and botocore, and
live in-process signing with botocore and requests-aws4auth, through the verifier.
"""

from __future__ import annotations

import hashlib
import json
import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from botocore.auth import S3SigV4Auth, S3SigV4QueryAuth, SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from requests_aws4auth import AWS4Auth

from gateway.auth import SignatureMismatch, parse_authorization, verify
from gateway.errors import AuthError

from .conftest import RawRequest, ViewFactory

AKID = "AKIDEXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
TEMP_AKID = "ASIAIOSFODNN7EXAMPLE"
TEMP_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY"
SECRETS = {AKID: SECRET, TEMP_AKID: TEMP_SECRET}


def _clients_dir() -> Path:
    candidates = [
        os.environ.get("GATEWAY_TEST_VECTORS", ""),
        str(Path(__file__).parents[1] / "vectors"),
    ]
    for candidate in candidates:
        if candidate and (Path(candidate) / "sigv4-clients" / "results.json").is_file():
            return Path(candidate) / "sigv4-clients"
    # The vectors ship with the tests (tests/vectors/); never skip them silently.
    raise FileNotFoundError("SigV4 vectors not found under tests/vectors or $GATEWAY_TEST_VECTORS")


CLIENTS = _clients_dir()
RESULTS = json.loads((CLIENTS / "results.json").read_text())

# Where the gateway deliberately differs from the "valid under AWS rules" verdict. For
# services other than S3 it also accepts the path exactly as sent, the way curl
# --aws-sigv4 signs it, when the path holds no `%25` (see accepted_canonical_uris).
GATEWAY_ACCEPTS = {
    "D1-path-escapes-curl": "curl signs the encoded wire path as sent",
    "D5-path-subdelims-curl": "curl signs the unencoded sub-delimiters as sent",
    "E-curl-execute-api-dot-segments-default": "curl signs `/foo//bar/qux` as sent",
    "E-curl-execute-api-dot-segments-path-as-is": "curl signs the dot segments as sent",
}


def _capture_params() -> list[Any]:
    params = []
    for result in RESULTS:
        expected = result["valid_under_aws_rules"] or result["name"] in GATEWAY_ACCEPTS
        params.append(pytest.param(result, expected, id=result["name"]))
    return params


def _verify_capture(raw_request: RawRequest, result: dict[str, Any], region: str) -> None:
    view, body = raw_request((CLIENTS / "captured" / f"{result['name']}.txt").read_bytes())
    signed = parse_authorization(view)
    assert signed is not None
    assert signed.scope == result["scope"]
    assert list(signed.signed_headers) == result["signed_headers"]
    verify(
        signed,
        view,
        SECRETS[signed.access_key_id],
        now=signed.timestamp + timedelta(seconds=1),
        region=region,
        service=signed.service,
        payload_hash=hashlib.sha256(body).hexdigest(),
        allow_unsigned_payload=False,
    )


@pytest.mark.parametrize(("result", "expected"), _capture_params())
def test_captured_request(raw_request: RawRequest, result: dict[str, Any], expected: bool) -> None:
    """Each captured request gets the verdict of results.json (or a listed gateway choice)."""
    region = result["scope"].split("/")[1]
    if expected:
        _verify_capture(raw_request, result, region)
        return
    with pytest.raises(AuthError) as caught:
        _verify_capture(raw_request, result, region)
    # curl's doubled `x-amz-dup;x-amz-dup` is refused while parsing; the rest mismatch.
    assert caught.value.code in {"SignatureDoesNotMatch", "IncompleteSignature"}


def test_captured_curl_without_region_is_refused(raw_request: RawRequest) -> None:
    """curl `aws:amz` without region/service scopes to `0/127`, which the gateway refuses."""
    (result,) = [r for r in RESULTS if r["name"] == "H-curl-provider-only-no-region-service"]
    with pytest.raises(AuthError, match="valid region") as caught:
        _verify_capture(raw_request, result, "us-east-1")
    assert caught.value.code == "SignatureDoesNotMatch"


def test_captured_sts_token_is_parsed(raw_request: RawRequest) -> None:
    """The session token of a captured STS call is returned, and kept out of the repr."""
    view, _ = raw_request((CLIENTS / "captured" / "C-botocore-sts-session-token.txt").read_bytes())
    signed = parse_authorization(view)
    assert signed is not None and signed.security_token is not None
    assert signed.security_token.startswith("FwoGZXIvYXdzEXAMPLE")
    assert signed.security_token not in repr(signed)


# --- live signing, in process -------------------------------------------------------


def _botocore_signed(
    auth_class: type[SigV4Auth], service: str, method: str, url: str, body: bytes = b"", **kw: Any
) -> AWSRequest:
    request = AWSRequest(method=method, url=url, data=body, headers=kw.pop("headers", {}))
    credentials = Credentials(AKID, SECRET, kw.pop("token", None))
    auth_class(credentials, service, "us-east-1", **kw).add_auth(request)
    return request


def _verify_live(
    view_factory: ViewFactory,
    method: str,
    url: str,
    headers: dict[str, str],
    body: bytes,
    *,
    service: str,
    allow_unsigned_payload: bool = False,
) -> None:
    view = view_factory(method, url, headers)
    signed = parse_authorization(view)
    assert signed is not None
    verify(
        signed,
        view,
        SECRET,
        now=signed.timestamp,
        region="us-east-1",
        service=service,
        payload_hash=hashlib.sha256(body).hexdigest(),
        allow_unsigned_payload=allow_unsigned_payload,
    )


LIVE_URLS = [
    "https://gw.example:8443/",
    "https://gw.example:8443/_gateway/sts",
    "https://gw.example:8443/stage/a%20b/%E2%82%AC/c~d/",
    "https://gw.example:8443/foo/bar?b=x%2Fy&a=2&a=1&empty=&sp=a%20b&Caps=Z",
    "https://gw.example:8443/stage/a!b$c'd(e)*f,g;h=i:j@k",
]


@pytest.mark.parametrize("url", LIVE_URLS)
def test_botocore_sigv4_header(view_factory: ViewFactory, url: str) -> None:
    """botocore's SigV4Auth (non-S3: normalized, double-encoded path) verifies."""
    body = b"Action=GetCallerIdentity&Version=2011-06-15"
    headers = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
    request = _botocore_signed(SigV4Auth, "execute-api", "POST", url, body, headers=headers)
    _verify_live(
        view_factory, "POST", request.url, dict(request.headers), body, service="execute-api"
    )


def test_botocore_sigv4_session_token(view_factory: ViewFactory) -> None:
    """botocore signs X-Amz-Security-Token; the verifier accepts and returns it."""
    request = _botocore_signed(SigV4Auth, "sts", "GET", LIVE_URLS[0], token="tok+en/==")
    view = view_factory("GET", request.url, dict(request.headers))
    signed = parse_authorization(view)
    assert signed is not None and signed.security_token == "tok+en/=="
    _verify_live(view_factory, "GET", request.url, dict(request.headers), b"", service="sts")


@pytest.mark.parametrize("url", ["https://gw.example/bucket/key%20with%20space.txt", LIVE_URLS[2]])
def test_botocore_s3_header(view_factory: ViewFactory, url: str) -> None:
    """botocore's S3SigV4Auth (path as sent, x-amz-content-sha256) verifies."""
    body = b"backup data"
    request = _botocore_signed(S3SigV4Auth, "s3", "PUT", url, body)
    assert request.headers["X-Amz-Content-SHA256"] == hashlib.sha256(body).hexdigest()
    _verify_live(view_factory, "PUT", request.url, dict(request.headers), body, service="s3")


def test_botocore_s3_presigned(view_factory: ViewFactory) -> None:
    """An S3 presigned URL verifies only where UNSIGNED-PAYLOAD is allowed."""
    url = "https://gw.example/bucket/key%20with%20space.txt"
    request = _botocore_signed(S3SigV4QueryAuth, "s3", "GET", url, expires=300)
    request.prepare()
    assert "X-Amz-Signature=" in request.url
    _verify_live(
        view_factory, "GET", request.url, {}, b"", service="s3", allow_unsigned_payload=True
    )
    with pytest.raises(AuthError, match="UNSIGNED-PAYLOAD"):
        _verify_live(view_factory, "GET", request.url, {}, b"", service="s3")


def test_botocore_presigned_non_s3(view_factory: ViewFactory) -> None:
    """botocore's SigV4QueryAuth (non-S3: body hash in the canonical request) verifies."""
    url = "https://gw.example/?Action=GetCallerIdentity&Version=2011-06-15"
    request = _botocore_signed(SigV4QueryAuth, "sts", "GET", url, expires=60)
    request.prepare()
    _verify_live(view_factory, "GET", request.url, {}, b"", service="sts")


def test_botocore_presigned_expired(view_factory: ViewFactory) -> None:
    """A botocore presigned URL is refused once X-Amz-Expires has passed."""
    request = _botocore_signed(SigV4QueryAuth, "sts", "GET", LIVE_URLS[0], expires=60)
    request.prepare()
    view = view_factory("GET", request.url)
    signed = parse_authorization(view)
    assert signed is not None
    with pytest.raises(AuthError, match="Request has expired") as caught:
        verify(
            signed,
            view,
            SECRET,
            now=signed.timestamp + timedelta(seconds=61),
            region="us-east-1",
            service="sts",
            payload_hash=hashlib.sha256(b"").hexdigest(),
            allow_unsigned_payload=False,
        )
    assert caught.value.code == "AccessDenied"


@pytest.mark.parametrize("service", ["execute-api", "s3"])
@pytest.mark.parametrize(
    "url",
    [
        "https://gw.example/",
        "https://gw.example/stage/a%20b/%E2%82%AC/c~d/",
        "https://gw.example/foo/bar?b=x%2Fy&a=2&a=1&Caps=Z",
    ],
)
def test_requests_aws4auth(view_factory: ViewFactory, url: str, service: str) -> None:
    """requests-aws4auth's prepared request (never sent) verifies."""
    auth = AWS4Auth(AKID, SECRET, "us-east-1", service, session_token="tok")
    prepared = requests.Request("POST", url, data=b"x=1", auth=auth).prepare()
    assert prepared.body == b"x=1" and prepared.url is not None
    _verify_live(
        view_factory, "POST", prepared.url, dict(prepared.headers), b"x=1", service=service
    )


def test_botocore_wrong_secret_shows_canonical_request(view_factory: ViewFactory) -> None:
    """A wrong secret gives SignatureDoesNotMatch with AWS's explanation, never the secret."""
    request = _botocore_signed(SigV4Auth, "sts", "GET", LIVE_URLS[0], token="session-secret")
    view = view_factory("GET", request.url, dict(request.headers))
    signed = parse_authorization(view)
    assert signed is not None
    with pytest.raises(SignatureMismatch) as caught:
        verify(
            signed,
            view,
            "another secret",
            now=signed.timestamp,
            region="us-east-1",
            service="sts",
            payload_hash=hashlib.sha256(b"").hexdigest(),
            allow_unsigned_payload=False,
        )
    message = caught.value.message
    assert message.startswith("The request signature we calculated does not match")
    assert "The Canonical String for this request should have been\n'GET\n/\n" in message
    assert "x-amz-security-token:<redacted>" in message
    assert "session-secret" not in message and "another secret" not in message
    assert caught.value.status == 403
