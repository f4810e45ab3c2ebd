"""
What every console page shares: the request context, forms, CSRF, rendering,
authorization through the policy engine, and the security headers.

Pages are rendered by Jinja2 with autoescape on; forms are parsed here (URL-encoded,
size-capped); every state-changing form carries a CSRF token bound to the session.
Errors from the service layer become a readable page with their 4xx status; an
unexpected error is a bare 500 with no detail.

Edge layer: talks to the service layer through ``gateway.iam`` and to the engine
through the guard's ``Authorizer``; never to the store directly.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, quote

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from gateway.console.cookies import (
    PASSWORD_PATH,
    SIGNIN_PATH,
    next_param,
    session_principal,
)
from gateway.errors import AccessDenied, ClientError, GatewayError, InvalidInput
from gateway.iam import IAM
from gateway.iam.sessions import ConsoleSession
from gateway.iam.throttle import SigninThrottle, ThrottleRules
from gateway.normalize import request_view
from gateway.principal import Principal
from gateway.types import ASGIApp, Message, Receive, RequestView, Scope, Send

if TYPE_CHECKING:
    from gateway.app import GatewayApp, Services

log = logging.getLogger("gateway.console")

MAX_FORM_BYTES = 256 * 1024
MAX_FORM_FIELDS = 200

# No script at all, no external resource: everything comes from the gateway.
CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode("ascii")),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"x-content-type-options", b"nosniff"),
]

_TEMPLATES = jinja2.Environment(
    loader=jinja2.PackageLoader("gateway.console", "templates"),
    autoescape=True,
    trim_blocks=True,
    lstrip_blocks=True,
)


class SecurityHeaders:
    """
    Add the console's security headers to every response; ``no-store`` unless static.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        static = str(scope.get("path", "")).startswith("/_gateway/static/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    (name, value)
                    for name, value in message.get("headers", [])
                    if name.lower() != b"cache-control" or static
                ]
                headers.extend(SECURITY_HEADERS)
                if not static:
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


@dataclass(slots=True)
class Ctx:
    """
    One console request: the gateway's services, the request view, the session.
    """

    request: Request
    gateway: GatewayApp
    services: Services
    view: RequestView
    token: str | None = None
    record: ConsoleSession | None = None
    form: dict[str, str] = field(default_factory=dict)
    new_cookies: list[str] = field(default_factory=list)

    @property
    def principal(self) -> Principal:
        if self.record is None:
            raise AccessDenied("sign in first")
        return session_principal(self.record)

    @property
    def account_id(self) -> str:
        if self.record is None:
            raise AccessDenied("sign in first")
        return self.record.account_id

    @property
    def iam(self) -> IAM:
        runtime = self.services.runtime
        return IAM(runtime.store, runtime.cipher, account_id=self.account_id)

    @property
    def csrf(self) -> str:
        return self.services.guard.cookies.csrf_token(self.token or "")

    def field(self, name: str, default: str = "") -> str:
        return self.form.get(name, default)

    def flag(self, name: str) -> bool:
        return self.form.get(name, "") in ("on", "true", "1", "yes")


def throttle_of(ctx: Ctx) -> SigninThrottle:
    """
    Return the sign-in throttle with the ``[signin]`` settings.
    """
    rules = ThrottleRules.of(ctx.gateway.settings.signin)
    return SigninThrottle(ctx.services.runtime.store, rules, clock=ctx.services.guard.clock)


def gateway_of(request: Request) -> tuple[GatewayApp, Services]:
    """
    Return the started gateway that mounted the console.

    Raises:
        GatewayError: 503 while the gateway is starting.
    """
    gateway = request.scope.get("state", {}).get("gateway")
    services = getattr(gateway, "services", None)
    if gateway is None or services is None:
        raise GatewayError("the gateway is starting", code="ServiceUnavailable", status=503)
    return gateway, services


async def read_form(request: Request) -> dict[str, str]:
    """
    Parse an URL-encoded form body (first value of each field), capped in size.

    Raises:
        InvalidInput: the body is too large, not URL-encoded, or not UTF-8.
    """
    if request.method != "POST":
        return {}
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        raise InvalidInput("expected a form (application/x-www-form-urlencoded)")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_FORM_BYTES:
            raise InvalidInput("the form is too large", code="RequestEntityTooLarge")
        chunks.append(chunk)
    try:
        text = b"".join(chunks).decode("utf-8")
        parsed = parse_qs(
            text,
            keep_blank_values=True,
            strict_parsing=False,
            max_num_fields=MAX_FORM_FIELDS,
            errors="strict",
        )
    except (UnicodeDecodeError, ValueError):
        raise InvalidInput("the form could not be read") from None
    return {key: values[0] for key, values in parsed.items() if "\x00" not in values[0]}


async def context(request: Request) -> Ctx:
    """
    Build the request's context: view, generation-checked caches, the session.
    """
    gateway, services = gateway_of(request)
    guard = services.guard
    view = request_view(request.scope, trusted_proxies=guard.trusted_proxies)
    generation = await services.runtime.store.generation()
    guard.keys.observe(generation)
    guard.authorizer.observe(generation)
    guard.sessions.observe(generation)
    ctx = Ctx(request, gateway, services, view)
    token = guard.cookies.read(view.header("cookie"))
    if token is not None:
        record = await guard.sessions.resolve(token)
        if record is not None:
            ctx.token, ctx.record = token, record
    ctx.form = await read_form(request)
    return ctx


def render(ctx: Ctx, template: str, *, status: int = 200, **values: Any) -> HTMLResponse:
    """
    Render ``template`` with the session, the CSRF token and any flash message.
    """
    cookies = ctx.services.guard.cookies
    flash_text = cookies.read(ctx.view.header("cookie"), cookies.flash_name)
    flash: dict[str, str] = {}
    if flash_text:
        try:
            loaded = json.loads(flash_text)
        except ValueError:
            loaded = {}
        if isinstance(loaded, dict):
            flash = {str(k): str(v) for k, v in loaded.items()}
    record = ctx.record if ctx.record is not None and ctx.record.is_active else None
    restricted = record is not None and record.must_change_password(ctx.services.guard.clock())
    body = _TEMPLATES.get_template(template).render(
        me=record,
        restricted=restricted,
        csrf=ctx.csrf,
        flash=flash,
        **values,
    )
    response = HTMLResponse(body, status_code=status)
    if flash_text:
        response.headers.append("set-cookie", cookies.clear(cookies.flash_name))
    for cookie in ctx.new_cookies:
        response.headers.append("set-cookie", cookie)
    return response


def redirect(ctx: Ctx, location: str, *, ok: str = "", error: str = "") -> Response:
    """
    Redirect (303) to a console path, carrying a one-time message in a signed cookie.
    """
    response = RedirectResponse(location, status_code=303)
    cookies = ctx.services.guard.cookies
    if ok or error:
        message = json.dumps({"ok": ok} if ok else {"error": error})
        response.headers.append(
            "set-cookie", cookies.header(cookies.flash_name, message, max_age=60)
        )
    for cookie in ctx.new_cookies:
        response.headers.append("set-cookie", cookie)
    return response


def error_page(ctx: Ctx | None, error: GatewayError) -> Response:
    """
    Render a service error as a page with its status (never with internal detail).
    """
    status = error.status if 400 <= error.status < 600 else 500
    if ctx is None:
        text = f"{error.code}: {error.message}" if status < 500 else "Service unavailable."
        return HTMLResponse(
            _TEMPLATES.get_template("bare_error.html").render(message=text), status_code=status
        )
    return render(ctx, "error.html", status=status, error=error)


async def authorize(ctx: Ctx, action: str, resource: str) -> None:
    """
    Ask the policy engine whether the session's principal may do ``action``.

    Raises:
        AccessDenied: with AWS's explanation.
    """
    guard = ctx.services.guard
    request, decision = await guard.authorizer.authorize(
        ctx.principal, ctx.view, action=action, resource=resource, now=guard.clock()
    )
    if not decision.is_allowed:
        raise AccessDenied(decision.message(request), decision=decision)


async def is_allowed(ctx: Ctx, action: str, resource: str) -> bool:
    """
    True when the session's principal may do ``action`` on ``resource``.
    """
    try:
        await authorize(ctx, action, resource)
    except AccessDenied:
        return False
    return True


Handler = Callable[[Ctx], Awaitable[Response]]


def page(*, signed_in: bool = True, password_page: bool = False) -> Callable[[Handler], Any]:
    """
    Wrap a console handler: context, sign-in, forced password change, CSRF, errors.

    Args:
        signed_in: the page needs a live, fully signed-in session.
        password_page: the page stays reachable while a password change is required.
    """

    def wrap(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        @functools.wraps(handler)
        async def endpoint(request: Request) -> Response:
            ctx: Ctx | None = None
            try:
                ctx = await context(request)
                if signed_in:
                    if ctx.record is None or not ctx.record.is_active:
                        back = next_param(ctx.view.path, ctx.view.query_string)
                        return RedirectResponse(f"{SIGNIN_PATH}?next={back}", status_code=303)
                    now = ctx.services.guard.clock()
                    if ctx.record.must_change_password(now) and not password_page:
                        back = next_param(ctx.view.path, ctx.view.query_string)
                        return RedirectResponse(f"{PASSWORD_PATH}?next={back}", status_code=303)
                    if request.method == "POST" and not ctx.services.guard.cookies.csrf_ok(
                        ctx.token, ctx.form.get("csrf")
                    ):
                        raise ClientError(
                            "the form expired or did not come from this console; "
                            "reload the page and try again",
                            code="InvalidCsrfToken",
                            status=403,
                        )
                return await handler(ctx)
            except GatewayError as exc:
                if exc.status >= 500:
                    log.warning("console request failed: %s", exc.code)
                return error_page(ctx, exc)

        return endpoint

    return wrap


def quoted(value: str) -> str:
    """
    Quote a name for use as one path segment of a console URL.
    """
    return quote(value, safe="")
