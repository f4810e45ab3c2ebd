"""
The request context: who asks to do what on which resource, and the context keys.

Layer: ``gateway.policy`` (pure). Imports nothing from the rest of the gateway.

Context keys are case-insensitive (IAM User Guide, "Condition element": condition
key names are not case-sensitive), so they are lowercased once, here. Every value
becomes a tuple: a single value is a set of one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from .matching import Scalar
from .principals import caller_arns

__all__ = ["ContextValue", "RequestContext"]

ContextValue = Scalar | Sequence[Scalar]
_SCALARS = (str, int, float, bool, datetime, bytes)


_EXACT_SCALARS = frozenset(_SCALARS)


# Context keys repeat from request to request (a few dozen names): each is lowered
# once. A plain dict read inline costs less than a cached call; it stops growing at
# _MAX_LOWERED names, past which keys are lowered on every request.
_LOWERED: dict[str, str] = {}
_MAX_LOWERED = 4096


def _normalize(context: Mapping[str, ContextValue]) -> dict[str, tuple[Scalar, ...]]:
    values: dict[str, tuple[Scalar, ...]] = {}
    lowered_of = _LOWERED
    for key, value in context.items():
        lowered = lowered_of.get(key)  # only str keys are ever stored
        if lowered is None:
            if not isinstance(key, str):
                raise TypeError(f"context key `{key!r}` is not a string")
            lowered = key.lower()
            if len(lowered_of) < _MAX_LOWERED:
                lowered_of[key] = lowered
        kind = type(value)
        if kind is str or kind in _EXACT_SCALARS or isinstance(value, _SCALARS):
            items: tuple[Scalar, ...] = (value,)  # type: ignore[assignment]
        elif isinstance(value, Sequence) and all(isinstance(v, _SCALARS) for v in value):
            items = tuple(value)
        else:
            raise TypeError(f"context key `{key}`: unsupported value type")
        if lowered in values:
            values[lowered] += items
        else:
            values[lowered] = items
    return values


@dataclass(frozen=True, slots=True)
class RequestContext:
    """
    One authorization request.

    Attributes:
        principal: the caller's ARN (IAM user, role session, federated user, account
            root) or a service principal such as `ec2.amazonaws.com`; "" is anonymous.
        action: `service:Action`, matched case-insensitively.
        resource: the resource ARN, matched case-sensitively; "*" when none applies.
        context: condition keys to values (a value or a list of values); key case is
            ignored. This is the whole request context: nothing is derived from it.
        principal_account: the caller's account; derived from `principal` when "".
        resource_account: the resource owner's account; "" means the caller's own.
        entity: the role (for a role session) or IAM user (for a federated user
            session) behind the principal; derived for `assumed-role` ARNs when "".
    """

    principal: str
    action: str
    resource: str = "*"
    context: Mapping[str, ContextValue] = field(default_factory=dict)
    principal_account: str = ""
    resource_account: str = ""
    entity: str = ""
    action_key: str = field(init=False, repr=False, compare=False)
    values: Mapping[str, tuple[Scalar, ...]] = field(init=False, repr=False, compare=False)
    caller: tuple[str, str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        """Precompute the lowercase action, lowercase context keys and caller ARNs."""
        set_ = object.__setattr__
        set_(self, "action_key", self.action.lower())
        set_(self, "values", _normalize(self.context))
        set_(self, "caller", caller_arns(self.principal, self.entity, self.principal_account))

    @property
    def account(self) -> str:
        """The caller's account ID, given or derived."""
        root = self.caller[2]
        return root.split(":")[4] if root else ""

    @property
    def is_cross_account(self) -> bool:
        """True when the resource belongs to another account than the caller's."""
        if not self.resource_account:
            return False  # the caller's own (checked first: most requests stop here)
        account = self.account
        return bool(account) and self.resource_account != account
