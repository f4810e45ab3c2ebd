"""
Encryption at rest under the master key, and the master key file itself.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest

from gateway.errors import ConfigError
from gateway.iam.crypto import (
    Cipher,
    DecryptionError,
    Sealed,
    generate_master_key,
    load_cipher,
    parse_master_keys,
    write_master_key,
)


def _cipher(*lines: str) -> Cipher:
    return Cipher(parse_master_keys("\n".join(lines), source="test"))


def test_seal_and_open_round_trip() -> None:
    """A sealed secret opens with the same key and context."""
    cipher = _cipher(generate_master_key())
    sealed = cipher.seal("s3cret", context="access-key:AKIA1")
    assert "s3cret" not in sealed.ciphertext
    assert sealed.kid == cipher.current_kid
    assert cipher.open(sealed, context="access-key:AKIA1") == "s3cret"


def test_ciphertext_is_bound_to_its_row() -> None:
    """A ciphertext copied to another row does not decrypt."""
    cipher = _cipher(generate_master_key())
    sealed = cipher.seal("s3cret", context="access-key:AKIA1")
    with pytest.raises(DecryptionError):
        cipher.open(sealed, context="access-key:AKIA2")


def test_tampered_ciphertext_fails() -> None:
    """Changing one character of the ciphertext breaks the integrity check."""
    cipher = _cipher(generate_master_key())
    sealed = cipher.seal("s3cret", context="c")
    raw = bytearray(base64.b64decode(sealed.ciphertext))
    raw[-1] ^= 0x01
    with pytest.raises(DecryptionError):
        cipher.open(Sealed(base64.b64encode(raw).decode(), sealed.kid), context="c")


def test_rotation_keeps_old_ciphertexts_readable() -> None:
    """After a new key goes on top, old secrets still open and new ones use the new key."""
    old, new = generate_master_key(), generate_master_key()
    sealed = _cipher(old).seal("s3cret", context="c")
    rotated = _cipher(new, old)
    assert rotated.open(sealed, context="c") == "s3cret"
    assert rotated.seal("x", context="c").kid != sealed.kid
    with pytest.raises(DecryptionError, match="no master key"):
        _cipher(new).open(sealed, context="c")


def test_cipher_repr_shows_no_key() -> None:
    """The cipher's repr names the key id, never key material."""
    key = generate_master_key()
    assert key not in repr(_cipher(key))


@pytest.mark.parametrize("text", ["", "# only a comment", "not-base64!!", "c2hvcnQ="])
def test_malformed_key_material_is_refused(text: str) -> None:
    """Empty, non-base64 or short key material is a configuration error."""
    with pytest.raises(ConfigError):
        parse_master_keys(text, source="key")


def test_master_key_file_is_private_and_never_overwritten(tmp_path: Path) -> None:
    """The key file is created with mode 0600 and a second write is refused."""
    path = tmp_path / "var" / "master.key"
    write_master_key(path)
    assert path.stat().st_mode & 0o777 == 0o600
    before = path.read_text()
    with pytest.raises(ConfigError, match="already exists"):
        write_master_key(path)
    assert path.read_text() == before
    assert load_cipher(path, env_name="NOPE", environ={}).current_kid


def test_readable_key_file_is_refused(tmp_path: Path) -> None:
    """A master key file readable by others is refused at start-up."""
    path = tmp_path / "master.key"
    write_master_key(path)
    os.chmod(path, 0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        load_cipher(path, env_name="NOPE", environ={})


def test_environment_key_wins(tmp_path: Path) -> None:
    """The environment variable, when set, is used instead of the file."""
    key = generate_master_key()
    cipher = load_cipher(tmp_path / "absent", env_name="GW_KEY", environ={"GW_KEY": key})
    assert cipher.current_kid == _cipher(key).current_kid
    with pytest.raises(ConfigError, match="not found"):
        load_cipher(tmp_path / "absent", env_name="GW_KEY", environ={})
