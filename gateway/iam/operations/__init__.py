"""
The IAM operation registry: one table of AWS IAM operations.

Each ``Operation`` has AWS's name (``CreateUser``), its parameters with AWS's
names and types, and a handler that calls the service layer and returns the
response shaped as ``aws iam ... --output json`` prints it (``{}`` for
operations without output). ``invoke()`` validates parameters the way AWS
does (unknown, missing and mistyped parameters are ``ValidationError``) and
runs the handler.

``gateway iam <operation>`` builds its flags from this table, and the HTTP IAM
API decodes Query-protocol parameters into it, so it knows neither argparse
nor HTTP. Integer and boolean parameters also accept their Query-protocol
text (``"3600"``, ``"true"``).

Gateway extensions to AWS's operations, documented where they are declared:
``Force`` on DeleteUser, DeleteGroup and DeleteRole; ``OtpauthUri`` in
CreateVirtualMFADevice's response; ``UserName`` on ChangePassword (this CLI has no
calling user). Listing operations return everything at once (no
``Marker``/``MaxItems``); the HTTP API pages their results.

The table is built by ``registry``; ``params`` declares and validates parameters;
one module per area registers its operations: ``users_groups``, ``roles``,
``policies``, ``credentials``, ``account`` and ``reports``.

Part of the IAM service layer: imports nothing from the edge or the CLI.
"""

from __future__ import annotations

# isort: off
# The areas register their operations when imported, in this order (the table's order).
from gateway.iam.operations import users_groups, roles, policies, credentials, account, reports
from gateway.iam.operations import sts

# isort: on
from gateway.iam.operations.account import ALIAS
from gateway.iam.operations.credentials import KEY_ID, RESET, SERIAL
from gateway.iam.operations.params import (
    BOUNDARY,
    CALLER,
    DOCUMENT,
    FORCE,
    GROUP,
    PATH,
    PATH_PREFIX,
    POLICY_ARN,
    POLICY_NAME,
    ROLE,
    TAG_KEYS,
    TAGS,
    TAGS_REQUIRED,
    USER,
    Args,
    Param,
    ParamType,
    validate,
)
from gateway.iam.operations.policies import VERSION
from gateway.iam.operations.registry import OPERATIONS, Handler, Operation, invoke

__all__ = [
    "ALIAS",
    "BOUNDARY",
    "CALLER",
    "DOCUMENT",
    "FORCE",
    "GROUP",
    "KEY_ID",
    "OPERATIONS",
    "PATH",
    "PATH_PREFIX",
    "POLICY_ARN",
    "POLICY_NAME",
    "RESET",
    "ROLE",
    "SERIAL",
    "TAGS",
    "TAGS_REQUIRED",
    "TAG_KEYS",
    "USER",
    "VERSION",
    "Args",
    "Handler",
    "Operation",
    "Param",
    "ParamType",
    "account",
    "credentials",
    "invoke",
    "policies",
    "reports",
    "roles",
    "sts",
    "users_groups",
    "validate",
]
