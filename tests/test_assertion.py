"""
Identity assertions: what upstreams verify to trust the gateway's identity headers.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest

from gateway.assertion import AssertionSigner, InvalidAssertion, verify_assertion
from gateway.principal import Principal, PrincipalType

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
STEVE = Principal(
    PrincipalType.USER,
    "arn:aws:iam::123456789012:user/steve",
    "123456789012",
    "AIDAX",
    user_name="steve",
)


def _signer(seed: bytes = b"k" * 32) -> AssertionSigner:
    return AssertionSigner(seed)


def test_assertion_verifies_and_names_the_caller() -> None:
    """A fresh assertion verifies with the public key and carries the principal."""
    signer = _signer()
    token = signer.sign(STEVE, audience="backup", now=NOW)
    claims = verify_assertion(token, signer.public_key_pem(), audience="backup", now=NOW)
    assert claims["sub"] == STEVE.arn and claims["usr"] == "steve"
    assert claims["exp"] - claims["iat"] == 60


def test_wrong_audience_is_refused() -> None:
    """An assertion for one upstream is not accepted by another."""
    signer = _signer()
    token = signer.sign(STEVE, audience="backup", now=NOW)
    with pytest.raises(InvalidAssertion, match="another upstream"):
        verify_assertion(token, signer.public_key_pem(), audience="billing", now=NOW)


def test_expired_assertion_is_refused() -> None:
    """After its lifetime an assertion no longer verifies."""
    signer = _signer()
    token = signer.sign(STEVE, audience="backup", now=NOW)
    with pytest.raises(InvalidAssertion, match="expired"):
        verify_assertion(
            token, signer.public_key_pem(), audience="backup", now=NOW + timedelta(minutes=2)
        )


def test_tampered_claims_fail_the_signature() -> None:
    """Editing the payload (claiming to be root) breaks the signature."""
    signer = _signer()
    header, payload, signature = signer.sign(STEVE, audience="backup", now=NOW).split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["sub"] = "arn:aws:iam::123456789012:root"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    with pytest.raises(InvalidAssertion, match="signature"):
        verify_assertion(
            f"{header}.{forged}.{signature}", signer.public_key_pem(), audience="backup", now=NOW
        )


def test_other_key_does_not_verify() -> None:
    """A token signed by another gateway's key is refused."""
    token = _signer(b"a" * 32).sign(STEVE, audience="backup", now=NOW)
    with pytest.raises(InvalidAssertion):
        verify_assertion(token, _signer(b"b" * 32).public_key_pem(), audience="backup", now=NOW)


@pytest.mark.parametrize("token", ["", "a.b", "a.b.c.d", "!!!.???.###"])
def test_malformed_tokens_are_refused(token: str) -> None:
    """Garbage is an InvalidAssertion, never another exception."""
    with pytest.raises(InvalidAssertion):
        verify_assertion(token, _signer().public_key_pem(), audience="backup", now=NOW)


def test_tokens_are_reused_for_half_their_life() -> None:
    """The same caller gets the same token until 30 s of validity remain, then a new one."""
    signer = _signer()
    first = signer.sign(STEVE, audience="backup", now=NOW)
    assert signer.sign(STEVE, audience="backup", now=NOW + timedelta(seconds=30)) == first
    assert signer.sign(STEVE, audience="backup", now=NOW + timedelta(seconds=31)) != first
    assert signer.sign(STEVE, audience="billing", now=NOW) != first


def test_repr_shows_no_key() -> None:
    """The signer's repr names the algorithm only."""
    assert repr(_signer()) == "AssertionSigner(alg='EdDSA')"
