"""
The declarative IAM file of ``gateway apply`` and ``gateway export``: TOML or JSON.

``load_iam_file()`` reads and checks a file into frozen specs, so that a
malformed file is refused, with the file and the location of the problem
(``config/iam.toml: users[1].groups[0]: ...``), before anything is changed.
``dump_toml()`` writes the same format back (for ``export``).

The format (every key but ``name`` optional)::

    account_alias = "example"          # left alone when omitted
    prune = false                      # true: delete what the file does not name
    [password_policy]                  # AWS's fields in snake_case; left alone when omitted
    minimum_password_length = 12
    [[policies]]                       # customer managed policies
    name, path, description, document  # document: a table/object or JSON text
    [[groups]]
    name, path, policies, inline_policies
    [[users]]
    name, path, tags, groups, policies, inline_policies, permissions_boundary,
    console = { password_reset_required = true }
    [[roles]]
    name, path, description, max_session_duration, trust_policy, tags, policies,
    inline_policies, permissions_boundary

``policies`` lists managed policy names (customer or AWS managed) or ARNs;
``inline_policies`` maps a policy name to its document; ``tags`` maps keys to values.
"""

from __future__ import annotations

import difflib
import json
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.errors import InvalidInput
from gateway.iam import documents, naming
from gateway.iam.base import check_tags
from gateway.iam.documents import Kind
from gateway.iam.passwords import PasswordPolicy
from gateway.iam.roles import DEFAULT_SESSION_SECONDS

# The password policy's keys: snake_case here, AWS's names on the service.
PASSWORD_POLICY_FIELDS: dict[str, tuple[str, type]] = {
    "minimum_password_length": ("MinimumPasswordLength", int),
    "require_symbols": ("RequireSymbols", bool),
    "require_numbers": ("RequireNumbers", bool),
    "require_uppercase_characters": ("RequireUppercaseCharacters", bool),
    "require_lowercase_characters": ("RequireLowercaseCharacters", bool),
    "allow_users_to_change_password": ("AllowUsersToChangePassword", bool),
    "max_password_age": ("MaxPasswordAge", int),
    "password_reuse_prevention": ("PasswordReusePrevention", int),
    "hard_expiry": ("HardExpiry", bool),
}

_TOP_KEYS = ("account_alias", "prune", "password_policy", "policies", "groups", "users", "roles")
_POLICY_KEYS = ("name", "path", "description", "document")
_GROUP_KEYS = ("name", "path", "policies", "inline_policies")
_USER_KEYS = (
    "name",
    "path",
    "tags",
    "groups",
    "policies",
    "inline_policies",
    "permissions_boundary",
    "console",
)
_ROLE_KEYS = (
    "name",
    "path",
    "description",
    "max_session_duration",
    "trust_policy",
    "tags",
    "policies",
    "inline_policies",
    "permissions_boundary",
)
_TOML_POSITION = re.compile(r"\s*\(at line (\d+), column (\d+)\)$")

Document = dict[str, Any]


class IAMFileError(InvalidInput):
    """
    The IAM file is malformed or names something that does not exist.
    """

    def __init__(self, file: str, where: str, message: str) -> None:
        super().__init__(f"{file}: {where}: {message}" if where else f"{file}: {message}")
        self.file = file
        self.where = where


@dataclass(frozen=True, slots=True)
class Ref:
    """
    A name in the file that refers to something else, and where it was written.
    """

    value: str
    where: str


@dataclass(frozen=True, slots=True)
class PolicySpec:
    name: str
    path: str
    description: str
    document: Document
    where: str


@dataclass(frozen=True, slots=True)
class GroupSpec:
    name: str
    path: str
    policies: tuple[Ref, ...]
    inline_policies: tuple[tuple[str, Document], ...]
    where: str


@dataclass(frozen=True, slots=True)
class UserSpec:
    name: str
    path: str
    tags: tuple[tuple[str, str], ...]
    groups: tuple[Ref, ...]
    policies: tuple[Ref, ...]
    inline_policies: tuple[tuple[str, Document], ...]
    permissions_boundary: Ref | None
    console: bool | None  # None: no login profile; else password_reset_required
    where: str


@dataclass(frozen=True, slots=True)
class RoleSpec:
    name: str
    path: str
    description: str
    max_session_duration: int
    trust_policy: Document
    tags: tuple[tuple[str, str], ...]
    policies: tuple[Ref, ...]
    inline_policies: tuple[tuple[str, Document], ...]
    permissions_boundary: Ref | None
    where: str


@dataclass(frozen=True, slots=True)
class IAMFile:
    """
    The desired state a file describes.
    """

    file: str
    account_alias: str | None
    prune: bool
    password_policy: dict[str, object] | None  # AWS field names
    policies: tuple[PolicySpec, ...]
    groups: tuple[GroupSpec, ...]
    users: tuple[UserSpec, ...]
    roles: tuple[RoleSpec, ...]

    def error(self, where: str, message: str) -> IAMFileError:
        return IAMFileError(self.file, where, message)


def load_iam_file(path: str) -> IAMFile:
    """
    Read and check an IAM file (``.toml`` or ``.json``).

    Raises:
        IAMFileError: the file cannot be read or is malformed; names the location.
    """
    suffix = Path(path).suffix.lower()
    if suffix not in (".toml", ".json"):
        raise IAMFileError(path, "", "unsupported file type; expected `.toml` or `.json`")
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise IAMFileError(path, "", "file not found") from None
    except UnicodeDecodeError:
        raise IAMFileError(path, "", "the file is not UTF-8 text") from None
    except OSError as exc:
        reason = (exc.strerror or type(exc).__name__).lower()
        raise IAMFileError(path, "", f"cannot read the file: {reason}") from None
    if suffix == ".toml":
        try:
            data: object = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            message = str(exc)
            position = _TOML_POSITION.search(message)
            where = f"line {position.group(1)}" if position else ""
            reason = _TOML_POSITION.sub("", message)
            raise IAMFileError(
                path, where, f"invalid TOML: {reason[:1].lower()}{reason[1:]}"
            ) from None
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise IAMFileError(
                path, f"line {exc.lineno}", f"invalid JSON: {exc.msg.lower()}"
            ) from None
    return _Reader(path).file(data)


class _Reader:
    """
    Checks the decoded file, one helper per value type; every error names its location.
    """

    def __init__(self, file: str) -> None:
        self.name = file

    def fail(self, where: str, message: str) -> IAMFileError:
        return IAMFileError(self.name, where, message)

    def table(self, value: object, where: str, keys: Sequence[str]) -> Mapping[str, object]:
        if not isinstance(value, Mapping):
            raise self.fail(where, "expected a table")
        for key in value:
            if key not in keys:
                close = difflib.get_close_matches(str(key), keys, n=1)
                hint = f"; did you mean `{close[0]}`?" if close else ""
                raise self.fail(_join(where, str(key)), f"unknown key{hint}")
        return value

    def string(self, value: object, where: str) -> str:
        if not isinstance(value, str):
            raise self.fail(where, "expected a string")
        return value

    def strings(self, value: object, where: str) -> tuple[Ref, ...]:
        if value is None:
            return ()
        if not isinstance(value, list):
            raise self.fail(where, "expected a list of strings")
        return tuple(
            Ref(self.string(item, f"{where}[{i}]"), f"{where}[{i}]") for i, item in enumerate(value)
        )

    def checked(self, where: str, check: Any, *args: object, **kwargs: object) -> Any:
        try:
            return check(*args, **kwargs)
        except InvalidInput as exc:
            raise self.fail(where, exc.message) from None

    def document(self, value: object, where: str, kind: Kind, max_size: int) -> Document:
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError as exc:
                raise self.fail(where, f"invalid JSON: {exc.msg.lower()}") from None
        if not isinstance(value, dict):
            raise self.fail(where, "expected a policy document (a table, or JSON text)")
        self.checked(where, documents.check_document, value, kind=kind, max_size=max_size)
        return value

    def inline(self, value: object, where: str, limit: int) -> tuple[tuple[str, Document], ...]:
        if value is None:
            return ()
        if not isinstance(value, Mapping):
            raise self.fail(where, "expected a table of policy name = document")
        found: list[tuple[str, Document]] = []
        for name, doc in value.items():
            at = _join(where, name)
            self.checked(at, naming.check_name, name, field="PolicyName", max_length=128)
            found.append((name, self.document(doc, at, "identity", limit)))
        return tuple(sorted(found))

    def tags(self, value: object, where: str) -> tuple[tuple[str, str], ...]:
        if value is None:
            return ()
        if not isinstance(value, Mapping) or not all(isinstance(v, str) for v in value.values()):
            raise self.fail(where, "expected a table of tag key = string value")
        pairs = [(str(k), str(v)) for k, v in value.items()]
        self.checked(where, check_tags, pairs)
        return tuple(sorted(pairs))

    def path(self, value: object, where: str) -> str:
        return str(self.checked(where, naming.check_path, value))

    def entity_name(self, value: object, where: str, field: str, max_length: int) -> str:
        if value is None:
            raise self.fail(where, "`name` is required")
        return str(
            self.checked(
                _join(where, "name"), naming.check_name, value, field=field, max_length=max_length
            )
        )

    def boundary(self, value: object, where: str) -> Ref | None:
        return None if value is None else Ref(self.string(value, where), where)

    def items(self, data: Mapping[str, object], key: str) -> list[tuple[str, object]]:
        value = data.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            raise self.fail(key, f"expected a list of tables (`[[{key}]]` in TOML)")
        return [(f"{key}[{i}]", item) for i, item in enumerate(value)]

    def unique(self, specs: Sequence[Any], kind: str) -> None:
        seen: dict[str, str] = {}
        for spec in specs:
            if spec.name.lower() in seen:
                raise self.fail(
                    spec.where,
                    f"duplicate {kind} `{spec.name}` (first in {seen[spec.name.lower()]})",
                )
            seen[spec.name.lower()] = spec.where

    # -- the sections --------------------------------------------------------------------

    def file(self, data: object) -> IAMFile:
        top = self.table(data, "", _TOP_KEYS)
        alias = top.get("account_alias")
        if alias is not None:
            alias = str(self.checked("account_alias", naming.check_account_alias, alias))
        prune = top.get("prune", False)
        if not isinstance(prune, bool):
            raise self.fail("prune", "expected true or false")
        policies = tuple(self.policy(item, at) for at, item in self.items(top, "policies"))
        groups = tuple(self.group(item, at) for at, item in self.items(top, "groups"))
        users = tuple(self.user(item, at) for at, item in self.items(top, "users"))
        roles = tuple(self.role(item, at) for at, item in self.items(top, "roles"))
        for specs, kind in (
            (policies, "policy"),
            (groups, "group"),
            (users, "user"),
            (roles, "role"),
        ):
            self.unique(specs, kind)
        return IAMFile(
            file=self.name,
            account_alias=alias,
            prune=prune,
            password_policy=self.password_policy(top.get("password_policy")),
            policies=policies,
            groups=groups,
            users=users,
            roles=roles,
        )

    def password_policy(self, value: object) -> dict[str, object] | None:
        if value is None:
            return None
        table = self.table(value, "password_policy", tuple(PASSWORD_POLICY_FIELDS))
        fields: dict[str, object] = {}
        for key, item in table.items():
            aws_name, expected = PASSWORD_POLICY_FIELDS[key]
            if isinstance(item, bool) != (expected is bool) or not isinstance(item, expected):
                raise self.fail(
                    f"password_policy.{key}",
                    f"expected {'true or false' if expected is bool else 'an integer'}",
                )
            fields[aws_name] = item
        self.checked("password_policy", PasswordPolicy.from_dict(dict(table)).check_fields)
        return fields

    def policy(self, value: object, where: str) -> PolicySpec:
        table = self.table(value, where, _POLICY_KEYS)
        description = table.get("description", "")
        if "document" not in table:
            raise self.fail(where, "`document` is required")
        return PolicySpec(
            name=self.entity_name(table.get("name"), where, "PolicyName", 128),
            path=self.path(table.get("path"), _join(where, "path")),
            description=self.string(description, _join(where, "description")),
            document=self.document(
                table["document"],
                _join(where, "document"),
                "identity",
                documents.MANAGED_POLICY_MAX,
            ),
            where=where,
        )

    def group(self, value: object, where: str) -> GroupSpec:
        table = self.table(value, where, _GROUP_KEYS)
        return GroupSpec(
            name=self.entity_name(table.get("name"), where, "GroupName", 128),
            path=self.path(table.get("path"), _join(where, "path")),
            policies=self.strings(table.get("policies"), _join(where, "policies")),
            inline_policies=self.inline(
                table.get("inline_policies"),
                _join(where, "inline_policies"),
                documents.INLINE_AGGREGATE_MAX["group"],
            ),
            where=where,
        )

    def user(self, value: object, where: str) -> UserSpec:
        table = self.table(value, where, _USER_KEYS)
        console = table.get("console")
        reset: bool | None = None
        if console is not None:
            console_table = self.table(
                console, _join(where, "console"), ("password_reset_required",)
            )
            flag = console_table.get("password_reset_required", True)
            if not isinstance(flag, bool):
                raise self.fail(
                    _join(where, "console.password_reset_required"), "expected true or false"
                )
            reset = flag
        return UserSpec(
            name=self.entity_name(table.get("name"), where, "UserName", 64),
            path=self.path(table.get("path"), _join(where, "path")),
            tags=self.tags(table.get("tags"), _join(where, "tags")),
            groups=self.strings(table.get("groups"), _join(where, "groups")),
            policies=self.strings(table.get("policies"), _join(where, "policies")),
            inline_policies=self.inline(
                table.get("inline_policies"),
                _join(where, "inline_policies"),
                documents.INLINE_AGGREGATE_MAX["user"],
            ),
            permissions_boundary=self.boundary(
                table.get("permissions_boundary"), _join(where, "permissions_boundary")
            ),
            console=reset,
            where=where,
        )

    def role(self, value: object, where: str) -> RoleSpec:
        table = self.table(value, where, _ROLE_KEYS)
        if "trust_policy" not in table:
            raise self.fail(where, "`trust_policy` is required")
        duration = table.get("max_session_duration", DEFAULT_SESSION_SECONDS)
        if (
            isinstance(duration, bool)
            or not isinstance(duration, int)
            or not 3600 <= duration <= 43200
        ):
            raise self.fail(
                _join(where, "max_session_duration"), "expected seconds between 3600 and 43200"
            )
        return RoleSpec(
            name=self.entity_name(table.get("name"), where, "RoleName", 64),
            path=self.path(table.get("path"), _join(where, "path")),
            description=self.string(table.get("description", ""), _join(where, "description")),
            max_session_duration=duration,
            trust_policy=self.document(
                table["trust_policy"],
                _join(where, "trust_policy"),
                "trust",
                documents.TRUST_POLICY_MAX,
            ),
            tags=self.tags(table.get("tags"), _join(where, "tags")),
            policies=self.strings(table.get("policies"), _join(where, "policies")),
            inline_policies=self.inline(
                table.get("inline_policies"),
                _join(where, "inline_policies"),
                documents.INLINE_AGGREGATE_MAX["role"],
            ),
            permissions_boundary=self.boundary(
                table.get("permissions_boundary"), _join(where, "permissions_boundary")
            ),
            where=where,
        )


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


# --- writing the format back (export) ---------------------------------------------------------


def dump_toml(data: Mapping[str, Any]) -> str:
    """
    Write an IAM file as TOML: documents as JSON in multi-line literal strings.

    Args:
        data: the structure ``load_iam_file`` reads, as plain values.
    """
    lines: list[str] = [
        "# IAM state exported by `gateway export`; apply with `gateway apply FILE`."
    ]
    for key in ("account_alias", "prune"):
        if key in data:
            lines.append(f"{key} = {_toml_value(data[key])}")
    if "password_policy" in data:
        lines += ["", "[password_policy]"]
        lines += [f"{k} = {_toml_value(v)}" for k, v in data["password_policy"].items()]
    for section in ("policies", "groups", "users", "roles"):
        for item in data.get(section, []):
            lines += ["", f"[[{section}]]"]
            tables: list[tuple[str, Mapping[str, Any]]] = []
            for key, value in item.items():
                if key == "inline_policies":
                    tables.append((key, value))
                else:
                    lines.append(f"{key} = {_toml_value(value)}")
            for key, value in tables:
                lines.append(f"[{section}.{key}]")
                lines += [f"{_toml_key(name)} = {_toml_value(doc)}" for name, doc in value.items()]
    return "\n".join(lines) + "\n"


_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def _toml_key(key: str) -> str:
    return key if _BARE_KEY.fullmatch(key) else json.dumps(key, ensure_ascii=False)


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        # A JSON string is a valid TOML basic string (same escapes).
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    if isinstance(value, dict) and _is_document(value):
        text = json.dumps(value, indent=2, ensure_ascii=False)
        if "'''" not in text:
            return f"'''\n{text}\n'''"
        return json.dumps(json.dumps(value, ensure_ascii=False), ensure_ascii=False)
    if isinstance(value, dict):
        inner = ", ".join(f"{_toml_key(str(k))} = {_toml_value(v)}" for k, v in value.items())
        return "{ " + inner + " }" if inner else "{}"
    raise TypeError(f"cannot write {type(value).__name__} as TOML")


def _is_document(value: Mapping[str, Any]) -> bool:
    return "Statement" in value
