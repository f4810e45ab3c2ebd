"""
The console's Starlette application and its mounting on a ``GatewayApp``.

One application serves every console path; ``mount_console`` mounts it at
``/_gateway/signin``, ``/_gateway/signout``, ``/_gateway/console`` and
``/_gateway/static`` (the sub-app receives the full path). Every response carries
the security headers of ``web.SecurityHeaders``.
"""

from __future__ import annotations

from importlib import resources
from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from gateway.console import admin, selfservice, signin
from gateway.console.web import SecurityHeaders
from gateway.types import ASGIApp

if TYPE_CHECKING:
    from gateway.app import GatewayApp

MOUNTS = ("signin", "signout", "console", "static")
_CSS = resources.files("gateway.console").joinpath("static/console.css").read_bytes()

_GET = ["GET", "HEAD"]
_POST = ["POST"]
_BOTH = ["GET", "HEAD", "POST"]
C = "/_gateway/console"


async def stylesheet(request: Request) -> Response:
    """
    The console's one stylesheet (cacheable; everything else is ``no-store``).
    """
    return Response(
        _CSS,
        media_type="text/css; charset=utf-8",
        headers={"cache-control": "public, max-age=3600"},
    )


async def not_found(request: Request, exc: Exception) -> Response:
    return PlainTextResponse("Not found.", status_code=404)


async def not_allowed(request: Request, exc: Exception) -> Response:
    return PlainTextResponse("Method not allowed.", status_code=405)


async def server_error(request: Request, exc: Exception) -> Response:
    # A bug, not bad input: no detail reaches the browser.
    return PlainTextResponse("Internal error.", status_code=500)


def build_console() -> ASGIApp:
    """
    Return the console application, wrapped in its security headers.
    """
    routes = [
        Route("/_gateway/static/console.css", stylesheet, methods=_GET),
        Route("/_gateway/signin", signin.choose, methods=_GET),
        Route("/_gateway/signin/{account}", signin.signin, methods=_BOTH),
        Route("/_gateway/signin/{account}/mfa", signin.mfa, methods=_BOTH),
        Route("/_gateway/signout", signin.signout, methods=_BOTH),
        Route(C, signin.console_root, methods=_GET),
        Route(f"{C}/", selfservice.home, methods=_GET),
        Route(f"{C}/password", selfservice.password, methods=_BOTH),
        Route(f"{C}/mfa/new", selfservice.mfa_new, methods=_POST),
        Route(f"{C}/mfa/enable", selfservice.mfa_enable, methods=_POST),
        Route(f"{C}/mfa/remove", selfservice.mfa_remove, methods=_POST),
        Route(f"{C}/keys/new", selfservice.key_new, methods=_POST),
        Route(f"{C}/keys/csv", selfservice.key_csv, methods=_POST),
        Route(f"{C}/sessions/end", selfservice.end_session, methods=_POST),
        Route(f"{C}/do/{{operation}}", admin.do, methods=_POST),
        Route(f"{C}/users", admin.users, methods=_GET),
        Route(f"{C}/users/new", admin.user_create, methods=_POST),
        Route(f"{C}/users/{{name}}", admin.user_detail, methods=_GET),
        Route(f"{C}/users/{{name}}/revoke", admin.user_revoke, methods=_POST),
        Route(f"{C}/groups", admin.groups, methods=_GET),
        Route(f"{C}/groups/{{name}}", admin.group_detail, methods=_GET),
        Route(f"{C}/roles", admin.roles, methods=_BOTH),
        Route(f"{C}/roles/{{name}}", admin.role_detail, methods=_BOTH),
        Route(f"{C}/policies", admin.policies, methods=_BOTH),
        Route(f"{C}/policy", admin.policy_detail, methods=_BOTH),
        Route(f"{C}/inline", admin.inline, methods=_BOTH),
        Route(f"{C}/account", admin.account, methods=_GET),
    ]
    app = Starlette(
        routes=routes,
        exception_handlers={404: not_found, 405: not_allowed, 500: server_error},
    )
    return SecurityHeaders(app)


def mount_console(gateway: GatewayApp) -> None:
    """
    Mount the console on ``gateway`` (each name once; a second call does nothing).
    """
    console = build_console()
    for name in MOUNTS:
        if name not in gateway.endpoints:
            gateway.mount(name, console)
