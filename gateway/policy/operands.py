"""
Condition operands: how policy and context values are read as numbers, dates, bytes
and IP addresses, and what a compiled operator test looks like.

Layer: ``gateway.policy`` (pure). Imports nothing from the rest of the gateway.

A policy value that cannot be read is a `ValueError` when the policy is parsed. A
context value that cannot be read is a `BadContextValue` when the request is
evaluated, and the evaluator then fails closed.
"""

from __future__ import annotations

import base64
import binascii
import functools
import ipaddress
import math
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from .matching import Scalar, Values

__all__ = [
    "BadContextValue",
    "Test",
    "decode_base64",
    "parse_address",
    "parse_date",
    "parse_network",
    "parse_number",
    "to_date",
    "to_number",
]

# A compiled test of one context value against an operator's policy values.
Test = Callable[[Scalar, Values], bool]
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

_EPOCH = re.compile(r"-?\d+(\.\d+)?")


class BadContextValue(Exception):
    """A request context value could not be read as the operator's type."""


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


to_number = _converter(parse_number)
# Dates are memoized: the same `aws:CurrentTime` text recurs within a second.
to_date = functools.lru_cache(maxsize=1024)(_converter(parse_date))


def decode_base64(value: str) -> bytes:
    """Decode standard base64; a `ValueError` when `value` is not base64."""
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"`{value}` is not base64") from None


@functools.lru_cache(maxsize=1024)
def parse_network(value: str) -> Network:
    """Read an IP address or CIDR block as a network; memoized, policies repeat them."""
    try:
        return ipaddress.ip_network(value.strip(), strict=False)
    except ValueError:
        raise ValueError(f"`{value}` is not an IP address or CIDR block") from None


@functools.lru_cache(maxsize=4096)
def parse_address(text: str) -> tuple[int, int] | None:
    """(version, integer) of an IP address; memoized because clients repeat."""
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    return address.version, int(address)
