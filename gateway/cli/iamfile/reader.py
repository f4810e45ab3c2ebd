"""
Checks a decoded IAM file into specs, one helper per value type and one per section.

Every error names its location (``users[1].groups[0]``), and names, paths, tags,
documents and the password policy are checked with the service layer's own checks,
so that a file that reads cleanly is one ``apply`` can carry out.

The outermost layer, like the rest of ``gateway.cli``.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from gateway.cli.iamfile.specs import (
    PASSWORD_POLICY_FIELDS,
    Document,
    GroupSpec,
    IAMFile,
    IAMFileError,
    PolicySpec,
    Ref,
    RoleSpec,
    UserSpec,
)
from gateway.errors import InvalidInput
from gateway.iam import documents, naming
from gateway.iam.base import check_tags
from gateway.iam.documents import Kind
from gateway.iam.passwords import PasswordPolicy
from gateway.iam.roles import DEFAULT_SESSION_SECONDS

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


class Reader:
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
