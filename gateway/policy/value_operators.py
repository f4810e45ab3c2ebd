"""
The typed operator families: `Numeric*`, `Date*`, `Bool`, `BinaryEquals`,
`IpAddress`/`NotIpAddress` and `Null`.

Layer: ``gateway.policy`` (pure). Imports nothing from the rest of the gateway.

Policy values are read once, when the policy is parsed; a context value the
operator cannot read raises `BadContextValue`, so that the evaluator fails closed.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from typing import Any

from .matching import Scalar, Values
from .operands import (
    BadContextValue,
    Test,
    decode_base64,
    parse_address,
    parse_date,
    parse_network,
    parse_number,
    to_date,
    to_number,
)

__all__ = ["build_binary", "build_bool", "build_date", "build_ip", "build_null", "build_numeric"]

Compare = Callable[[float, float], bool]

_COMPARE: dict[str, Compare] = {
    "eq": operator.eq,
    "lt": operator.lt,
    "le": operator.le,
    "gt": operator.gt,
    "ge": operator.ge,
}


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


build_numeric = _build_ordered(parse_number, to_number)
build_date = _build_ordered(parse_date, to_date)


def build_bool(raw: Sequence[str], _cmp: str, _vars: bool) -> Test:
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


def build_binary(raw: Sequence[str], _cmp: str, _vars: bool) -> Test:
    values = frozenset(decode_base64(v) for v in raw)

    def test(value: Scalar, _ctx: Values) -> bool:
        if isinstance(value, bytes):
            return value in values
        if isinstance(value, str):
            try:
                return decode_base64(value) in values
            except ValueError:
                raise BadContextValue(value) from None
        raise BadContextValue(str(value))

    return test


def build_ip(raw: Sequence[str], _cmp: str, _vars: bool) -> Test:
    ranges = tuple(
        (net.version, int(net.network_address), int(net.netmask)) for net in map(parse_network, raw)
    )

    def test(value: Scalar, _ctx: Values) -> bool:
        parsed = parse_address(value) if isinstance(value, str) else None
        if parsed is None:
            raise BadContextValue(str(value))
        version, number = parsed
        for net_version, network, mask in ranges:
            if version == net_version and number & mask == network:
                return True
        return False

    return test


def build_null(raw: Sequence[str], _cmp: str, _vars: bool) -> Test:
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
