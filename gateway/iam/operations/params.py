"""
Operation parameters: their declaration (``Param``), validation and typed access.

``validate()`` checks a request's parameters the way AWS does (unknown, missing
and mistyped parameters are ``ValidationError``) and converts integers and
booleans given as Query-protocol text (``"3600"``, ``"true"``). The parameters
many operations share (``USER``, ``POLICY_ARN``, ...) are declared here once.

Part of the IAM service layer: imports nothing from the edge or the CLI.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Literal, cast

from gateway.errors import InvalidInput

if TYPE_CHECKING:
    from gateway.iam.operations.registry import Operation

ParamType = Literal["string", "integer", "boolean", "strings", "tags", "document", "context"]

_EXPECTED: dict[ParamType, str] = {
    "string": "a string",
    "integer": "an integer",
    "boolean": "a boolean",
    "strings": "a list of strings",
    "tags": "a list of Key/Value pairs",
    "document": "a JSON policy document",
    "context": "a list of context entries",
}


@dataclass(frozen=True, slots=True)
class Param:
    """
    One request parameter: AWS's member name, its type and whether it is required.

    ``caller`` marks a user name AWS fills in with the calling IAM user's when it is
    left out (``invoke(..., caller=...)``); without a caller it is required.
    """

    name: str
    type: ParamType = "string"
    required: bool = False
    choices: tuple[str, ...] = ()
    caller: bool = False
    help: str = ""

    @property
    def member(self) -> str:
        """
        The name AWS's validation messages use: ``userName`` for ``UserName``.
        """
        return self.name[:1].lower() + self.name[1:]


@dataclass(frozen=True, slots=True)
class Args:
    """
    An operation's validated parameters, with typed accessors for the handlers.

    # INVARIANT: only ``validate()`` builds one, so every value already has its
    # parameter's type and the casts below hold.
    """

    values: Mapping[str, object]

    def text(self, name: str) -> str:
        return cast(str, self.values[name])

    def maybe_text(self, name: str) -> str | None:
        return cast(str | None, self.values.get(name))

    def integer(self, name: str) -> int | None:
        return cast(int | None, self.values.get(name))

    def flag(self, name: str) -> bool | None:
        return cast(bool | None, self.values.get(name))

    def strings(self, name: str) -> list[str]:
        return cast(list[str], self.values.get(name, []))

    def raw(self, name: str) -> object:
        return self.values.get(name)


def validate(
    operation: Operation, params: Mapping[str, object], *, caller: str | None = None
) -> Args:
    """
    Check and normalize parameters: integers and booleans given as text are converted.

    Raises:
        InvalidInput: ``ValidationError`` naming every missing or mistyped parameter
            (AWS's wording), or the first unknown one.
    """
    known = {param.name for param in operation.params}
    for key in params:
        if key not in known:
            close = difflib.get_close_matches(key, sorted(known), n=1)
            hint = f"; did you mean `{close[0]}`?" if close else ""
            raise InvalidInput(f"unknown parameter `{key}` for operation `{operation.name}`{hint}")
    values: dict[str, object] = {}
    problems: list[str] = []
    for param in operation.params:
        value = params.get(param.name)
        if value is None and param.caller:
            value = caller
        if value is None:
            if param.required or param.caller:
                problems.append(
                    f"Value null at '{param.member}' failed to satisfy constraint: "
                    "Member must not be null"
                )
            continue
        converted = _convert(param, value)
        if converted is None:
            problems.append(
                f"Value at '{param.member}' failed to satisfy constraint: "
                f"Member must be {_EXPECTED[param.type]}"
            )
        elif param.choices and converted not in param.choices:
            problems.append(
                f"Value '{converted}' at '{param.member}' failed to satisfy constraint: "
                f"Member must satisfy enum value set: [{', '.join(param.choices)}]"
            )
        else:
            values[param.name] = converted
    if problems:
        count = len(problems)
        plural = "error" if count == 1 else "errors"
        raise InvalidInput(f"{count} validation {plural} detected: {'; '.join(problems)}")
    return Args(MappingProxyType(values))


_INTEGER = re.compile(r"-?[0-9]{1,18}")


def _convert(param: Param, value: object) -> object | None:
    """
    Return ``value`` as the parameter's type, or None when it does not fit.
    """
    kind = param.type
    if kind == "string":
        return value if isinstance(value, str) else None
    if kind == "integer":
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and _INTEGER.fullmatch(value):
            return int(value)
        return None
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        return None
    if kind == "strings":
        if isinstance(value, list | tuple) and all(isinstance(item, str) for item in value):
            return list(value)
        return None
    if kind == "tags":
        if isinstance(value, list | tuple) and all(_is_tag(item) for item in value):
            return [dict(item) for item in value]
        return None
    if kind == "context":
        return _context_entries(value)
    # A document is JSON text, or an object already decoded (re-encoded by the service).
    return value if isinstance(value, str | dict) else None


def _context_entries(value: object) -> list[dict[str, object]] | None:
    # SimulateCustomPolicy's ContextEntries: a list of objects, or that list as JSON text
    # (the CLI); each entry's fields are checked by the simulator.
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return None
    if isinstance(value, list | tuple) and all(isinstance(item, Mapping) for item in value):
        return [dict(item) for item in value]
    return None


def _is_tag(item: object) -> bool:
    return (
        isinstance(item, Mapping)
        and set(item) <= {"Key", "Value"}
        and isinstance(item.get("Key"), str)
        and isinstance(item.get("Value", ""), str)
    )


# --- parameters used by many operations -------------------------------------------------------

USER = Param("UserName", required=True, help="the name of the user")
CALLER = Param("UserName", caller=True, help="the name of the user")
GROUP = Param("GroupName", required=True, help="the name of the group")
ROLE = Param("RoleName", required=True, help="the name of the role")
POLICY_ARN = Param("PolicyArn", required=True, help="the ARN of the managed policy")
POLICY_NAME = Param("PolicyName", required=True, help="the name of the policy")
DOCUMENT = Param("PolicyDocument", "document", required=True, help="the JSON policy document")
PATH = Param("Path", help="the path, `/` by default (for example `/division/team/`)")
PATH_PREFIX = Param("PathPrefix", help="list only what has a path starting with this")
TAGS = Param("Tags", "tags", help="tags as Key/Value pairs")
TAGS_REQUIRED = Param("Tags", "tags", required=True, help="tags as Key/Value pairs")
TAG_KEYS = Param("TagKeys", "strings", required=True, help="the keys of the tags to remove")
BOUNDARY = Param("PermissionsBoundary", help="the ARN of the managed policy used as boundary")
FORCE = Param(
    "Force",
    "boolean",
    help="gateway extension: first remove whatever blocks the deletion",
)


def path_prefix(args: Args) -> str:
    """
    The ``PathPrefix`` parameter of a listing, ``/`` (everything) when it is absent.
    """
    return args.maybe_text("PathPrefix") or "/"
