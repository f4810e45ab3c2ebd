"""
Statement elements: `Action`/`NotAction`, `Resource`/`NotResource` and `Condition`,
checked and compiled into matchers.

Layer: ``gateway.policy`` (pure). Imports nothing from the rest of the gateway.

Each builder raises `MalformedPolicy` with the element's JSON path. Literal actions
and resources go into a set, wildcards into one regular expression compiled once,
and resources with policy variables into templates resolved per request.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from .conditions import OPERATORS, Condition, build_condition
from .errors import did_you_mean, malformed
from .matching import Template, Values, compile_regex, glob_tokens, parse_template, split_arn

__all__ = [
    "TRUST_ACTIONS",
    "ActionMatcher",
    "ResourceMatcher",
    "build_actions",
    "build_conditions",
    "build_resources",
    "string_list",
]

# Actions a role trust policy may grant (IAM User Guide, "Roles terms and concepts").
TRUST_ACTIONS = (
    "sts:AssumeRole",
    "sts:AssumeRoleWithSAML",
    "sts:AssumeRoleWithWebIdentity",
    "sts:SetContext",
    "sts:SetSourceIdentity",
    "sts:TagSession",
)
_ACTION = re.compile(r"[A-Za-z0-9*?\-]+:[A-Za-z0-9*?_\-]+")
_CONDITION_KEY = re.compile(r"[A-Za-z0-9*?\-]+:\S+")


@dataclass(frozen=True, slots=True)
class ActionMatcher:
    """
    A compiled `Action` (or, with `negated`, `NotAction`) element; case-insensitive.
    """

    patterns: tuple[str, ...]
    negated: bool
    anything: bool
    literals: frozenset[str]
    regex: re.Pattern[str] | None

    def matches(self, action: str) -> bool:
        """Whether the statement covers `action`, which must be lowercase."""
        hit = (
            self.anything
            or action in self.literals
            or (self.regex is not None and self.regex.fullmatch(action) is not None)
        )
        return hit != self.negated


@dataclass(frozen=True, slots=True)
class ResourceMatcher:
    """
    A compiled `Resource` (or, with `negated`, `NotResource`) element; case-sensitive.
    """

    patterns: tuple[str, ...]
    negated: bool
    anything: bool
    literals: frozenset[str]
    regex: re.Pattern[str] | None
    templates: tuple[Template, ...]

    def matches(self, resource: str, context: Values, missing: list[str]) -> bool:
        """Whether the statement covers `resource`, substituting policy variables."""
        hit = (
            self.anything
            or resource in self.literals
            or (self.regex is not None and self.regex.fullmatch(resource) is not None)
        )
        if not hit:
            for template in self.templates:
                if template.matches(resource, context, missing):
                    hit = True
                    break
        return hit != self.negated


def string_list(value: object, path: str, name: str) -> list[str]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
        raise malformed(path, f"`{name}` must be a string or a list of strings")
    if not items:
        raise malformed(path, f"`{name}` must not be empty")
    return items


def _condition_values(value: object, path: str, key: str) -> list[str]:
    items = value if isinstance(value, list) else [value]
    if not items:
        raise malformed(path, f"condition key `{key}` has no values")
    out = []
    for item in items:
        if isinstance(item, bool):
            out.append("true" if item else "false")
        elif isinstance(item, str | int | float):
            out.append(str(item))
        else:
            raise malformed(
                path, f"condition key `{key}` values must be strings, numbers or booleans"
            )
    return out


def _operator_names() -> list[str]:
    names = list(OPERATORS)
    names += [f"{n}IfExists" for n in OPERATORS if n != "Null"]
    return names


_ALL_OPERATORS = _operator_names()


def build_actions(values: list[str], path: str, name: str, kind: str) -> ActionMatcher:
    literals: set[str] = set()
    wild: list[str] = []
    anything = False
    for value in values:
        if value == "*":
            anything = True
        elif not _ACTION.fullmatch(value):
            raise malformed(
                path,
                f"`{value}` is not a valid action: "
                "prefix it with a service, such as `s3:GetObject`",
            )
        if kind == "trust" and not any(
            compile_regex([glob_tokens(value.lower())]).fullmatch(a.lower()) for a in TRUST_ACTIONS
        ):
            allowed = ", ".join(f"`{a}`" for a in TRUST_ACTIONS)
            raise malformed(
                path, f"`{value}` is not allowed in a trust policy: use one of {allowed}"
            )
        lowered = value.lower()
        if "*" in lowered or "?" in lowered:
            wild.append(lowered)
        else:
            literals.add(lowered)
    regex = compile_regex([glob_tokens(w) for w in wild]) if wild and not anything else None
    return ActionMatcher(
        tuple(v.lower() for v in values), name == "NotAction", anything, frozenset(literals), regex
    )


def build_resources(values: list[str], path: str, name: str, variables: bool) -> ResourceMatcher:
    literals: set[str] = set()
    wild: list[str] = []
    templates: list[Template] = []
    anything = False
    for value in values:
        if value == "*":
            anything = True
            continue
        parts = split_arn(value)
        if parts is None or not parts[1] or not parts[2]:
            raise malformed(path, f"`{value}` is not a valid resource: use an ARN or `*`")
        try:
            template = parse_template(value, variables=variables)
        except ValueError as exc:
            raise malformed(path, str(exc)) from None
        if template is not None:
            templates.append(template)
        elif "*" in value or "?" in value:
            wild.append(value)
        else:
            literals.add(value)
    regex = compile_regex([glob_tokens(w) for w in wild]) if wild else None
    return ResourceMatcher(
        tuple(values), name == "NotResource", anything, frozenset(literals), regex, tuple(templates)
    )


def build_conditions(value: object, path: str, variables: bool) -> tuple[Condition, ...]:
    if not isinstance(value, Mapping):
        raise malformed(path, "`Condition` must be an object of operators")
    conditions: list[Condition] = []
    for op_name, block in value.items():
        op_path = f"{path}.{op_name}"
        if not isinstance(block, Mapping) or not block:
            raise malformed(op_path, "condition operator must map condition keys to values")
        for key, raw in block.items():
            if not _CONDITION_KEY.fullmatch(key):
                raise malformed(
                    op_path,
                    f"condition key `{key}` must be prefixed by a service, such as `aws:SourceIp`",
                )
            values = _condition_values(raw, op_path, key)
            try:
                conditions.append(build_condition(op_name, key, values, variables=variables))
            except KeyError:
                raise malformed(
                    op_path,
                    f"unknown condition operator `{op_name}`"
                    + did_you_mean(op_name.rpartition(":")[2], _ALL_OPERATORS),
                ) from None
            except ValueError as exc:
                raise malformed(op_path, f"condition key `{key}`: {exc}") from None
    return tuple(conditions)
