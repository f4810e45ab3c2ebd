"""
Building audit events: one JSON-ready dict per decision, shaped like a CloudTrail record.

Layer: auth (beside ``routing``). Reads a ``RequestView``, a ``Principal`` and a
policy ``Decision``; imports nothing from the edge, the store or ``iam``.

SECURITY: the event is built from an allowlist. Of the request headers only
``User-Agent`` is read; ``Authorization`` and ``Cookie`` are never looked at. The
query string goes through ``redact_query`` and every string through
``sanitize_text`` (truncated, control and bidi characters escaped); ``extra``
loses its secret-named keys. See ``gateway.audit.redaction``.

Built once per request, in the request path: what repeats from one request to the
next (a principal's ``userIdentity``, an action's split, the time string of the
current second) is computed once and cached, in bounded caches, from inputs that
fully determine it.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final, TypeAlias

from gateway.audit.redaction import TRUNCATED, is_secret_key, redact_query, sanitize_text
from gateway.policy import Decision
from gateway.principal import Principal, PrincipalType
from gateway.types import RequestView

__all__ = ["EVENT_VERSION", "AuditEvent", "build_event"]

AuditEvent: TypeAlias = dict[str, Any]

EVENT_VERSION: Final = "1.0"
MAX_PATH_CHARS: Final = 2048
MAX_USER_AGENT_CHARS: Final = 256
MAX_ERROR_CODE_CHARS: Final = 128
MAX_EXTRA_DEPTH: Final = 6

_ISO_FORMAT: Final = "%Y-%m-%dT%H:%M:%SZ"
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_SECOND: Final = timedelta(seconds=1)


def _iso(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("audit times must be timezone-aware")
    try:
        # Exact integer seconds (a float timestamp can round up near year 9999).
        seconds = (moment - _EPOCH) // _ONE_SECOND
    except TypeError:  # a tzinfo without an offset: astimezone reads it as local time
        return moment.astimezone(UTC).strftime(_ISO_FORMAT)
    return _iso_second(seconds)


@functools.lru_cache(maxsize=64)
def _iso_second(seconds: int) -> str:
    # Cached: every request of the same second shares its eventTime.
    return (_EPOCH + timedelta(seconds=seconds)).strftime(_ISO_FORMAT)


def _text(value: str | None, *, limit: int) -> str | None:
    return None if value is None else sanitize_text(value, limit=limit)


def _split_action(action: str | None) -> tuple[str | None, str | None]:
    if not action:
        return None, None
    return _split_known_action(action)


@functools.lru_cache(maxsize=1024)
def _split_known_action(action: str) -> tuple[str | None, str | None]:
    # Cached: actions come from the configured routes, a small set.
    service, colon, name = action.partition(":")
    if not colon:
        return None, sanitize_text(action)
    return sanitize_text(service), sanitize_text(name)


def _compact(fields: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in fields.items() if value not in ("", None)}


def _user_identity(principal: Principal | None) -> dict[str, Any]:
    if principal is None or principal.type is PrincipalType.ANONYMOUS:
        return {"type": PrincipalType.ANONYMOUS.value}
    try:
        identity = _cached_identity(principal)
    except TypeError:  # an unhashable field (a list for tags): nothing to cache on
        identity = _identity_of(principal)
    # Each event gets its own copy: a sink that edits its event must not edit the cache.
    return _copy_dicts(identity)


def _copy_dicts(value: dict[str, Any]) -> dict[str, Any]:
    return {key: _copy_dicts(item) if type(item) is dict else item for key, item in value.items()}


def _identity_of(principal: Principal) -> dict[str, Any]:
    identity = _compact(
        {
            "type": principal.type.value,
            "principalId": sanitize_text(principal.user_id),
            "arn": sanitize_text(principal.arn),
            "accountId": sanitize_text(principal.account_id),
            "accessKeyId": sanitize_text(principal.access_key_id),
            "userName": sanitize_text(principal.user_name),
        }
    )
    session = _session_context(principal)
    if session:
        identity["sessionContext"] = session
    return identity


# INVARIANT: Principal is a frozen dataclass compared and hashed on every field, and
# _identity_of reads nothing else, so equal principals have equal identities.
_cached_identity: Final = functools.lru_cache(maxsize=1024)(_identity_of)


def _session_context(principal: Principal) -> dict[str, Any]:
    context: dict[str, Any] = {}
    if principal.authenticated_at is not None or principal.type is PrincipalType.ASSUMED_ROLE:
        created = principal.authenticated_at
        context["attributes"] = _compact(
            {
                "creationDate": None if created is None else _iso(created),
                "mfaAuthenticated": "true" if principal.mfa_authenticated else "false",
            }
        )
    if principal.type is PrincipalType.ASSUMED_ROLE:
        role_id = principal.entity_id or principal.user_id.partition(":")[0]
        role_arn = principal.session_issuer_arn
        context["sessionIssuer"] = _compact(
            {
                "type": "Role",
                "principalId": sanitize_text(role_id),
                "arn": sanitize_text(role_arn),
                "accountId": sanitize_text(principal.account_id),
                "userName": sanitize_text(role_arn.rpartition("/")[2]),
            }
        )
    return context


def _decided_by(decision: Decision | None) -> list[dict[str, Any]]:
    if decision is None:
        return []
    return [
        {
            "policyId": sanitize_text(ref.policy_id),
            "policyType": ref.policy_kind,
            "statementIndex": ref.index,
            "sid": sanitize_text(ref.sid),
        }
        for ref in decision.matched
    ]


def _json_ready(value: Any, depth: int = 0) -> Any:
    if depth > MAX_EXTRA_DEPTH:
        return TRUNCATED
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, datetime):
        return _iso(value)
    if isinstance(value, Mapping):
        return {
            sanitize_text(str(key)): _json_ready(item, depth + 1)
            for key, item in value.items()
            if not is_secret_key(key)
        }
    if isinstance(value, list | tuple | set | frozenset):
        return [_json_ready(item, depth + 1) for item in value]
    if isinstance(value, str):
        return sanitize_text(value)
    # SECURITY: an arbitrary object's str() may reveal what it holds; name its type only.
    return f"<{type(value).__name__}>"


def build_event(
    *,
    view: RequestView,
    principal: Principal | None,
    action: str | None,
    resources: Sequence[str],
    decision: Decision | None,
    error_code: str | None,
    upstream: str | None,
    upstream_status: int | None,
    latency_ms: float,
    now: datetime,
    region: str,
    extra: Mapping[str, Any] | None = None,
) -> AuditEvent:
    """
    Build the audit event for one request, ready for ``json.dumps``.

    Args:
        view: the request as the edge saw it (its path is already normalized).
        principal: the authenticated caller, or None when authentication failed
            or was not attempted.
        action: the IAM action the request mapped to (``backup:PutObject``).
        resources: the resource ARNs the request was authorized against.
        decision: the policy engine's answer, or None when no policy was evaluated.
        error_code: the AWS error code the client received, if any.
        upstream: the name of the upstream the request went to, if it was forwarded.
        upstream_status: the upstream's HTTP status, when it answered.
        latency_ms: the request's time in the gateway, in milliseconds.
        now: when the request arrived (timezone-aware).
        region: the gateway's region (``awsRegion``).
        extra: more JSON-ready facts, written under ``additionalEventData`` after
            secret-named keys are dropped and strings are sanitized.

    Raises:
        ValueError: ``now`` (or a principal's time) is naive.
    """
    source, name = _split_action(action)
    latency = round(latency_ms, 3) if math.isfinite(latency_ms) else None
    user_agent = view.header("user-agent")
    event: AuditEvent = {
        "eventVersion": EVENT_VERSION,
        "eventTime": _iso(now),
        "eventSource": source,
        "eventName": name,
        "awsRegion": sanitize_text(region),
        "requestID": sanitize_text(view.request_id),
        "sourceIPAddress": sanitize_text(view.client_ip),
        "userAgent": _text(user_agent, limit=MAX_USER_AGENT_CHARS),
        "httpMethod": sanitize_text(view.method, limit=32),
        "path": sanitize_text(view.path, limit=MAX_PATH_CHARS),
        "queryString": redact_query(view.query_string) if view.query_string else None,
        "userIdentity": _user_identity(principal),
        "resources": [{"ARN": sanitize_text(arn)} for arn in resources],
        "decision": None if decision is None else decision.verdict.value,
        "decidedBy": _decided_by(decision),
        "missingContextValues": (
            [sanitize_text(key) for key in decision.missing_context] if decision is not None else []
        ),
        "errorCode": _text(error_code, limit=MAX_ERROR_CODE_CHARS),
        "latencyMs": latency,
        "upstream": None
        if upstream is None
        else {"name": sanitize_text(upstream), "status": upstream_status, "latencyMs": latency},
    }
    if extra:
        event["additionalEventData"] = _json_ready(extra)
    return event
