"""
The console's pages and the proxy with console sessions: passwords, MFA enrollment,
access keys, revocation, timeouts, CSRF, headers, read-only admins and escaping.
"""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pyotp
import pytest

from gateway.console.web import CSP
from tests.console.conftest import (
    HTML,
    PASSWORD,
    Console,
    code_at,
    csrf_of,
    current_step,
    make_console,
    post_form,
    sign_in,
    submit_code,
)

pytestmark = pytest.mark.anyio
NEW_PASSWORD = "Changed-Passw0rd!2"


# -- the proxy ---------------------------------------------------------------------------


async def test_browsers_are_sent_to_sign_in_and_back(console: Console) -> None:
    """A browser without credentials is redirected to sign in, then back to its page."""
    await console.add_user("steve", policy="AdministratorAccess")
    first = await console.client.get("/app/reports?year=2026", headers=HTML)
    assert first.status_code == 303
    assert first.headers["location"] == "/_gateway/signin?next=/app/reports%3Fyear%3D2026"
    chosen = await console.client.get(first.headers["location"], headers=HTML)
    page_path = chosen.headers["location"]
    page = await console.client.get(page_path, headers=HTML)
    assert 'name="next" value="/app/reports?year=2026"' in page.text
    signed_in = await console.client.post(
        "/_gateway/signin/example",
        data={
            "csrf": csrf_of(page.text),
            "username": "steve",
            "password": PASSWORD,
            "next": "/app/reports?year=2026",
        },
        headers=HTML,
    )
    assert signed_in.headers["location"] == "/app/reports?year=2026"
    reached = await console.client.get("/app/reports?year=2026", headers=HTML)
    assert reached.status_code == 200 and "protected page" in reached.text
    seen = console.upstream_seen[-1]
    assert seen["headers"]["x-gateway-user"] == "steve"
    assert seen["headers"]["x-gateway-mfa"] == "false"
    # SECURITY: the session cookie never reaches the upstream.
    assert "gateway_session" not in seen["headers"].get("cookie", "")


async def test_api_clients_keep_getting_403(console: Console) -> None:
    """A client that does not ask for HTML gets MissingAuthenticationToken, not a redirect."""
    response = await console.client.get("/app/x", headers={"accept": "application/json"})
    assert response.status_code == 403 and "MissingAuthenticationToken" in response.text
    post = await console.client.post("/app/x", headers=HTML)
    assert post.status_code == 403


async def test_other_cookies_still_reach_the_upstream(console: Console) -> None:
    """Only the session cookie is stripped; the upstream's own cookies pass."""
    await console.add_user("steve", policy="AdministratorAccess")
    await sign_in(console.client, "example", "steve", PASSWORD)
    console.client.cookies.set("theme", "dark", domain="gateway.test")
    await console.client.get("/app/x", headers=HTML)
    assert console.upstream_seen[-1]["headers"]["cookie"] == "theme=dark"


async def test_a_session_without_permission_is_denied_by_the_engine(console: Console) -> None:
    """A signed-in user is still authorized: no policy, no access."""
    await console.add_user("steve")
    await sign_in(console.client, "example", "steve", PASSWORD)
    response = await console.client.get("/app/x", headers=HTML)
    assert response.status_code == 403 and "AccessDenied" in response.text


async def test_mfa_condition_keys_come_from_the_session(console: Console) -> None:
    """aws:MultiFactorAuthPresent is true only for a session that gave a code."""
    await console.add_user("steve")
    await console.iam.put_inline_policy(
        "user",
        "steve",
        "mfa-only",
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": "app:Use",
                    "Resource": "*",
                    "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "true"}},
                }
            ],
        },
    )
    await sign_in(console.client, "example", "steve", PASSWORD)
    assert (await console.client.get("/app/x", headers=HTML)).status_code == 403
    device = await console.iam.create_virtual_mfa_device("steve")
    step = current_step()
    seed = device.base32_seed
    await console.iam.enable_mfa_device(
        "steve", device.serial_number, code_at(seed, step - 1), code_at(seed, step)
    )
    async with console.browser() as browser:
        await sign_in(browser, "example", "steve", PASSWORD)
        await submit_code(browser, "example", code_at(seed, step + 1))
        response = await browser.get("/app/x", headers=HTML)
        assert response.status_code == 200
    assert console.upstream_seen[-1]["headers"]["x-gateway-mfa"] == "true"


async def test_revocation_paths_end_the_session_at_the_proxy(console: Console) -> None:
    """Admin revoke, password change and login profile deletion end sessions at once."""
    await console.add_user("steve", policy="AdministratorAccess")
    user = await console.iam.get_user("steve")
    sessions = console.app.services.guard.sessions  # type: ignore[union-attr]
    for change in ("revoke", "password", "profile"):
        await sign_in(console.client, "example", "steve", PASSWORD)
        assert (await console.client.get("/app/x", headers=HTML)).status_code == 200
        if change == "revoke":
            await sessions.end_all(user.user_id)
        elif change == "password":
            await console.iam.update_login_profile("steve", password="Admin-Set-Passw0rd!")
            await console.iam.update_login_profile("steve", password=PASSWORD)
        else:
            await console.iam.delete_login_profile("steve")
            await console.iam.create_login_profile("steve", PASSWORD)
        response = await console.client.get("/app/x", headers=HTML)
        assert response.status_code == 303, change
        assert response.headers["location"].startswith("/_gateway/signin")


async def test_reset_required_blocks_everything_but_the_password_page(console: Console) -> None:
    """With a reset required, the proxy and console pages lead to the change page."""
    await console.add_user("steve", reset=True, policy="AdministratorAccess")
    response = await sign_in(console.client, "example", "steve", PASSWORD)
    assert response.headers["location"].startswith("/_gateway/console/password")
    for path in ("/app/x", "/_gateway/console/", "/_gateway/console/users"):
        blocked = await console.client.get(path, headers=HTML)
        assert blocked.status_code == 303, path
        assert blocked.headers["location"].startswith("/_gateway/console/password")
    api = await console.client.get("/app/x", headers={"accept": "application/json"})
    assert api.status_code == 403
    changed = await post_form(
        console.client,
        "/_gateway/console/password",
        "/_gateway/console/password",
        {"current": PASSWORD, "new": NEW_PASSWORD, "confirm": NEW_PASSWORD, "next": "/app/x"},
    )
    assert changed.status_code == 303 and changed.headers["location"] == "/app/x"
    assert (await console.client.get("/app/x", headers=HTML)).status_code == 200


async def test_idle_and_absolute_timeouts(tmp_path: Path) -> None:
    """A silent session ends after the idle timeout; any session at the absolute one."""
    async with make_console(
        tmp_path, session={"idle_timeout_seconds": 60, "absolute_timeout_seconds": 150}
    ) as console:
        await console.add_user("steve", policy="AdministratorAccess")
        await sign_in(console.client, "example", "steve", PASSWORD)
        console.clock.advance(50)
        assert (await console.client.get("/app/x", headers=HTML)).status_code == 200
        console.clock.advance(50)
        assert (await console.client.get("/app/x", headers=HTML)).status_code == 200
        console.clock.advance(51)
        assert (await console.client.get("/app/x", headers=HTML)).status_code == 303
        await sign_in(console.client, "example", "steve", PASSWORD)
        console.clock.advance(61)
        assert (await console.client.get("/app/x", headers=HTML)).status_code == 303


# -- passwords -----------------------------------------------------------------------------


async def _change(client: httpx.AsyncClient, current: str, new: str) -> httpx.Response:
    return await post_form(
        client,
        "/_gateway/console/password",
        "/_gateway/console/password",
        {"current": current, "new": new, "confirm": new},
    )


async def test_changing_ones_password_needs_permission(console: Console) -> None:
    """No permission: refused (AWS's message); IAMUserChangePassword: allowed."""
    await console.add_user("steve", reset=True)
    await sign_in(console.client, "example", "steve", PASSWORD)
    refused = await _change(console.client, PASSWORD, NEW_PASSWORD)
    assert refused.status_code == 403
    assert "not authorized to perform: iam:ChangePassword" in refused.text
    await console.iam.attach_policy(
        "user", "steve", "arn:aws:iam::aws:policy/IAMUserChangePassword"
    )
    allowed = await _change(console.client, PASSWORD, NEW_PASSWORD)
    assert allowed.status_code == 303
    async with console.browser() as other:
        assert (await sign_in(other, "example", "steve", PASSWORD)).status_code == 401
        console.clock.advance(2)  # past the backoff of that failure
        assert (await sign_in(other, "example", "steve", NEW_PASSWORD)).status_code == 303


async def test_the_password_policy_setting_lets_users_change(console: Console) -> None:
    """AllowUsersToChangePassword grants iam:ChangePassword without any policy."""
    await console.add_user("steve")
    await console.iam.update_account_password_policy(AllowUsersToChangePassword=True)
    await sign_in(console.client, "example", "steve", PASSWORD)
    assert (await _change(console.client, PASSWORD, NEW_PASSWORD)).status_code == 303


async def test_policy_rules_and_reuse_are_enforced(console: Console) -> None:
    """The message names the broken rule; reuse prevention refuses an old password."""
    await console.add_user("steve")
    await console.iam.update_account_password_policy(
        AllowUsersToChangePassword=True,
        MinimumPasswordLength=12,
        RequireSymbols=True,
        PasswordReusePrevention=2,
    )
    await sign_in(console.client, "example", "steve", PASSWORD)
    short = await _change(console.client, PASSWORD, "Short1abcd")
    assert short.status_code == 400
    assert "at least 12 characters" in short.text and "symbols" in short.text
    assert (await _change(console.client, PASSWORD, NEW_PASSWORD)).status_code == 303
    reused = await _change(console.client, NEW_PASSWORD, PASSWORD)
    assert reused.status_code == 400 and "used among the last 2" in reused.text
    wrong = await _change(console.client, "Not-The-Passw0rd!", "Another-Passw0rd!1")
    assert wrong.status_code == 400 and "current password is not correct" in wrong.text


async def test_the_current_session_survives_its_own_password_change(console: Console) -> None:
    """The browser that changed the password gets a fresh session; others end."""
    await console.add_user("steve", policy="AdministratorAccess")
    await sign_in(console.client, "example", "steve", PASSWORD)
    async with console.browser() as other:
        await sign_in(other, "example", "steve", PASSWORD)
        before = console.client.cookies.get("gateway_session")
        assert (await _change(console.client, PASSWORD, NEW_PASSWORD)).status_code == 303
        assert console.client.cookies.get("gateway_session") != before
        assert (await console.client.get("/app/x", headers=HTML)).status_code == 200
        assert (await other.get("/app/x", headers=HTML)).status_code == 303


# -- MFA enrollment, keys, sessions ------------------------------------------------------


async def test_mfa_enrollment_needs_two_consecutive_codes(console: Console) -> None:
    """The enrollment page shows a local QR code and the secret; two codes assign it."""
    await console.add_user("steve", policy="AdministratorAccess")
    await sign_in(console.client, "example", "steve", PASSWORD)
    page = await post_form(console.client, "/_gateway/console/", "/_gateway/console/mfa/new", {})
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    assert 'src="data:image/svg+xml' in page.text
    secret = re.search(r'id="mfa-secret">([A-Z2-7]+)<', page.text)
    assert secret is not None
    serial = re.search(r'name="serial" value="([^"]+)"', page.text)
    assert serial is not None
    totp = pyotp.TOTP(secret.group(1))
    step = current_step()
    bad = await console.client.post(
        "/_gateway/console/mfa/enable",
        data={
            "csrf": csrf_of(page.text),
            "serial": serial.group(1),
            "code1": totp.generate_otp(step),
            "code2": totp.generate_otp(step),
        },
        headers=HTML,
    )
    assert bad.status_code == 303
    assert await console.iam.list_mfa_devices("steve") == []
    console.clock.advance(2)  # past the backoff of the failed attempt
    good = await console.client.post(
        "/_gateway/console/mfa/enable",
        data={
            "csrf": csrf_of(page.text),
            "serial": serial.group(1),
            "code1": totp.generate_otp(step - 1),
            "code2": totp.generate_otp(step),
        },
        headers=HTML,
    )
    assert good.status_code == 303
    assert len(await console.iam.list_mfa_devices("steve")) == 1


async def test_access_key_secret_is_shown_once_and_csv_is_posted(console: Console) -> None:
    """A new key's secret is on the POST response only; the CSV comes from a POST too."""
    await console.add_user("steve", policy="AdministratorAccess")
    await sign_in(console.client, "example", "steve", PASSWORD)
    page = await post_form(console.client, "/_gateway/console/", "/_gateway/console/keys/new", {})
    key_id = re.search(r'id="key-id">(AKIA[A-Z0-9]+)<', page.text)
    secret = re.search(r'id="key-secret">([^<]+)<', page.text)
    assert key_id and secret and page.headers["cache-control"] == "no-store"
    home = await console.client.get("/_gateway/console/", headers=HTML)
    assert key_id.group(1) in home.text and secret.group(1) not in home.text
    csv = await console.client.post(
        "/_gateway/console/keys/csv",
        data={
            "csrf": csrf_of(page.text),
            "user": "steve",
            "key_id": key_id.group(1),
            "secret": secret.group(1),
        },
        headers=HTML,
    )
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    assert "attachment" in csv.headers["content-disposition"]
    assert csv.text.splitlines() == [
        "User name,Access key ID,Secret access key",
        f"steve,{key_id.group(1)},{secret.group(1)}",
    ]
    assert (await console.client.get("/_gateway/console/keys/csv")).status_code == 405
    # A cell a spreadsheet would run as a formula stays text; a name fit for no header
    # is refused.
    fields = {"csrf": csrf_of(page.text), "key_id": key_id.group(1), "secret": secret.group(1)}
    formula = await console.client.post(
        "/_gateway/console/keys/csv", data={**fields, "user": "=cmd"}, headers=HTML
    )
    assert formula.status_code == 200
    assert formula.text.splitlines()[1].startswith("'=cmd,")
    split = await console.client.post(
        "/_gateway/console/keys/csv", data={**fields, "user": 'a"\r\nSet-Cookie: x=1'}, headers=HTML
    )
    assert split.status_code == 400 and "set-cookie" not in split.headers


async def test_signing_out_another_session(console: Console) -> None:
    """The session list signs out one other session."""
    await console.add_user("steve", policy="AdministratorAccess")
    await sign_in(console.client, "example", "steve", PASSWORD)
    async with console.browser() as other:
        await sign_in(other, "example", "steve", PASSWORD)
        home = await console.client.get("/_gateway/console/", headers=HTML)
        assert home.text.count('name="session"') == 2
        response = await console.client.post(
            "/_gateway/console/sessions/end",
            data={"csrf": csrf_of(home.text), "all": "others"},
            headers=HTML,
        )
        assert response.status_code == 303
        assert (await other.get("/app/x", headers=HTML)).status_code == 303
        assert (await console.client.get("/app/x", headers=HTML)).status_code == 200


# -- page security -------------------------------------------------------------------------


async def test_security_headers_on_every_page(console: Console) -> None:
    """CSP, X-Frame-Options, Referrer-Policy and no-store are on console pages."""
    for path in ("/_gateway/signin/example", "/_gateway/signin/@root"):
        response = await console.client.get(path, headers=HTML)
        assert response.headers["content-security-policy"] == CSP
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["referrer-policy"] == "same-origin"
        assert response.headers["cache-control"] == "no-store"
        assert "<script" not in response.text and "style=" not in response.text
    css = await console.client.get("/_gateway/static/console.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")


@pytest.mark.parametrize("token", [None, "0" * 64, "zz"])
async def test_forms_without_the_right_csrf_token_change_nothing(
    console: Console, token: str | None
) -> None:
    """A missing or wrong CSRF token is refused (403) and nothing is created."""
    await console.add_user("steve", policy="AdministratorAccess")
    await sign_in(console.client, "example", "steve", PASSWORD)
    data = {"GroupName": "evil", "back": "/_gateway/console/groups"}
    if token is not None:
        data["csrf"] = token
    response = await console.client.post(
        "/_gateway/console/do/CreateGroup", data=data, headers=HTML
    )
    assert response.status_code == 403
    assert await console.iam.list_groups() == []


async def test_another_sessions_csrf_token_is_refused(console: Console) -> None:
    """A token is bound to its session: one taken from another session does not work."""
    await console.add_user("steve", policy="AdministratorAccess")
    await console.add_user("mallory", policy="AdministratorAccess")
    async with console.browser() as attacker:
        await sign_in(attacker, "example", "mallory", PASSWORD)
        stolen = csrf_of((await attacker.get("/_gateway/console/", headers=HTML)).text)
    await sign_in(console.client, "example", "steve", PASSWORD)
    response = await console.client.post(
        "/_gateway/console/do/CreateGroup",
        data={"csrf": stolen, "GroupName": "evil"},
        headers=HTML,
    )
    assert response.status_code == 403
    assert await console.iam.list_groups() == []


async def test_a_read_only_admin_sees_but_cannot_change(console: Console) -> None:
    """IAMReadOnlyAccess: pages render, every change is refused by the engine."""
    await console.add_user("auditor", policy="IAMReadOnlyAccess")
    await console.add_user("steve")
    await sign_in(console.client, "example", "auditor", PASSWORD)
    for path in ("users", "users/steve", "groups", "policies", "roles", "account"):
        page = await console.client.get(f"/_gateway/console/{path}", headers=HTML)
        assert page.status_code == 200, path
    refused = await post_form(
        console.client,
        "/_gateway/console/groups",
        "/_gateway/console/do/CreateGroup",
        {"GroupName": "new", "back": "/_gateway/console/groups"},
    )
    assert refused.status_code == 303
    after = await console.client.get(refused.headers["location"], headers=HTML)
    assert "not authorized to perform: iam:CreateGroup" in after.text
    assert await console.iam.list_groups() == []
    created = await post_form(
        console.client,
        "/_gateway/console/users",
        "/_gateway/console/users/new",
        {"UserName": "intruder", "console": "on", "generate": "on"},
    )
    assert created.status_code == 303
    assert [u.user_name for u in await console.iam.list_users()] == ["auditor", "steve"]
    revoke = await post_form(
        console.client,
        "/_gateway/console/users/steve",
        "/_gateway/console/users/steve/revoke",
        {},
    )
    after = await console.client.get(revoke.headers["location"], headers=HTML)
    assert "not authorized" in after.text


async def test_no_permissions_no_admin_pages(console: Console) -> None:
    """A user with no policy gets 403 on the admin pages."""
    await console.add_user("steve")
    await sign_in(console.client, "example", "steve", PASSWORD)
    response = await console.client.get("/_gateway/console/users", headers=HTML)
    assert response.status_code == 403 and "iam:ListUsers" in response.text


async def test_hostile_names_and_tags_are_escaped(console: Console) -> None:
    """A tag value with markup is shown as text, never as HTML."""
    await console.add_user("steve", policy="AdministratorAccess")
    hostile = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    await console.iam.create_user("brien+x=y@example", tags=[{"Key": "note", "Value": hostile}])
    await sign_in(console.client, "example", "steve", PASSWORD)
    for path in ("/_gateway/console/users", "/_gateway/console/users/brien+x=y@example"):
        page = await console.client.get(path, headers=HTML)
        assert page.status_code == 200
        assert hostile not in page.text and "<script>" not in page.text
        assert "&lt;script&gt;" in page.text


async def test_admin_creates_a_user_with_a_generated_password(console: Console) -> None:
    """The generated password is shown once and works, with a reset required."""
    await console.add_user("admin", policy="AdministratorAccess")
    await sign_in(console.client, "example", "admin", PASSWORD)
    page = await post_form(
        console.client,
        "/_gateway/console/users",
        "/_gateway/console/users/new",
        {
            "UserName": "steve",
            "console": "on",
            "generate": "on",
            "reset": "on",
            "TagKey": "team",
            "TagValue": "ops",
        },
    )
    assert page.status_code == 200
    password = re.search(r'id="new-password">([^<]+)<', page.text)
    assert password is not None
    generated = password.group(1).replace("&amp;", "&").replace("&#39;", "'")
    profile = await console.iam.get_login_profile("steve")
    assert profile.password_reset_required
    assert (await console.iam.get_user("steve")).tags == (("team", "ops"),)
    async with console.browser() as browser:
        response = await sign_in(browser, "example", "steve", generated)
        assert response.headers["location"].startswith("/_gateway/console/password")


async def test_the_policy_editor_shows_findings_in_place(console: Console) -> None:
    """A malformed document is refused with the validator's error, text kept."""
    await console.add_user("admin", policy="AdministratorAccess")
    await sign_in(console.client, "example", "admin", PASSWORD)
    bad = '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:Get*"}]}'
    response = await post_form(
        console.client,
        "/_gateway/console/policies",
        "/_gateway/console/policies",
        {"PolicyName": "broken", "PolicyDocument": bad},
    )
    assert response.status_code == 400
    assert 'class="error"' in response.text and "Resource" in response.text
    assert "s3:Get*" in response.text
    good = (
        '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", '
        '"Action": "app:Use", "Resource": "*"}]}'
    )
    created = await post_form(
        console.client,
        "/_gateway/console/policies",
        "/_gateway/console/policies",
        {"PolicyName": "app-use", "PolicyDocument": good},
    )
    assert created.status_code == 303
    assert any(p.policy_name == "app-use" for p in await console.iam.list_policies())


async def test_bad_form_input_is_a_4xx(console: Console) -> None:
    """Garbage forms, unknown operations and oversized bodies are 4xx, never 500."""
    await console.add_user("admin", policy="AdministratorAccess")
    await sign_in(console.client, "example", "admin", PASSWORD)
    home = await console.client.get("/_gateway/console/", headers=HTML)
    csrf = csrf_of(home.text)
    cases = [
        ("/_gateway/console/do/NoSuchThing", {"csrf": csrf}),
        ("/_gateway/console/do/ListUsers", {"csrf": csrf}),
        ("/_gateway/console/do/CreateUser", {"csrf": csrf, "UserName": "bad name!"}),
        ("/_gateway/console/inline?kind=bogus", {"csrf": csrf}),
    ]
    for path, data in cases:
        response = await console.client.post(path, data=data, headers=HTML)
        assert 300 <= response.status_code < 500, (path, response.status_code)
    raw = await console.client.post(
        "/_gateway/console/do/CreateGroup",
        content=b"csrf=" + csrf.encode() + b"&GroupName=%ff%fe",
        headers={**HTML, "content-type": "application/x-www-form-urlencoded"},
    )
    assert raw.status_code == 400
    huge = await console.client.post(
        "/_gateway/console/do/CreateGroup",
        content=b"a=" + b"x" * 300_000,
        headers={**HTML, "content-type": "application/x-www-form-urlencoded"},
    )
    assert huge.status_code == 400
    json_body = await console.client.post(
        "/_gateway/console/do/CreateGroup", json={"csrf": csrf}, headers=HTML
    )
    assert json_body.status_code == 400


async def test_an_admin_resyncs_and_deactivates_a_users_device(console: Console) -> None:
    """The user page resyncs a device with two codes and deactivates it."""
    await console.add_user("admin", policy="AdministratorAccess")
    await console.add_user("steve")
    device = await console.iam.create_virtual_mfa_device("steve")
    seed, step = device.base32_seed, current_step()
    await console.iam.enable_mfa_device(
        "steve", device.serial_number, code_at(seed, step - 2), code_at(seed, step - 1)
    )
    await sign_in(console.client, "example", "admin", PASSWORD)
    here = "/_gateway/console/users/steve"
    resynced = await post_form(
        console.client,
        here,
        "/_gateway/console/do/ResyncMFADevice",
        {
            "back": here,
            "UserName": "steve",
            "SerialNumber": device.serial_number,
            "AuthenticationCode1": code_at(seed, step),
            "AuthenticationCode2": code_at(seed, step + 1),
        },
    )
    page = await console.client.get(resynced.headers["location"], headers=HTML)
    assert "ResyncMFADevice: done." in page.text
    deactivated = await post_form(
        console.client,
        here,
        "/_gateway/console/do/DeactivateMFADevice",
        {"back": here, "UserName": "steve", "SerialNumber": device.serial_number},
    )
    assert deactivated.status_code == 303
    assert await console.iam.list_mfa_devices("steve") == []


async def test_the_account_page_sets_the_password_policy_and_alias(console: Console) -> None:
    """Checkboxes and numbers of the account page become the AWS fields."""
    await console.add_user("admin", policy="AdministratorAccess")
    await sign_in(console.client, "example", "admin", PASSWORD)
    page = "/_gateway/console/account"
    saved = await post_form(
        console.client,
        page,
        "/_gateway/console/do/UpdateAccountPasswordPolicy",
        {
            "back": page,
            "MinimumPasswordLength": "12",
            "RequireSymbols": "on",
            "AllowUsersToChangePassword": "on",
            "MaxPasswordAge": "",
            "PasswordReusePrevention": "3",
        },
    )
    assert saved.headers["location"] == page
    policy = await console.iam.get_account_password_policy()
    assert policy.minimum_password_length == 12 and policy.require_symbols
    assert policy.allow_users_to_change_password and policy.max_password_age is None
    assert policy.password_reuse_prevention == 3 and not policy.require_numbers
    refused = await post_form(
        console.client,
        page,
        "/_gateway/console/do/DeleteAccountAlias",
        {"back": page, "AccountAlias": "example"},
    )
    shown = await console.client.get(refused.headers["location"], headers=HTML)
    assert "confirmation" in shown.text
    assert (await console.iam.get_account()).alias == "example"


async def test_steady_state_requests_do_not_read_the_session_from_the_store(
    console: Console,
) -> None:
    """Once cached, a session is not read again until IAM changes; activity is batched."""
    await console.add_user("steve", policy="AdministratorAccess")
    await sign_in(console.client, "example", "steve", PASSWORD)
    sessions = console.app.services.guard.sessions  # type: ignore[union-attr]
    assert (await console.client.get("/app/warm", headers=HTML)).status_code == 200
    reads = sessions.store_reads
    for index in range(5):
        assert (await console.client.get(f"/app/{index}", headers=HTML)).status_code == 200
    assert sessions.store_reads == reads
    await console.iam.create_group("anything")  # any IAM change: caches re-validate once
    assert (await console.client.get("/app/again", headers=HTML)).status_code == 200
    assert sessions.store_reads == reads + 1
