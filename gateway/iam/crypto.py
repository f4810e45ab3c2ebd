"""
Encryption at rest for access-key secrets and TOTP seeds (AES-256-GCM).

The master key material is one or more base64-encoded 32-byte keys, one per
line; the first line encrypts, every line decrypts, so a key can be rotated by
putting a new one on top. Each ciphertext is stored beside the id of the key
that sealed it (the first 8 bytes of the key's SHA-256, in hex) and is bound to
its row through the associated data, so a ciphertext copied onto another row
does not decrypt.

Part of the IAM service layer; imports nothing from the edge.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from gateway.errors import ConfigError, GatewayError

KEY_BYTES = 32
NONCE_BYTES = 12


class DecryptionError(GatewayError):
    """
    A stored secret could not be decrypted (unknown key id or tampered data).
    """

    code = "InternalFailure"
    status = 500


def generate_master_key() -> str:
    """
    Return a new random master key as one base64 line.
    """
    return base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode("ascii")


def key_id(key: bytes) -> str:
    """
    Return the public id of a key: the first 8 bytes of its SHA-256, in hex.
    """
    return hashlib.sha256(key).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class Sealed:
    """
    A ciphertext (base64 of nonce + data + tag) and the id of the key that sealed it.
    """

    ciphertext: str
    kid: str


class Cipher:
    """
    Seal and open secrets with the master keys; the first key seals.
    """

    __slots__ = ("_current", "_keys", "_raw")

    def __init__(self, keys: list[bytes]) -> None:
        if not keys:
            raise ValueError("at least one master key is needed")
        for key in keys:
            if len(key) != KEY_BYTES:
                raise ValueError("master keys are 32 bytes")
        self._keys = {key_id(key): AESGCM(key) for key in keys}
        self._raw = {key_id(key): key for key in keys}
        self._current = key_id(keys[0])

    def __repr__(self) -> str:
        return f"Cipher(current={self._current!r}, keys={len(self._keys)})"

    @property
    def current_kid(self) -> str:
        return self._current

    def derive_key(self, purpose: str, *, length: int = 32) -> bytes:
        """
        Derive a key for ``purpose`` from the current master key (HKDF-SHA256).

        Every replica holding the same master key derives the same key, so keys
        for signing (identity assertions, cookies) need no storage of their own.
        """
        return HKDF(
            algorithm=hashes.SHA256(), length=length, salt=None, info=purpose.encode("utf-8")
        ).derive(self._raw[self._current])

    def seal(self, plaintext: str, *, context: str) -> Sealed:
        """
        Encrypt ``plaintext`` bound to ``context`` (for example ``access-key:AKIA...``).
        """
        nonce = os.urandom(NONCE_BYTES)
        data = self._keys[self._current].encrypt(
            nonce, plaintext.encode("utf-8"), context.encode("utf-8")
        )
        return Sealed(base64.b64encode(nonce + data).decode("ascii"), self._current)

    def open(self, sealed: Sealed, *, context: str) -> str:
        """
        Decrypt a sealed secret.

        Raises:
            DecryptionError: the key id is unknown, or the data or context do not match.
        """
        aead = self._keys.get(sealed.kid)
        if aead is None:
            raise DecryptionError(f"no master key with id `{sealed.kid}` is loaded")
        try:
            raw = base64.b64decode(sealed.ciphertext, validate=True)
            data = aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], context.encode("utf-8"))
        except (InvalidTag, binascii.Error, ValueError) as exc:
            raise DecryptionError("a stored secret failed its integrity check") from exc
        return data.decode("utf-8")


def parse_master_keys(text: str, *, source: str) -> list[bytes]:
    """
    Parse master key material: base64 keys, one per line; ``#`` starts a comment.

    Raises:
        ConfigError: a line is not a base64 32-byte key, or there is none.
    """
    keys: list[bytes] = []
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        try:
            key = base64.b64decode(line, validate=True)
        except binascii.Error:
            key = b""
        if len(key) != KEY_BYTES:
            raise ConfigError(f"line {number}: expected a base64-encoded 32-byte key", file=source)
        keys.append(key)
    if not keys:
        raise ConfigError("no master key found; run `gateway init --config FILE`", file=source)
    return keys


def load_cipher(path: Path, *, env_name: str, environ: dict[str, str] | None = None) -> Cipher:
    """
    Load the master keys from the environment variable ``env_name`` or else ``path``.

    Raises:
        ConfigError: neither is present, the file is readable by others, or it is malformed.
    """
    env = os.environ if environ is None else environ
    if env.get(env_name):
        return Cipher(parse_master_keys(env[env_name], source=f"${env_name}"))
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise ConfigError(
            "master key file not found; run `gateway init --config FILE` to create it",
            file=str(path),
        ) from None
    if mode & 0o077:
        raise ConfigError(
            f"master key file is accessible by group or others (mode {mode & 0o777:o}); "
            "run `chmod 600` on it",
            file=str(path),
        )
    return Cipher(parse_master_keys(path.read_text(encoding="ascii"), source=str(path)))


def write_master_key(path: Path) -> None:
    """
    Create a new master key file with mode 0600; refuses to overwrite one.

    Raises:
        ConfigError: the file already exists.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise ConfigError(
            "master key file already exists; refusing to overwrite it", file=str(path)
        ) from None
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(generate_master_key() + "\n")
