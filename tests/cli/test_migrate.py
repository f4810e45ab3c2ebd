"""
`gateway migrate`: schema upgrades without a master key, and `--check` for jobs.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from gateway.store import sql
from tests.cli.conftest import Runner


def test_migrate_creates_then_reports_current(gateway: Runner, config: Path) -> None:
    """A new store is migrated to the latest version; a second run changes nothing."""
    pending = gateway("migrate", "--config", config, "--check")
    assert pending.code == 1 and "pending" in pending.out
    first = gateway("migrate", "--config", config)
    assert first.code == 0, first.err
    assert f"to version {sql.latest_version()}" in first.out
    assert not (config.parent / "master.key").exists()  # no key needed, none created
    again = gateway("migrate", "--config", config)
    assert again.code == 0 and "is current" in again.out
    check = gateway("migrate", "--config", config, "--check")
    assert check.code == 0 and "(current)" in check.out


def test_migrate_upgrades_an_older_store(
    gateway: Runner, config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A store made by an older gateway (first migration only) is brought forward."""
    everything = sql.migrations()
    with monkeypatch.context() as older:
        older.setattr(sql, "migrations", lambda: everything[:1])
        assert gateway("init", "--config", config).code == 0
        assert gateway("iam", "create-user", "--user-name", "kept", "--config", config).code == 0
    refused = gateway("iam", "list-users", "--config", config)
    assert refused.code != 0 and "migrat" in refused.err
    result = gateway("migrate", "--config", config)
    assert result.code == 0, result.err
    assert f"to version {sql.latest_version()}" in result.out
    listed = gateway("iam", "list-users", "--config", config)
    assert listed.code == 0 and '"kept"' in listed.out


def test_migrate_refuses_a_newer_store(gateway: Runner, initialized: Path) -> None:
    """A store migrated by a newer gateway is left alone with a clear message."""
    database = initialized.parent / "gw.db"
    with sqlite3.connect(database) as conn:
        conn.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, 'future', '')",
            (sql.latest_version() + 1,),
        )
    result = gateway("migrate", "--config", initialized)
    assert result.code == 1
    assert "newer than this gateway" in result.err
