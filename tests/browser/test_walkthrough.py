"""
The walkthrough in a real browser: headless Chromium against a running gateway.

admin creates `steve` (generated password, reset required); steve is forced to the
change page and refused for lack of permission; admin attaches IAMUserChangePassword;
steve changes his password; admin makes him privileged (admins group); steve enrolls a
virtual MFA device (codes from pyotp), signs out, is sent to sign in by the proxy and
comes back to the protected page with password and code; a replayed code is refused;
admin creates `backup` with an access key, downloads the CSV, gives it a policy in
the editor, and a request signed with that key succeeds.
"""

from __future__ import annotations

import csv
import io
import re
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyotp

from gateway.auth.sigv4_sign import sign_request
from gateway.iam.totp import step_at
from tests.browser.conftest import ADMIN_PASSWORD, SCREENSHOTS, Deployment

NEW_PASSWORD = "Steve-New-Passw0rd!"
BACKUP_POLICY = (
    '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "app:Use", '
    '"Resource": "arn:aws:app:*:*:page/backup/*"}]}'
)


def _shot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def _sign_in(page: Any, name: str, password: str) -> None:
    page.fill("#username", name)
    page.fill("#password", password)
    page.click("button[type=submit]")


def test_walkthrough(deployment: Deployment, browser: Any) -> None:
    """The DESIGN walkthrough, page by page, in headless Chromium."""
    base = deployment.base
    admin = browser.new_context().new_page()
    steve = browser.new_context().new_page()

    # admin signs in and creates steve with a generated password, reset required.
    admin.goto(f"{base}/_gateway/signin")
    assert "/_gateway/signin/example" in admin.url
    _shot(admin, "01-signin")
    _sign_in(admin, "admin", ADMIN_PASSWORD)
    admin.wait_for_url(f"{base}/_gateway/console/")
    _shot(admin, "02-my-security-credentials")
    admin.goto(f"{base}/_gateway/console/users")
    admin.fill("#UserName", "steve")
    admin.check("#console")
    assert admin.is_checked("#generate") and admin.is_checked("#reset")
    _shot(admin, "03-create-user")
    admin.click("#create-user")
    generated = admin.inner_text("#new-password").strip()
    assert len(generated) >= 20
    _shot(admin, "04-user-created")

    # steve opens a protected page: sent to sign in, then forced to change his password.
    steve.goto(f"{base}/app/reports")
    assert "/_gateway/signin/example" in steve.url and "next=/app/reports" in steve.url
    _sign_in(steve, "steve", generated)
    steve.wait_for_url(re.compile(r".*/_gateway/console/password.*"))
    assert "must set a new password" in steve.content()
    _shot(steve, "05-forced-password-change")
    steve.goto(f"{base}/app/reports")
    assert "/_gateway/console/password" in steve.url, "nothing is reachable before the change"

    def change_password() -> None:
        steve.fill("#current", generated)
        steve.fill("#new", NEW_PASSWORD)
        steve.fill("#confirm", NEW_PASSWORD)
        steve.click("form[action='/_gateway/console/password'] button[type=submit]")

    change_password()
    refused = steve.inner_text("#password-error")
    assert "not authorized to perform: iam:ChangePassword" in refused
    _shot(steve, "06-change-refused")

    # admin attaches IAMUserChangePassword; steve can change it now.
    admin.goto(f"{base}/_gateway/console/users/steve")
    form = admin.locator("form[action='/_gateway/console/do/AttachUserPolicy']")
    form.locator("select[name=PolicyArn]").select_option(
        "arn:aws:iam::aws:policy/IAMUserChangePassword"
    )
    form.locator("button").click()
    assert "AttachUserPolicy: done." in admin.content()
    _shot(admin, "07-policy-attached")
    change_password()
    steve.wait_for_load_state()
    assert "/_gateway/console/password" not in steve.url

    # admin makes steve privileged (admins group); steve enrolls a virtual MFA device.
    admin.goto(f"{base}/_gateway/console/users/steve")
    group = admin.locator("form[action='/_gateway/console/do/AddUserToGroup']")
    group.locator("select[name=GroupName]").select_option("admins")
    group.locator("button").click()
    assert "AddUserToGroup: done." in admin.content()
    steve.goto(f"{base}/_gateway/console/")
    steve.click("text=Assign a virtual MFA device")
    secret = steve.inner_text("#mfa-secret").strip()
    assert steve.locator("img.qr").get_attribute("src").startswith("data:image/svg+xml")
    _shot(steve, "08-mfa-enrollment")
    totp = pyotp.TOTP(secret)
    enrolled = step_at(datetime.now(UTC))
    steve.fill("#code1", totp.generate_otp(enrolled - 1))
    steve.fill("#code2", totp.generate_otp(enrolled))
    steve.click("text=Assign MFA")
    assert "Your MFA device is assigned." in steve.content()
    _shot(steve, "09-mfa-assigned")

    # steve signs out; the proxy sends him to sign in; password + code bring him back.
    steve.click("header button[type=submit]")
    steve.wait_for_url(re.compile(r".*/_gateway/signin/example.*"))
    steve.goto(f"{base}/app/reports")
    assert "next=/app/reports" in steve.url
    _sign_in(steve, "steve", NEW_PASSWORD)
    steve.wait_for_url(re.compile(r".*/mfa.*"))
    _shot(steve, "10-mfa-code")
    code = totp.generate_otp(enrolled + 1)
    steve.fill("#code", code)
    steve.click("button[type=submit]")
    steve.wait_for_url(f"{base}/app/reports")
    assert "protected page /reports" in steve.content()
    assert steve.inner_text("#who") == "steve"
    _shot(steve, "11-protected-page")

    # The same code a second time is refused.
    steve.goto(f"{base}/_gateway/console/")
    steve.click("header button[type=submit]")
    steve.wait_for_url(re.compile(r".*/_gateway/signin/example.*"))
    _sign_in(steve, "steve", NEW_PASSWORD)
    steve.wait_for_url(re.compile(r".*/mfa.*"))
    steve.fill("#code", code)
    steve.click("button[type=submit]")
    assert "The authentication code is not valid" in steve.inner_text("#mfa-error")
    _shot(steve, "12-replayed-code-refused")

    # admin creates backup with an access key and downloads the CSV.
    admin.goto(f"{base}/_gateway/console/users")
    admin.fill("#UserName", "backup")
    admin.check("#access_key")
    admin.click("#create-user")
    key_id = admin.inner_text("#key-id").strip()
    shown_secret = admin.inner_text("#key-secret").strip()
    _shot(admin, "13-backup-created")
    with admin.expect_download() as download_info:
        admin.click("#download-csv")
    download = download_info.value
    rows = list(csv.reader(io.StringIO(Path(download.path()).read_text(encoding="utf-8"))))
    assert rows[0] == ["User name", "Access key ID", "Secret access key", "Console login link"]
    assert rows[1][:3] == ["backup", key_id, shown_secret]
    assert download.suggested_filename == "backup_accessKeys.csv"

    # admin writes backup's policy in the editor; a request signed with the key succeeds.
    admin.goto(f"{base}/_gateway/console/inline?kind=user&name=backup")
    admin.fill("#PolicyName", "backup-write")
    admin.fill("#PolicyDocument", '{"Version": "2012-10-17", "Statement": []}')
    admin.click("text=Save inline policy")
    assert admin.locator(".findings .error").count() >= 1
    _shot(admin, "14-policy-editor-errors")
    admin.fill("#PolicyDocument", BACKUP_POLICY)
    admin.click("text=Save inline policy")
    assert "Inline policy backup-write is saved." in admin.content()
    _shot(admin, "15-policy-saved")
    url = f"{base}/app/backup/hello.txt"
    body = b"hello"
    headers = sign_request(
        "PUT", url, {}, body, rows[1][1], rows[1][2], "us-east-1", "app", datetime.now(UTC)
    )
    request = urllib.request.Request(url, data=body, headers=headers, method="PUT")  # noqa: S310
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - local test
        assert response.status == 200
        assert b"protected page /backup/hello.txt" in response.read()
