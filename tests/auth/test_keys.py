"""
The access-key authenticator and the SigV4 limits a hostile request can hit.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import pytest

from gateway.auth.keys import KeyAuthenticator
from gateway.auth.sigv4 import canonical_headers, canonical_query
from gateway.auth.sigv4_parse import MAX_SIGNED_HEADERS, MAX_VALUE_LENGTH, parse_authorization
from gateway.auth.sigv4_sign import presign_url, sign_request
from gateway.errors import AuthError
from gateway.iam import IAM
from gateway.types import RequestView

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
EMPTY = hashlib.sha256(b"").hexdigest()


def _view(headers: dict[str, str], query: str = "", path: str = "/svc/x") -> RequestView:
    return RequestView(
        method="GET",
        path=path,
        raw_path=path,
        query_string=query,
        headers=tuple((k.lower(), v) for k, v in headers.items()),
    )


async def _signed_view(iam: IAM, **extra: str) -> tuple[RequestView, str]:
    await iam.create_user("u")
    key = await iam.create_access_key("u")
    headers = sign_request(
        "GET",
        "http://gw.test/svc/x",
        dict(extra),
        b"",
        key.key.access_key_id,
        key.secret_access_key,
        "us-east-1",
        "svc",
        NOW,
    )
    return _view(headers), key.key.access_key_id


@pytest.mark.anyio
async def test_authenticator_verifies_and_caches(iam: IAM) -> None:
    """A valid signature yields the user; the second lookup is a cache hit."""
    view, key_id = await _signed_view(iam)
    auth = KeyAuthenticator(iam, region="us-east-1")
    signed = parse_authorization(view)
    assert signed is not None
    for _ in range(2):
        principal = await auth.authenticate(
            signed, view, service="svc", now=NOW, payload_hash=EMPTY, allow_unsigned_payload=False
        )
    assert principal.user_name == "u" and principal.access_key_id == key_id
    assert (auth.misses, auth.hits) == (1, 1)
    assert "secret" not in repr(auth).lower()


@pytest.mark.anyio
async def test_key_cache_is_bounded(iam: IAM) -> None:
    """The key cache evicts the oldest entry past its bound."""
    auth = KeyAuthenticator(iam, region="us-east-1", max_entries=1)
    view, _ = await _signed_view(iam)
    signed = parse_authorization(view)
    assert signed is not None
    for key_id in ("AKIAUNKNOWN0000000001", "AKIAUNKNOWN0000000002"):
        with pytest.raises(AuthError):
            await auth.authenticate(
                signed.__class__(**{**_fields(signed), "access_key_id": key_id}),
                view,
                service="svc",
                now=NOW,
                payload_hash=EMPTY,
                allow_unsigned_payload=False,
            )
    assert len(auth._entries) == 1


@pytest.mark.anyio
async def test_session_token_is_not_a_long_term_key(iam: IAM) -> None:
    """A request carrying a session token is refused by the access-key authenticator."""
    view, _ = await _signed_view(iam, **{"X-Amz-Security-Token": "token"})
    signed = parse_authorization(view)
    assert signed is not None and signed.security_token == "token"
    auth = KeyAuthenticator(iam, region="us-east-1")
    with pytest.raises(AuthError) as caught:
        await auth.authenticate(
            signed, view, service="svc", now=NOW, payload_hash=EMPTY, allow_unsigned_payload=False
        )
    assert caught.value.code == "InvalidClientTokenId"


def _fields(signed: object) -> dict[str, object]:
    return {name: getattr(signed, name) for name in signed.__slots__}  # type: ignore[attr-defined]


def test_empty_query_parts_are_ignored() -> None:
    """`a=1&&b=2` canonicalizes like `a=1&b=2`."""
    assert canonical_query("a=1&&b=2") == canonical_query("a=1&b=2")


def test_signed_header_missing_from_request() -> None:
    """Canonical headers refuse a signed name the request does not carry."""
    with pytest.raises(AuthError) as caught:
        canonical_headers([("host", "gw.test")], ["host", "x-amz-date"])
    assert caught.value.code == "IncompleteSignature"


def test_oversized_query_credential_is_refused() -> None:
    """A presigned parameter longer than the limit is refused, not parsed."""
    query = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=" + "A" * (MAX_VALUE_LENGTH + 1)
    with pytest.raises(AuthError):
        parse_authorization(_view({"host": "gw.test"}, query))


def test_too_many_signed_headers_are_refused() -> None:
    """SignedHeaders with more names than the limit is refused."""
    names = ";".join(f"h{i}" for i in range(MAX_SIGNED_HEADERS + 1))
    header = (
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261127/us-east-1/svc/aws4_request, "
        f"SignedHeaders={names}, Signature={'0' * 64}"
    )
    with pytest.raises(AuthError, match="more than"):
        parse_authorization(_view({"host": "gw.test", "authorization": header}))


def test_oversized_date_header_is_refused() -> None:
    """An X-Amz-Date header longer than the limit is refused."""
    header = (
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261127/us-east-1/svc/aws4_request, "
        f"SignedHeaders=host;x-amz-date, Signature={'0' * 64}"
    )
    view = _view(
        {"host": "gw.test", "authorization": header, "x-amz-date": "2" * (MAX_VALUE_LENGTH + 1)}
    )
    with pytest.raises(AuthError):
        parse_authorization(view)


@pytest.mark.parametrize("expires", [0, 604801])
def test_presign_refuses_out_of_range_expiry(expires: int) -> None:
    """The signing helper refuses an expiry AWS would refuse."""
    with pytest.raises(ValueError, match="expires"):
        presign_url(
            "GET", "http://gw.test/x", "AKID", "secret", "us-east-1", "svc", NOW, expires=expires
        )


@pytest.mark.anyio
async def test_region_must_match_unless_any_region(iam: IAM) -> None:
    """A scope for another region is refused, except where any region is accepted."""
    view, _ = await _signed_view(iam)
    auth = KeyAuthenticator(iam, region="eu-west-1")
    signed = parse_authorization(view)
    assert signed is not None and signed.region == "us-east-1"
    kwargs = {"service": "svc", "now": NOW, "payload_hash": EMPTY, "allow_unsigned_payload": False}
    with pytest.raises(AuthError):
        await auth.authenticate(signed, view, **kwargs)  # type: ignore[arg-type]
    principal = await auth.authenticate(signed, view, any_region=True, **kwargs)  # type: ignore[arg-type]
    assert principal.user_name == "u"
    assert [usage[2] for usage in auth.take_usage().values()] == ["us-east-1"]
