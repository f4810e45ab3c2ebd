"""
"My security credentials": change password, virtual MFA, access keys, sessions.

Every action is the IAM action on the signed-in user's own ARN (``iam:ChangePassword``,
``iam:CreateAccessKey``, ...), decided by the policy engine like any other request.
One AWS rule is added: the account password policy's ``AllowUsersToChangePassword``
lets every user change their own password. Secrets (a new access key's secret, an
MFA seed) appear only in the response of the POST that created them, never in a URL,
and those responses are ``no-store`` like every console page.
"""

from __future__ import annotations

import csv
import dataclasses
import io
from typing import Any

import segno
from starlette.responses import Response

from gateway.console.cookies import CONSOLE_PATH, SIGNIN_PATH, safe_next
from gateway.console.web import Ctx, authorize, is_allowed, page, redirect, render, throttle_of
from gateway.errors import AccessDenied, InvalidInput, NoSuchEntity
from gateway.iam import naming
from gateway.iam.sessions import ConsoleSession
from gateway.iam.throttle import user_key
from gateway.policy import PolicyError

CSV_HEADER = ["User name", "Access key ID", "Secret access key"]


def _record(ctx: Ctx) -> ConsoleSession:
    if ctx.record is None:
        raise AccessDenied("sign in first")
    return ctx.record


@page()
async def home(ctx: Ctx) -> Response:
    """
    The self-service page of the signed-in user (or root).
    """
    record = _record(ctx)
    sessions = await ctx.services.guard.sessions.list_for(record.owner)
    keys: list[object] | None = None
    devices: list[object] | None = None
    if record.is_root:
        devices = list(await ctx.iam.root_mfa_devices())
    else:
        arn = record.arn
        if await is_allowed(ctx, "iam:ListAccessKeys", arn):
            keys = list(await ctx.iam.list_access_keys(record.user_name))
        if await is_allowed(ctx, "iam:ListMFADevices", arn):
            devices = list(await ctx.iam.list_mfa_devices(record.user_name))
    return render(
        ctx, "home.html", keys=keys, devices=devices, sessions=sessions, current=record.id
    )


async def may_change_password(ctx: Ctx) -> None:
    """
    AWS's rule: the password policy's AllowUsersToChangePassword, or a policy that
    allows ``iam:ChangePassword`` on the user's own ARN.

    Raises:
        AccessDenied: neither allows it.
    """
    record = _record(ctx)
    try:
        policy = await ctx.iam.get_account_password_policy()
    except NoSuchEntity:
        policy = None
    if policy is not None and policy.allow_users_to_change_password:
        return
    await authorize(ctx, "iam:ChangePassword", record.arn)


@page(password_page=True)
async def password(ctx: Ctx) -> Response:
    """
    Change one's own password (forced first when a reset is required or it expired).
    """
    record = _record(ctx)
    after = safe_next(ctx.request.query_params.get("next") or ctx.field("next"))
    now = ctx.services.guard.clock()
    required = record.must_change_password(now)
    values: dict[str, Any] = {"next": after, "required": required}
    if record.is_root:
        return render(
            ctx,
            "password.html",
            status=400,
            error="The root user's password is changed with `gateway` on the server.",
            **values,
        )
    if ctx.request.method != "POST":
        return render(ctx, "password.html", error="", **values)
    try:
        await may_change_password(ctx)
    except AccessDenied as exc:
        return render(ctx, "password.html", status=403, error=exc.message, **values)
    current, new, again = ctx.field("current"), ctx.field("new"), ctx.field("confirm")
    if new != again:
        return render(
            ctx, "password.html", status=400, error="The new passwords do not match.", **values
        )
    if new == current:
        return render(
            ctx,
            "password.html",
            status=400,
            error="The new password must be different from the current one.",
            **values,
        )
    sessions = ctx.services.guard.sessions
    key = user_key(record.account_id, record.user_name)
    throttle = throttle_of(ctx)
    wait = await throttle.check([key])
    if wait is not None:
        return render(ctx, "password.html", status=429, error=wait.message(), **values)
    if await sessions.check_user_password(record.account_id, record.user_name, current) is None:
        await throttle.fail([key])
        return render(
            ctx,
            "password.html",
            status=400,
            error="The current password is not correct.",
            **values,
        )
    try:
        await ctx.iam.update_login_profile(
            record.user_name, password=new, password_reset_required=False
        )
    except InvalidInput as exc:
        return render(ctx, "password.html", status=400, error=exc.message, **values)
    # The change ended every session of the user (on every replica); this browser
    # proved the password just now, so it gets a fresh session with the same MFA state.
    profile = await ctx.iam.get_login_profile(record.user_name)
    fresh = dataclasses.replace(
        record.identity(), password_changed_at=naming.timestamp(profile.password_changed)
    )
    await sessions.end_all(record.owner)
    token = await sessions.start(
        fresh,
        stage="active",
        source_ip=ctx.view.client_ip,
        user_agent=ctx.view.header("user-agent") or "",
        mfa_serial=record.mfa_serial,
        mfa_at=record.mfa_at,
        created_at=record.created_at,
    )
    cookies = ctx.services.guard.cookies
    ctx.new_cookies.append(cookies.header(cookies.name, token))
    return redirect(ctx, after, ok="Your password has been changed.")


def _mfa_name(record: ConsoleSession) -> str:
    return record.user_name if not record.is_root else "root-account-mfa-device"


@page()
async def mfa_new(ctx: Ctx) -> Response:
    """
    Create a virtual MFA device and show its QR code and secret (once).
    """
    record = _record(ctx)
    name = _mfa_name(record)
    serial = naming.arn(record.account_id, "mfa", "/", name)
    await authorize(ctx, "iam:CreateVirtualMFADevice", serial)
    await authorize(ctx, "iam:EnableMFADevice", record.arn)
    iam = ctx.iam
    for device in await iam.list_virtual_mfa_devices():
        if device.serial_number == serial and device.user_name is None:
            await iam.delete_virtual_mfa_device(serial)  # an enrollment never finished
    created = await iam.create_virtual_mfa_device(name)
    qr = segno.make(created.otpauth_uri, error="m")
    return render(
        ctx,
        "mfa_enroll.html",
        serial=created.serial_number,
        secret=created.base32_seed,
        qr=qr.svg_data_uri(scale=5, border=2),
        user=record.user_name,
    )


@page()
async def mfa_enable(ctx: Ctx) -> Response:
    """
    Assign the device: two consecutive codes, as IAM's EnableMFADevice requires.
    """
    record = _record(ctx)
    await authorize(ctx, "iam:EnableMFADevice", record.arn)
    serial = ctx.field("serial")
    expected = naming.arn(record.account_id, "mfa", "/", _mfa_name(record))
    if serial != expected:
        raise InvalidInput("this is not your MFA device")
    throttle = throttle_of(ctx)
    key = _throttle_key(record)
    wait = await throttle.check([key])
    if wait is not None:
        return redirect(ctx, CONSOLE_PATH, error=wait.message())
    code1, code2 = ctx.field("code1").strip(), ctx.field("code2").strip()
    try:
        if record.is_root:
            await ctx.iam.enable_root_mfa_device(serial, code1, code2)
        else:
            await ctx.iam.enable_mfa_device(record.user_name, serial, code1, code2)
    except InvalidInput as exc:
        await throttle.fail([key])
        return redirect(
            ctx, CONSOLE_PATH, error=f"{exc.message} Start again and enter two consecutive codes."
        )
    return redirect(ctx, CONSOLE_PATH, ok="Your MFA device is assigned.")


def _throttle_key(record: ConsoleSession) -> str:
    if record.is_root:
        return f"user:root-mfa:{record.account_id}"
    return user_key(record.account_id, record.user_name)


@page()
async def mfa_remove(ctx: Ctx) -> Response:
    """
    Remove one's own MFA device (``iam:DeactivateMFADevice`` on one's own ARN).
    """
    record = _record(ctx)
    await authorize(ctx, "iam:DeactivateMFADevice", record.arn)
    serial = ctx.field("serial")
    if record.is_root:
        await ctx.iam.deactivate_root_mfa_device(serial)
    else:
        await ctx.iam.deactivate_mfa_device(record.user_name, serial)
    await ctx.iam.delete_virtual_mfa_device(serial)
    return redirect(ctx, CONSOLE_PATH, ok="Your MFA device is removed.")


@page()
async def key_new(ctx: Ctx) -> Response:
    """
    Create an access key (for oneself, or for ``user`` as an admin); show it once.
    """
    record = _record(ctx)
    user = ctx.field("user") or record.user_name
    if not user:
        raise InvalidInput("the root user should not have access keys")
    target = await ctx.iam.get_user(user)
    await authorize(ctx, "iam:CreateAccessKey", target.arn)
    created = await ctx.iam.create_access_key(target.user_name)
    back = safe_next(ctx.field("back"), CONSOLE_PATH)
    return render(
        ctx,
        "new_key.html",
        user=target.user_name,
        key_id=created.key.access_key_id,
        secret=created.secret_access_key,
        link="",
        password="",
        back=back,
    )


def _cell(value: str) -> str:
    # SECURITY: a spreadsheet runs a cell that starts with = + - @ as a formula (user
    # names may start with `=`, `+` or `@`); a leading quote keeps it text.
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


@page()
async def key_csv(ctx: Ctx) -> Response:
    """
    The CSV of a key just created, posted back from its page (never in a URL).
    """
    user, key_id, secret = ctx.field("user"), ctx.field("key_id"), ctx.field("secret")
    if not (user and key_id.startswith("AKIA") and secret):
        raise InvalidInput("nothing to download")
    # SECURITY: the name goes into a response header (the file name): only IAM names.
    naming.check_name(user, field="user", max_length=64)
    link = ctx.field("link")
    header = list(CSV_HEADER)
    row = [user, key_id, secret]
    if link:
        header.append("Console login link")
        row.append(link)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerow([_cell(value) for value in row])
    return Response(
        buffer.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"content-disposition": f'attachment; filename="{user}_accessKeys.csv"'},
    )


@page()
async def end_session(ctx: Ctx) -> Response:
    """
    Sign out one of one's own sessions (or all others).
    """
    record = _record(ctx)
    sessions = ctx.services.guard.sessions
    if ctx.field("all") == "others":
        count = await sessions.end_all(record.owner, except_id=record.id)
        return redirect(ctx, CONSOLE_PATH, ok=f"Signed out {count} other session(s).")
    target = ctx.field("session")
    if not await sessions.end_by_id(target, owner=record.owner):
        raise NoSuchEntity("no such session")
    if target == record.id:
        cookies = ctx.services.guard.cookies
        ctx.new_cookies.append(cookies.clear(cookies.name))
        return redirect(ctx, SIGNIN_PATH, ok="You are signed out.")
    return redirect(ctx, CONSOLE_PATH, ok="The session is signed out.")


def policy_findings(document: str, kind: str) -> list[dict[str, str]]:
    """
    Return the validator's findings for an editor, as plain dicts.
    """
    from gateway.policy import check_policy

    try:
        findings = check_policy(document, kind=kind)  # type: ignore[arg-type]  # closed set
    except PolicyError as exc:  # pragma: no cover - check_policy reports instead
        return [{"level": "error", "path": "", "message": exc.message, "code": exc.code}]
    return [
        {"level": f.level, "path": f.path, "message": f.message, "code": f.code} for f in findings
    ]
