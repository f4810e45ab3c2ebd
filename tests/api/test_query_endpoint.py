"""
The Query endpoint on the wire: raw requests signed by botocore's SigV4 signer (not
the gateway's), malformed input, replayed captures, errors and the audit trail.
Every refusal is a 4xx with an AWS error body and changes nothing.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from gateway.iam.credentials import _key_context
from gateway.iam.operations import invoke

from .conftest import ADMIN, ENDPOINT, VECTORS, Api, audit_events

pytestmark = pytest.mark.anyio

FORM = "application/x-www-form-urlencoded; charset=utf-8"
CAPTURED_KEY = ("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")


def sign(
    api: Api,
    body: str | bytes,
    *,
    who: str = "admin",
    method: str = "POST",
    query: str = "",
    headers: dict[str, str] | None = None,
    service: str = "iam",
    key: tuple[str, str] | None = None,
) -> tuple[str, dict[str, str], bytes]:
    """Return (url, headers, body) signed by botocore with ``who``'s key."""
    data = body.encode() if isinstance(body, str) else body
    url = ENDPOINT + (f"?{query}" if query else "")
    request = AWSRequest(
        method=method, url=url, data=data, headers={"Content-Type": FORM, **(headers or {})}
    )
    key_id, secret = key or api.keys[who]
    SigV4Auth(Credentials(key_id, secret), service, "us-east-1").add_auth(request)
    return url, dict(request.headers.items()), data


async def send(api: Api, body: str | bytes, **options: Any) -> httpx.Response:
    method = options.get("method", "POST")
    url, headers, data = sign(api, body, **options)
    return await api.http.request(method, url, headers=headers, content=data)


def error_code(response: httpx.Response) -> str:
    """The AWS error code of an XML error response (and proof it is one)."""
    assert 400 <= response.status_code < 500, response.text
    assert response.headers["content-type"] == "text/xml"
    assert b"Traceback" not in response.content
    root = ET.fromstring(response.content)  # noqa: S314 - our own app's response
    assert root.tag == "{https://iam.amazonaws.com/doc/2010-05-08/}ErrorResponse"
    assert root.findtext("{*}RequestId") == response.headers["x-amzn-requestid"]
    code = root.findtext("{*}Error/{*}Code")
    assert code
    return code


async def user_names(api: Api) -> list[str]:
    return [u["UserName"] for u in (await invoke(api.iam, "ListUsers", {}))["Users"]]


async def test_a_signed_post_is_answered_in_xml(api: Api) -> None:
    """A POST with a form body, signed by botocore, gets AWS's response document."""
    response = await send(api, "Action=ListUsers&Version=2010-05-08")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/xml"
    root = ET.fromstring(response.content)  # noqa: S314 - our own app's response
    assert root.tag == "{https://iam.amazonaws.com/doc/2010-05-08/}ListUsersResponse"
    assert root.findtext("{*}ResponseMetadata/{*}RequestId") == response.headers["x-amzn-requestid"]
    names = {e.text for e in root.iterfind("{*}ListUsersResult/{*}Users/{*}member/{*}UserName")}
    assert names == {"admin", "reader", "nobody"}
    assert root.findtext("{*}ListUsersResult/{*}IsTruncated") == "false"


async def test_a_signed_get_and_a_presigned_url(api: Api) -> None:
    """Parameters may come in the query string: a signed GET and a botocore presigned URL."""
    response = await send(api, b"", method="GET", query="Action=ListUsers&Version=2010-05-08")
    assert response.status_code == 200, response.text
    client = api.client("reader")
    url = await api.run(client.generate_presigned_url, "list_users", HttpMethod="GET")
    assert "X-Amz-Signature=" in url
    presigned = await api.http.get(url)
    assert presigned.status_code == 200 and b"<UserName>reader</UserName>" in presigned.content
    forged = await api.http.get(url.replace("list_users", "x").replace("ListUsers", "ListRoles"))
    assert error_code(forged) == "SignatureDoesNotMatch"


PROTOCOL_ERRORS = [
    ("Version=2010-05-08", "MissingAction"),
    ("Action=&Version=2010-05-08", "MissingAction"),
    ("Action=ListUsers", "MissingParameter"),
    ("Action=ListUsers&Version=2011-06-15", "InvalidAction"),
    ("Action=GetCallerIdentity&Version=2010-05-08", "InvalidAction"),
    ("Action=listusers&Version=2010-05-08", "InvalidAction"),
    ("Action=ListUsers&Version=2010-05-08&Action=ListUsers", "MalformedQueryString"),
    ("Action=CreateUser&Version=2010-05-08&UserName=eve&X=%zz", "MalformedQueryString"),
    ("Action=CreateUser&Version=2010-05-08&UserName=%ff", "MalformedQueryString"),
    ("Action=CreateUser&Version=2010-05-08&UserName", "MalformedQueryString"),
    ("Action=CreateUser&Version=2010-05-08&UserName=eve%00", "MalformedQueryString"),
    ("Action=CreateUser&Version=2010-05-08&UserName=eve&Bogus=1", "ValidationError"),
    ("Action=CreateUser&Version=2010-05-08&UserName=eve&Path=nope", "ValidationError"),
    ("Action=CreateUser&Version=2010-05-08", "ValidationError"),
    (
        "Action=CreateUser&Version=2010-05-08&UserName=eve&Tags.member.0.Key=a&Tags.member.0.Value=b",
        "ValidationError",
    ),
    (
        "Action=CreateUser&Version=2010-05-08&UserName=eve&Tags.member.1.Key=a"
        "&Tags.member.1.Value=b&Tags.member.3.Key=c&Tags.member.3.Value=d",
        "ValidationError",
    ),
    ("Action=CreateUser&Version=2010-05-08&UserName=eve&Tags=x", "ValidationError"),
    ("Action=CreateUser&Version=2010-05-08&UserName=eve&Tags.member.1.Nope=x", "ValidationError"),
    ("Action=UntagUser&Version=2010-05-08&UserName=admin&TagKeys=team", "ValidationError"),
    ("Action=ListUsers&Version=2010-05-08&MaxItems=0", "ValidationError"),
    ("Action=ListUsers&Version=2010-05-08&MaxItems=ten", "ValidationError"),
    ("Action=ListUsers&Version=2010-05-08&Marker=x", "ValidationError"),
    ("Action=GetUser&Version=2010-05-08&MaxItems=1", "ValidationError"),
    (
        "Action=ChangePassword&Version=2010-05-08&UserName=reader&OldPassword=a&NewPassword=b",
        "ValidationError",
    ),
    ("Action=CreateUser&Version=2010-05-08&UserName=eve&PermissionsBoundary=arn:x", "NoSuchEntity"),
]


@pytest.mark.parametrize(("body", "code"), PROTOCOL_ERRORS)
async def test_malformed_requests_are_refused_and_change_nothing(
    api: Api, body: str, code: str
) -> None:
    """Missing or unknown Action/Version, bad encodings and bad lists are 4xx, never 500."""
    response = await send(api, body)
    assert error_code(response) == code
    assert "eve" not in await user_names(api)


async def test_secrets_are_refused_in_the_url(api: Api) -> None:
    """A password in the query string is refused (URLs are logged), even when signed."""
    query = "Action=CreateLoginProfile&Version=2010-05-08&UserName=nobody&Password=Pw-123456789!"
    response = await send(api, b"", method="GET", query=query)
    assert error_code(response) == "InvalidParameterValue"
    assert "Pw-123456789" not in response.text
    response = await send(
        api, "Action=GetLoginProfile&Version=2010-05-08&UserName=nobody", who="admin"
    )
    assert error_code(response) == "NoSuchEntity"


async def test_unsigned_and_badly_signed_requests_are_refused(api: Api) -> None:
    """No signature, an unknown key, a tampered body or another service's scope: 403/400."""
    body = b"Action=CreateUser&Version=2010-05-08&UserName=eve"
    unsigned = await api.http.post(ENDPOINT, content=body, headers={"Content-Type": FORM})
    assert unsigned.status_code == 403 and error_code(unsigned) == "MissingAuthenticationToken"
    unknown = await send(api, body, key=("AKIAIOSFODNN7EXAMPLE", "x" * 40))
    assert unknown.status_code == 403 and error_code(unknown) == "InvalidClientTokenId"
    url, headers, _ = sign(api, b"Action=CreateUser&Version=2010-05-08&UserName=bob")
    tampered = await api.http.post(url, headers=headers, content=body)
    assert tampered.status_code == 403 and error_code(tampered) == "SignatureDoesNotMatch"
    other_service = await send(api, body, service="sts")
    assert other_service.status_code in (400, 403) and error_code(other_service)
    unsigned_payload = await send(api, body, headers={"X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"})
    assert unsigned_payload.status_code == 400 and error_code(unsigned_payload)
    assert "eve" not in await user_names(api)


async def test_http_shape_errors(api: Api) -> None:
    """A body over the limit is 413, a non-form body 400, another method 405; none is a 500."""
    huge = await api.http.post(
        ENDPOINT,
        content=b"Action=ListUsers&" + b"x" * (1024 * 1024),
        headers={"Content-Type": FORM},
    )
    assert huge.status_code == 413 and error_code(huge) == "RequestEntityTooLarge"
    as_json = await send(
        api, b'{"Action": "ListUsers"}', headers={"Content-Type": "application/x-amz-json-1.1"}
    )
    assert as_json.status_code == 400
    assert as_json.json()["Error"]["Code"] == "InvalidRequest"  # JSON, as the client asked
    put = await send(api, b"Action=ListUsers&Version=2010-05-08", method="PUT")
    assert put.status_code == 405 and error_code(put) == "InvalidRequest"


async def test_an_unexpected_failure_is_a_bare_500(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug answers 500 InternalFailure with no detail (botocore retries only those)."""

    async def broken(call: Any) -> None:
        raise RuntimeError("internal detail: /srv/secret/path")

    endpoint: Any = api.app.endpoints["iam"]
    monkeypatch.setitem(endpoint.handlers, "ListUsers", broken)
    response = await send(api, "Action=ListUsers&Version=2010-05-08")
    assert response.status_code == 500
    assert b"InternalFailure" in response.content and b"/srv/secret" not in response.content
    assert b"Traceback" not in response.content


async def _install_captured_key(api: Api) -> None:
    # The captures were signed with AKIDEXAMPLE: give that key to an administrator.
    await api.user_with_key("replayer", ADMIN)
    real_id = api.keys["replayer"][0]
    store, cipher = api.iam.store, api.iam.cipher
    async with store.transaction(write=True) as tx:
        row = await tx.get("access_keys", {"id": real_id})
        assert row is not None
        await tx.delete("access_keys", {"id": real_id})
        sealed = cipher.seal(CAPTURED_KEY[1], context=_key_context(CAPTURED_KEY[0]))
        await tx.insert(
            "access_keys",
            {**row, "id": CAPTURED_KEY[0], "secret": sealed.ciphertext, "secret_kid": sealed.kid},
        )


def _captured(name: str) -> tuple[str, str, list[tuple[str, str]], bytes]:
    head, _, body = (VECTORS / "captured" / name).read_bytes().partition(b"\r\n\r\n")
    request_line, *lines = head.decode("latin-1").split("\r\n")
    method, target, _ = request_line.split(" ")
    headers = [tuple(line.split(": ", 1)) for line in lines]
    return method, target, headers, body  # type: ignore[return-value]


CAPTURED = sorted(
    p.name
    for p in (VECTORS / "captured").glob("*.txt")
    if p.name.startswith(("iam-", "cli-iam-", "presigned-iam-"))
)


@pytest.mark.parametrize("name", CAPTURED)
async def test_replayed_captures_are_refused(api: Api, name: str) -> None:
    """A captured botocore/CLI request replayed here (other host, path, date) is a 4xx."""
    method, target, headers, body = _captured(name)
    path = "/_gateway/iam" + target.removeprefix("/")
    unknown_key = await api.http.request(
        method, "http://gateway.test" + path, headers=headers, content=body
    )
    assert error_code(unknown_key) == "InvalidClientTokenId"
    await _install_captured_key(api)
    stale = await api.http.request(
        method, "http://gateway.test" + path, headers=headers, content=body
    )
    # Out of the skew window (an expired presigned URL is AWS's AccessDenied).
    assert error_code(stale) in ("SignatureDoesNotMatch", "RequestTimeTooSkewed", "AccessDenied")
    stamp = dict(headers).get("X-Amz-Date") or path.partition("X-Amz-Date=")[2][:16]
    captured_at = datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    assert api.app.services is not None
    api.app.services.guard.clock = lambda: captured_at
    moved = await api.http.request(
        method, "http://gateway.test" + path, headers=headers, content=body
    )
    # In time now, but the signature covers another path (and host): still refused.
    assert error_code(moved) == "SignatureDoesNotMatch"
    assert "bob" not in await user_names(api)


async def test_calls_are_audited_without_secrets(api: Api, tmp_path: Path) -> None:
    """Each call is one audit event with the IAM action and decision; no secret is written."""
    iam = api.client()
    await api.run(iam.create_user, UserName="carol")
    key = (await api.run(iam.create_access_key, UserName="carol"))["AccessKey"]
    await api.run(iam.create_login_profile, UserName="carol", Password="Carol-Passw0rd!")
    denied = await send(api, "Action=CreateUser&Version=2010-05-08&UserName=x", who="nobody")
    assert error_code(denied) == "AccessDenied"
    await api.app.stop()
    text = (tmp_path / "audit.jsonl").read_text()
    assert key["SecretAccessKey"] not in text and "Carol-Passw0rd!" not in text
    events = audit_events(tmp_path)
    created = [e for e in events if e["eventName"] == "CreateUser" and e["errorCode"] is None]
    assert created[0]["eventSource"].startswith("iam")
    assert created[0]["decision"] == "allowed"
    assert created[0]["resources"] == [{"ARN": f"arn:aws:iam::{api.iam.account_id}:user/carol"}]
    refused = [e for e in events if e["errorCode"] == "AccessDenied"]
    assert refused and refused[0]["decision"] == "implicitDeny"
    assert refused[0]["userIdentity"]["arn"].endswith(":user/nobody")


async def test_each_caller_acts_in_their_own_account(api: Api) -> None:
    """An administrator of another account sees and changes only that account."""
    from gateway.iam import IAM, create_account

    other = await create_account(
        api.iam.store, root_email="other@example.com", root_password="Other-Passw0rd!"
    )
    other_iam = IAM(api.iam.store, api.iam.cipher, account_id=other.account_id)
    await invoke(other_iam, "CreateUser", {"UserName": "admin2"})
    await invoke(other_iam, "AttachUserPolicy", {"UserName": "admin2", "PolicyArn": ADMIN})
    created = (await invoke(other_iam, "CreateAccessKey", {"UserName": "admin2"}))["AccessKey"]
    api.keys["admin2"] = (created["AccessKeyId"], created["SecretAccessKey"])
    client = api.client("admin2")
    names = [u["UserName"] for u in (await api.run(client.list_users))["Users"]]
    assert names == ["admin2"]
    with pytest.raises(client.exceptions.NoSuchEntityException):
        await api.run(client.delete_user, UserName="reader")
    assert "reader" in await user_names(api)


async def test_json_errors_when_asked(api: Api) -> None:
    """A client that asks for JSON gets the same error as JSON."""
    response = await send(api, "Version=2010-05-08", headers={"Accept": "application/json"})
    assert response.status_code == 400
    assert json.loads(response.content)["Error"]["Code"] == "MissingAction"
