"""
A real gateway (uvicorn in a thread) in front of a small upstream (a thread too),
and headless Chromium driven by Playwright, for the console's browser tests.

Screenshots go to ``test-artifacts/screenshots/``.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import uvicorn

from gateway.app import create_app
from gateway.config import settings_from_mapping
from gateway.demo.objectstore import EmbeddedServer
from gateway.iam import IAM, create_account, write_master_key
from gateway.iam.crypto import Cipher
from gateway.runtime import cipher_from_settings
from gateway.store import open_store

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
ADMIN_PASSWORD = "Admin-Passw0rd!"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _Upstream(BaseHTTPRequestHandler):
    """The protected service: an HTML page for any path, and PUT accepted."""

    def _answer(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        if length:
            self.rfile.read(length)
        user = self.headers.get("x-gateway-user", "")
        body = (
            "<!doctype html><title>Reports</title>"
            f"<h1>protected page {self.path}</h1><p id='who'>{user}</p>"
        ).encode()
        self.send_response(200)
        self.send_header("content-type", "text/html; charset=utf-8")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_PUT = do_POST = _answer

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib name
        return


@dataclass
class Deployment:
    """The running gateway and what the tests need to reach it."""

    base: str
    account_id: str
    cipher: Cipher


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[Deployment]:
    """Start the upstream and the gateway; an `admin` user in the `admins` group exists."""
    upstream_port, gateway_port = free_port(), free_port()
    upstream = ThreadingHTTPServer(("127.0.0.1", upstream_port), _Upstream)
    upstream_thread = threading.Thread(target=upstream.serve_forever, daemon=True)
    upstream_thread.start()
    write_master_key(tmp_path / "master.key")
    base = f"http://127.0.0.1:{gateway_port}"
    settings = settings_from_mapping(
        {
            "store": {"url": "sqlite:///gw.db"},
            "secrets": {"master_key_file": "master.key"},
            "server": {"public_url": base},
            "audit": {"sink": "none"},
            "upstreams": [
                {
                    "name": "app",
                    "url": f"http://127.0.0.1:{upstream_port}",
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
    cipher = cipher_from_settings(settings)

    async def set_up() -> str:
        store = await open_store(sqlite_path=tmp_path / "gw.db")
        try:
            await store.migrate()
            account = await create_account(
                store,
                root_email="root@example.com",
                root_password="Root-Passw0rd!",
                alias="example",
            )
            iam = IAM(store, cipher, account_id=account.account_id)
            await iam.seed_builtin_policies()
            await iam.create_group("admins")
            await iam.attach_policy(
                "group", "admins", "arn:aws:iam::aws:policy/AdministratorAccess"
            )
            await iam.create_user("admin")
            await iam.add_user_to_group("admins", "admin")
            await iam.create_login_profile("admin", ADMIN_PASSWORD)
            return account.account_id
        finally:
            await store.close()

    account_id = asyncio.run(set_up())
    server = EmbeddedServer(
        uvicorn.Config(
            create_app(settings),
            host="127.0.0.1",
            port=gateway_port,
            lifespan="on",
            log_level="warning",
            access_log=False,
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the gateway did not start")
        time.sleep(0.05)
    try:
        yield Deployment(base, account_id, cipher)
    finally:
        server.should_exit = True
        thread.join(timeout=20)
        upstream.shutdown()
        upstream.server_close()


@pytest.fixture
def browser() -> Iterator[object]:
    """Headless Debian Chromium through Playwright."""
    if not CHROMIUM.exists():
        pytest.fail("Chromium is missing: install the `chromium` package (.ci/run does)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield launched
        finally:
            launched.close()
