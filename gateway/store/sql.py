"""
The SQL shared by both backends: schema whitelist, statement building, migrations.

Statements are written once with ``?`` placeholders; the PostgreSQL backend
renumbers them to ``$1, $2, ...``. Table and column names come only from
``TABLES`` below, never from callers, and values are always bound parameters.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from importlib import resources
from typing import Any

from gateway.errors import StoreError
from gateway.store.base import Row, Value, Where

# INVARIANT: mirrors migrations/*.sql; tests/store/test_schema.py checks it against a
# freshly migrated database on both backends.
TABLES: dict[str, frozenset[str]] = {
    "iam_generation": frozenset({"id", "value"}),
    "accounts": frozenset(
        {
            "id",
            "alias",
            "root_email",
            "root_email_lower",
            "root_password_hash",
            "root_password_changed_at",
            "created_at",
        }
    ),
    "users": frozenset(
        {
            "id",
            "account_id",
            "name",
            "name_lower",
            "path",
            "permissions_boundary",
            "tags",
            "created_at",
            "password_last_used",
        }
    ),
    "groups": frozenset({"id", "account_id", "name", "name_lower", "path", "created_at"}),
    "group_members": frozenset({"group_id", "user_id"}),
    "roles": frozenset(
        {
            "id",
            "account_id",
            "name",
            "name_lower",
            "path",
            "description",
            "trust_policy",
            "max_session_duration",
            "permissions_boundary",
            "tags",
            "created_at",
            "sessions_revoked_before",
        }
    ),
    "policies": frozenset(
        {
            "id",
            "account_id",
            "arn",
            "name",
            "name_lower",
            "path",
            "description",
            "default_version",
            "next_version",
            "created_at",
            "updated_at",
        }
    ),
    "policy_versions": frozenset({"policy_id", "version_id", "document", "created_at"}),
    "policy_attachments": frozenset({"principal_type", "principal_id", "policy_id"}),
    "inline_policies": frozenset({"principal_type", "principal_id", "name", "document"}),
    "access_keys": frozenset(
        {
            "id",
            "user_id",
            "secret",
            "secret_kid",
            "status",
            "created_at",
            "last_used_at",
            "last_used_service",
            "last_used_region",
        }
    ),
    "login_profiles": frozenset(
        {"user_id", "password_hash", "password_reset_required", "password_changed_at", "created_at"}
    ),
    "password_history": frozenset({"user_id", "password_hash", "created_at"}),
    "mfa_devices": frozenset(
        {
            "serial_number",
            "account_id",
            "name",
            "path",
            "seed",
            "seed_kid",
            "owner",
            "enabled_at",
            "created_at",
        }
    ),
    "mfa_used_steps": frozenset({"serial_number", "step"}),
    "password_policies": frozenset({"account_id", "document"}),
    # 0002_console.sql
    "console_sessions": frozenset(
        {
            "id",
            "account_id",
            "owner",
            "stage",
            "created_at",
            "last_seen_at",
            "mfa_serial",
            "mfa_at",
            "source_ip",
            "user_agent",
            "password_changed_at",
        }
    ),
    "signin_failures": frozenset({"throttle_key", "id", "failed_at"}),
    # 0003_workloads.sql
    "workloads": frozenset(
        {
            "id",
            "account_id",
            "name",
            "name_lower",
            "role_id",
            "duration_seconds",
            "token_hash",
            "created_at",
            "rotated_at",
        }
    ),
}

GENERATION_BUMP = "UPDATE iam_generation SET value = value + 1 WHERE id = 1"
GENERATION_READ = "SELECT value FROM iam_generation WHERE id = 1"
RECORD_MIGRATION = "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)"
MIGRATIONS_TABLE = (
    "CREATE TABLE IF NOT EXISTS schema_migrations "
    "(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
)


class Conflict(StoreError):
    """
    An insert or update clashed with a unique or primary key.
    """

    code = "Conflict"
    status = 409


def _columns(table: str, names: Sequence[str]) -> None:
    known = TABLES.get(table)
    if known is None:
        raise ValueError(f"unknown table `{table}`")
    for name in names:
        if name not in known:
            raise ValueError(f"unknown column `{table}.{name}`")


def _plain(value: Any) -> Value:
    # Booleans are stored as 0/1 on both backends (asyncpg refuses bool for INTEGER).
    if isinstance(value, bool):
        return int(value)
    return value  # type: ignore[no-any-return]


def where_clause(table: str, where: Where | None) -> tuple[str, list[Value]]:
    """
    Build `` WHERE a = ? AND b IN (?, ?)`` for ``where``; empty when there is none.
    """
    _columns(table, list(where or ()))
    if not where:
        return "", []
    parts: list[str] = []
    args: list[Value] = []
    for name, value in where.items():
        if isinstance(value, list | tuple | set | frozenset):
            items = list(value)
            if not items:
                parts.append("1 = 0")
                continue
            parts.append(f"{name} IN ({', '.join('?' for _ in items)})")
            args.extend(_plain(item) for item in items)
        elif value is None:
            parts.append(f"{name} IS NULL")
        else:
            parts.append(f"{name} = ?")
            args.append(_plain(value))
    return " WHERE " + " AND ".join(parts), args


def select_sql(
    table: str,
    where: Where | None,
    order_by: Sequence[str] = (),
    limit: int | None = None,
) -> tuple[str, list[Value]]:
    clause, args = where_clause(table, where)
    sql = f"SELECT * FROM {table}{clause}"  # noqa: S608 - names come from TABLES only
    if order_by:
        _columns(table, order_by)
        sql += " ORDER BY " + ", ".join(order_by)
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    return sql, args


def count_sql(table: str, where: Where | None) -> tuple[str, list[Value]]:
    clause, args = where_clause(table, where)
    return f"SELECT COUNT(*) AS n FROM {table}{clause}", args  # noqa: S608 - TABLES only


def insert_sql(table: str, row: Mapping[str, Value]) -> tuple[str, list[Value]]:
    names = list(row)
    _columns(table, names)
    marks = ", ".join("?" for _ in names)
    sql = f"INSERT INTO {table} ({', '.join(names)}) VALUES ({marks})"  # noqa: S608
    return sql, [_plain(row[name]) for name in names]


def update_sql(table: str, where: Where, values: Mapping[str, Value]) -> tuple[str, list[Value]]:
    if not values:
        raise ValueError("update needs at least one value")
    names = list(values)
    _columns(table, names)
    clause, where_args = where_clause(table, where)
    sets = ", ".join(f"{name} = ?" for name in names)
    sql = f"UPDATE {table} SET {sets}{clause}"  # noqa: S608 - names come from TABLES only
    return sql, [_plain(values[name]) for name in names] + where_args


def delete_sql(table: str, where: Where) -> tuple[str, list[Value]]:
    if not where:
        raise ValueError("delete needs a where clause")
    clause, args = where_clause(table, where)
    return f"DELETE FROM {table}{clause}", args  # noqa: S608 - names come from TABLES only


class SqlTransaction:
    """
    Row operations built on two backend primitives, ``_fetch`` and ``_execute``.
    """

    async def _fetch(self, statement: str, args: Sequence[Value]) -> list[Row]:
        raise NotImplementedError

    async def _execute(self, statement: str, args: Sequence[Value], operation: str) -> int:
        raise NotImplementedError

    async def get(self, table: str, where: Where) -> Row | None:
        rows = await self.select(table, where, limit=2)
        if len(rows) > 1:
            raise StoreError(f"more than one row in `{table}`", operation="get")
        return rows[0] if rows else None

    async def select(
        self,
        table: str,
        where: Where | None = None,
        *,
        order_by: Sequence[str] = (),
        limit: int | None = None,
    ) -> list[Row]:
        return await self._fetch(*select_sql(table, where, order_by, limit))

    async def count(self, table: str, where: Where | None = None) -> int:
        rows = await self._fetch(*count_sql(table, where))
        return int(rows[0]["n"] or 0)

    async def insert(self, table: str, row: Mapping[str, Value]) -> None:
        await self._execute(*insert_sql(table, row), operation=f"insert {table}")

    async def update(self, table: str, where: Where, values: Mapping[str, Value]) -> int:
        return await self._execute(*update_sql(table, where, values), operation=f"update {table}")

    async def delete(self, table: str, where: Where) -> int:
        return await self._execute(*delete_sql(table, where), operation=f"delete {table}")


def to_dollar_params(sql: str) -> str:
    """
    Turn ``?`` placeholders into PostgreSQL's ``$1, $2, ...``.
    """
    counter = iter(range(1, 10_000))
    return re.sub(r"\?", lambda _: f"${next(counter)}", sql)


def migrations() -> list[tuple[int, str, list[str]]]:
    """
    Return the packaged migrations as (version, name, statements), in order.
    """
    found: list[tuple[int, str, list[str]]] = []
    folder = resources.files("gateway.store") / "migrations"
    for entry in folder.iterdir():
        match = re.fullmatch(r"(\d{4})_(\w+)\.sql", entry.name)
        if match is None:
            continue
        text = entry.read_text(encoding="utf-8")
        lines = [line for line in text.splitlines() if not line.lstrip().startswith("--")]
        statements = [part.strip() for part in "\n".join(lines).split(";") if part.strip()]
        found.append((int(match.group(1)), match.group(2), statements))
    return sorted(found)


def latest_version() -> int:
    """
    Return the newest migration version this code knows.
    """
    known = migrations()
    return known[-1][0] if known else 0


def check_version(current: int) -> None:
    """
    Raise ``StoreError`` unless ``current`` is exactly the newest known version.
    """
    latest = latest_version()
    if current > latest:
        raise StoreError(
            f"the store's schema is version {current}, newer than this gateway knows "
            f"({latest}); upgrade the gateway before starting it",
            operation="check_schema",
        )
    if current < latest:
        raise StoreError(
            f"the store's schema is version {current}, older than this gateway needs "
            f"({latest}); run `gateway init --config FILE` to migrate it",
            operation="check_schema",
        )
