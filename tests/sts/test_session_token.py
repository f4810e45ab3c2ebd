"""
Session tokens: sealed and opened with the master keys; any damage is InvalidClientTokenId.
"""

from __future__ import annotations

import base64
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from gateway.auth.keys import KeyAuthenticator, session_principal
from gateway.auth.session_token import MAX_TOKEN_CHARS, SessionClaims, SessionTokens
from gateway.auth.sigv4_parse import parse_authorization
from gateway.auth.sigv4_sign import presign_url, sign_request
from gateway.errors import AuthError
from gateway.iam import IAM, Cipher
from gateway.iam.crypto import generate_master_key, parse_master_keys
from gateway.principal import PrincipalType
from gateway.types import RequestView

EMPTY = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
NOW = datetime(2026, 11, 28, 1, 2, 3, 456000, tzinfo=UTC)
CLAIMS = SessionClaims(
    account_id="123456789012",
    kind="role",
    entity_id="AROAEXAMPLEEXAMPLE1",
    entity_arn="arn:aws:iam::123456789012:role/ops/Backup",
    entity_name="Backup",
    session_name="nightly",
    issued_at=NOW,
    expires_at=NOW + timedelta(hours=1),
    access_key_id="ASIAEXAMPLEEXAMPLE1",
    secret_access_key="s" * 40,
    mfa_at=NOW - timedelta(seconds=5),
    source_identity="alice",
    tags=(("team", "ops"), ("cost center", "42")),
    session_policy='{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*",'
    '"Resource":"*"}]}',
    policy_arns=("arn:aws:iam::aws:policy/IAMReadOnlyAccess",),
    transitive_keys=("team",),
)


def new_cipher() -> Cipher:
    return Cipher(parse_master_keys(generate_master_key(), source="test"))


def flip(token: str, index: int) -> str:
    raw = bytearray(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    raw[index] ^= 0x01
    return base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()


def test_round_trip_keeps_every_claim() -> None:
    """A sealed token opens to exactly the claims it was made from."""
    tokens = SessionTokens(new_cipher())
    token = tokens.seal(CLAIMS)
    assert tokens.open(token) == CLAIMS
    assert len(token) < 1200
    assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def test_token_hides_the_secret_and_the_repr_too() -> None:
    """Neither the token text nor a repr shows the secret or the claims."""
    tokens = SessionTokens(new_cipher())
    token = tokens.seal(CLAIMS)
    assert CLAIMS.secret_access_key not in token and "Backup" not in token
    assert CLAIMS.secret_access_key not in repr(CLAIMS)


@pytest.mark.parametrize("index", [0, 1, 5, 9, 15, 30, -17, -1])
def test_flipped_bit_anywhere_is_refused(index: int) -> None:
    """Version, key id, nonce, ciphertext or tag: one flipped bit is InvalidClientTokenId."""
    tokens = SessionTokens(new_cipher())
    with pytest.raises(AuthError) as caught:
        tokens.open(flip(tokens.seal(CLAIMS), index))
    assert caught.value.code == "InvalidClientTokenId"
    assert caught.value.status == 403


@pytest.mark.parametrize(
    "damage",
    [
        lambda t: t[:-1],
        lambda t: t[: len(t) // 2],
        lambda t: t[:10],
        lambda t: "",
        lambda t: t + "A",
        lambda t: t.replace(t[20], "+" if t[20] != "+" else "/", 1),
        lambda t: t[:40] + "=" + t[40:],
        lambda t: "A" * (MAX_TOKEN_CHARS + 1),
        lambda t: "é" * 40,
    ],
)
def test_truncated_or_malformed_tokens_are_refused(damage: object) -> None:
    """Truncated, padded, non-base64url or oversized tokens are InvalidClientTokenId."""
    tokens = SessionTokens(new_cipher())
    token = tokens.seal(CLAIMS)
    with pytest.raises(AuthError) as caught:
        tokens.open(damage(token))  # type: ignore[operator]
    assert caught.value.code == "InvalidClientTokenId"


def test_token_of_another_master_key_is_refused() -> None:
    """A token sealed under a master key this deployment does not hold is refused."""
    theirs = SessionTokens(new_cipher()).seal(CLAIMS)
    with pytest.raises(AuthError, match="security token included in the request is invalid"):
        SessionTokens(new_cipher()).open(theirs)


def test_rotation_keeps_old_tokens_valid_and_seals_with_the_new_key() -> None:
    """After a master-key rotation, tokens of the old key still open; new ones use the new key."""
    old_key, new_key = generate_master_key(), generate_master_key()
    before = SessionTokens(Cipher(parse_master_keys(old_key, source="t")))
    after = SessionTokens(Cipher(parse_master_keys(f"{new_key}\n{old_key}", source="t")))
    old_token = before.seal(CLAIMS)
    assert after.open(old_token) == CLAIMS
    new_token = after.seal(CLAIMS)
    with pytest.raises(AuthError):
        before.open(new_token)


def test_claims_without_optional_fields_round_trip() -> None:
    """A GetSessionToken user session without MFA, tags or policies round-trips."""
    plain = replace(
        CLAIMS,
        kind="user",
        session_name="",
        mfa_at=None,
        source_identity="",
        tags=(),
        session_policy="",
        policy_arns=(),
        transitive_keys=(),
    )
    tokens = SessionTokens(new_cipher())
    assert tokens.open(tokens.seal(plain)) == plain
    principal = session_principal(plain)
    assert principal.session_policies == () and not principal.has_session_policies


def test_session_principal_of_a_role_session() -> None:
    """The principal of a role session is AWS's assumed-role identity with its MFA state."""
    principal = session_principal(CLAIMS)
    assert principal.type is PrincipalType.ASSUMED_ROLE
    assert principal.arn == "arn:aws:sts::123456789012:assumed-role/Backup/nightly"
    assert principal.user_id == "AROAEXAMPLEEXAMPLE1:nightly"
    assert principal.session_issuer_arn == CLAIMS.entity_arn
    assert principal.entity_id == CLAIMS.entity_id
    assert principal.credential == "sts"
    assert principal.mfa_authenticated and principal.mfa_authenticated_at == CLAIMS.mfa_at
    assert principal.authenticated_at == NOW
    assert principal.tags == CLAIMS.tags
    assert principal.session_policies[0].kind == "session"
    assert principal.session_policy_arns == CLAIMS.policy_arns
    assert CLAIMS.secret_access_key not in repr(principal)


# --- KeyAuthenticator with temporary credentials -------------------------------------------------


def _view(headers: dict[str, str], *, target: str = "/x") -> RequestView:
    path, _, query = target.partition("?")
    return RequestView(
        method="GET",
        path=path,
        raw_path=path,
        query_string=query,
        headers=tuple((k.lower(), v) for k, v in headers.items()),
        scheme="http",
        client_ip="127.0.0.1",
    )


class _NoStoreIAM(IAM):
    async def access_key_secret(self, access_key_id: str) -> None:  # type: ignore[override]
        raise AssertionError("temporary credentials must not touch the store")


def _authenticator(cipher: Cipher) -> KeyAuthenticator:
    iam = _NoStoreIAM(None, cipher, account_id="")  # type: ignore[arg-type]  # never used
    return KeyAuthenticator(iam, region="us-east-1")


async def _authenticate(
    keys: KeyAuthenticator,
    token: str,
    *,
    key_id: str = CLAIMS.access_key_id,
    now: datetime = NOW + timedelta(minutes=1),
    service: str = "backup",
) -> object:
    headers = sign_request(
        "GET",
        "http://gateway.test/x",
        {"host": "gateway.test"},
        b"",
        key_id,
        CLAIMS.secret_access_key,
        "us-east-1",
        service,
        now,
        session_token=token,
    )
    view = _view({"host": "gateway.test", **headers})
    signed = parse_authorization(view)
    assert signed is not None
    return await keys.authenticate(
        signed,
        view,
        service=service,
        now=now,
        payload_hash=EMPTY,
        allow_unsigned_payload=False,
    )


@pytest.mark.anyio
async def test_authenticator_verifies_a_session_without_the_store() -> None:
    """A request signed with temporary credentials authenticates with no store lookup."""
    cipher = new_cipher()
    keys = _authenticator(cipher)
    token = keys.tokens.seal(CLAIMS)
    principal = await _authenticate(keys, token)
    assert principal == session_principal(CLAIMS)
    assert await _authenticate(keys, token) == principal  # served from the LRU


@pytest.mark.anyio
async def test_presigned_url_with_a_session_token_authenticates() -> None:
    """X-Amz-Security-Token in a presigned URL is checked like the header form."""
    cipher = new_cipher()
    keys = _authenticator(cipher)
    token = keys.tokens.seal(CLAIMS)
    now = NOW + timedelta(minutes=1)
    url = presign_url(
        "GET",
        "http://gateway.test/x",
        CLAIMS.access_key_id,
        CLAIMS.secret_access_key,
        "us-east-1",
        "backup",
        now,
        expires=300,
        session_token=token,
    )
    view = _view({"host": "gateway.test"}, target=url.removeprefix("http://gateway.test"))
    signed = parse_authorization(view)
    assert signed is not None and signed.security_token == token
    principal = await keys.authenticate(
        signed, view, service="backup", now=now, payload_hash=EMPTY, allow_unsigned_payload=False
    )
    assert principal.arn.endswith("assumed-role/Backup/nightly")  # type: ignore[attr-defined]


@pytest.mark.anyio
async def test_authenticator_refuses_expired_wrong_key_and_foreign_tokens() -> None:
    """Expired is ExpiredToken; another key id or master key is InvalidClientTokenId."""
    cipher = new_cipher()
    keys = _authenticator(cipher)
    token = keys.tokens.seal(CLAIMS)
    with pytest.raises(AuthError) as caught:
        await _authenticate(keys, token, now=CLAIMS.expires_at)
    assert (caught.value.code, caught.value.status) == ("ExpiredToken", 403)
    with pytest.raises(AuthError) as caught:
        await _authenticate(keys, token, key_id="ASIAOTHEROTHEROTHER1")
    assert caught.value.code == "InvalidClientTokenId"
    foreign = SessionTokens(new_cipher()).seal(CLAIMS)
    with pytest.raises(AuthError) as caught:
        await _authenticate(keys, foreign)
    assert caught.value.code == "InvalidClientTokenId"


@pytest.mark.anyio
async def test_wrong_secret_is_signature_does_not_match() -> None:
    """A token whose secret differs from the one that signed is SignatureDoesNotMatch."""
    cipher = new_cipher()
    keys = _authenticator(cipher)
    token = keys.tokens.seal(replace(CLAIMS, secret_access_key="t" * 40))
    with pytest.raises(AuthError) as caught:
        await _authenticate(keys, token)
    assert caught.value.code == "SignatureDoesNotMatch"


@pytest.mark.anyio
async def test_user_session_without_mfa_cannot_sign_iam_calls() -> None:
    """GetSessionToken credentials without MFA are refused by IAM (AWS's rule), not by others."""
    cipher = new_cipher()
    keys = _authenticator(cipher)
    user = replace(
        CLAIMS,
        kind="user",
        entity_id="AIDAEXAMPLEEXAMPLE1",
        entity_arn="arn:aws:iam::123456789012:user/steve",
        entity_name="steve",
        session_name="",
        mfa_at=None,
    )
    token = keys.tokens.seal(user)
    with pytest.raises(AuthError) as caught:
        await _authenticate(keys, token, service="iam")
    assert caught.value.code == "InvalidClientTokenId"
    principal = await _authenticate(keys, token, service="backup")
    assert principal.type is PrincipalType.USER  # type: ignore[attr-defined]
    with_mfa = keys.tokens.seal(replace(user, mfa_at=NOW))
    assert await _authenticate(keys, with_mfa, service="iam")


# --- decoding what a valid seal may still hold ------------------------------------------------


@pytest.mark.parametrize(
    "plaintext",
    [
        "[]",
        "not json",
        '{"k": "admin"}',
        '{"k": "role", "a": 1}',
        '{"k": "role", "a": "1", "e": "e", "r": "r", "n": "n", "s": "s", "i": "soon"}',
        '{"k": "role", "a": "1", "e": "e", "r": "r", "n": "n", "s": "s", "i": true}',
        '{"k": "user", "t": [["only-a-key"]]}',
        '{"k": "user", "t": [], "pa": "arn"}',
        '{"k": "user", "tt": [1]}',
    ],
)
def test_sealed_but_malformed_claims_are_refused(
    plaintext: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Even under a valid seal, claims of the wrong shape are InvalidClientTokenId."""
    from gateway.auth import session_token

    tokens = SessionTokens(new_cipher())
    monkeypatch.setattr(session_token, "_encode", lambda claims: plaintext)
    token = tokens.seal(CLAIMS)
    with pytest.raises(AuthError) as caught:
        tokens.open(token)
    assert caught.value.code == "InvalidClientTokenId"


def test_bad_base64_length_and_naive_times_are_refused() -> None:
    """A token of impossible base64 length is refused; naive times cannot be sealed."""
    tokens = SessionTokens(new_cipher())
    with pytest.raises(AuthError):
        tokens.open("AAAAA")
    with pytest.raises(ValueError, match="timezone-aware"):
        tokens.seal(replace(CLAIMS, issued_at=NOW.replace(tzinfo=None)))
    assert "SessionTokens(version=1" in repr(tokens)


def test_session_principal_of_root_and_a_broken_session_policy() -> None:
    """A root session is the root; a session policy that no longer parses denies everything."""
    root = replace(
        CLAIMS,
        kind="root",
        entity_id="123456789012",
        entity_arn="arn:aws:iam::123456789012:root",
        entity_name="",
        session_name="",
        session_policy='{"Statement": "nope"}',
    )
    principal = session_principal(root)
    assert principal.type is PrincipalType.ROOT and principal.is_root
    assert principal.user_id == "123456789012"
    (policy,) = principal.session_policies
    assert policy.statements[0].effect.value == "Deny"


@pytest.mark.anyio
async def test_session_cache_is_bounded() -> None:
    """Opened tokens are kept in an LRU of bounded size."""
    cipher = new_cipher()
    iam = _NoStoreIAM(None, cipher, account_id="")  # type: ignore[arg-type]  # never used
    keys = KeyAuthenticator(iam, region="us-east-1", max_sessions=2)
    for index in range(3):
        claims = replace(CLAIMS, session_name=f"s{index}")
        await _authenticate(keys, keys.tokens.seal(claims))
    assert len(keys._sessions) == 2
