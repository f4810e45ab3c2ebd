"""
The demo's backup bucket: object round trips, refusals, and nothing written outside its root.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.demo.objectstore import create_objectstore_app
from gateway.types import ASGIApp, Message

pytestmark = pytest.mark.anyio

ARN = "arn:aws:iam::123456789012:user/backup"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "store"


@pytest.fixture
def app(root: Path) -> ASGIApp:
    return create_objectstore_app(root, max_object_bytes=1024, buckets=["backups"])


@pytest.fixture
async def client(app: ASGIApp) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://store") as client:
        yield client


def _tree(path: Path) -> set[str]:
    return {str(entry.relative_to(path)) for entry in path.rglob("*")}


async def _call(
    app: ASGIApp, method: str, path: str, body: bytes = b"", content_length: str | None = None
) -> tuple[int, Any]:
    """
    Send one request with ``path`` exactly as given (httpx would collapse `../`).
    """
    length = str(len(body)) if content_length is None else content_length
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "path": path,
        "raw_path": path.encode("utf-8", "surrogateescape"),
        "query_string": b"",
        "headers": [(b"content-length", length.encode())],
    }
    sent: list[Message] = []
    requests = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive() -> Message:
        return requests.pop(0) if requests else {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, receive, send)
    body_out = b"".join(message.get("body", b"") for message in sent[1:])
    return sent[0]["status"], json.loads(body_out) if body_out else None


# -- round trips ------------------------------------------------------------------


async def test_put_get_head_delete_round_trip(client: httpx.AsyncClient) -> None:
    """An object written with PUT reads back with GET and HEAD, then DELETE removes it."""
    content = b"nightly backup\n"
    etag = f'"{hashlib.md5(content, usedforsecurity=False).hexdigest()}"'
    url = "/buckets/backups/objects/2024/db.sql"

    put = await client.put(url, content=content, headers={"x-gateway-principal-arn": ARN})
    assert put.status_code == 200
    assert put.json() == {
        "bucket": "backups",
        "key": "2024/db.sql",
        "size": len(content),
        "etag": etag,
        "storedBy": ARN,
    }

    get = await client.get(url)
    assert get.status_code == 200
    assert get.content == content
    assert get.headers["etag"] == etag
    assert get.headers["content-length"] == str(len(content))

    head = await client.head(url)
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["etag"] == etag
    assert head.headers["content-length"] == str(len(content))

    assert (await client.delete(url)).status_code == 204
    missing = await client.get(url)
    assert missing.status_code == 404
    assert missing.json()["error"] == "NoSuchKey"
    assert (await client.head(url)).status_code == 404
    assert (await client.delete(url)).status_code == 204


async def test_put_without_identity_stores_no_author(client: httpx.AsyncClient) -> None:
    """A PUT that did not come through the gateway records storedBy as null."""
    put = await client.put("/buckets/backups/objects/a", content=b"x")
    assert put.json()["storedBy"] is None


async def test_listing_filters_by_prefix(client: httpx.AsyncClient) -> None:
    """Listing returns keys in order with who stored them, narrowed by ?prefix=."""
    for key in ("logs/b", "logs/a", "db/dump"):
        await client.put(
            f"/buckets/backups/objects/{key}",
            content=key.encode(),
            headers={"x-gateway-principal-arn": ARN},
        )
    listing = (await client.get("/buckets/backups/objects")).json()
    assert [item["key"] for item in listing["objects"]] == ["db/dump", "logs/a", "logs/b"]
    assert {item["storedBy"] for item in listing["objects"]} == {ARN}
    narrowed = (await client.get("/buckets/backups/objects", params={"prefix": "logs/"})).json()
    assert narrowed["prefix"] == "logs/"
    assert [item["key"] for item in narrowed["objects"]] == ["logs/a", "logs/b"]


async def test_put_creates_bucket_and_buckets_are_listed(client: httpx.AsyncClient) -> None:
    """A PUT creates its bucket; /buckets lists both it and the pre-created one."""
    assert (await client.get("/buckets")).json() == {"buckets": ["backups"]}
    await client.put("/buckets/archive.2024/objects/k", content=b"1")
    assert (await client.get("/buckets")).json() == {"buckets": ["archive.2024", "backups"]}


async def test_missing_bucket_is_no_such_bucket(client: httpx.AsyncClient) -> None:
    """Reading from a bucket nobody created is 404 NoSuchBucket, and creates nothing."""
    for response in (
        await client.get("/buckets/nothere/objects"),
        await client.get("/buckets/nothere/objects/k"),
        await client.delete("/buckets/nothere/objects/k"),
    ):
        assert response.status_code == 404
        assert response.json()["error"] == "NoSuchBucket"
    assert (await client.get("/buckets")).json() == {"buckets": ["backups"]}


async def test_overwrite_replaces_content_and_keeps_one_blob(
    client: httpx.AsyncClient, root: Path
) -> None:
    """A second PUT to a key replaces its content and leaves no old blob behind."""
    url = "/buckets/backups/objects/k"
    await client.put(url, content=b"old")
    await client.put(url, content=b"new!")
    assert (await client.get(url)).content == b"new!"
    assert len(list((root / "backups").glob("*.blob"))) == 1
    assert len(list((root / "backups").iterdir())) == 2


async def test_concurrent_puts_leave_one_consistent_object(
    client: httpx.AsyncClient, root: Path
) -> None:
    """Racing PUTs to one key end with one blob whose content matches its etag."""
    url = "/buckets/backups/objects/k"
    bodies = [str(n).encode() * 50 for n in range(20)]
    await asyncio.gather(*(client.put(url, content=body) for body in bodies))
    get = await client.get(url)
    assert get.content in bodies
    assert get.headers["etag"] == f'"{hashlib.md5(get.content, usedforsecurity=False).hexdigest()}"'
    assert len(list((root / "backups").iterdir())) == 2


async def test_streamed_upload_in_chunks(client: httpx.AsyncClient) -> None:
    """A chunked body without content-length is stored whole, with the md5 of all of it."""
    chunks = [b"a" * 300, b"b" * 300, b"c" * 300]

    async def body() -> AsyncIterator[bytes]:
        for chunk in chunks:
            yield chunk

    put = await client.put("/buckets/backups/objects/big", content=body())
    assert put.status_code == 200
    whole = b"".join(chunks)
    assert put.json()["etag"] == f'"{hashlib.md5(whole, usedforsecurity=False).hexdigest()}"'
    assert (await client.get("/buckets/backups/objects/big")).content == whole


async def test_unusual_keys_round_trip(client: httpx.AsyncClient, root: Path) -> None:
    """Keys with spaces, unicode, `?` and dots are stored by hash, never as paths."""
    key = "rapports/été 2024?v=1/.hidden..tar"
    put = await client.put(f"/buckets/backups/objects/{key.replace('?', '%3F')}", content=b"z")
    assert put.json()["key"] == key
    listing = (await client.get("/buckets/backups/objects")).json()
    assert [item["key"] for item in listing["objects"]] == [key]
    assert all(len(name.split(".")[0]) == 64 for name in _tree(root / "backups"))


async def test_key_length_limit(client: httpx.AsyncClient) -> None:
    """A key of 1024 bytes of utf-8 is accepted; one more byte is refused."""
    ok = await client.put("/buckets/backups/objects/" + "k" * 1024, content=b"")
    assert ok.status_code == 200
    too_long = await client.put("/buckets/backups/objects/" + "é" * 512 + "k", content=b"")
    assert too_long.status_code == 400
    assert too_long.json()["error"] == "InvalidKey"


# -- refusals: traversal ----------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        # percent-encoded dots reach the app decoded as `..`
        "/buckets/backups/objects/%2e%2e/%2e%2e/escaped",
        "/buckets/backups/objects/a/%2E%2E/%2E%2E/%2E%2E/escaped",
        "/buckets/backups/objects/a/%2e/b",
        # absolute: an empty first segment after objects/
        "/buckets/backups/objects//etc/passwd",
        "/buckets/backups/objects/%2Fetc%2Fpasswd",
        # backslashes, NUL, control characters
        "/buckets/backups/objects/..%5C..%5Cescaped",
        "/buckets/backups/objects/a%5Cb",
        "/buckets/backups/objects/a%00b",
        "/buckets/backups/objects/a%0Ab",
    ],
)
async def test_traversal_keys_refused(
    client: httpx.AsyncClient, root: Path, tmp_path: Path, path: str
) -> None:
    """Keys that could escape the bucket are 400 for every method, and nothing is written."""
    before = _tree(tmp_path)
    for method in ("PUT", "GET", "DELETE"):
        response = await client.request(method, path, content=b"evil")
        assert response.status_code == 400, method
        assert response.json()["error"] == "InvalidKey"
    assert _tree(tmp_path) == before == {"store", "store/backups"}


@pytest.mark.parametrize(
    "path",
    [
        "/buckets/backups/objects/../../../escaped",
        "/buckets/backups/objects/a/../../escaped",
        "/buckets/backups/objects/..",
        "/buckets/backups/objects//tmp/escaped",
        "/buckets/backups/objects/C:\\escaped",
    ],
)
async def test_raw_traversal_paths_refused(app: ASGIApp, tmp_path: Path, path: str) -> None:
    """Literal `../` paths (which httpx would collapse) are refused before any write."""
    before = _tree(tmp_path)
    status, body = await _call(app, "PUT", path, b"evil")
    assert (status, body["error"]) == (400, "InvalidKey")
    assert _tree(tmp_path) == before


@pytest.mark.parametrize(
    "path",
    ["/buckets/../objects/x", "/buckets/%2e%2e/objects/x", "/buckets/.../objects/x"],
)
async def test_traversal_in_bucket_refused(app: ASGIApp, tmp_path: Path, path: str) -> None:
    """A bucket segment of dots is an invalid bucket name, whichever way it is spelled."""
    before = _tree(tmp_path)
    status, body = await _call(app, "PUT", path.replace("%2e", "."), b"evil")
    assert (status, body["error"]) == (400, "InvalidBucketName")
    assert _tree(tmp_path) == before


async def test_tampered_metadata_cannot_point_outside(
    client: httpx.AsyncClient, root: Path, tmp_path: Path
) -> None:
    """Metadata whose blob name is not one the store generates reads as a missing key."""
    (tmp_path / "secret").write_bytes(b"do not serve")
    put = await client.put("/buckets/backups/objects/k", content=b"x")
    assert put.status_code == 200
    [meta_path] = (root / "backups").glob("*.json")
    meta = json.loads(meta_path.read_bytes())
    meta_path.write_text(json.dumps({**meta, "blob": "../../secret"}))
    response = await client.get("/buckets/backups/objects/k")
    assert response.status_code == 404
    assert response.json()["error"] == "NoSuchKey"


# -- refusals: size, routes, bucket names -----------------------------------------


async def test_object_at_limit_is_accepted(client: httpx.AsyncClient) -> None:
    """An object of exactly max_object_bytes is stored."""
    put = await client.put("/buckets/backups/objects/k", content=b"x" * 1024)
    assert (put.status_code, put.json()["size"]) == (200, 1024)


async def test_declared_oversize_is_413(client: httpx.AsyncClient, root: Path) -> None:
    """A content-length past the limit is refused with 413 before the body is read."""
    response = await client.put("/buckets/backups/objects/k", content=b"x" * 1025)
    assert response.status_code == 413
    assert response.json()["error"] == "EntityTooLarge"
    assert _tree(root) == {"backups"}


async def test_streamed_oversize_is_413_and_leaves_nothing(
    client: httpx.AsyncClient, root: Path
) -> None:
    """A chunked body that grows past the limit is refused and its temp file removed."""

    async def body() -> AsyncIterator[bytes]:
        for _ in range(5):
            yield b"x" * 300

    response = await client.put("/buckets/backups/objects/k", content=body())
    assert response.status_code == 413
    assert _tree(root) == {"backups"}
    assert (await client.get("/buckets/backups/objects/k")).status_code == 404


@pytest.mark.parametrize("content_length", ["-1", "1e3", "０", ""])
async def test_bad_content_length_is_400(app: ASGIApp, root: Path, content_length: str) -> None:
    """A content-length that is not a plain number is a 400, not a 500."""
    status, body = await _call(app, "PUT", "/buckets/backups/objects/k", b"x", content_length)
    assert (status, body["error"]) == (400, "InvalidRequest")
    assert _tree(root) == {"backups"}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/"),
        ("GET", "/nope"),
        ("GET", "/buckets/"),
        ("GET", "/buckets/backups"),
        ("PUT", "/buckets/backups"),
        ("GET", "/buckets/backups/other"),
        ("GET", "/buckets/backups/objectsx"),
        ("GET", "/whoami/extra"),
    ],
)
async def test_unknown_routes_are_404(client: httpx.AsyncClient, method: str, path: str) -> None:
    """Paths outside the route table are 404 NotFound."""
    response = await client.request(method, path)
    assert response.status_code == 404
    assert response.json()["error"] == "NotFound"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/buckets/backups/objects/k"),
        ("PUT", "/buckets/backups/objects"),
        ("DELETE", "/buckets"),
        ("POST", "/whoami"),
    ],
)
async def test_wrong_method_is_405(client: httpx.AsyncClient, method: str, path: str) -> None:
    """A known route with the wrong method is 405 with an Allow header."""
    response = await client.request(method, path)
    assert response.status_code == 405
    assert "GET" in response.headers["allow"]


@pytest.mark.parametrize(
    "bucket",
    [
        "ab",  # too short
        "a" * 64,  # too long
        "Backups",  # uppercase
        "-backups",
        "backups-",
        ".backups",
        "back_ups",
        "back ups",
    ],
)
async def test_bad_bucket_names_are_400(client: httpx.AsyncClient, bucket: str) -> None:
    """Bucket names outside [a-z0-9][a-z0-9.-]{1,61}[a-z0-9] are 400 InvalidBucketName."""
    for response in (
        await client.put(f"/buckets/{bucket}/objects/k", content=b"x"),
        await client.get(f"/buckets/{bucket}/objects"),
    ):
        assert response.status_code == 400
        assert response.json()["error"] == "InvalidBucketName"


def test_constructor_refuses_bad_settings(tmp_path: Path) -> None:
    """Invalid pre-created bucket names and negative limits fail at construction."""
    with pytest.raises(ValueError, match="bucket"):
        create_objectstore_app(tmp_path, buckets=["../etc"])
    with pytest.raises(ValueError, match="max_object_bytes"):
        create_objectstore_app(tmp_path, max_object_bytes=-1)


# -- identity echo and lifespan -----------------------------------------------------


async def test_whoami_echoes_only_gateway_headers(client: httpx.AsyncClient) -> None:
    """/whoami returns exactly the x-gateway-* request headers, lowercased."""
    response = await client.get(
        "/whoami",
        headers={
            "X-Gateway-Principal-Arn": ARN,
            "X-Gateway-User": "backup",
            "X-Gateway-Account": "123456789012",
            "Authorization": "AWS4-HMAC-SHA256 Credential=secret",
            "Cookie": "session=secret",
            "X-Other": "no",
        },
    )
    assert response.status_code == 200
    assert response.json() == {
        "x-gateway-principal-arn": ARN,
        "x-gateway-user": "backup",
        "x-gateway-account": "123456789012",
    }


async def test_lifespan_completes(app: ASGIApp) -> None:
    """The app answers lifespan startup and shutdown so uvicorn can run it with lifespan on."""
    incoming = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
    sent: list[Message] = []

    async def receive() -> Message:
        return incoming.pop(0)

    async def send(message: Message) -> None:
        sent.append(message)

    await app({"type": "lifespan"}, receive, send)
    assert [message["type"] for message in sent] == [
        "lifespan.startup.complete",
        "lifespan.shutdown.complete",
    ]
