"""
`gateway init`: store, 0600 master key, first account, root password printed once.
"""

from __future__ import annotations

import re
import stat
from pathlib import Path

import pytest

from tests.cli.conftest import Runner, generation, write_config

PASSWORD_LINE = re.compile(r"root password: (\S+)$", re.MULTILINE)


def test_init_creates_key_store_and_account(gateway: Runner, config: Path) -> None:
    """Init writes a 0600 key, prints the account, sign-in URL and root password once."""
    result = gateway("init", "--config", config, "--root-email", "ops@example.com")
    assert result.code == 0, result.err
    key = config.parent / "master.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    account = re.search(r"created account (\d{12})", result.out)
    assert account is not None
    assert f"http://gateway.test:8080/_gateway/signin/{account.group(1)}" in result.out
    assert "ops@example.com" in result.out
    passwords = PASSWORD_LINE.findall(result.out)
    assert len(passwords) == 1 and len(passwords[0]) >= 20
    assert result.out.count(passwords[0]) == 1
    assert result.err == ""


def test_init_twice_is_safe(gateway: Runner, config: Path) -> None:
    """A second init keeps the key and the account, prints no password, and exits 0."""
    first = gateway("init", "--config", config, "--account-alias", "example")
    key = (config.parent / "master.key").read_bytes()
    second = gateway("init", "--config", config, "--account-alias", "other")
    assert second.code == 0, second.err
    assert "already initialized" in second.out
    assert "root password" not in second.out
    assert "/_gateway/signin/example" in second.out
    assert (config.parent / "master.key").read_bytes() == key
    assert "created account" in first.out
    listed = gateway("iam", "list-account-aliases", "--config", config)
    assert '"example"' in listed.out


def test_init_reads_the_root_password_from_stdin(gateway: Runner, config: Path) -> None:
    """With --root-password-stdin the password is taken from stdin and never printed."""
    result = gateway(
        "init", "--config", config, "--root-password-stdin", stdin="Correct-Horse-42\n"
    )
    assert result.code == 0, result.err
    assert "Correct-Horse-42" not in result.out
    assert "(as given on stdin)" in result.out


def test_init_refuses_a_weak_stdin_password_before_writing(gateway: Runner, config: Path) -> None:
    """A password that breaks the rules is refused before any key or store is created."""
    result = gateway("init", "--config", config, "--root-password-stdin", stdin="short\n")
    assert result.code == 1
    assert result.err.startswith("gateway: error: password does not conform")
    assert not (config.parent / "master.key").exists()
    assert not (config.parent / "gw.db").exists()


def test_init_refuses_a_bad_alias(gateway: Runner, config: Path) -> None:
    """An invalid alias is one error line, and nothing is created."""
    result = gateway("init", "--config", config, "--account-alias", "Not_Valid")
    assert result.code == 1
    assert result.err.count("\n") == 1 and "invalid account alias `Not_Valid`" in result.err
    assert not (config.parent / "master.key").exists()


def test_init_writes_a_default_config_when_missing(
    gateway: Runner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without a config file, init writes a default one and sets up under its directory."""
    monkeypatch.chdir(tmp_path)
    result = gateway("init", "--config", "site/gateway.toml")
    assert result.code == 0, result.err
    assert "wrote a default configuration to site/gateway.toml" in result.out
    assert (tmp_path / "site" / "var" / "gateway.db").exists()
    assert stat.S_IMODE((tmp_path / "site" / "var" / "master.key").stat().st_mode) == 0o600


def test_init_uses_the_master_key_from_the_environment(
    gateway: Runner, config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When $GATEWAY_MASTER_KEY is set, init writes no key file and the CLI uses the variable."""
    from gateway.iam.crypto import generate_master_key

    monkeypatch.setenv("GATEWAY_MASTER_KEY", generate_master_key())
    result = gateway("init", "--config", config)
    assert result.code == 0, result.err
    assert not (config.parent / "master.key").exists()
    assert gateway("iam", "create-user", "--config", config, "--user-name", "bob").code == 0
    assert gateway("iam", "create-access-key", "--config", config, "--user-name", "bob").code == 0


def test_init_will_not_replace_a_lost_key(gateway: Runner, initialized: Path) -> None:
    """If the key file of an initialized store is gone, init refuses instead of making one."""
    (initialized.parent / "master.key").unlink()
    before = generation(initialized)
    result = gateway("init", "--config", initialized)
    assert result.code == 2
    assert "master key file is missing; restore it" in result.err
    assert not (initialized.parent / "master.key").exists()
    assert generation(initialized) == before


def test_commands_before_init_say_how_to_fix_it(gateway: Runner, tmp_path: Path) -> None:
    """Without a config file, an iam command says to run `gateway init`."""
    result = gateway("iam", "list-users", "--config", tmp_path / "missing.toml")
    assert result.code == 2
    assert result.err.startswith("gateway: error: ")
    assert "gateway init" in result.err
    write_config(tmp_path)
    result = gateway("iam", "list-users", "--config", tmp_path / "gateway.toml")
    assert result.code == 2 and "gateway init" in result.err
