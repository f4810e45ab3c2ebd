"""
Condition operators: one small builder per operator family, in a registry.

Layer: ``gateway.policy`` (pure). Imports nothing from the rest of the gateway.

A compiled `Condition` answers one `"Operator": {"key": [values]}` entry. The rules
follow the IAM User Guide, "IAM JSON policy elements: Condition operators":

- several values for one key are ORed; negated operators (`StringNotEquals`,
  `NotIpAddress`, ...) negate that OR, so their values act as a logical AND;
- a key missing from the request context makes the values not match, so the
  condition is false, and true for a negated operator; this holds for all
  operators except `...IfExists` (true when the key is missing) and `Null`;
- `ForAllValues:` is true when the key is missing or empty, `ForAnyValue:` is false.
"""

from __future__ import annotations

import base64
import binascii
import functools
import ipaddress
import math
import operator
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from .matching import (
    STAR,
    Part,
    Scalar,
    Template,
    Values,
    Var,
    compile_regex,
    glob_tokens,
    parse_template,
    split_arn,
    stringify,
)

__all__ = [
    "OPERATORS",
    "BadContextValue",
    "Condition",
    "build_condition",
    "parse_date",
    "parse_number",
]

NONE, ANY_VALUE, ALL_VALUES = 0, 1, 2

Test = Callable[[Scalar, Values], bool]
Compare = Callable[[float, float], bool]


class BadContextValue(Exception):
    """A request context value could not be read as the operator's type."""


# operator name -> (family, negated, comparison)
OPERATORS: dict[str, tuple[str, bool, str]] = {
    "StringEquals": ("string", False, ""),
    "StringNotEquals": ("string", True, ""),
    "StringEqualsIgnoreCase": ("string_ic", False, ""),
    "StringNotEqualsIgnoreCase": ("string_ic", True, ""),
    "StringLike": ("like", False, ""),
    "StringNotLike": ("like", True, ""),
    "NumericEquals": ("numeric", False, "eq"),
    "NumericNotEquals": ("numeric", True, "eq"),
    "NumericLessThan": ("numeric", False, "lt"),
    "NumericLessThanEquals": ("numeric", False, "le"),
    "NumericGreaterThan": ("numeric", False, "gt"),
    "NumericGreaterThanEquals": ("numeric", False, "ge"),
    "DateEquals": ("date", False, "eq"),
    "DateNotEquals": ("date", True, "eq"),
    "DateLessThan": ("date", False, "lt"),
    "DateLessThanEquals": ("date", False, "le"),
    "DateGreaterThan": ("date", False, "gt"),
    "DateGreaterThanEquals": ("date", False, "ge"),
    "Bool": ("bool", False, ""),
    "BinaryEquals": ("binary", False, ""),
    "IpAddress": ("ip", False, ""),
    "NotIpAddress": ("ip", True, ""),
    "ArnEquals": ("arn", False, ""),
    "ArnLike": ("arn", False, ""),
    "ArnNotEquals": ("arn", True, ""),
    "ArnNotLike": ("arn", True, ""),
    "Null": ("null", False, ""),
}

_COMPARE: dict[str, Compare] = {
    "eq": operator.eq,
    "lt": operator.lt,
    "le": operator.le,
    "gt": operator.gt,
    "ge": operator.ge,
}

# Policy variables are supported by the string and ARN operators only
# (IAM User Guide, "Condition operators": "Policy variables - Supported").
_VARIABLE_FAMILIES = frozenset({"string", "string_ic", "like", "arn"})
_EPOCH = re.compile(r"-?\d+(\.\d+)?")


@dataclass(frozen=True, slots=True)
class Condition:
    """
    One compiled condition: an operator applied to one context key.

    Attributes:
        operator: the operator as written, with qualifier and `IfExists`.
        key: the condition key as written; `key_lower` is used for lookup.
        family: `string`, `like`, `numeric`, `date`, `bool`, `binary`, `ip`, `arn`, `null`, ...
        negated: True for `...Not...` operators.
        qualifier: 0, or 1 for `ForAnyValue:`, 2 for `ForAllValues:`.
        if_exists: True for `...IfExists`.
        values: the policy values as written.
    """

    operator: str
    key: str
    key_lower: str
    family: str
    negated: bool
    qualifier: int
    if_exists: bool
    values: tuple[str, ...]
    test: Test
    comparison: str = ""

    def evaluate(self, context: Values, missing: list[str]) -> bool:
        """
        Decide the condition for one request.

        Raises:
            BadContextValue: a context value cannot be read as the operator's type;
                the evaluator then fails closed.
        """
        found = context.get(self.key_lower)
        if self.family == "null":
            if not found:
                missing.append(self.key)
            return self.test(not found, context)
        if not found:
            missing.append(self.key)
            if self.if_exists or self.qualifier == ALL_VALUES:
                return True
            if self.qualifier == ANY_VALUE:
                return False
            return self.negated
        test = self.test
        if self.qualifier == NONE:
            for value in found:
                if test(value, context):
                    return not self.negated
            return self.negated
        if self.qualifier == ANY_VALUE:
            return any(test(v, context) != self.negated for v in found)
        return all(test(v, context) != self.negated for v in found)


def split_operator(name: str) -> tuple[int, str, bool]:
    """
    Split `ForAllValues:StringLikeIfExists` into (qualifier, base operator, if_exists).
    """
    qualifier = NONE
    if name.startswith("ForAnyValue:"):
        qualifier, name = ANY_VALUE, name[len("ForAnyValue:") :]
    elif name.startswith("ForAllValues:"):
        qualifier, name = ALL_VALUES, name[len("ForAllValues:") :]
    if_exists = name.endswith("IfExists") and name != "IfExists"
    if if_exists:
        name = name[: -len("IfExists")]
    return qualifier, name, if_exists


def build_condition(name: str, key: str, raw: Sequence[str], *, variables: bool) -> Condition:
    """
    Compile one operator/key entry.

    Args:
        name: the operator as written (`ForAnyValue:StringLikeIfExists`).
        key: the condition key as written.
        raw: the policy values as strings.
        variables: True when `${...}` is substituted (Version 2012-10-17).

    Raises:
        ValueError: an unknown operator or a value the operator cannot read; the
            message is ready for a `PolicyError`.
    """
    qualifier, base, if_exists = split_operator(name)
    if base not in OPERATORS:
        raise KeyError(base)
    family, negated, comparison = OPERATORS[base]
    if family == "null" and (qualifier != NONE or if_exists):
        raise ValueError(f"operator `{name}` is not valid: `Null` takes no qualifier or IfExists")
    use_vars = variables and family in _VARIABLE_FAMILIES
    test = _BUILDERS[family](raw, comparison, use_vars)
    return Condition(
        operator=name,
        key=key,
        key_lower=key.lower(),
        family=family,
        negated=negated,
        qualifier=qualifier,
        if_exists=if_exists,
        values=tuple(raw),
        test=test,
        comparison=comparison,
    )


def _templates(raw: Sequence[str], use_vars: bool) -> tuple[list[str], list[Template]]:
    plain: list[str] = []
    templates: list[Template] = []
    for value in raw:
        template = parse_template(value, variables=use_vars)
        if template is None:
            plain.append(value)
        else:
            templates.append(template)
    return plain, templates


def _as_text(value: Scalar) -> str:
    return value if isinstance(value, str) else stringify(value)


def _build_string(raw: Sequence[str], _cmp: str, use_vars: bool) -> Test:
    plain, templates = _templates(raw, use_vars)
    static = frozenset(plain)
    if not templates:
        return lambda value, _ctx: _as_text(value) in static

    def test(value: Scalar, context: Values) -> bool:
        text = _as_text(value)
        if text in static:
            return True
        return any(t.text(context) == text for t in templates)

    return test


def _build_string_ic(raw: Sequence[str], _cmp: str, use_vars: bool) -> Test:
    plain, templates = _templates(raw, use_vars)
    static = frozenset(v.lower() for v in plain)

    def test(value: Scalar, context: Values) -> bool:
        text = _as_text(value).lower()
        if text in static:
            return True
        for template in templates:
            resolved = template.text(context)
            if resolved is not None and resolved.lower() == text:
                return True
        return False

    return test


def _build_like(raw: Sequence[str], _cmp: str, use_vars: bool) -> Test:
    plain, templates = _templates(raw, use_vars)
    regex = compile_regex([glob_tokens(v) for v in plain]) if plain else None

    def test(value: Scalar, context: Values) -> bool:
        text = _as_text(value)
        if regex is not None and regex.fullmatch(text) is not None:
            return True
        for template in templates:
            glob = template.glob(context)
            if glob is not None and glob.matches(text):
                return True
        return False

    return test


def parse_number(value: Any) -> float:
    """
    Read a number from a policy or context value.

    Raises:
        ValueError: not a finite number (booleans are not numbers).
    """
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"`{value}` is not a number")
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"`{value}` is not a number") from None
    if not math.isfinite(number):
        raise ValueError(f"`{value}` is not a finite number")
    return number


def parse_date(value: Any) -> float:
    """
    Read a date as epoch seconds: ISO 8601 text (UTC when no zone is given) or epoch time.

    Raises:
        ValueError: not a date; a naive `datetime` object is refused.
    """
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("naive datetime: give a timezone")
        return value.timestamp()
    if isinstance(value, int | float) and not isinstance(value, bool):
        return parse_number(value)
    if not isinstance(value, str):
        raise ValueError(f"`{value}` is not a date")
    text = value.strip()
    if _EPOCH.fullmatch(text):
        return float(text)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"`{value}` is not an ISO 8601 date or epoch time") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def _converter(parse: Callable[[Any], float]) -> Callable[[Scalar], float]:
    def convert(value: Scalar) -> float:
        try:
            return parse(value)
        except ValueError:
            raise BadContextValue(str(value)) from None

    return convert


_to_number = _converter(parse_number)
# Dates are memoized: the same `aws:CurrentTime` text recurs within a second.
_to_date = functools.lru_cache(maxsize=1024)(_converter(parse_date))


def _build_ordered(
    parse: Callable[[Any], float], to: Callable[[Scalar], float]
) -> Callable[[Sequence[str], str, bool], Test]:
    def build(raw: Sequence[str], cmp: str, _vars: bool) -> Test:
        values = tuple(parse(v) for v in raw)
        compare = _COMPARE[cmp]

        def test(value: Scalar, _ctx: Values) -> bool:
            number = to(value)
            return any(compare(number, v) for v in values)

        return test

    return build


def _build_bool(raw: Sequence[str], _cmp: str, _vars: bool) -> Test:
    values = set()
    for value in raw:
        lowered = value.lower()
        if lowered not in ("true", "false"):
            raise ValueError(f"`{value}` is not `true` or `false`")
        values.add(lowered)

    def test(value: Scalar, _ctx: Values) -> bool:
        if isinstance(value, bool):
            return ("true" if value else "false") in values
        return isinstance(value, str) and value.lower() in values

    return test


def _decode64(value: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"`{value}` is not base64") from None


def _build_binary(raw: Sequence[str], _cmp: str, _vars: bool) -> Test:
    values = frozenset(_decode64(v) for v in raw)

    def test(value: Scalar, _ctx: Values) -> bool:
        if isinstance(value, bytes):
            return value in values
        if isinstance(value, str):
            try:
                return _decode64(value) in values
            except ValueError:
                raise BadContextValue(value) from None
        raise BadContextValue(str(value))

    return test


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@functools.lru_cache(maxsize=1024)
def _network(value: str) -> Network:
    try:
        return ipaddress.ip_network(value.strip(), strict=False)
    except ValueError:
        raise ValueError(f"`{value}` is not an IP address or CIDR block") from None


@functools.lru_cache(maxsize=4096)
def _address(text: str) -> tuple[int, int] | None:
    """(version, integer) of an IP address; memoized because clients repeat."""
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    return address.version, int(address)


def _build_ip(raw: Sequence[str], _cmp: str, _vars: bool) -> Test:
    ranges = tuple(
        (net.version, int(net.network_address), int(net.netmask)) for net in map(_network, raw)
    )

    def test(value: Scalar, _ctx: Values) -> bool:
        parsed = _address(value) if isinstance(value, str) else None
        if parsed is None:
            raise BadContextValue(str(value))
        version, number = parsed
        for net_version, network, mask in ranges:
            if version == net_version and number & mask == network:
                return True
        return False

    return test


def _arn_regex(values: Sequence[str]) -> re.Pattern[str]:
    alternatives = []
    for value in values:
        pieces = []
        for index, part in enumerate(value.split(":", 5)):
            last = index == 5
            for tok in glob_tokens(part):
                if isinstance(tok, str):
                    pieces.append(re.escape(tok))
                elif tok == STAR:
                    pieces.append(".*" if last else "[^:]*")
                else:
                    pieces.append(("." if last else "[^:]") * tok)
            if not last:
                pieces.append(":")
        alternatives.append("(?:" + "".join(pieces).removesuffix(":") + ")")
    return re.compile("|".join(alternatives), re.DOTALL)


def _check_arn(value: str) -> None:
    if value != "*" and split_arn(value) is None:
        raise ValueError(f"`{value}` is not an ARN")


def _split_template(template: Template) -> tuple[Template, ...] | None:
    """Split an ARN template into its six component templates at the written colons."""
    components: list[list[Part]] = [[]]
    for part in template.parts:
        if isinstance(part, str) and len(components) < 6:
            pieces = part.split(":", 6 - len(components))
            components[-1].append(pieces[0])
            components.extend([piece] for piece in pieces[1:])
        else:
            components[-1].append(part)
    if len(components) != 6 or components[0] != ["arn"]:
        return None
    return tuple(
        Template(tuple(c), tuple(p.name for p in c if isinstance(p, Var))) for c in components
    )


def _build_arn(raw: Sequence[str], _cmp: str, use_vars: bool) -> Test:
    plain, templates = _templates(raw, use_vars)
    for value in plain:
        _check_arn(value)
    split: list[tuple[Template, ...]] = []
    for template in templates:
        components = _split_template(template)
        if components is None:
            raise ValueError(f"`{''.join(map(str, raw))}` is not an ARN")
        split.append(components)
    anything = "*" in plain
    regex = _arn_regex([v for v in plain if v != "*"]) if plain else None

    def test(value: Scalar, context: Values) -> bool:
        text = _as_text(value)
        if anything or (regex is not None and regex.fullmatch(text) is not None):
            return True
        if not split:
            return False
        actual = split_arn(text)
        if actual is None:
            return False
        for components in split:
            # Each component matches on its own, so `*` never crosses a `:` except in
            # the resource part; substituted values are literal text.
            for component, part in zip(components, actual, strict=True):
                glob = component.glob(context)
                if glob is None or not glob.matches(part):
                    break
            else:
                return True
        return False

    return test


def _build_null(raw: Sequence[str], _cmp: str, _vars: bool) -> Test:
    wanted = set()
    for value in raw:
        lowered = value.lower()
        if lowered not in ("true", "false"):
            raise ValueError(f"`{value}` is not `true` or `false`")
        wanted.add(lowered == "true")

    # `Null` asks about presence, not values: the evaluator passes True when the key
    # is missing (or empty) and False when it is present.
    def test(value: Scalar, _ctx: Values) -> bool:
        return value in wanted

    return test


_BUILDERS: dict[str, Callable[[Sequence[str], str, bool], Test]] = {
    "string": _build_string,
    "string_ic": _build_string_ic,
    "like": _build_like,
    "numeric": _build_ordered(parse_number, _to_number),
    "date": _build_ordered(parse_date, _to_date),
    "bool": _build_bool,
    "binary": _build_binary,
    "ip": _build_ip,
    "arn": _build_arn,
    "null": _build_null,
}
