"""
Compiled conditions and the operator registry: which family each operator belongs to.

Layer: ``gateway.policy`` (pure). Imports nothing from the rest of the gateway.

A compiled `Condition` answers one `"Operator": {"key": [values]}` entry. The rules
follow the IAM User Guide, "IAM JSON policy elements: Condition operators":

- several values for one key are ORed; negated operators (`StringNotEquals`,
  `NotIpAddress`, ...) negate that OR, so their values act as a logical AND;
- a key missing from the request context makes the values not match, so the
  condition is false, and true for a negated operator; this holds for all
  operators except `...IfExists` (true when the key is missing) and `Null`;
- `ForAllValues:` is true when the key is missing or empty, `ForAnyValue:` is false.

Each family's builder lives with its kind: `string_operators` (text and ARNs, with
policy variables) and `value_operators` (numbers, dates, booleans, bytes, IPs, `Null`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .matching import Values
from .operands import Test
from .string_operators import build_arn, build_like, build_string, build_string_ic
from .value_operators import (
    build_binary,
    build_bool,
    build_date,
    build_ip,
    build_null,
    build_numeric,
)

__all__ = ["OPERATORS", "Condition", "build_condition", "split_operator"]

NONE, ANY_VALUE, ALL_VALUES = 0, 1, 2

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

# Policy variables are supported by the string and ARN operators only
# (IAM User Guide, "Condition operators": "Policy variables - Supported").
_VARIABLE_FAMILIES = frozenset({"string", "string_ic", "like", "arn"})


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
        KeyError: an unknown operator; the argument is its base name.
        ValueError: an operator misused (`Null` with a qualifier) or a value the
            operator cannot read; the message is ready for a `PolicyError`.
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


# operator family -> builder of its test: one small function per family, the way minio
# splits `condition/` into `stringfunc.go`, `ipaddrfunc.go`, ...
_BUILDERS: dict[str, Callable[[Sequence[str], str, bool], Test]] = {
    "string": build_string,
    "string_ic": build_string_ic,
    "like": build_like,
    "numeric": build_numeric,
    "date": build_date,
    "bool": build_bool,
    "binary": build_binary,
    "ip": build_ip,
    "arn": build_arn,
    "null": build_null,
}
