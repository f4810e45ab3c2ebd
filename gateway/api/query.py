"""
The AWS Query protocol: the wire format of the IAM and STS APIs.

``QueryEndpoint`` is an ASGI app mounted under ``/_gateway/<name>``. For every
request it reads the form body (bounded), authenticates the SigV4 signature
with the service's name in the scope, checks ``Version`` and ``Action``, calls
the operation's handler with a ``QueryCall`` and renders what it returns as
AWS's ``<{Action}Response>`` XML, or a ``GatewayError`` as AWS's
``<ErrorResponse>`` with the error's HTTP status. Every call is audited.

Wire rules, as botocore and the ``aws`` CLI use them:

- parameters come from an ``application/x-www-form-urlencoded`` POST body or
  the query string (GET, presigned URLs); a parameter given twice, a field
  without ``=``, invalid percent-encoding or non-UTF-8 text is 400
  ``MalformedQueryString``, and a body over the limit is 413; a secret (a
  password, an MFA code) in the query string is refused, since URLs end up in logs;
- lists are ``Name.member.N`` (N from 1, no gaps; an empty list is a bare
  ``Name=``), structures in lists ``Name.member.N.Field`` and maps
  ``Name.entry.N.key`` / ``Name.entry.N.value``;
- results: mapping -> child elements, list -> ``<member>`` children,
  ``QueryMap`` -> ``<entry><key/><value/></entry>``, bool -> ``true``/``false``,
  datetime -> ``2026-11-28T01:02:03Z``, bytes -> base64, None -> omitted.

SECURITY: client mistakes are 4xx and never a throttling code: botocore retries
5xx and throttling errors, and a retry would replay a spent MFA code. An
unexpected exception is a 500 ``InternalFailure`` without detail, logged without
request data.

Layer: the edge. Imports auth, audit and the policy engine's types; never the console.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import logging
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import unquote_plus
from xml.sax.saxutils import escape

from gateway.audit import build_event
from gateway.auth.sigv4_parse import parse_authorization
from gateway.errors import AccessDenied, AuthError, ClientError, GatewayError, InvalidInput
from gateway.http_errors import error_body, wants_json
from gateway.iam.naming import now as utc_now
from gateway.normalize import request_view
from gateway.policy import ContextValue, Decision
from gateway.principal import Principal
from gateway.request_ids import new_request_id
from gateway.types import Receive, RequestView, Scope, Send

if TYPE_CHECKING:
    from gateway.app import GatewayApp, Services

__all__ = [
    "MAX_BODY_BYTES",
    "MAX_PARAMETERS",
    "SECRET_PARAMETERS",
    "AuditNote",
    "Handler",
    "QueryCall",
    "QueryEndpoint",
    "QueryMap",
    "authorize",
    "decode_form",
    "entry_map",
    "member_list",
    "member_structs",
    "render_error",
    "render_result",
]

log = logging.getLogger("gateway.api")

MAX_BODY_BYTES: Final = 1024 * 1024
"""
The largest form body accepted (413 past it). AWS's largest parameter, a managed
policy document, is 6,144 characters; percent-encoding at most triples it.
"""

MAX_PARAMETERS: Final = 2000
MAX_LIST_MEMBERS: Final = 1000
_FORM_TYPE: Final = "application/x-www-form-urlencoded"
_BAD_ESCAPE: Final = re.compile(r"%(?![0-9A-Fa-f]{2})")
_INDEX: Final = re.compile(r"[1-9][0-9]{0,5}", re.ASCII)
# SigV4's own query parameters (presigned URLs) are credentials, not operation input.
_AUTH_PARAMETERS: Final = frozenset(
    {
        "X-Amz-Algorithm",
        "X-Amz-Credential",
        "X-Amz-Date",
        "X-Amz-Expires",
        "X-Amz-SignedHeaders",
        "X-Amz-Signature",
        "X-Amz-Security-Token",
    }
)
# SECURITY: parameters that carry a secret are refused in a URL, where access logs, proxies
# and browser histories would keep them; clients send them in the POST body.
SECRET_PARAMETERS: Final = frozenset(
    {
        "Password",
        "OldPassword",
        "NewPassword",
        "AuthenticationCode1",
        "AuthenticationCode2",
        "TokenCode",
        "SecretAccessKey",
    }
)
_INTERNAL = "We encountered an internal error. Please try again."


class QueryMap(dict[str, Any]):
    """
    A result member AWS models as a map: rendered as ``<entry><key/><value/></entry>``.
    """


@dataclass(slots=True)
class AuditNote:
    """
    What a handler learned while authorizing, for the call's audit event.
    """

    decision: Decision | None = None
    resources: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class QueryCall:
    """
    One authenticated Query-protocol call, as a handler receives it.

    ``params`` are the decoded form parameters without ``Action`` and ``Version``;
    ``audit`` collects the decision and resources ``authorize()`` saw.
    """

    action: str
    params: Mapping[str, str]
    principal: Principal
    view: RequestView
    request_id: str
    now: datetime
    gateway: GatewayApp
    audit: AuditNote = field(default_factory=AuditNote, compare=False, repr=False)

    @property
    def services(self) -> Services:
        """
        The started gateway's services (store, guard, auditor, ...).

        Raises:
            GatewayError: 503, the gateway is stopping.
        """
        services = self.gateway.services
        if services is None:
            raise GatewayError("the gateway is starting", code="ServiceUnavailable", status=503)
        return services


Handler = Callable[[QueryCall], Awaitable[Mapping[str, Any] | None]]


class MalformedQueryString(ClientError):
    """
    The form body or query string cannot be decoded.
    """

    code = "MalformedQueryString"
    status = 400


class PayloadTooLarge(ClientError):
    """
    The form body is over the limit.
    """

    code = "RequestEntityTooLarge"
    status = 413


# --- decoding ------------------------------------------------------------------------------------


def _unquote(text: str) -> str:
    if _BAD_ESCAPE.search(text):
        raise MalformedQueryString("invalid percent-encoding in the request parameters")
    try:
        return unquote_plus(text, encoding="utf-8", errors="strict")
    except UnicodeDecodeError:
        raise MalformedQueryString("the request parameters are not UTF-8") from None


def decode_form(text: str, *, skip: frozenset[str] = frozenset()) -> dict[str, str]:
    """
    Decode ``application/x-www-form-urlencoded`` text (``+`` is a space).

    Args:
        text: the body or query string, ASCII.
        skip: names to leave out (SigV4's presigned-URL parameters).

    Raises:
        MalformedQueryString: a field without ``=``, an empty or repeated name,
            invalid percent-encoding, text that is not UTF-8, or more than
            ``MAX_PARAMETERS`` fields.
    """
    params: dict[str, str] = {}
    if not text:
        return params
    if not text.isascii():
        raise MalformedQueryString("the request parameters must be percent-encoded ASCII")
    pieces = text.split("&")
    if len(pieces) > MAX_PARAMETERS:
        raise MalformedQueryString(f"more than {MAX_PARAMETERS} request parameters")
    for piece in pieces:
        if not piece:
            continue
        raw_name, sep, raw_value = piece.partition("=")
        if not sep:
            raise MalformedQueryString("a request parameter has no `=`")
        name = _unquote(raw_name)
        if name in skip:
            continue
        if not name or "\x00" in name:
            raise MalformedQueryString("a request parameter has no name")
        if name in params:
            raise MalformedQueryString(f"the parameter `{_clip(name)}` is given more than once")
        value = _unquote(raw_value)
        if "\x00" in value:
            raise MalformedQueryString(f"the parameter `{_clip(name)}` holds a NUL character")
        params[name] = value
    return params


def _clip(text: str, limit: int = 64) -> str:
    text = text.encode("ascii", "backslashreplace").decode("ascii")
    return text if len(text) <= limit else text[:limit] + "..."


def _indexed(params: Mapping[str, str], prefix: str) -> dict[int, dict[str, str]]:
    # `prefix` is `Name.member.` or `Name.entry.`: index -> {rest of the key: value}.
    found: dict[int, dict[str, str]] = {}
    for key, value in params.items():
        if not key.startswith(prefix):
            continue
        index, _, rest = key[len(prefix) :].partition(".")
        if not _INDEX.fullmatch(index):
            raise InvalidInput(f"invalid list index in the parameter `{_clip(key)}`")
        found.setdefault(int(index), {})[rest] = value
    if len(found) > MAX_LIST_MEMBERS:
        raise InvalidInput(f"more than {MAX_LIST_MEMBERS} members in `{_clip(prefix[:-1])}`")
    if sorted(found) != list(range(1, len(found) + 1)):
        raise InvalidInput(
            f"the members of `{_clip(prefix[:-1])}` must be numbered from 1 without gaps"
        )
    return found


def _check_bare(params: Mapping[str, str], name: str, has_members: bool) -> None:
    # An empty list is sent as a bare `Name=`; a bare `Name=value` is not a list.
    bare = params.get(name)
    if bare is not None and (bare != "" or has_members):
        raise InvalidInput(f"`{_clip(name)}` must be sent as `{_clip(name)}.member.N`")


def member_list(params: Mapping[str, str], name: str) -> list[str]:
    """
    Return the list ``Name.member.1``, ``Name.member.2``, ... in index order.

    Raises:
        InvalidInput: an index is not a decimal from 1, members have a gap, a
            member has sub-fields, or ``Name`` is given with a value.
    """
    found = _indexed(params, f"{name}.member.")
    _check_bare(params, name, bool(found))
    values: list[str] = []
    for index in sorted(found):
        fields = found[index]
        if set(fields) != {""}:
            raise InvalidInput(f"`{_clip(name)}.member.{index}` must be a single value")
        values.append(fields[""])
    return values


def member_structs(params: Mapping[str, str], name: str) -> list[dict[str, str]]:
    """
    Return the structures ``Name.member.N.Field`` as dicts, in index order.

    A nested list stays flat in its structure (``{"ContextKeyValues.member.1": ...}``),
    so ``member_list(struct, "ContextKeyValues")`` decodes it.

    Raises:
        InvalidInput: as ``member_list``, or a member without fields.
    """
    found = _indexed(params, f"{name}.member.")
    _check_bare(params, name, bool(found))
    structs: list[dict[str, str]] = []
    for index in sorted(found):
        fields = found[index]
        if "" in fields:
            raise InvalidInput(f"`{_clip(name)}.member.{index}` must have fields")
        structs.append(fields)
    return structs


def entry_map(params: Mapping[str, str], name: str) -> dict[str, str]:
    """
    Return the map ``Name.entry.N.key`` / ``Name.entry.N.value``.

    Raises:
        InvalidInput: bad indexes, an entry without exactly a key and a value, or
            a key given twice.
    """
    found = _indexed(params, f"{name}.entry.")
    _check_bare(params, name, bool(found))
    result: dict[str, str] = {}
    for index in sorted(found):
        fields = found[index]
        if set(fields) != {"key", "value"}:
            raise InvalidInput(f"`{_clip(name)}.entry.{index}` must have a key and a value")
        if fields["key"] in result:
            raise InvalidInput(f"`{_clip(name)}` has the key `{_clip(fields['key'])}` twice")
        result[fields["key"]] = fields["value"]
    return result


# --- rendering -----------------------------------------------------------------------------------


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise TypeError("naive datetime in a Query response")
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, int | str):
        return escape(str(value))
    raise TypeError(f"cannot render {type(value).__name__} in a Query response")


def _children(value: Any, out: list[str]) -> None:
    # The content of an element holding `value`.
    if isinstance(value, QueryMap):
        for key, item in value.items():
            if item is None:
                continue
            out.append(f"<entry><key>{escape(str(key))}</key>")
            _element("value", item, out)
            out.append("</entry>")
    elif isinstance(value, Mapping):
        for key, item in value.items():
            _element(str(key), item, out)
    elif isinstance(value, list | tuple):
        for item in value:
            _element("member", item, out)
    else:
        out.append(_scalar(value))


def _element(name: str, value: Any, out: list[str]) -> None:
    if value is None:
        return
    out.append(f"<{name}>")
    _children(value, out)
    out.append(f"</{name}>")


def render_result(
    action: str, namespace: str, result: Mapping[str, Any] | None, *, request_id: str
) -> bytes:
    """
    Render a handler's result as AWS's ``<{Action}Response>`` document.
    """
    out = [f'<{action}Response xmlns="{escape(namespace)}">']
    if result is not None:
        out.append(f"<{action}Result>")
        _children(result, out)
        out.append(f"</{action}Result>")
    out.append(f"<ResponseMetadata><RequestId>{escape(request_id)}</RequestId></ResponseMetadata>")
    out.append(f"</{action}Response>")
    return "".join(out).encode("utf-8")


def render_error(
    error: GatewayError, namespace: str, *, request_id: str, view: RequestView | None = None
) -> tuple[bytes, bytes]:
    """
    Return (content type, body) for ``error``: AWS's ``<ErrorResponse>``, or JSON
    when the client asked for it.
    """
    return error_body(error, request_id=request_id, as_json=wants_json(view), namespace=namespace)


async def _respond(
    send: Send, status: int, content_type: bytes, body: bytes, request_id: str
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type),
                (b"content-length", str(len(body)).encode("ascii")),
                (b"x-amzn-requestid", request_id.encode("ascii", "replace")),
                (b"cache-control", b"no-store"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


# --- authorization -------------------------------------------------------------------------------


async def authorize(
    call: QueryCall,
    *,
    action: str,
    resource: str,
    extra: Mapping[str, ContextValue] | None = None,
) -> Decision:
    """
    Ask the policy engine whether the caller may perform ``action`` on ``resource``.

    The decision and resource are noted for the call's audit event.

    Returns:
        The decision (it allows).

    Raises:
        AccessDenied: the caller's policies do not allow it (AWS's explanation).
    """
    services = call.services
    request, decision = await services.guard.authorizer.authorize(
        call.principal, call.view, action=action, resource=resource, now=call.now, extra=extra
    )
    call.audit.decision = decision
    if resource not in call.audit.resources:
        call.audit.resources.append(resource)
    if not decision.is_allowed:
        raise AccessDenied(decision.message(request), decision=decision)
    return decision


# --- the endpoint --------------------------------------------------------------------------------


async def _read_body(receive: Receive, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"the request body is over the {limit}-byte limit")
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


@dataclass(slots=True)
class _Progress:
    # What is known about a call so far, for its audit event even on failure.
    view: RequestView | None = None
    principal: Principal | None = None
    action: str | None = None
    call: QueryCall | None = None


class QueryEndpoint:
    """
    An AWS Query-protocol API (one service, one version) as an ASGI app.

    Args:
        service: the SigV4 service name (``iam``, ``sts``), also the action prefix
            in audit events.
        version: the API version every request must name (``2010-05-08``).
        namespace: the XML namespace of responses.
        handlers: operation name -> handler.
        max_body: the largest body accepted, in bytes.
    """

    def __init__(
        self,
        *,
        service: str,
        version: str,
        namespace: str,
        handlers: Mapping[str, Handler],
        max_body: int = MAX_BODY_BYTES,
    ) -> None:
        self.service = service
        self.version = version
        self.namespace = namespace
        self.handlers = dict(handlers)
        self.max_body = max_body

    def __repr__(self) -> str:
        return f"QueryEndpoint(service={self.service!r}, operations={len(self.handlers)})"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        gateway: GatewayApp = scope["state"]["gateway"]
        request_id = new_request_id()
        progress = _Progress()
        error_code: str | None = None
        started = time.perf_counter()
        try:
            body = await self._handle(gateway, scope, receive, request_id, progress)
            await _respond(send, 200, b"text/xml", body, request_id)
        except GatewayError as exc:
            error_code = exc.code
            content_type, payload = render_error(
                exc, self.namespace, request_id=request_id, view=progress.view
            )
            await _respond(send, exc.status, content_type, payload, request_id)
        except Exception:
            # A bug, not bad input: log it (no request data), answer 500 without detail.
            error_code = "InternalFailure"
            log.exception("internal error in the %s API, request %s", self.service, request_id)
            content_type, payload = render_error(
                GatewayError(_INTERNAL), self.namespace, request_id=request_id, view=progress.view
            )
            await _respond(send, 500, content_type, payload, request_id)
        finally:
            self._record(gateway, progress, error_code, started)

    async def _handle(
        self,
        gateway: GatewayApp,
        scope: Scope,
        receive: Receive,
        request_id: str,
        progress: _Progress,
    ) -> bytes:
        services = gateway.services
        if services is None:
            raise GatewayError("the gateway is starting", code="ServiceUnavailable", status=503)
        guard = services.guard
        view = request_view(scope, trusted_proxies=guard.trusted_proxies, request_id=request_id)
        progress.view = view
        if view.method not in ("GET", "POST"):
            raise ClientError(
                f"the {self.service} API accepts POST and GET", code="InvalidRequest", status=405
            )
        body = b""
        if view.method == "POST":
            body = await _read_body(receive, self.max_body)
            content_type = (view.header("content-type") or "").partition(";")[0].strip().lower()
            if body and content_type != _FORM_TYPE:
                raise ClientError(
                    f"the request body must be {_FORM_TYPE}", code="InvalidRequest", status=400
                )
        # SECURITY: refused before anything else, whether or not the request is signed.
        params = decode_form(view.query_string, skip=_AUTH_PARAMETERS)
        leaked = sorted(SECRET_PARAMETERS & params.keys())
        if leaked:
            raise InvalidInput(
                f"`{leaked[0]}` must be sent in the request body, not in the URL",
                code="InvalidParameterValue",
            )
        generation = await services.runtime.store.generation()
        guard.keys.observe(generation)
        guard.authorizer.observe(generation)
        signed = parse_authorization(view)
        if signed is None:
            raise AuthError("Missing Authentication Token", code="MissingAuthenticationToken")
        now = guard.clock()
        principal = await guard.keys.authenticate(
            signed,
            view,
            service=self.service,
            now=now,
            payload_hash=hashlib.sha256(body).hexdigest(),
            allow_unsigned_payload=False,
            any_region=True,
        )
        progress.principal = principal
        try:
            text = body.decode("ascii")
        except UnicodeDecodeError:
            raise MalformedQueryString(
                "the request parameters must be percent-encoded ASCII"
            ) from None
        for name, value in decode_form(text).items():
            if name in params:
                raise MalformedQueryString(f"the parameter `{_clip(name)}` is given more than once")
            params[name] = value
        action = self._action(params)
        progress.action = action
        call = QueryCall(
            action=action,
            params=params,
            principal=principal,
            view=view,
            request_id=request_id,
            now=now,
            gateway=gateway,
        )
        progress.call = call
        result = await self.handlers[action](call)
        return render_result(action, self.namespace, result, request_id=request_id)

    def _action(self, params: dict[str, str]) -> str:
        # Pop Action and Version; AWS answers an unknown pair as an unknown operation.
        action = params.pop("Action", "")
        version = params.pop("Version", None)
        if not action:
            raise InvalidInput(
                "The request must contain the parameter Action.", code="MissingAction"
            )
        if version is None:
            raise InvalidInput(
                "The request must contain the parameter Version.", code="MissingParameter"
            )
        if action not in self.handlers or version != self.version:
            raise InvalidInput(
                f"Could not find operation {_clip(action)} for version {_clip(version)}",
                code="InvalidAction",
            )
        return action

    def _record(
        self, gateway: GatewayApp, progress: _Progress, error_code: str | None, started: float
    ) -> None:
        services = gateway.services
        if services is None or progress.view is None:
            return
        note = progress.call.audit if progress.call is not None else AuditNote()
        # The query string holds the operation's parameters: the event records the action.
        view = dataclasses.replace(progress.view, query_string="")
        services.auditor.record(
            build_event(
                view=view,
                principal=progress.principal,
                action=f"{self.service}:{progress.action}" if progress.action else None,
                resources=list(note.resources),
                decision=note.decision,
                error_code=error_code,
                upstream=None,
                upstream_status=None,
                latency_ms=(time.perf_counter() - started) * 1000,
                now=utc_now(),
                region=gateway.settings.server.region,
            )
        )
