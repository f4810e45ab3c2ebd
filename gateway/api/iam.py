"""
The AWS IAM API (Query protocol, ``Version=2010-05-08``) at ``/_gateway/iam``.

Every operation of the registry in ``gateway.iam.operations`` is served, so the
HTTP API and ``gateway iam <operation>`` run the same code. For each call:

1. the wire parameters are decoded into the registry's typed parameters
   (``Name.member.N`` lists, ``Tags.member.N.Key``/``Value``);
2. ``iam:<Operation>`` is authorized on the operation's resource
   (``gateway.api.iam_access``) for the caller, in the caller's account;
3. the registry runs the operation; its result, shaped as the aws CLI prints it,
   is turned back into AWS's wire shape: policy documents URL-encoded JSON,
   timestamps ``...Z``, ``Base32StringSeed`` a base64 blob;
4. listings are paginated with ``MaxItems`` (1 to 1000, default 100) and an
   opaque ``Marker``, authenticated with a key derived from the master key, so a
   marker cannot be forged or carried to another operation (400 otherwise).

Layer: the edge. Imports the IAM service layer; never the console or the CLI.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final
from urllib.parse import quote

from gateway.api.iam_access import authorize_operation, caller_user
from gateway.api.query import Handler, QueryCall, QueryEndpoint, member_list, member_structs
from gateway.errors import GatewayError, InvalidInput
from gateway.http_errors import IAM_NAMESPACE
from gateway.iam import IAM
from gateway.iam.operations import OPERATIONS, Operation, invoke

__all__ = ["IAM_NAMESPACE", "IAM_VERSION", "PAGINATED", "iam_endpoint"]

IAM_VERSION: Final = "2010-05-08"
DEFAULT_MAX_ITEMS: Final = 100
MAX_MAX_ITEMS: Final = 1000
_MARKER_PURPOSE: Final = "iam-api-marker"

PAGINATED: Final[Mapping[str, str]] = {
    "GetGroup": "Users",
    "ListAccessKeys": "AccessKeyMetadata",
    "ListAccountAliases": "AccountAliases",
    "ListAttachedGroupPolicies": "AttachedPolicies",
    "ListAttachedRolePolicies": "AttachedPolicies",
    "ListAttachedUserPolicies": "AttachedPolicies",
    "ListGroupPolicies": "PolicyNames",
    "ListGroups": "Groups",
    "ListGroupsForUser": "Groups",
    "ListMFADevices": "MFADevices",
    "ListPolicies": "Policies",
    "ListPolicyVersions": "Versions",
    "ListRolePolicies": "PolicyNames",
    "ListRoleTags": "Tags",
    "ListRoles": "Roles",
    "ListUserPolicies": "PolicyNames",
    "ListUserTags": "Tags",
    "ListUsers": "Users",
    "ListVirtualMFADevices": "VirtualMFADevices",
    "SimulateCustomPolicy": "EvaluationResults",
    "SimulatePrincipalPolicy": "EvaluationResults",
}
"""
Operation -> the list member AWS paginates (from botocore's ``paginators-1.json``).
"""

# Operations AWS pages over several lists at once: everything is returned in one page.
_WHOLE: Final = frozenset({"GetAccountAuthorizationDetails", "ListEntitiesForPolicy"})
# Members holding policy documents, which AWS sends URL-encoded.
_DOCUMENTS: Final = frozenset({"AssumeRolePolicyDocument", "Document", "PolicyDocument"})
# Operations whose AWS output is an empty structure: an empty `<OpResult/>`, which botocore
# requires; other operations without output send none.
_EMPTY_RESULTS: Final = frozenset({"UpdateRole"})
# HTTP statuses AWS uses for codes the service layer raises with another one.
_STATUS: Final[Mapping[str, int]] = {"InvalidAuthenticationCode": 403}
# Members that exist only for the CLI, never on the wire.
_CLI_ONLY: Final[Mapping[str, frozenset[str]]] = {"ChangePassword": frozenset({"UserName"})}


# --- parameters ----------------------------------------------------------------------------------


def decode_params(operation: Operation, params: Mapping[str, str]) -> dict[str, object]:
    """
    Turn Query-protocol parameters into the registry's parameters.

    Lists and tags are decoded from their ``.member.N`` form; anything left over is
    passed on as is, so the registry refuses it as an unknown parameter.

    Raises:
        InvalidInput: a malformed list, or a parameter AWS does not have.
    """
    remaining = dict(params)
    for name in _CLI_ONLY.get(operation.name, ()):
        if name in remaining:
            raise InvalidInput(f"unknown parameter `{name}` for operation `{operation.name}`")
    decoded: dict[str, object] = {}
    for param in operation.params:
        nested = [key for key in remaining if key.startswith(param.name + ".")]
        if param.type in ("strings", "tags", "context"):
            if not nested and param.name not in remaining:
                continue
            if param.type == "strings":
                decoded[param.name] = member_list(remaining, param.name)
            elif param.type == "tags":
                decoded[param.name] = member_structs(remaining, param.name)
            else:
                decoded[param.name] = [
                    _context_entry(entry) for entry in member_structs(remaining, param.name)
                ]
            for key in [*nested, param.name]:
                remaining.pop(key, None)
        elif param.name in remaining:
            decoded[param.name] = remaining.pop(param.name)
    decoded.update(remaining)
    return decoded


def _context_entry(fields: Mapping[str, str]) -> dict[str, object]:
    # SimulateCustomPolicy's ContextEntry: a name, a type and a list of values.
    entry: dict[str, object] = {
        key: value for key, value in fields.items() if not key.startswith("ContextKeyValues")
    }
    entry["ContextKeyValues"] = member_list(fields, "ContextKeyValues")
    return entry


# --- results -------------------------------------------------------------------------------------


def to_wire(value: Any, name: str = "") -> Any:
    """
    Turn a registry result (the aws CLI's JSON shape) into AWS's wire shape.
    """
    if name in _DOCUMENTS:
        # AWS sends documents as URL-encoded JSON; botocore and the CLI decode them.
        text = value if isinstance(value, str) else json.dumps(value, indent=2)
        return quote(text, safe="")
    if isinstance(value, Mapping):
        return {key: to_wire(item, key) for key, item in value.items()}
    if isinstance(value, list):
        return [to_wire(item) for item in value]
    if isinstance(value, str) and (name.endswith("Date") or name == "PasswordLastUsed"):
        return datetime.fromisoformat(value)
    if name == "Base32StringSeed" and isinstance(value, str):
        return value.encode("ascii")  # a blob: rendered base64-encoded
    return value


def _marker_key(call: QueryCall) -> bytes:
    return call.services.runtime.cipher.derive_key(_MARKER_PURPOSE)


def _tag(key: bytes, operation: str, offset: int) -> str:
    message = f"{operation}:{offset}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()[:32]


def _marker(key: bytes, operation: str, offset: int) -> str:
    text = f"{offset}:{_tag(key, operation, offset)}"
    return base64.urlsafe_b64encode(text.encode("ascii")).decode("ascii")


def _offset(key: bytes, operation: str, marker: str) -> int:
    # SECURITY: the tag binds the offset to this operation; a forged, altered or
    # borrowed marker is refused like a malformed one.
    try:
        offset, _, tag = (
            base64.urlsafe_b64decode(marker.encode("ascii")).decode("ascii").partition(":")
        )
        start = int(offset) if offset.isdigit() and len(offset) <= 9 else -1
    except ValueError:
        start, tag = -1, ""
    if start < 0 or not hmac.compare_digest(tag.encode(), _tag(key, operation, start).encode()):
        raise InvalidInput("Invalid Marker.")
    return start


def _page_limits(params: dict[str, str]) -> tuple[int, str | None]:
    raw = params.pop("MaxItems", None)
    marker = params.pop("Marker", None)
    if raw is None:
        return DEFAULT_MAX_ITEMS, marker
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_MAX_ITEMS:
        raise InvalidInput(
            f"1 validation error detected: Value '{raw[:16]}' at 'maxItems' failed to satisfy "
            f"constraint: Member must have value between 1 and {MAX_MAX_ITEMS}"
        )
    return int(raw), marker


def _page(
    call: QueryCall, operation: str, result: dict[str, Any], max_items: int, marker: str | None
) -> dict[str, Any]:
    member = PAGINATED[operation]
    items = result.get(member)
    if not isinstance(items, list):
        items = []
    key = _marker_key(call)
    start = 0 if marker is None else _offset(key, operation, marker)
    end = start + max_items
    page = dict(result)
    page[member] = items[start:end]
    page["IsTruncated"] = end < len(items)
    page.pop("Marker", None)
    if end < len(items):
        page["Marker"] = _marker(key, operation, end)
    return page


# --- the endpoint --------------------------------------------------------------------------------


def _handler(operation: Operation) -> Handler:
    name = operation.name

    async def handle(call: QueryCall) -> Mapping[str, Any] | None:
        params = dict(call.params)
        paged = name in PAGINATED or name in _WHOLE
        max_items, marker = _page_limits(params) if paged else (DEFAULT_MAX_ITEMS, None)
        if name in _WHOLE and marker is not None:
            raise InvalidInput("Invalid Marker.")
        services = call.services
        iam = IAM(
            services.runtime.store, services.runtime.cipher, account_id=call.principal.account_id
        )
        caller = caller_user(call)
        arguments = decode_params(operation, params)
        await authorize_operation(call, iam, name, arguments, caller)
        try:
            result = await invoke(iam, name, arguments, caller=caller)
        except GatewayError as exc:
            exc.status = _STATUS.get(exc.code, exc.status)
            raise
        if name in PAGINATED:
            result = _page(call, name, result, max_items, marker)
        elif name in _WHOLE:
            result = {**result, "IsTruncated": False}
        if not result and name not in _EMPTY_RESULTS:
            return None
        wire: dict[str, Any] = to_wire(result)
        return wire

    return handle


def iam_endpoint() -> QueryEndpoint:
    """
    Return the IAM API as an ASGI app, to mount at ``/_gateway/iam``.
    """
    return QueryEndpoint(
        service="iam",
        version=IAM_VERSION,
        namespace=IAM_NAMESPACE,
        handlers={name: _handler(operation) for name, operation in OPERATIONS.items()},
    )
