"""
Sign-in and sign-out pages: user name and password (or the root user's email and
password), then the MFA code when the user has a device.

SECURITY:
- one generic failure message for every wrong combination, and the same argon2
  cost for unknown users (``ConsoleSessions.check_user_password``);
- failures slow down and then lock per user and per source IP (``SigninThrottle``);
- a fresh session id after the password and again after the code (no fixation);
- the sign-in form itself carries a CSRF token bound to a signed nonce cookie;
- the return path is a same-origin relative path only (``safe_next``).
"""

from __future__ import annotations

import secrets
import time
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from gateway.audit import build_event
from gateway.console.cookies import CONSOLE_PATH, PASSWORD_PATH, SIGNIN_PATH, safe_next
from gateway.console.web import Ctx, page, redirect, render, throttle_of
from gateway.errors import ClientError, NoSuchEntity
from gateway.iam import find_account, list_accounts
from gateway.iam.sessions import STAGE_ACTIVE, STAGE_MFA
from gateway.iam.throttle import ip_key, user_key

GENERIC_FAILURE = "The sign-in details are not correct. Check them and try again."
BAD_CODE = "The authentication code is not valid. Enter the current code from your device."
ROOT_SEGMENT = "@root"


def _audit(
    ctx: Ctx, *, outcome: str, name: str, account: str, started: float, mfa: bool = False
) -> None:
    # SECURITY: the event names who tried and the outcome; never the password or code.
    principal = ctx.principal if ctx.record is not None and outcome == "success" else None
    ctx.services.auditor.record(
        build_event(
            view=ctx.view,
            principal=principal,
            action="signin:ConsoleLogin",
            resources=[],
            decision=None,
            error_code=None if outcome == "success" else "FailedAuthentication",
            upstream=None,
            upstream_status=None,
            latency_ms=(time.perf_counter() - started) * 1000,
            now=ctx.services.guard.clock(),
            region=ctx.gateway.settings.server.region,
            extra={"userName": name[:64], "account": account[:64], "step": outcome, "mfa": mfa},
        )
    )


def _nonce_binding(ctx: Ctx) -> str | None:
    cookies = ctx.services.guard.cookies
    return cookies.read(ctx.view.header("cookie"), cookies.signin_name)


def _signin_form(
    ctx: Ctx, *, account: str, root: bool, status: int = 200, error: str = "", name: str = ""
) -> Response:
    cookies = ctx.services.guard.cookies
    nonce = _nonce_binding(ctx) or secrets.token_urlsafe(24)
    ctx.new_cookies.append(cookies.header(cookies.signin_name, nonce, max_age=3600))
    return render(
        ctx,
        "signin.html",
        status=status,
        account=account,
        root=root,
        error=error,
        name=name,
        next=safe_next(ctx.request.query_params.get("next") or ctx.field("next")),
        signin_csrf=cookies.csrf_token(nonce),
        action=f"{SIGNIN_PATH}/{quote(account, safe='@')}",
    )


def _landing(after: str, *, must_change: bool) -> str:
    if must_change:
        return f"{PASSWORD_PATH}?next={quote(after, safe='/')}"
    return after


@page(signed_in=False)
async def choose(ctx: Ctx) -> Response:
    """
    ``/_gateway/signin``: straight to the only account, else ask which one.
    """
    after = safe_next(ctx.request.query_params.get("next"))
    wanted = ctx.request.query_params.get("account", "").strip()
    if wanted:
        return RedirectResponse(
            f"{SIGNIN_PATH}/{quote(wanted, safe='')}?next={quote(after, safe='/')}",
            status_code=303,
        )
    accounts = await list_accounts(ctx.services.runtime.store)
    if len(accounts) == 1:
        account = accounts[0].alias or accounts[0].account_id
        return RedirectResponse(
            f"{SIGNIN_PATH}/{quote(account, safe='@')}?next={quote(after, safe='/')}",
            status_code=303,
        )
    return render(ctx, "choose.html", next=after)


@page(signed_in=False)
async def signin(ctx: Ctx) -> Response:
    """
    ``/_gateway/signin/<alias-or-id>`` (or ``@root``): the password step.
    """
    account = str(ctx.request.path_params["account"])
    root = account == ROOT_SEGMENT
    if not root:
        try:
            found = await find_account(ctx.services.runtime.store, account)
        except NoSuchEntity:
            raise NoSuchEntity("There is no sign-in page at this address.") from None
        account_id = found.account_id
    else:
        account_id = ""
    if ctx.request.method != "POST":
        return _signin_form(ctx, account=account, root=root)
    cookies = ctx.services.guard.cookies
    if not cookies.csrf_ok(_nonce_binding(ctx), ctx.field("csrf")):
        return _signin_form(
            ctx,
            account=account,
            root=root,
            status=403,
            error="The form expired. Enter your details again.",
        )
    started = time.perf_counter()
    name = ctx.field("username" if not root else "email").strip()[:256]
    password = ctx.field("password")[:1024]
    throttle = throttle_of(ctx)
    keys = [
        user_key("root" if root else account_id, name),
        ip_key(ctx.view.client_ip or "unknown"),
    ]
    wait = await throttle.check(keys)
    if wait is not None:
        _audit(ctx, outcome="throttled", name=name, account=account, started=started)
        return _signin_form(
            ctx, account=account, root=root, status=429, error=wait.message(), name=name
        )
    sessions = ctx.services.guard.sessions
    if root:
        identity = await sessions.check_root_password(name, password)
    else:
        identity = await sessions.check_user_password(account_id, name, password)
    if identity is None:
        await throttle.fail(keys)
        _audit(ctx, outcome="failure", name=name, account=account, started=started)
        return _signin_form(
            ctx, account=account, root=root, status=401, error=GENERIC_FAILURE, name=name
        )
    await throttle.clear(keys[0])
    if identity.password_expired and identity.hard_expiry:
        _audit(ctx, outcome="expired", name=name, account=account, started=started)
        raise ClientError(
            "Your password has expired and the account's policy does not let you choose "
            "a new one: ask an administrator to reset it.",
            code="PasswordExpired",
            status=403,
        )
    after = safe_next(ctx.field("next"))
    stage = STAGE_MFA if identity.has_mfa else STAGE_ACTIVE
    if ctx.token is not None:
        await sessions.end(ctx.token)  # SECURITY: never keep a session across sign-ins
    token = await sessions.start(
        identity,
        stage=stage,
        source_ip=ctx.view.client_ip,
        user_agent=ctx.view.header("user-agent") or "",
    )
    ctx.new_cookies.append(cookies.header(cookies.name, token))
    ctx.new_cookies.append(cookies.clear(cookies.signin_name))
    if stage == STAGE_MFA:
        _audit(ctx, outcome="password-ok", name=name, account=account, started=started)
        return redirect(
            ctx, f"{SIGNIN_PATH}/{quote(account, safe='@')}/mfa?next={quote(after, safe='/')}"
        )
    ctx.token = token
    ctx.record = await sessions.resolve(token)
    _audit(ctx, outcome="success", name=name, account=account, started=started)
    must_change = identity.password_change_required or identity.password_expired
    return redirect(ctx, _landing(after, must_change=must_change))


@page(signed_in=False)
async def mfa(ctx: Ctx) -> Response:
    """
    ``/_gateway/signin/<account>/mfa``: the code step, after a correct password.
    """
    account = str(ctx.request.path_params["account"])
    record = ctx.record
    if record is None or record.stage != STAGE_MFA:
        return RedirectResponse(f"{SIGNIN_PATH}/{quote(account, safe='@')}", status_code=303)
    after = safe_next(ctx.request.query_params.get("next") or ctx.field("next"))
    action = f"{SIGNIN_PATH}/{quote(account, safe='@')}/mfa"
    if ctx.request.method != "POST":
        return render(ctx, "mfa.html", action=action, next=after, error="")
    cookies = ctx.services.guard.cookies
    if not cookies.csrf_ok(ctx.token, ctx.field("csrf")):
        return render(
            ctx, "mfa.html", status=403, action=action, next=after, error="The form expired."
        )
    started = time.perf_counter()
    throttle = throttle_of(ctx)
    name = record.user_name or "root"
    first = (
        f"user:root-mfa:{record.account_id}"
        if record.is_root
        else user_key(record.account_id, record.user_name)
    )
    keys = [first, ip_key(ctx.view.client_ip or "unknown")]
    wait = await throttle.check(keys)
    if wait is not None:
        _audit(ctx, outcome="throttled", name=name, account=account, started=started, mfa=True)
        return render(ctx, "mfa.html", status=429, action=action, next=after, error=wait.message())
    sessions = ctx.services.guard.sessions
    drift = ctx.gateway.settings.signin.mfa_drift_steps
    serial = await ctx.iam.verify_mfa_code(record.owner, ctx.field("code").strip(), drift=drift)
    if serial is None:
        await throttle.fail(keys)
        _audit(ctx, outcome="failure", name=name, account=account, started=started, mfa=True)
        return render(ctx, "mfa.html", status=401, action=action, next=after, error=BAD_CODE)
    await throttle.clear(keys[0])
    if ctx.token is None:  # pragma: no cover - a record is only found through a token
        raise ClientError("sign in again", code="MissingAuthenticationToken", status=403)
    identity = record.identity()
    await sessions.end(ctx.token)
    token = await sessions.start(
        identity,
        stage=STAGE_ACTIVE,
        source_ip=ctx.view.client_ip,
        user_agent=ctx.view.header("user-agent") or "",
        mfa_serial=serial,
        mfa_at=ctx.services.guard.clock(),
    )
    ctx.new_cookies.append(cookies.header(cookies.name, token))
    ctx.token = token
    ctx.record = await sessions.resolve(token)
    _audit(ctx, outcome="success", name=name, account=account, started=started, mfa=True)
    now = ctx.services.guard.clock()
    must_change = ctx.record is not None and ctx.record.must_change_password(now)
    return redirect(ctx, _landing(after, must_change=must_change))


@page(signed_in=False)
async def signout(ctx: Ctx) -> Response:
    """
    ``/_gateway/signout``: end the session on every replica, drop the cookie.
    """
    cookies = ctx.services.guard.cookies
    if ctx.request.method != "POST":
        if ctx.record is None:
            return RedirectResponse(SIGNIN_PATH, status_code=303)
        return render(ctx, "signout.html")
    if ctx.token is not None:
        if not cookies.csrf_ok(ctx.token, ctx.field("csrf")):
            raise ClientError(
                "the form expired; reload the page and try again",
                code="InvalidCsrfToken",
                status=403,
            )
        await ctx.services.guard.sessions.end(ctx.token)
    ctx.new_cookies.append(cookies.clear(cookies.name))
    ctx.record = None
    return redirect(ctx, SIGNIN_PATH, ok="You are signed out.")


async def console_root(request: Request) -> Response:
    """
    ``/_gateway/console`` without the slash.
    """
    return RedirectResponse(CONSOLE_PATH, status_code=307)
