"""
Fixtures for the console: a started gateway app with a real upstream, an account
whose root can create users, and an httpx client that keeps cookies like a browser.
"""

from __future__ import annotations

import contextlib
import re
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pyotp
import pytest
from aiohttp import web

from gateway.app import GatewayApp, create_app
from gateway.config import settings_from_mapping
from gateway.iam import IAM, create_account, write_master_key
from gateway.iam.totp import step_at
from gateway.store import open_store

ROOT_EMAIL = "root@example.com"
ROOT_PASSWORD = "Root-Passw0rd!"
PASSWORD = "Steve-Passw0rd!"
HTML = {"accept": "text/html,application/xhtml+xml,*/*;q=0.8"}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class Console:
    """A started gateway with its console, an httpx client, and helpers to drive it."""

    app: GatewayApp
    client: httpx.AsyncClient
    iam: IAM
    clock: Clock
    upstream_seen: list[dict[str, Any]]
    audit_file: Path
    transport: httpx.ASGITransport = field(repr=False)

    @property
    def account(self) -> str:
        return self.iam.account_id

    def browser(self, ip: str = "10.9.8.7") -> httpx.AsyncClient:
        """A second, independent browser (own cookie jar, own source IP)."""
        transport = httpx.ASGITransport(app=self.app, client=(ip, 4444))
        return httpx.AsyncClient(transport=transport, base_url="http://gateway.test")

    async def add_user(
        self, name: str, password: str = PASSWORD, *, reset: bool = False, policy: str = ""
    ) -> None:
        await self.iam.create_user(name)
        await self.iam.create_login_profile(name, password, password_reset_required=reset)
        if policy:
            await self.iam.attach_policy("user", name, f"arn:aws:iam::aws:policy/{policy}")


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([0-9a-f]{64})"', html)
    assert found is not None, "no CSRF token on the page"
    return found.group(1)


async def sign_in(
    client: httpx.AsyncClient,
    account: str,
    name: str,
    password: str,
    *,
    next_path: str = "",
) -> httpx.Response:
    """Open the sign-in page, post the form, return the answer (not followed)."""
    page = await client.get(f"/_gateway/signin/{account}", headers=HTML)
    assert page.status_code == 200
    form = {"csrf": csrf_of(page.text), "username": name, "password": password}
    if next_path:
        form["next"] = next_path
    return await client.post(f"/_gateway/signin/{account}", data=form, headers=HTML)


async def submit_code(client: httpx.AsyncClient, account: str, code: str) -> httpx.Response:
    page = await client.get(f"/_gateway/signin/{account}/mfa", headers=HTML)
    assert page.status_code == 200, page.text
    return await client.post(
        f"/_gateway/signin/{account}/mfa",
        data={"csrf": csrf_of(page.text), "code": code},
        headers=HTML,
    )


async def post_form(
    client: httpx.AsyncClient, page_path: str, action: str, fields: dict[str, str]
) -> httpx.Response:
    """GET ``page_path`` for its CSRF token, then POST ``fields`` to ``action``."""
    page = await client.get(page_path, headers=HTML)
    assert page.status_code == 200, page.text
    return await client.post(action, data={"csrf": csrf_of(page.text), **fields}, headers=HTML)


def code_at(secret: str, step: int) -> str:
    return pyotp.TOTP(secret).generate_otp(step)


def current_step() -> int:
    return step_at(datetime.now(UTC))


async def _upstream_handler(request: web.Request) -> web.Response:
    seen: list[dict[str, Any]] = request.app[SEEN]
    seen.append(
        {
            "method": request.method,
            "path": request.raw_path,
            "headers": {k.lower(): v for k, v in request.headers.items()},
        }
    )
    return web.Response(
        text=f"<h1>protected page {request.raw_path}</h1>", content_type="text/html"
    )


SEEN = web.AppKey("seen", list)


@contextlib.asynccontextmanager
async def make_console(
    tmp_path: Path,
    *,
    server: dict[str, Any] | None = None,
    session: dict[str, Any] | None = None,
    signin: dict[str, Any] | None = None,
    alias: str | None = "example",
) -> AsyncIterator[Console]:
    """Start an upstream and a gateway in front of it; yield the console driver."""
    upstream = web.Application()
    seen: list[dict[str, Any]] = []
    upstream[SEEN] = seen
    upstream.router.add_route("*", "/{tail:.*}", _upstream_handler)
    runner = web.AppRunner(upstream, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    write_master_key(tmp_path / "master.key")
    settings = settings_from_mapping(
        {
            "store": {"url": "sqlite:///gw.db"},
            "secrets": {"master_key_file": "master.key"},
            "server": server or {},
            "session": session or {},
            "signin": signin or {},
            "audit": {"sink": "file", "file": "audit.jsonl"},
            "upstreams": [
                {
                    "name": "app",
                    "url": f"http://127.0.0.1:{port}",
                    "prefix": "/app",
                    "service": "app",
                    "routes": [
                        {
                            "methods": ["*"],
                            "path": "/{page:path}",
                            "action": "app:Use",
                            "resource": "arn:aws:app:{region}:{account}:page/{page}",
                        }
                    ],
                }
            ],
        },
        base_dir=tmp_path,
        environ={},
    )
    store = await open_store(sqlite_path=tmp_path / "gw.db")
    await store.migrate()
    account = await create_account(
        store, root_email=ROOT_EMAIL, root_password=ROOT_PASSWORD, alias=alias
    )
    await store.close()
    app = create_app(settings)
    await app.start()
    assert app.services is not None
    clock = Clock()
    guard = app.services.guard
    guard.clock = clock
    guard.sessions.clock = clock
    guard.sessions._last_flush = clock()
    runtime = app.services.runtime
    iam = IAM(runtime.store, runtime.cipher, account_id=account.account_id)
    await iam.seed_builtin_policies()
    transport = httpx.ASGITransport(app=app, client=("10.1.2.3", 5555))
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as client:
        yield Console(app, client, iam, clock, seen, tmp_path / "audit.jsonl", transport)
    await app.stop()
    await runner.cleanup()


ConsoleFactory = Callable[..., contextlib.AbstractAsyncContextManager[Console]]


@pytest.fixture
async def console(tmp_path: Path) -> AsyncIterator[Console]:
    """A started gateway with the console; backoff is short so tests stay fast."""
    async with make_console(
        tmp_path, signin={"backoff_base_seconds": 1.0, "backoff_max_seconds": 8.0}
    ) as started:
        yield started
