"""
Authorize, then forward: the gateway in proxy mode against a real upstream.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from datetime import UTC, datetime

import pytest

from gateway.assertion import verify_assertion
from gateway.routing import RouteTable
from tests.edge.conftest import Edge, Upstream

pytestmark = pytest.mark.anyio


async def test_allowed_put_is_forwarded_with_identity(edge: Edge, upstream: Upstream) -> None:
    """An allowed PutObject reaches the upstream, prefix stripped, with identity headers."""
    response = await edge.call("PUT", "/backup/buckets/backup/objects/db/dump.sql", b"data")
    assert response.status_code == 200, response.text
    [seen] = upstream.seen
    assert seen["path"] == "/buckets/backup/objects/db/dump.sql"
    assert seen["body"] == b"data"
    headers = seen["headers"]
    assert headers["x-gateway-user"] == "backup"
    assert headers["x-gateway-principal-arn"].endswith(":user/backup")
    assert "authorization" not in headers
    assert not [name for name in headers if name.startswith("x-amz-")]
    assert headers["x-forwarded-for"] == "10.1.2.3"
    assert edge.app.services is not None
    claims = verify_assertion(
        headers["x-gateway-identity"],
        edge.app.services.signer.public_key_pem(),
        audience="backup",
        now=datetime.now(UTC),
    )
    assert claims["sub"] == headers["x-gateway-principal-arn"]
    assert claims["aud"] == "backup" and claims["usr"] == "backup"


async def test_denied_get_explains_why_and_forwards_nothing(edge: Edge, upstream: Upstream) -> None:
    """GetObject on another bucket is an implicit deny with AWS's message, in XML."""
    response = await edge.call("GET", "/backup/buckets/other/objects/x")
    assert response.status_code == 403
    assert "<Code>AccessDenied</Code>" in response.text
    assert "is not authorized to perform: backup:GetObject on resource: " in response.text
    assert "because no identity-based policy allows the backup:GetObject action" in response.text
    assert upstream.seen == []


async def test_json_errors_when_asked(edge: Edge) -> None:
    """A client that accepts JSON gets the error as JSON."""
    response = await edge.call(
        "GET", "/backup/buckets/other/objects/x", headers={"Accept": "application/json"}
    )
    assert response.status_code == 403
    assert response.json()["Error"]["Code"] == "AccessDenied"


async def test_unsigned_request_is_refused(edge: Edge, upstream: Upstream) -> None:
    """No credentials at all: MissingAuthenticationToken, nothing forwarded."""
    response = await edge.client.put("/backup/buckets/backup/objects/x", content=b"x")
    assert response.status_code == 403
    assert "MissingAuthenticationToken" in response.text
    assert upstream.seen == []


async def test_unknown_path_is_404(edge: Edge) -> None:
    """A path no upstream serves is 404 before any credential is looked at."""
    assert (await edge.client.get("/elsewhere")).status_code == 404


async def test_tampered_signature_is_refused(edge: Edge, upstream: Upstream) -> None:
    """Changing the signed path after signing gives SignatureDoesNotMatch."""
    headers = edge.signed("PUT", "/backup/buckets/backup/objects/a")
    response = await edge.client.put(
        "/backup/buckets/backup/objects/b", content=b"", headers=headers
    )
    assert response.status_code == 403
    assert "SignatureDoesNotMatch" in response.text
    assert edge.secret not in response.text
    assert upstream.seen == []


async def test_body_must_match_its_signed_hash(edge: Edge, upstream: Upstream) -> None:
    """A body swapped after signing does not verify and is not forwarded."""
    headers = edge.signed("PUT", "/backup/buckets/backup/objects/a", b"original")
    response = await edge.client.put(
        "/backup/buckets/backup/objects/a", content=b"swapped!", headers=headers
    )
    assert response.status_code == 403
    assert upstream.seen == []


async def test_bodyless_request_is_checked_against_the_empty_hash(
    edge: Edge, upstream: Upstream
) -> None:
    """Without a body (no Content-Length, no Transfer-Encoding) the signed hash must be
    the empty body's; a PUT whose signature claims a body it does not carry is refused."""
    path = "/backup/buckets/backup/objects/a"
    claimed = b"a body that never comes"
    headers = edge.signed(
        "PUT", path, claimed, {"x-amz-content-sha256": hashlib.sha256(claimed).hexdigest()}
    )
    response = await edge.client.put(path, headers=headers)
    assert response.status_code == 400
    assert "XAmzContentSHA256Mismatch" in response.text
    assert upstream.seen == []
    empty = await edge.call("PUT", path)
    assert empty.status_code == 200
    assert upstream.seen[0]["body"] == b""


async def test_deactivated_key_is_refused_on_next_request(edge: Edge) -> None:
    """Deactivating or deleting a key takes effect on the very next request."""
    path = "/backup/buckets/backup/objects/a"
    assert (await edge.call("PUT", path)).status_code == 200
    await edge.iam.update_access_key("backup", edge.key_id, "Inactive")
    response = await edge.call("PUT", path)
    assert response.status_code == 403 and "InvalidClientTokenId" in response.text
    await edge.iam.update_access_key("backup", edge.key_id, "Active")
    assert (await edge.call("PUT", path)).status_code == 200
    await edge.iam.delete_access_key("backup", edge.key_id)
    assert (await edge.call("PUT", path)).status_code == 403


async def test_detached_policy_denies_on_next_request(edge: Edge) -> None:
    """Detaching the policy turns the next request into a deny."""
    path = "/backup/buckets/backup/objects/a"
    assert (await edge.call("PUT", path)).status_code == 200
    [attached] = await edge.iam.list_attached_policies("user", "backup")
    await edge.iam.detach_policy("user", "backup", attached.policy_arn)
    assert (await edge.call("PUT", path)).status_code == 403


async def test_spoofed_identity_headers_never_pass(edge: Edge, upstream: Upstream) -> None:
    """Client-sent X-Gateway-* and X-Forwarded-* copies are replaced, not forwarded."""
    spoof = {
        "X-Gateway-User": "root",
        "X-Gateway-Principal-Arn": "arn:aws:iam::123456789012:root",
        "X-Forwarded-For": "1.2.3.4",
    }
    response = await edge.call("PUT", "/backup/buckets/backup/objects/a", headers=spoof)
    assert response.status_code == 200
    headers = upstream.seen[0]["headers"]
    assert headers["x-gateway-user"] == "backup"
    assert headers["x-forwarded-for"] == "10.1.2.3"


async def test_normalized_path_is_what_is_authorized_and_forwarded(
    edge: Edge, upstream: Upstream
) -> None:
    """Dot segments resolve before matching; the upstream sees the authorized path."""
    path = "/backup/buckets/other/../backup/objects/./a"
    response = await edge.call("PUT", path)
    assert response.status_code == 200, response.text
    assert upstream.seen[0]["path"] == "/buckets/backup/objects/a"


@pytest.mark.parametrize(
    "path",
    [
        "/backup/buckets/backup%2fobjects/a",
        "/backup/buckets/backup/objects/a;jsessionid=1",
        "/backup/buckets\\backup/objects/a",
        "/backup/buckets/%00/objects/a",
        "/backup/buckets/x/%2e%2e/backup/objects/a",
    ],
)
async def test_ambiguous_paths_are_refused(edge: Edge, upstream: Upstream, path: str) -> None:
    """Encoded slashes, `;` parameters, backslashes and NUL are 400s, never forwarded."""
    response = await edge.client.put(path, content=b"")
    assert response.status_code == 400
    assert upstream.seen == []


async def test_presigned_url_works_and_expires(edge: Edge, upstream: Upstream) -> None:
    """A presigned URL authorizes like a header signature; its parameters are not forwarded."""
    url = edge.presigned("PUT", "/backup/buckets/backup/objects/p")
    response = await edge.client.put(url)
    assert response.status_code == 200, response.text
    assert upstream.seen[0]["path"] == "/buckets/backup/objects/p"


async def test_upstream_timeout_is_504(edge: Edge, upstream: Upstream) -> None:
    """An upstream that hangs past the read timeout gives 504 with an AWS-style body."""
    upstream.behaviour = "hang"
    response = await edge.call("PUT", "/backup/buckets/backup/objects/a")
    assert response.status_code == 504


async def test_upstream_cut_short_is_502(edge: Edge, upstream: Upstream) -> None:
    """A small response whose body stops short of its Content-Length is 502, not relayed."""
    upstream.behaviour = "truncated"
    response = await edge.call("PUT", "/backup/buckets/backup/objects/a")
    assert response.status_code == 502
    assert "0123456789" not in response.text


async def test_hop_by_hop_response_headers_stay_with_the_upstream(
    edge: Edge, upstream: Upstream
) -> None:
    """Keep-Alive and headers the upstream's Connection header names are not relayed."""
    upstream.behaviour = "hop"
    response = await edge.call("PUT", "/backup/buckets/backup/objects/a")
    assert response.status_code == 200
    assert response.content == b"ok"
    assert response.headers["x-kept"] == "yes"
    assert "x-hop-only" not in response.headers
    assert "keep-alive" not in response.headers


async def test_large_response_is_streamed_whole(edge: Edge, upstream: Upstream) -> None:
    """A response over the one-piece size arrives byte for byte, with its length."""
    upstream.behaviour = "large"
    response = await edge.call("PUT", "/backup/buckets/backup/objects/a")
    assert response.status_code == 200
    assert response.content == bytes(range(256)) * 1024
    assert response.headers["content-length"] == str(256 * 1024)


async def test_upstream_down_is_502(edge: Edge, upstream: Upstream) -> None:
    """An upstream that refuses connections gives 502."""
    assert edge.app.services is not None
    guard = edge.app.services.guard
    table = guard.routes
    # Nothing listens on port 1: point the route table's URL there.
    bad = [dataclasses.replace(u, url="http://127.0.0.1:1") for u in edge.app.settings.upstreams]
    guard.routes = RouteTable.compile(bad, region="us-east-1")
    try:
        response = await edge.call("PUT", "/backup/buckets/backup/objects/a")
    finally:
        guard.routes = table
    assert response.status_code == 502
    assert "BadGateway" in response.text
    assert upstream.seen == []


async def test_every_decision_is_audited_without_secrets(edge: Edge) -> None:
    """Allowed, denied and unauthenticated calls each leave one audit line, secret-free."""
    await edge.call("PUT", "/backup/buckets/backup/objects/a", b"x")
    await edge.call("GET", "/backup/buckets/other/objects/b")
    await edge.client.get("/backup/buckets/backup/objects/a")
    await edge.app.stop()
    text = edge.audit_file.read_text()
    events = [json.loads(line) for line in text.splitlines()]
    assert [e["decision"] for e in events] == ["allowed", "implicitDeny", None]
    assert [e["errorCode"] for e in events] == [None, "AccessDenied", "MissingAuthenticationToken"]
    assert events[0]["eventName"] == "PutObject"
    assert events[0]["userIdentity"]["userName"] == "backup"
    assert events[0]["upstream"]["status"] == 200
    assert edge.secret not in text
    assert "AWS4-HMAC-SHA256" not in text


async def test_key_last_used_is_recorded_in_batches(edge: Edge) -> None:
    """Requests record the key's last use, written at the flush, without an IAM change."""
    assert (await edge.call("PUT", "/backup/buckets/backup/objects/a")).status_code == 200
    before = await edge.iam.store.generation()
    assert edge.app.services is not None
    await edge.app.services.guard.keys.flush_usage()
    used = await edge.iam.get_access_key_last_used(edge.key_id)
    assert used.last_used is not None
    assert (used.last_used_service, used.last_used_region) == ("backup", "us-east-1")
    assert await edge.iam.store.generation() == before
