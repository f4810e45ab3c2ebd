"""
The gateway's exception tree.

Every error the gateway raises on purpose is a ``GatewayError``. It carries the
AWS error code, the HTTP status a client would receive and a message that never
contains a secret::

    GatewayError                 .code (AWS error code), .status, .message
      ConfigError                startup only: file, key, what was expected
      ClientError                4xx
        AuthError                InvalidClientTokenId, SignatureDoesNotMatch, ...
        AccessDenied             carries the Decision when there is one
        InvalidInput             MalformedPolicyDocument, ValidationError, ...
          NoSuchEntity           the named entity does not exist (404)
          EntityAlreadyExists    the name is taken (409)
          DeleteConflict         the entity still has dependents (409)
          LimitExceeded          an AWS quota would be exceeded (409)
      StoreError                 5xx; carries the operation, never the parameters
      UpstreamError              502 refused / 504 timed out; carries the upstream name

This module imports nothing else from the gateway.
"""

from __future__ import annotations

from typing import Any


class GatewayError(Exception):
    """
    Base of every error the gateway raises on purpose.
    """

    code: str = "InternalFailure"
    status: int = 500

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status

    def __str__(self) -> str:
        return self.message


class ConfigError(GatewayError):
    """
    The ops configuration is invalid; raised before the gateway serves anything.
    """

    code = "ConfigError"

    def __init__(self, message: str, *, file: str = "", key: str = "") -> None:
        prefix = ": ".join(part for part in (file, key) if part)
        super().__init__(f"{prefix}: {message}" if prefix else message)
        self.file = file
        self.key = key


class ClientError(GatewayError):
    """
    The caller did something wrong (4xx).
    """

    code = "InvalidRequest"
    status = 400


class AuthError(ClientError):
    """
    The caller could not be authenticated.
    """

    code = "InvalidClientTokenId"
    status = 403


class AccessDenied(ClientError):
    """
    The caller is authenticated but the policies do not allow the action.
    """

    code = "AccessDenied"
    status = 403

    def __init__(self, message: str, *, decision: Any = None) -> None:
        super().__init__(message)
        self.decision = decision


class InvalidInput(ClientError):
    """
    A parameter, document or file is malformed or violates a rule.
    """

    code = "ValidationError"
    status = 400


class NoSuchEntity(InvalidInput):
    """
    The named entity does not exist.
    """

    code = "NoSuchEntity"
    status = 404


class EntityAlreadyExists(InvalidInput):
    """
    An entity with that name already exists.
    """

    code = "EntityAlreadyExists"
    status = 409


class DeleteConflict(InvalidInput):
    """
    The entity cannot be deleted while it still has dependents.
    """

    code = "DeleteConflict"
    status = 409


class LimitExceeded(InvalidInput):
    """
    The request would exceed an AWS quota (two access keys per user, ...).
    """

    code = "LimitExceeded"
    status = 409


class StoreError(GatewayError):
    """
    The store failed; carries the operation name, never its parameters.
    """

    code = "ServiceUnavailable"
    status = 503

    def __init__(self, message: str, *, operation: str = "") -> None:
        super().__init__(message)
        self.operation = operation


class UpstreamError(GatewayError):
    """
    The upstream refused the connection (502) or timed out (504).
    """

    code = "BadGateway"
    status = 502

    def __init__(
        self, message: str, *, upstream: str, status: int = 502, code: str = "BadGateway"
    ) -> None:
        super().__init__(message, status=status, code=code)
        self.upstream = upstream
