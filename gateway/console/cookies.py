"""
Console session cookies, the principal of a session, and safe return paths.

The cookie holds only a random session token, signed with a key derived from the
master key (itsdangerous); the token is worth nothing without its server-side
record, and the record stores only the token's hash. Cookies are ``HttpOnly``,
``SameSite=Lax`` and ``Path=/``; under an https public URL they are also
``Secure`` and carry the ``__Host-`` prefix, so no sibling host or plain-http
page can set or overwrite them.

CSRF: ``SameSite=Lax`` keeps browsers from sending the cookie with cross-site
POST, PUT, PATCH and DELETE requests (to the console and to upstreams alike),
and every console form also carries a token derived from the session (HMAC),
checked in constant time.

Edge layer: no Starlette, no Jinja2 (the guard imports this module).
"""

from __future__ import annotations

import hashlib
import hmac
import string
from datetime import datetime
from urllib.parse import quote

from itsdangerous import BadSignature, Signer

from gateway.config import Settings
from gateway.iam.crypto import Cipher
from gateway.iam.sessions import ConsoleSession
from gateway.principal import Principal, PrincipalType

COOKIE_PURPOSE = "gateway console session cookie v1"
CSRF_PURPOSE = "gateway console csrf v1"
SIGNIN_PATH = "/_gateway/signin"
CONSOLE_PATH = "/_gateway/console/"
PASSWORD_PATH = "/_gateway/console/password"  # noqa: S105 - a page path, not a secret
MAX_NEXT_LENGTH = 2048
_PRINTABLE = frozenset(string.printable) - frozenset(string.whitespace)


def safe_next(value: object, default: str = CONSOLE_PATH) -> str:
    """
    Return ``value`` when it is a same-origin relative path, else ``default``.

    SECURITY: refuses open redirects: anything that does not start with exactly one
    ``/``, any backslash (browsers read ``/\\evil`` as ``//evil``), any control or
    whitespace character (browsers strip tabs and newlines from URLs), non-ASCII,
    and over-long values.
    """
    if not isinstance(value, str) or not value or len(value) > MAX_NEXT_LENGTH:
        return default
    if not value.startswith("/") or value.startswith("//"):
        return default
    if "\\" in value or any(char not in _PRINTABLE for char in value):
        return default
    return value


def next_param(path: str, query: str = "") -> str:
    """
    Return the quoted ``next`` value for a return to ``path?query``.
    """
    target = path + (f"?{query}" if query else "")
    return quote(safe_next(target), safe="/")


class SessionCookies:
    """
    Signing, reading and writing the console session cookie for one deployment.
    """

    def __init__(self, settings: Settings, cipher: Cipher) -> None:
        self.secure = settings.server.is_https
        base = settings.session.cookie_name
        self.name = f"__Host-{base}" if self.secure else base
        self.flash_name = f"__Host-{base}_flash" if self.secure else f"{base}_flash"
        self.signin_name = f"__Host-{base}_signin" if self.secure else f"{base}_signin"
        self._signer = Signer(cipher.derive_key(COOKIE_PURPOSE), salt="console-session")
        self._csrf_key = cipher.derive_key(CSRF_PURPOSE)
        self.max_age = settings.session.absolute_timeout_seconds

    def sign(self, value: str) -> str:
        return self._signer.sign(value.encode("utf-8")).decode("ascii")

    def unsign(self, value: str | None) -> str | None:
        """
        Return the signed value, or None when it is missing or tampered with.
        """
        if not value or len(value) > 512:
            return None
        try:
            return self._signer.unsign(value.encode("ascii")).decode("utf-8")
        except (BadSignature, UnicodeError):
            return None

    def read(self, cookie_header: str | None, name: str | None = None) -> str | None:
        """
        Return the verified value of cookie ``name`` (the session cookie by default).
        """
        if not cookie_header:
            return None
        wanted = name or self.name
        for piece in cookie_header.split(";"):
            key, sep, value = piece.strip().partition("=")
            if sep and key == wanted:
                return self.unsign(value.strip().strip('"'))
        return None

    def header(self, name: str, value: str, *, max_age: int | None = None) -> str:
        """
        Return a ``Set-Cookie`` value for ``name`` (``value`` is signed here).
        """
        parts = [f"{name}={self.sign(value)}", "Path=/", "HttpOnly", "SameSite=Lax"]
        if max_age is not None:
            parts.append(f"Max-Age={max_age}")
        if self.secure:
            parts.append("Secure")
        return "; ".join(parts)

    def clear(self, name: str) -> str:
        """
        Return a ``Set-Cookie`` value that deletes cookie ``name``.
        """
        parts = [f"{name}=", "Path=/", "HttpOnly", "SameSite=Lax", "Max-Age=0"]
        if self.secure:
            parts.append("Secure")
        return "; ".join(parts)

    def csrf_token(self, binding: str) -> str:
        """
        Return the CSRF token for forms of the session (or sign-in nonce) ``binding``.
        """
        return hmac.new(self._csrf_key, binding.encode("utf-8"), hashlib.sha256).hexdigest()

    def csrf_ok(self, binding: str | None, token: object) -> bool:
        """
        True when ``token`` is the CSRF token of ``binding`` (constant-time compare).
        """
        if not binding or not isinstance(token, str) or len(token) != 64:
            return False
        return hmac.compare_digest(self.csrf_token(binding), token)


def session_principal(record: ConsoleSession) -> Principal:
    """
    Return the principal a live console session acts as.
    """
    signed_in: datetime = record.created_at
    if record.is_root:
        return Principal(
            type=PrincipalType.ROOT,
            arn=record.arn,
            account_id=record.account_id,
            user_id=record.account_id,
            entity_id=record.owner,
            session_name="root",
            mfa_authenticated=record.mfa_at is not None,
            mfa_authenticated_at=record.mfa_at,
            authenticated_at=signed_in,
            credential="console-session",
        )
    return Principal(
        type=PrincipalType.USER,
        arn=record.arn,
        account_id=record.account_id,
        user_id=record.owner,
        user_name=record.user_name,
        entity_id=record.owner,
        session_name=record.user_name,
        mfa_authenticated=record.mfa_at is not None,
        mfa_authenticated_at=record.mfa_at,
        authenticated_at=signed_in,
        credential="console-session",
        tags=record.tags,
    )
