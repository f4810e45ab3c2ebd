"""
An index of statements by action, so evaluation looks only at what could apply.

Layer: ``gateway.policy`` (pure). Imports nothing from the rest of the gateway.

Literal actions (`s3:getobject`) go in a dictionary; patterns whose service part is
literal (`s3:get*`) go in a per-service list; everything else (`*`, `*:get*`,
`NotAction`) in a global list. The candidates for an action are worked out once
and memoized, in a bounded table, so a repeated action costs one dictionary lookup.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Generic, Protocol, TypeVar

__all__ = ["ActionIndex", "ActionPatterns"]

# Distinct actions remembered per index; past this the candidates are recomputed.
_MEMO_LIMIT = 4096


class ActionPatterns(Protocol):
    """The part of an action matcher the index needs."""

    @property
    def negated(self) -> bool: ...  # noqa: D102

    @property
    def patterns(self) -> tuple[str, ...]: ...  # noqa: D102

    def matches(self, action: str) -> bool: ...  # noqa: D102


T = TypeVar("T")


def _has_wildcard(text: str) -> bool:
    return "*" in text or "?" in text


class ActionIndex(Generic[T]):
    """
    Statements (or policy/statement pairs) grouped by the actions they name.

    Args:
        entries: the items in evaluation order.
        actions: returns an item's action matcher.
    """

    __slots__ = ("_actions", "_global", "_literal", "_memo", "_order", "_service")

    def __init__(self, entries: Sequence[T], actions: Callable[[T], ActionPatterns]) -> None:
        self._actions = actions
        self._order = {id(entry): n for n, entry in enumerate(entries)}
        self._literal: dict[str, list[T]] = {}
        self._service: dict[str, list[T]] = {}
        self._global: list[T] = []
        self._memo: dict[str, tuple[T, ...]] = {}
        for entry in entries:
            matcher = actions(entry)
            if matcher.negated:
                self._global.append(entry)
                continue
            placed: set[int] = set()
            for pattern in matcher.patterns:
                service, _, name = pattern.partition(":")
                if _has_wildcard(service) or not name:
                    bucket = self._global
                elif _has_wildcard(name):
                    bucket = self._service.setdefault(service, [])
                else:
                    bucket = self._literal.setdefault(pattern, [])
                if id(bucket) not in placed:
                    placed.add(id(bucket))
                    bucket.append(entry)

    def candidates(self, action: str) -> tuple[T, ...]:
        """
        The items whose action element matches `action` (lowercase), in order.
        """
        found = self._memo.get(action)
        if found is not None:
            return found
        matches = self._actions
        service = action.partition(":")[0]
        chosen: dict[int, T] = {}
        for entry in self._literal.get(action, ()):
            chosen[id(entry)] = entry
        for group in (self._service.get(service, ()), self._global):
            for entry in group:
                if id(entry) not in chosen and matches(entry).matches(action):
                    chosen[id(entry)] = entry
        order = self._order
        result = tuple(sorted(chosen.values(), key=lambda e: order[id(e)]))
        if len(self._memo) < _MEMO_LIMIT:
            self._memo[action] = result
        return result
