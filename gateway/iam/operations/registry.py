"""
The table of IAM operations, and ``invoke()``, which validates parameters and runs one.

The area modules (``users_groups``, ``roles``, ...) add their operations with the
``@operation(...)`` decorator; ``gateway.iam.operations`` imports them all.

Part of the IAM service layer: imports nothing from the edge or the CLI.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from gateway.errors import InvalidInput
from gateway.iam.operations.params import Args, Param, validate
from gateway.iam.responses import Shape
from gateway.iam.service import IAM

Handler = Callable[[IAM, Args], Awaitable[Shape]]


@dataclass(frozen=True, slots=True)
class Operation:
    """
    One IAM operation: AWS's name, its parameters and the handler that runs it.
    """

    name: str
    summary: str
    params: tuple[Param, ...]
    handler: Handler

    @property
    def action(self) -> str:
        """
        The IAM action a caller must be allowed: ``iam:CreateUser``.
        """
        return f"iam:{self.name}"

    @property
    def is_read_only(self) -> bool:
        """
        True for operations that change nothing (``Get*`` and ``List*``).
        """
        return self.name.startswith(("Get", "List"))

    @property
    def is_paginated(self) -> bool:
        """
        True for operations AWS paginates; the aws CLI prints their result without
        ``IsTruncated``/``Marker``, and so does ``invoke()`` (everything at once): the
        HTTP API pages the result with ``MaxItems`` and ``Marker``.
        """
        return self.name.startswith("List") or self.name == "GetGroup"

    def param(self, name: str) -> Param | None:
        return next((param for param in self.params if param.name == name), None)


_TABLE: dict[str, Operation] = {}

OPERATIONS: Mapping[str, Operation] = MappingProxyType(_TABLE)
"""
Every IAM operation the gateway implements, by AWS name.
"""


def operation(name: str, summary: str, *params: Param) -> Callable[[Handler], Handler]:
    """
    Register the decorated handler as the operation ``name`` with ``params``.
    """

    def register(handler: Handler) -> Handler:
        _TABLE[name] = Operation(name, summary, params, handler)
        return handler

    return register


async def invoke(
    iam: IAM, name: str, params: Mapping[str, object], *, caller: str | None = None
) -> Shape:
    """
    Validate ``params`` for the operation ``name`` and run it.

    Args:
        iam: the service for the account the operation acts on.
        name: AWS's operation name (``CreateUser``).
        params: AWS's parameter names to values; ``None`` counts as absent.
        caller: the calling IAM user's name, filled into the user-name parameters
            AWS defaults to the caller (``CreateAccessKey`` without ``UserName``).

    Returns:
        The response shaped as the aws CLI prints it (``{}`` when there is none).

    Raises:
        InvalidInput: ``InvalidAction`` for an unknown operation; ``ValidationError``
            for an unknown, missing or mistyped parameter.
        GatewayError: whatever the service raises (``NoSuchEntity``, ...).
    """
    operation = OPERATIONS.get(name)
    if operation is None:
        raise InvalidInput(
            f"The action {name} is not valid for this web service.", code="InvalidAction"
        )
    return await operation.handler(iam, validate(operation, params, caller=caller))
