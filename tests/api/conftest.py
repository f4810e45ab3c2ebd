"""
Fixtures for the IAM API: a started gateway app on the test's store (both backends)
and real boto3 clients whose HTTP requests are answered by the app in-process.

boto3 is synchronous, so each call runs in a worker thread; botocore's
``before-send`` event hands the signed request back to the event loop, where
``httpx.ASGITransport`` delivers it to the app. Everything above the socket is the
real client: serializer, SigV4 signer, parser, paginators, exceptions.
"""

from __future__ import annotations

import functools
import json
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import anyio
import anyio.from_thread
import anyio.to_thread
import boto3
import httpx
import pytest
from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.config import Config

from gateway.app import GatewayApp, create_app
from gateway.config import settings_from_mapping
from gateway.iam import IAM, Cipher, create_account, write_master_key
from gateway.iam.operations import invoke
from gateway.runtime import Runtime
from gateway.store import Store

REGION = "us-east-1"
ENDPOINT = "http://gateway.test/_gateway/iam"
VECTORS = Path(__file__).parent.parent / "vectors" / "sts-iam-wire"
ADMIN = "arn:aws:iam::aws:policy/AdministratorAccess"
READ_ONLY = "arn:aws:iam::aws:policy/IAMReadOnlyAccess"
T = TypeVar("T")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class _Body:
    """The raw stream botocore reads a response body from."""

    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


@dataclass
class Api:
    """The started app, its account, and keys for an admin, a read-only user and a nobody."""

    app: GatewayApp
    http: httpx.AsyncClient
    iam: IAM
    keys: dict[str, tuple[str, str]] = field(default_factory=dict, repr=False)
    sent: list[AWSPreparedRequest] = field(default_factory=list)

    async def _deliver(self, request: AWSPreparedRequest) -> AWSResponse:
        body = request.body or b""
        if isinstance(body, str):
            body = body.encode("utf-8")
        response = await self.http.request(
            request.method, request.url, headers=dict(request.headers.items()), content=body
        )
        return AWSResponse(
            request.url, response.status_code, dict(response.headers), _Body(response.content)
        )

    def client(self, who: str = "admin", *, region: str = REGION) -> Any:
        """Return a boto3 IAM client signing with ``who``'s access key (no retries)."""
        key_id, secret = self.keys[who]
        client = boto3.session.Session().client(
            "iam",
            region_name=region,
            endpoint_url=ENDPOINT,
            aws_access_key_id=key_id,
            aws_secret_access_key=secret,
            config=Config(retries={"total_max_attempts": 1}),
        )

        def send(request: AWSPreparedRequest, **_: Any) -> AWSResponse:
            self.sent.append(request)
            return anyio.from_thread.run(self._deliver, request)

        client.meta.events.register_first("before-send.iam", send)
        return client

    async def run(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a blocking boto3 call in a worker thread."""
        return await anyio.to_thread.run_sync(functools.partial(function, *args, **kwargs))

    async def user_with_key(self, name: str, *policies: str) -> tuple[str, str]:
        """Create ``name`` with ``policies`` attached and an access key; remember the key."""
        await invoke(self.iam, "CreateUser", {"UserName": name})
        for arn in policies:
            await invoke(self.iam, "AttachUserPolicy", {"UserName": name, "PolicyArn": arn})
        created = (await invoke(self.iam, "CreateAccessKey", {"UserName": name}))["AccessKey"]
        self.keys[name] = (created["AccessKeyId"], created["SecretAccessKey"])
        return self.keys[name]


@pytest.fixture
async def api(
    store: Store, cipher: Cipher, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Api]:
    """A started gateway app over the test's store, with `admin` and `reader` keys."""
    account = await create_account(
        store, root_email="root@example.com", root_password="Root-Passw0rd!"
    )
    iam = IAM(store, cipher, account_id=account.account_id)
    await iam.seed_builtin_policies()
    write_master_key(tmp_path / "master.key")
    settings = settings_from_mapping(
        {
            "store": {"url": "sqlite:///unused.db"},
            "secrets": {"master_key_file": "master.key"},
            "audit": {"sink": "file", "file": "audit.jsonl"},
        },
        base_dir=tmp_path,
        environ={},
    )

    async def open_runtime(cls: type[Runtime], opened: Any, **_: Any) -> Runtime:
        return Runtime(opened, store, cipher)

    # The app runs on the fixture's store (its own PostgreSQL schema) and cipher.
    monkeypatch.setattr(Runtime, "open", classmethod(open_runtime))
    monkeypatch.setattr(Runtime, "close", _no_close)
    app = create_app(settings)
    app.mount("console", _not_here)  # the console is not under test here
    await app.start()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport) as http:
        live = Api(app, http, iam)
        try:
            await live.user_with_key("admin", ADMIN)
            await live.user_with_key("reader", READ_ONLY)
            await live.user_with_key("nobody")
            yield live
        finally:
            await app.stop()


async def _not_here(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 404, "headers": []})
    await send({"type": "http.response.body", "body": b""})


async def _no_close(self: Runtime) -> None:
    # The store fixture closes the store it opened.
    return None


def audit_events(tmp_path: Path) -> list[dict[str, Any]]:
    """The audit events the app wrote so far."""
    path = tmp_path / "audit.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
