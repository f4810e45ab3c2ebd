"""
GatewayMiddleware around a real Starlette application.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from gateway import GatewayMiddleware, get_gateway
from gateway.auth.sigv4_sign import sign_request
from gateway.iam import IAM, create_account, load_cipher, write_master_key
from gateway.store import open_store

pytestmark = pytest.mark.anyio

READ_REPORTS = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Action": "reports:Get*", "Resource": "arn:aws:reports:*:*:report/*"}
    ],
}


async def whoami(request: Request) -> JSONResponse:
    context = get_gateway(request.scope)
    body = await request.body()
    return JSONResponse(
        {"arn": context.principal.arn, "action": context.route.action, "body": body.decode()}
    )


def build_app(tmp_path: Path) -> GatewayMiddleware:
    inner = Starlette(
        routes=[Route("/reports/{name}", whoami, methods=["GET", "POST"])],
    )
    config = {
        "store": {"url": f"sqlite:///{tmp_path}/gw.db"},
        "secrets": {"master_key_file": f"{tmp_path}/master.key"},
        "upstreams": [
            {
                "name": "reports",
                "url": "http://unused.invalid",
                "prefix": "/",
                "service": "reports",
                "routes": [
                    {
                        "methods": ["GET"],
                        "path": "/reports/{name}",
                        "action": "reports:GetReport",
                        "resource": "arn:aws:reports:{region}:{account}:report/{name}",
                    },
                    {
                        "methods": ["POST"],
                        "path": "/reports/{name}",
                        "action": "reports:PostReport",
                        "resource": "arn:aws:reports:{region}:{account}:report/{name}",
                    },
                ],
            }
        ],
    }
    return GatewayMiddleware(inner, config=config)


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, str, str]]:
    write_master_key(tmp_path / "master.key")
    store = await open_store(sqlite_path=tmp_path / "gw.db")
    await store.migrate()
    account = await create_account(
        store, root_email="r@example.com", root_password="Root-Passw0rd!"
    )
    iam = IAM(
        store,
        load_cipher(tmp_path / "master.key", env_name="X", environ={}),
        account_id=account.account_id,
    )
    await iam.create_user("analyst")
    await iam.put_inline_policy("user", "analyst", "read", READ_REPORTS)
    key = await iam.create_access_key("analyst")
    await store.close()
    app = build_app(tmp_path)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://app.test") as http:
        yield http, key.key.access_key_id, key.secret_access_key
    await app.aclose()


def _sign(method: str, path: str, key: str, secret: str, body: bytes = b"") -> dict[str, str]:
    return sign_request(
        method,
        f"http://app.test{path}",
        {},
        body,
        key,
        secret,
        "us-east-1",
        "reports",
        datetime.now(UTC),
    )


async def test_admitted_request_exposes_principal(
    client: tuple[httpx.AsyncClient, str, str],
) -> None:
    """An allowed request reaches the Starlette endpoint, which reads the principal."""
    http, key, secret = client
    response = await http.get("/reports/q3", headers=_sign("GET", "/reports/q3", key, secret))
    assert response.status_code == 200, response.text
    assert response.json()["arn"].endswith(":user/analyst")
    assert response.json()["action"] == "reports:GetReport"


async def test_denied_request_never_reaches_the_app(
    client: tuple[httpx.AsyncClient, str, str],
) -> None:
    """A POST the policy does not allow is answered by the middleware with AccessDenied."""
    http, key, secret = client
    body = b"new report"
    response = await http.post(
        "/reports/q3", content=body, headers=_sign("POST", "/reports/q3", key, secret, body)
    )
    assert response.status_code == 403
    assert "reports:PostReport" in response.text


async def test_unsigned_request_is_refused(client: tuple[httpx.AsyncClient, str, str]) -> None:
    """Without a signature the wrapped app is not called."""
    http, _, _ = client
    response = await http.get("/reports/q3")
    assert response.status_code == 403
    assert "MissingAuthenticationToken" in response.text


def test_reading_without_middleware_says_how_to_fix() -> None:
    """An app not wrapped by the middleware gets an error that names the fix."""
    with pytest.raises(RuntimeError, match="GatewayMiddleware must wrap this app"):
        get_gateway({"type": "http"})
