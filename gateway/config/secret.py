"""
``Secret``: a string that cannot leak through a repr, a log line or an error.

Part of ``gateway.config``; settings wrap every secret they read in one. Imports
nothing from the gateway.
"""

from __future__ import annotations

import hmac

__all__ = ["Secret"]


class Secret:
    """
    A string that never shows itself: ``repr``, ``str`` and f-strings print asterisks.

    Call ``reveal()`` at the one place that needs the value (the driver that
    connects, the code that decrypts). This is deliberately not a ``str``
    subclass: concatenation, ``json.dumps`` or ``"".join`` would leak a subclass.
    Equality is compared in constant time.
    """

    __slots__ = ("_value",)
    _value: str

    def __init__(self, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError("a secret value must be a string")
        object.__setattr__(self, "_value", value)

    def reveal(self) -> str:
        """
        Return the secret value; keep it out of logs, errors and reprs.
        """
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    def __str__(self) -> str:
        return "**********"

    def __format__(self, format_spec: str) -> str:
        return str(self)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        # SECURITY: constant-time comparison; never `==` on secrets.
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        # SECURITY: a constant hash is correct and says nothing about the value.
        return hash(Secret)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("a secret is immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("a secret is immutable")

    def __copy__(self) -> Secret:
        return self

    def __deepcopy__(self, memo: dict[int, object]) -> Secret:
        return self
