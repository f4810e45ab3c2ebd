"""
Session tokens for temporary credentials: self-contained, authenticated, encrypted.

Layer: auth. A token carries everything needed to verify a request signed with
its temporary credentials (the ``ASIA`` key id and its secret) and to build the
caller's principal (account, role or user, session name, issue and expiry times,
MFA state, source identity, tags, session policies), so any replica holding the
master key verifies it with no store lookup.

Wire format (base64url, no padding)::

    version (1 byte) | master key id (8 bytes) | nonce (12) | AES-256-GCM ciphertext + tag

sealed with ``Cipher.seal`` under the master key named by the key id, with the
version in the associated data. New tokens use the current master key; tokens
sealed under an older key that is still listed keep working until they expire,
so a master-key rotation does not end live sessions. A token that fails any
check (encoding, version, unknown key, integrity) is ``InvalidClientTokenId``:
the caller cannot tell which check failed.

The plaintext is compact JSON with short field names. Imports ``gateway.iam.crypto``
(the master keys) and ``gateway.errors``.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from gateway.errors import AuthError
from gateway.iam.crypto import Cipher, DecryptionError, Sealed

VERSION = 1
MAX_TOKEN_CHARS = 8192  # what the SigV4 parser accepts for X-Amz-Security-Token
INVALID_TOKEN = "The security token included in the request is invalid."  # noqa: S105 - a message
_KID_BYTES = 8
_CONTEXT = f"gateway-sts-session-token:v{VERSION}"
_BASE64URL = re.compile(r"[A-Za-z0-9_-]+", re.ASCII)

SessionKind = Literal["role", "user", "root"]


@dataclass(frozen=True, slots=True)
class SessionClaims:
    """
    What a session token says; ``secret_access_key`` never appears in a repr.

    Attributes:
        kind: ``role`` (AssumeRole), ``user`` or ``root`` (GetSessionToken).
        entity_id: the role id (``AROA...``), the user id (``AIDA...``) or the account id.
        entity_arn: the role's or user's ARN (root: the account's root ARN).
        entity_name: the role's or user's name ("" for root).
        session_name: the role session name ("" for user sessions).
        issued_at, expires_at: aware UTC times, millisecond precision.
        mfa_at: when MFA was verified for this session, or None without MFA.
        tags: the principal tags of the session (role tags merged with session tags).
        transitive_keys: the session tags that pass on through role chaining.
        session_policy: the inline session policy document, or "".
        policy_arns: managed session policies, by ARN.
    """

    account_id: str
    kind: SessionKind
    entity_id: str
    entity_arn: str
    entity_name: str
    session_name: str
    issued_at: datetime
    expires_at: datetime
    access_key_id: str
    secret_access_key: str = field(repr=False)
    mfa_at: datetime | None = None
    source_identity: str = ""
    tags: tuple[tuple[str, str], ...] = ()
    session_policy: str = ""
    policy_arns: tuple[str, ...] = ()
    transitive_keys: tuple[str, ...] = ()


def _millis(moment: datetime) -> int:
    if moment.tzinfo is None:
        raise ValueError("session times must be timezone-aware")
    return round(moment.timestamp() * 1000)


def _time(value: object) -> datetime:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError("bad time")
    return datetime.fromtimestamp(value / 1000, UTC)


def _encode(claims: SessionClaims) -> str:
    body: dict[str, Any] = {
        "a": claims.account_id,
        "k": claims.kind,
        "e": claims.entity_id,
        "r": claims.entity_arn,
        "n": claims.entity_name,
        "s": claims.session_name,
        "i": _millis(claims.issued_at),
        "x": _millis(claims.expires_at),
        "ak": claims.access_key_id,
        "sk": claims.secret_access_key,
    }
    if claims.mfa_at is not None:
        body["m"] = _millis(claims.mfa_at)
    if claims.source_identity:
        body["si"] = claims.source_identity
    if claims.tags:
        body["t"] = [list(pair) for pair in claims.tags]
    if claims.session_policy:
        body["p"] = claims.session_policy
    if claims.policy_arns:
        body["pa"] = list(claims.policy_arns)
    if claims.transitive_keys:
        body["tt"] = list(claims.transitive_keys)
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False)


def _text(body: dict[str, Any], key: str, default: str | None = None) -> str:
    value = body.get(key, default)
    if not isinstance(value, str):
        raise ValueError(f"bad field {key}")
    return value


def _decode(text: str) -> SessionClaims:
    body = json.loads(text)
    if not isinstance(body, dict):
        raise ValueError("not an object")
    kind = _text(body, "k")
    if kind not in ("role", "user", "root"):
        raise ValueError("bad kind")
    tags = body.get("t", [])
    arns = body.get("pa", [])
    transitive = body.get("tt", [])
    if not isinstance(tags, list) or not all(
        isinstance(pair, list) and len(pair) == 2 and all(isinstance(x, str) for x in pair)
        for pair in tags
    ):
        raise ValueError("bad tags")
    for strings in (arns, transitive):
        if not isinstance(strings, list) or not all(isinstance(item, str) for item in strings):
            raise ValueError("bad list of strings")
    mfa = body.get("m")
    return SessionClaims(
        account_id=_text(body, "a"),
        kind=kind,  # type: ignore[arg-type]  # checked against the Literal just above
        entity_id=_text(body, "e"),
        entity_arn=_text(body, "r"),
        entity_name=_text(body, "n"),
        session_name=_text(body, "s"),
        issued_at=_time(body.get("i")),
        expires_at=_time(body.get("x")),
        access_key_id=_text(body, "ak"),
        secret_access_key=_text(body, "sk"),
        mfa_at=None if mfa is None else _time(mfa),
        source_identity=_text(body, "si", ""),
        tags=tuple((key, value) for key, value in tags),
        session_policy=_text(body, "p", ""),
        policy_arns=tuple(arns),
        transitive_keys=tuple(transitive),
    )


def _invalid() -> AuthError:
    return AuthError(INVALID_TOKEN, code="InvalidClientTokenId")


class SessionTokens:
    """
    Seal and open session tokens with the master keys of ``cipher``.
    """

    __slots__ = ("_cipher",)

    def __init__(self, cipher: Cipher) -> None:
        self._cipher = cipher

    def __repr__(self) -> str:
        return f"SessionTokens(version={VERSION}, kid={self._cipher.current_kid!r})"

    def seal(self, claims: SessionClaims) -> str:
        """
        Return the token for ``claims``, sealed with the current master key.
        """
        sealed = self._cipher.seal(_encode(claims), context=_CONTEXT)
        raw = (
            bytes([VERSION])
            + bytes.fromhex(sealed.kid)
            + base64.b64decode(sealed.ciphertext, validate=True)
        )
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")

    def open(self, token: str) -> SessionClaims:
        """
        Verify and decrypt ``token``.

        Raises:
            AuthError: ``InvalidClientTokenId`` for a token that is malformed,
                truncated, tampered with, of another version, or sealed under a
                master key this process does not hold.
        """
        if len(token) > MAX_TOKEN_CHARS or not _BASE64URL.fullmatch(token):
            raise _invalid()
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        except (binascii.Error, ValueError):
            raise _invalid() from None
        if len(raw) < 1 + _KID_BYTES + 12 + 16 or raw[0] != VERSION:
            raise _invalid()
        kid = raw[1 : 1 + _KID_BYTES].hex()
        body = base64.b64encode(raw[1 + _KID_BYTES :]).decode("ascii")
        try:
            text = self._cipher.open(Sealed(body, kid), context=_CONTEXT)
            return _decode(text)
        except (DecryptionError, ValueError, TypeError, KeyError):
            # SECURITY: one answer for every failure; nothing says which check failed.
            raise _invalid() from None
