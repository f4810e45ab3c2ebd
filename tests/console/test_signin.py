"""
Sign-in over HTTP: generic failures, throttling, fixation, cookies, redirects, MFA.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import pytest

from tests.console.conftest import (
    HTML,
    PASSWORD,
    ROOT_EMAIL,
    ROOT_PASSWORD,
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


def _error(html: str) -> str:
    found = re.search(r'role="alert"[^>]*>([^<]*)<', html)
    return found.group(1) if found else ""


async def test_every_wrong_combination_gets_the_same_answer(console: Console) -> None:
    """Wrong password, unknown user and user without password read the same."""
    await console.add_user("steve")
    await console.iam.create_user("nopassword")
    answers = []
    for name, password in [
        ("steve", "Wrong-Passw0rd!"),
        ("ghost", PASSWORD),
        ("nopassword", PASSWORD),
        ("", ""),
    ]:
        client = console.browser(ip=f"10.0.0.{len(answers) + 10}")
        async with client:
            response = await sign_in(client, "example", name, password)
        answers.append((response.status_code, _error(response.text)))
        assert "gateway_session=" not in response.headers.get("set-cookie", "").replace(
            "gateway_session_signin", ""
        )
    assert len(set(answers)) == 1, answers
    assert answers[0][0] == 401 and "not correct" in answers[0][1]


async def test_sign_in_and_sign_out(console: Console) -> None:
    """A good password opens the console; sign-out ends the session for good."""
    await console.add_user("steve", policy="AdministratorAccess")
    response = await sign_in(console.client, "example", "steve", PASSWORD)
    assert response.status_code == 303
    assert response.headers["location"] == "/_gateway/console/"
    cookie = console.client.cookies.get("gateway_session")
    home = await console.client.get("/_gateway/console/", headers=HTML)
    assert home.status_code == 200 and "user/steve" in home.text
    signed_out = await console.client.post(
        "/_gateway/signout", data={"csrf": csrf_of(home.text)}, headers=HTML
    )
    assert signed_out.status_code == 303
    # Replaying the old cookie after sign-out does not work.
    console.client.cookies.set("gateway_session", str(cookie), domain="gateway.test")
    again = await console.client.get("/_gateway/console/", headers=HTML)
    assert again.status_code == 303 and again.headers["location"].startswith("/_gateway/signin")


async def test_the_sign_in_form_needs_its_csrf_token(console: Console) -> None:
    """A sign-in post without the form's token (login CSRF) is refused."""
    await console.add_user("steve")
    response = await console.client.post(
        "/_gateway/signin/example",
        data={"username": "steve", "password": PASSWORD, "csrf": "0" * 64},
        headers=HTML,
    )
    assert response.status_code == 403
    assert "gateway_session=" not in response.headers.get("set-cookie", "").replace(
        "gateway_session_signin", ""
    )


async def test_one_account_deployments_go_straight_to_it(console: Console) -> None:
    """``/_gateway/signin`` redirects to the only account's page, keeping ``next``."""
    response = await console.client.get("/_gateway/signin?next=/app/x", headers=HTML)
    assert response.status_code == 303
    assert response.headers["location"] == "/_gateway/signin/example?next=/app/x"
    by_id = await console.client.get(f"/_gateway/signin/{console.account}", headers=HTML)
    assert by_id.status_code == 200
    unknown = await console.client.get("/_gateway/signin/nosuchalias", headers=HTML)
    assert unknown.status_code == 404


async def test_root_signs_in_with_email(console: Console) -> None:
    """The root user signs in at /_gateway/signin/@root with the account's email."""
    page = await console.client.get("/_gateway/signin/@root", headers=HTML)
    response = await console.client.post(
        "/_gateway/signin/@root",
        data={"csrf": csrf_of(page.text), "email": ROOT_EMAIL, "password": ROOT_PASSWORD},
        headers=HTML,
    )
    assert response.status_code == 303
    users = await console.client.get("/_gateway/console/users", headers=HTML)
    assert users.status_code == 200


async def test_failures_back_off_then_lock(tmp_path: Path) -> None:
    """Failed sign-ins slow down, then lock with a clear message, even for the right password."""
    async with make_console(
        tmp_path,
        signin={"max_failures": 3, "backoff_base_seconds": 1.0, "lock_seconds": 600},
    ) as console:
        await console.add_user("steve")
        first = await sign_in(console.client, "example", "steve", "wrong")
        assert first.status_code == 401
        too_soon = await sign_in(console.client, "example", "steve", PASSWORD)
        assert too_soon.status_code == 429 and "Wait 1 second" in too_soon.text
        console.clock.advance(1)
        await sign_in(console.client, "example", "steve", "wrong")
        console.clock.advance(2)
        await sign_in(console.client, "example", "steve", "wrong")
        locked = await sign_in(console.client, "example", "steve", PASSWORD)
        assert locked.status_code == 429 and "locked" in locked.text
        # The lock is per user name, whatever the case, and from any address.
        async with console.browser(ip="10.7.7.7") as other:
            elsewhere = await sign_in(other, "example", "STEVE", PASSWORD)
        assert elsewhere.status_code == 429
        console.clock.advance(601)
        assert (await sign_in(console.client, "example", "steve", PASSWORD)).status_code == 303


async def test_unknown_users_are_throttled_like_known_ones(tmp_path: Path) -> None:
    """Throttling an unknown name looks the same as a known one (no enumeration)."""
    async with make_console(tmp_path, signin={"max_failures": 2}) as console:
        await console.add_user("steve")
        for name in ("steve", "ghost"):
            await sign_in(console.client, "example", name, "wrong")
            console.clock.advance(5)
            await sign_in(console.client, "example", name, "wrong")
            locked = await sign_in(console.client, "example", name, "wrong")
            assert locked.status_code == 429 and "locked" in locked.text


async def test_a_new_session_id_at_sign_in_and_after_mfa(console: Console) -> None:
    """No fixation: the session cookie changes after the password and after the code."""
    await console.add_user("steve", policy="AdministratorAccess")
    device = await console.iam.create_virtual_mfa_device("steve")
    step = current_step()
    await console.iam.enable_mfa_device(
        "steve",
        device.serial_number,
        code_at(device.base32_seed, step - 1),
        code_at(device.base32_seed, step),
    )
    console.client.cookies.set("gateway_session", "attacker-chosen-value", domain="gateway.test")
    response = await sign_in(console.client, "example", "steve", PASSWORD)
    assert response.headers["location"].startswith("/_gateway/signin/example/mfa")
    pending = console.client.cookies.get("gateway_session")
    assert pending and pending != "attacker-chosen-value"
    # The pending session opens nothing yet.
    blocked = await console.client.get("/_gateway/console/", headers=HTML)
    assert blocked.status_code == 303
    done = await submit_code(console.client, "example", code_at(device.base32_seed, step + 1))
    assert done.status_code == 303, done.text
    final = console.client.cookies.get("gateway_session")
    assert final and final != pending
    home = await console.client.get("/_gateway/console/", headers=HTML)
    assert home.status_code == 200 and "with MFA" in home.text


async def test_a_code_is_accepted_once_and_wrong_codes_are_refused(console: Console) -> None:
    """A replayed or wrong MFA code is refused with the code message."""
    await console.add_user("steve")
    device = await console.iam.create_virtual_mfa_device("steve")
    step = current_step()
    seed = device.base32_seed
    await console.iam.enable_mfa_device(
        "steve", device.serial_number, code_at(seed, step - 1), code_at(seed, step)
    )
    await sign_in(console.client, "example", "steve", PASSWORD)
    wrong = await submit_code(
        console.client, "example", "000000" if code_at(seed, step + 1) != "000000" else "111111"
    )
    assert wrong.status_code == 401 and "not valid" in wrong.text
    replay = await submit_code(console.client, "example", code_at(seed, step))
    assert replay.status_code in (401, 429)


@pytest.mark.parametrize(
    "target",
    [
        "//evil.example/",
        "/\\evil.example",
        "https://evil.example/",
        "javascript:alert(1)",
        "/app/\x09/evil",
        "/%0d%0aSet-Cookie:x",
        "evil.example",
        "/\t/evil.example",
    ],
)
async def test_no_open_redirect_after_sign_in(console: Console, target: str) -> None:
    """A return path that is not a same-origin relative path lands on the console."""
    await console.add_user("steve", policy="AdministratorAccess")
    response = await sign_in(console.client, "example", "steve", PASSWORD, next_path=target)
    assert response.status_code == 303
    location = response.headers["location"]
    assert location == "/_gateway/console/" or location == target and target.startswith("/%")


async def test_a_good_return_path_is_kept(console: Console) -> None:
    """A same-origin path survives the sign-in."""
    await console.add_user("steve", policy="AdministratorAccess")
    response = await sign_in(
        console.client, "example", "steve", PASSWORD, next_path="/app/reports?year=2026"
    )
    assert response.headers["location"] == "/app/reports?year=2026"


async def test_cookie_flags_under_https(tmp_path: Path) -> None:
    """With an https public URL the cookie is __Host-, Secure, HttpOnly, SameSite=Lax."""
    async with make_console(tmp_path, server={"public_url": "https://gw.example"}) as console:
        await console.add_user("steve", policy="AdministratorAccess")
        client = httpx.AsyncClient(transport=console.transport, base_url="https://gateway.test")
        async with client:
            page = await client.get("/_gateway/signin/example", headers=HTML)
            response = await client.post(
                "/_gateway/signin/example",
                data={"csrf": csrf_of(page.text), "username": "steve", "password": PASSWORD},
                headers=HTML,
            )
        assert response.status_code == 303
        cookies = response.headers.get_list("set-cookie")
        session = next(c for c in cookies if c.startswith("__Host-gateway_session="))
        for flag in ("Path=/", "HttpOnly", "SameSite=Lax", "Secure"):
            assert flag in session
        assert "Domain" not in session


async def test_cookie_flags_under_http(console: Console) -> None:
    """Over plain http the cookie is still HttpOnly and SameSite=Lax."""
    await console.add_user("steve")
    response = await sign_in(console.client, "example", "steve", PASSWORD)
    session = next(
        c for c in response.headers.get_list("set-cookie") if c.startswith("gateway_session=")
    )
    assert "HttpOnly" in session and "SameSite=Lax" in session and "Secure" not in session


async def test_a_tampered_cookie_is_nobody(console: Console) -> None:
    """A cookie whose signature does not verify signs nobody in."""
    await console.add_user("steve", policy="AdministratorAccess")
    await sign_in(console.client, "example", "steve", PASSWORD)
    good = str(console.client.cookies.get("gateway_session"))
    value, _, signature = good.rpartition(".")
    console.client.cookies.set("gateway_session", f"{value}x.{signature}", domain="gateway.test")
    response = await console.client.get("/_gateway/console/", headers=HTML)
    assert response.status_code == 303


async def test_sign_ins_are_audited_without_secrets(console: Console) -> None:
    """Success and failure are audited; neither the password nor the cookie is."""
    await console.add_user("steve", policy="AdministratorAccess")
    await sign_in(console.client, "example", "steve", "Wrong-Passw0rd!")
    await sign_in(console.client, "example", "steve", PASSWORD)
    await console.app.services.auditor.aclose()  # type: ignore[union-attr]
    text = console.audit_file.read_text()
    events = [json.loads(line) for line in text.splitlines()]
    logins = [e for e in events if e.get("eventName") == "ConsoleLogin"]
    assert len(logins) == 2, events
    assert PASSWORD not in text and "Wrong-Passw0rd!" not in text
    cookie = str(console.client.cookies.get("gateway_session"))
    assert cookie.split(".")[0] not in text


async def _root_sign_in(client: httpx.AsyncClient) -> httpx.Response:
    page = await client.get("/_gateway/signin/@root", headers=HTML)
    return await client.post(
        "/_gateway/signin/@root",
        data={"csrf": csrf_of(page.text), "email": ROOT_EMAIL, "password": ROOT_PASSWORD},
        headers=HTML,
    )


async def test_root_can_have_mfa(console: Console) -> None:
    """Root enrolls a device in the console; its next sign-in asks for the code."""
    await _root_sign_in(console.client)
    page = await post_form(console.client, "/_gateway/console/", "/_gateway/console/mfa/new", {})
    secret = re.search(r'id="mfa-secret">([A-Z2-7]+)<', page.text)
    serial = re.search(r'name="serial" value="([^"]+)"', page.text)
    assert secret and serial and serial.group(1).endswith(":mfa/root-account-mfa-device")
    step = current_step()
    done = await console.client.post(
        "/_gateway/console/mfa/enable",
        data={
            "csrf": csrf_of(page.text),
            "serial": serial.group(1),
            "code1": code_at(secret.group(1), step - 1),
            "code2": code_at(secret.group(1), step),
        },
        headers=HTML,
    )
    assert done.status_code == 303
    assert len(await console.iam.root_mfa_devices()) == 1
    async with console.browser() as other:
        response = await _root_sign_in(other)
        assert response.headers["location"].startswith("/_gateway/signin/@root/mfa")
        assert (await other.get("/_gateway/console/users", headers=HTML)).status_code == 303
        finished = await submit_code(other, "@root", code_at(secret.group(1), step + 1))
        assert finished.status_code == 303
        assert (await other.get("/_gateway/console/users", headers=HTML)).status_code == 200
    removed = await post_form(
        console.client,
        "/_gateway/console/",
        "/_gateway/console/mfa/remove",
        {"serial": serial.group(1)},
    )
    assert removed.status_code == 303
    assert await console.iam.root_mfa_devices() == []
