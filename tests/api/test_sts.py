"""
The STS API with real boto3 clients, in-process, on both store backends: who may
assume a role, MFA, external ids, session policies, durations, revocation, expiry.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import anyio
import anyio.from_thread
import boto3
import pyotp
import pytest
from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.config import Config
from botocore.exceptions import ClientError

from gateway.api.query import QueryCall
from gateway.api.sts import assume_role
from gateway.auth.sigv4_sign import sign_request
from gateway.errors import AccessDenied
from gateway.iam import IAM, create_account
from gateway.iam.operations import invoke
from gateway.principal import Principal, PrincipalType
from gateway.types import RequestView
from tests.api.conftest import ADMIN, READ_ONLY, REGION, Api, audit_events

pytestmark = pytest.mark.anyio

STS = "http://gateway.test/_gateway/sts"
IAM_ENDPOINT = "http://gateway.test/_gateway/iam"
Creds = dict[str, str]
VIEW = RequestView(
    method="POST",
    path="/_gateway/sts",
    raw_path="/_gateway/sts",
    query_string="",
    headers=(),
    scheme="http",
    client_ip="127.0.0.1",
)


# --- helpers --------------------------------------------------------------------------------------


def client(
    api: Api,
    service: str,
    creds: tuple[str, str] | Creds,
    *,
    retries: bool = False,
) -> Any:
    """A boto3 client for ``service`` with a long-term key pair or STS credentials."""
    if isinstance(creds, tuple):
        key_id, secret, token = creds[0], creds[1], None
    else:
        key_id, secret, token = (
            creds["AccessKeyId"],
            creds["SecretAccessKey"],
            creds["SessionToken"],
        )
    # Parameters go unchecked by the client, so the server's own validation is tested.
    config = Config(
        parameter_validation=False, retries=None if retries else {"total_max_attempts": 1}
    )
    made = boto3.session.Session().client(
        service,
        region_name=REGION,
        endpoint_url=STS if service == "sts" else IAM_ENDPOINT,
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
        aws_session_token=token,
        config=config,
    )

    def send(request: AWSPreparedRequest, **_: Any) -> AWSResponse:
        api.sent.append(request)
        return anyio.from_thread.run(api._deliver, request)

    made.meta.events.register_first(f"before-send.{service}", send)
    return made


def trust(principal: str, **condition: Any) -> dict[str, Any]:
    statement: dict[str, Any] = {
        "Effect": "Allow",
        "Principal": {"AWS": principal},
        "Action": ["sts:AssumeRole", "sts:TagSession", "sts:SetSourceIdentity"],
    }
    if condition:
        statement["Condition"] = condition
    return {"Version": "2012-10-17", "Statement": [statement]}


def allow(*actions: str, **condition: Any) -> dict[str, Any]:
    statement: dict[str, Any] = {"Effect": "Allow", "Action": list(actions), "Resource": "*"}
    if condition:
        statement["Condition"] = condition
    return {"Version": "2012-10-17", "Statement": [statement]}


def user_arn(api: Api, name: str) -> str:
    return f"arn:aws:iam::{api.iam.account_id}:user/{name}"


async def role(api: Api, name: str, trust_policy: dict[str, Any], *policies: str, **kw: Any) -> str:
    created = await api.iam.create_role(name, trust_policy, **kw)
    for arn in policies:
        await api.iam.attach_policy("role", name, arn)
    return created.arn


async def assume(api: Api, who: str | Creds, role_arn: str, **params: Any) -> dict[str, Any]:
    caller = client(api, "sts", api.keys[who] if isinstance(who, str) else who)
    return await api.run(caller.assume_role, RoleArn=role_arn, RoleSessionName="s1", **params)


async def refused(api: Api, call: Any, *args: Any, **kwargs: Any) -> ClientError:
    with pytest.raises(ClientError) as caught:
        await api.run(call, *args, **kwargs)
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] < 500
    return caught.value


def code_of(error: ClientError) -> str:
    return str(error.response["Error"]["Code"])


async def enable_mfa(api: Api, user: str) -> tuple[str, pyotp.TOTP]:
    device = await api.iam.create_virtual_mfa_device(f"{user}-phone")
    totp = pyotp.TOTP(device.base32_seed)
    now = datetime.now(UTC)
    await api.iam.enable_mfa_device(
        user, device.serial_number, totp.at(now - timedelta(seconds=30)), totp.at(now)
    )
    return device.serial_number, totp


def next_code(totp: pyotp.TOTP) -> str:
    # One step ahead: within the accepted drift and never spent by the enrollment.
    return str(totp.at(datetime.now(UTC) + timedelta(seconds=30)))


# --- identity -------------------------------------------------------------------------------------


async def test_get_caller_identity_names_the_signing_user(api: Api) -> None:
    """GetCallerIdentity needs no permission and names the user behind the key."""
    caller = client(api, "sts", api.keys["nobody"])
    found = await api.run(caller.get_caller_identity)
    assert found["Arn"] == user_arn(api, "nobody")
    assert found["Account"] == api.iam.account_id
    assert found["UserId"].startswith("AIDA")


# --- who may assume a role ------------------------------------------------------------------------


async def test_trust_naming_the_user_is_enough_and_the_session_is_an_assumed_role(
    api: Api,
) -> None:
    """A trust policy naming the user lets it assume the role with no identity policy."""
    arn = await role(api, "Direct", trust(user_arn(api, "nobody")))
    result = await assume(api, "nobody", arn, DurationSeconds=900)
    creds = result["Credentials"]
    assert creds["AccessKeyId"].startswith("ASIA") and len(creds["AccessKeyId"]) == 20
    assert len(creds["SecretAccessKey"]) == 40
    remaining = creds["Expiration"] - datetime.now(UTC)
    assert timedelta(seconds=890) < remaining <= timedelta(seconds=900)
    role_id = (await api.iam.get_role("Direct")).role_id
    session_arn = f"arn:aws:sts::{api.iam.account_id}:assumed-role/Direct/s1"
    assert result["AssumedRoleUser"] == {"AssumedRoleId": f"{role_id}:s1", "Arn": session_arn}
    me = await api.run(client(api, "sts", creds).get_caller_identity)
    assert me["Arn"] == session_arn
    assert me["UserId"] == f"{role_id}:s1"


async def test_trust_naming_the_account_also_needs_an_identity_allow(api: Api) -> None:
    """Same account, trust names the account: the caller's own policies must allow too."""
    arn = await role(api, "ViaAccount", trust(f"arn:aws:iam::{api.iam.account_id}:root"))
    error = await refused(
        api, client(api, "sts", api.keys["nobody"]).assume_role, RoleArn=arn, RoleSessionName="s1"
    )
    assert code_of(error) == "AccessDenied"
    assert error.response["Error"]["Message"] == (
        f"User: {user_arn(api, 'nobody')} is not authorized to perform: sts:AssumeRole "
        f"on resource: {arn}"
    )
    assert (await assume(api, "admin", arn))["Credentials"]["AccessKeyId"].startswith("ASIA")


async def test_trust_that_names_someone_else_refuses_even_an_administrator(api: Api) -> None:
    """An identity allow cannot stand in for a trust policy that does not trust the caller."""
    arn = await role(api, "ReaderOnly", trust(user_arn(api, "reader")))
    error = await refused(
        api, client(api, "sts", api.keys["admin"]).assume_role, RoleArn=arn, RoleSessionName="s1"
    )
    assert code_of(error) == "AccessDenied"
    assert (await assume(api, "reader", arn))["AssumedRoleUser"]["Arn"].endswith("/ReaderOnly/s1")


async def test_unknown_role_is_refused_like_a_role_that_does_not_trust_you(api: Api) -> None:
    """A role that does not exist gets the same AccessDenied: existence does not leak."""
    arn = f"arn:aws:iam::{api.iam.account_id}:role/Ghost"
    error = await refused(
        api, client(api, "sts", api.keys["admin"]).assume_role, RoleArn=arn, RoleSessionName="s1"
    )
    assert code_of(error) == "AccessDenied"
    assert error.response["Error"]["Message"].endswith(f"on resource: {arn}")


async def test_cross_account_needs_the_trust_and_the_callers_identity_policy(api: Api) -> None:
    """Across accounts of one deployment, trust and identity policy must both allow."""
    other = await create_account(
        api.iam.store, root_email="other@example.com", root_password="Root-Passw0rd!"
    )
    remote = IAM(api.iam.store, api.iam.cipher, account_id=other.account_id)
    created = await remote.create_role("Partner", trust(f"arn:aws:iam::{api.iam.account_id}:root"))
    error = await refused(
        api,
        client(api, "sts", api.keys["nobody"]).assume_role,
        RoleArn=created.arn,
        RoleSessionName="s1",
    )
    assert code_of(error) == "AccessDenied"
    creds = (await assume(api, "admin", created.arn))["Credentials"]
    me = await api.run(client(api, "sts", creds).get_caller_identity)
    assert me["Account"] == other.account_id
    assert me["Arn"] == f"arn:aws:sts::{other.account_id}:assumed-role/Partner/s1"


@pytest.mark.parametrize(
    ("given", "allowed"),
    [({}, False), ({"ExternalId": "wrong-id"}, False), ({"ExternalId": "shared-secret-1"}, True)],
)
async def test_external_id_is_checked_by_the_trust_policy(
    api: Api, given: dict[str, str], allowed: bool
) -> None:
    """A trust policy requiring sts:ExternalId refuses a missing or wrong one."""
    arn = await role(
        api,
        "Vendor",
        trust(user_arn(api, "nobody"), StringEquals={"sts:ExternalId": "shared-secret-1"}),
    )
    if allowed:
        assert (await assume(api, "nobody", arn, **given))["Credentials"]
    else:
        caller = client(api, "sts", api.keys["nobody"])
        error = await refused(api, caller.assume_role, RoleArn=arn, RoleSessionName="s1", **given)
        assert code_of(error) == "AccessDenied"


async def test_root_may_not_assume_roles(api: Api) -> None:
    """As AWS: roles may not be assumed by root accounts (even when trusted)."""
    arn = await role(api, "ForRoot", trust(f"arn:aws:iam::{api.iam.account_id}:root"))
    root = Principal(
        PrincipalType.ROOT,
        f"arn:aws:iam::{api.iam.account_id}:root",
        api.iam.account_id,
        api.iam.account_id,
        credential="sigv4",
    )
    call = QueryCall(
        "AssumeRole",
        {"RoleArn": arn, "RoleSessionName": "s1"},
        root,
        VIEW,
        "req-1",
        datetime.now(UTC),
        api.app,
    )
    with pytest.raises(AccessDenied, match="Roles may not be assumed by root accounts"):
        await assume_role(call)


# --- MFA ------------------------------------------------------------------------------------------


async def test_mfa_required_by_trust_is_met_once_per_code(api: Api) -> None:
    """Without a code the trust refuses; a valid code passes; the same code twice fails."""
    serial, totp = await enable_mfa(api, "nobody")
    arn = await role(
        api, "Guarded", trust(user_arn(api, "nobody"), Bool={"aws:MultiFactorAuthPresent": "true"})
    )
    caller = client(api, "sts", api.keys["nobody"])
    error = await refused(api, caller.assume_role, RoleArn=arn, RoleSessionName="s1")
    assert code_of(error) == "AccessDenied"
    code = next_code(totp)
    result = await assume(api, "nobody", arn, SerialNumber=serial, TokenCode=code)
    creds = result["Credentials"]
    assert creds["AccessKeyId"].startswith("ASIA")
    before = len(api.sent)
    error = await refused(
        api,
        caller.assume_role,
        RoleArn=arn,
        RoleSessionName="s2",
        SerialNumber=serial,
        TokenCode=code,
    )
    assert code_of(error) == "AccessDenied"
    assert "MultiFactorAuthentication failed" in error.response["Error"]["Message"]
    assert len(api.sent) == before + 1  # a 4xx: no retry replayed the code
    # The session remembers MFA: a policy requiring it allows the session's calls.
    await api.iam.put_inline_policy(
        "role",
        "Guarded",
        "mfa",
        allow("iam:ListRoles", Bool={"aws:MultiFactorAuthPresent": "true"}),
    )
    assert "Roles" in await api.run(client(api, "iam", creds).list_roles)


async def test_mfa_code_of_another_device_or_wrong_code_is_refused(api: Api) -> None:
    """A wrong code, or a serial number that is not the device's, is AccessDenied."""
    serial, totp = await enable_mfa(api, "nobody")
    arn = await role(api, "Plain", trust(user_arn(api, "nobody")))
    caller = client(api, "sts", api.keys["nobody"])
    wrong = "000000" if next_code(totp) != "000000" else "111111"
    for serial_number, code in ((serial, wrong), (serial + "x", next_code(totp))):
        error = await refused(
            api,
            caller.assume_role,
            RoleArn=arn,
            RoleSessionName="s1",
            SerialNumber=serial_number,
            TokenCode=code,
        )
        assert code_of(error) == "AccessDenied"


# --- session policies and tags --------------------------------------------------------------------


async def test_session_policy_can_only_narrow(api: Api) -> None:
    """A session policy allowing everything does not widen the role; one allowing less narrows."""
    arn = await role(api, "Lister", trust(user_arn(api, "nobody")))
    await api.iam.put_inline_policy("role", "Lister", "list", allow("iam:ListRoles"))
    wide = (await assume(api, "nobody", arn, Policy=json.dumps(allow("*"))))["Credentials"]
    session = client(api, "iam", wide)
    assert "Roles" in await api.run(session.list_roles)
    assert code_of(await refused(api, session.list_users)) == "AccessDenied"
    narrow = await assume(api, "nobody", arn, Policy=json.dumps(allow("iam:ListUsers")))
    session = client(api, "iam", narrow["Credentials"])
    assert code_of(await refused(api, session.list_roles)) == "AccessDenied"
    assert code_of(await refused(api, session.list_users)) == "AccessDenied"
    assert 0 <= narrow["PackedPolicySize"] <= 100


async def test_managed_session_policies_narrow_an_administrator_role(api: Api) -> None:
    """PolicyArns narrow the role to the managed policy's current version."""
    arn = await role(api, "Admin", trust(user_arn(api, "nobody")), ADMIN)
    creds = (await assume(api, "nobody", arn, PolicyArns=[{"arn": READ_ONLY}]))["Credentials"]
    session = client(api, "iam", creds)
    assert "Users" in await api.run(session.list_users)
    error = await refused(api, session.create_user, UserName="eve")
    assert code_of(error) == "AccessDenied"


async def test_malformed_session_policy_is_refused(api: Api) -> None:
    """A session policy the engine refuses is MalformedPolicyDocument (400)."""
    arn = await role(api, "Any", trust(user_arn(api, "nobody")))
    caller = client(api, "sts", api.keys["nobody"])
    error = await refused(
        api, caller.assume_role, RoleArn=arn, RoleSessionName="s1", Policy='{"Statement": 1}'
    )
    assert code_of(error) == "MalformedPolicyDocument"


async def test_session_tags_become_principal_tags(api: Api) -> None:
    """Session tags need sts:TagSession and appear as aws:PrincipalTag in the session."""
    arn = await role(api, "Tagged", trust(user_arn(api, "nobody")))
    await api.iam.put_inline_policy(
        "role",
        "Tagged",
        "ops",
        allow("iam:ListRoles", StringEquals={"aws:PrincipalTag/team": "ops"}),
    )
    tagged = await assume(api, "nobody", arn, Tags=[{"Key": "team", "Value": "ops"}])
    assert "Roles" in await api.run(client(api, "iam", tagged["Credentials"]).list_roles)
    plain = await assume(api, "nobody", arn)
    assert code_of(await refused(api, client(api, "iam", plain["Credentials"]).list_roles)) == (
        "AccessDenied"
    )
    no_tagging = await role(
        api,
        "NoTagging",
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": user_arn(api, "nobody")},
                    "Action": "sts:AssumeRole",
                }
            ],
        },
    )
    caller = client(api, "sts", api.keys["nobody"])
    error = await refused(
        api,
        caller.assume_role,
        RoleArn=no_tagging,
        RoleSessionName="s1",
        Tags=[{"Key": "team", "Value": "ops"}],
    )
    assert "sts:TagSession" in error.response["Error"]["Message"]


# --- durations and parameters ---------------------------------------------------------------------


@pytest.mark.parametrize("seconds", [899, 3601, 43201])
async def test_duration_out_of_range_is_a_validation_error(api: Api, seconds: int) -> None:
    """DurationSeconds below 900 or above the role's maximum is ValidationError (400)."""
    arn = await role(api, "Short", trust(user_arn(api, "nobody")))
    caller = client(api, "sts", api.keys["nobody"])
    error = await refused(
        api, caller.assume_role, RoleArn=arn, RoleSessionName="s1", DurationSeconds=seconds
    )
    assert code_of(error) == "ValidationError"
    assert error.response["ResponseMetadata"]["HTTPStatusCode"] == 400


async def test_role_chaining_is_capped_at_one_hour(api: Api) -> None:
    """A role session may assume another role, for at most one hour."""
    first = await role(api, "First", trust(user_arn(api, "nobody")))
    role_id = (await api.iam.get_role("First")).role_id
    second = await role(
        api,
        "Second",
        trust(f"arn:aws:sts::{api.iam.account_id}:assumed-role/First/s1"),
        max_session_duration=43200,
    )
    creds = (await assume(api, "nobody", first))["Credentials"]
    caller = client(api, "sts", creds)
    error = await refused(
        api, caller.assume_role, RoleArn=second, RoleSessionName="s2", DurationSeconds=7200
    )
    assert code_of(error) == "ValidationError"
    assert "1 hour" in error.response["Error"]["Message"]
    chained = await api.run(caller.assume_role, RoleArn=second, RoleSessionName="s2")
    assert chained["Credentials"]["Expiration"] - datetime.now(UTC) <= timedelta(hours=1)
    assert role_id not in chained["AssumedRoleUser"]["AssumedRoleId"]


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"RoleSessionName": "s1"}, "ValidationError"),
        ({"RoleArn": "ARN", "RoleSessionName": "s1"}, "ValidationError"),
        (
            {"RoleArn": "arn:aws:iam::123456789012:role/R", "RoleSessionName": "bad name!"},
            "ValidationError",
        ),
        (
            {"RoleArn": "arn:aws:iam::123456789012:role/R", "RoleSessionName": "s"},
            "ValidationError",
        ),
        (
            {
                "RoleArn": "arn:aws:iam::123456789012:role/R",
                "RoleSessionName": "s1",
                "DurationSeconds": "ten",
            },
            "ValidationError",
        ),
        (
            {
                "RoleArn": "arn:aws:iam::123456789012:role/R",
                "RoleSessionName": "s1",
                "Tags.member.2.Key": "k",
                "Tags.member.2.Value": "v",
            },
            "ValidationError",
        ),
        (
            {
                "RoleArn": "arn:aws:iam::123456789012:role/R",
                "RoleSessionName": "s1",
                "TokenCode": "123456",
            },
            "ValidationError",
        ),
        (
            {
                "RoleArn": "arn:aws:iam::123456789012:role/R",
                "RoleSessionName": "s1",
                "SerialNumber": "arn:aws:iam::1:mfa/x",
                "TokenCode": "12ab56",
            },
            "ValidationError",
        ),
        (
            {
                "RoleArn": "arn:aws:iam::123456789012:role/R",
                "RoleSessionName": "s1",
                "Tags.member.1.Key": "aws:x",
                "Tags.member.1.Value": "v",
            },
            "ValidationError",
        ),
    ],
)
async def test_malformed_assume_role_requests_are_400(
    api: Api, params: dict[str, str], code: str
) -> None:
    """Missing, malformed and out-of-pattern parameters are a 400 with AWS's code, not a 500."""
    body = urlencode({"Action": "AssumeRole", "Version": "2011-06-15", **params}).encode()
    key_id, secret = api.keys["admin"]
    headers = sign_request(
        "POST",
        STS,
        {"content-type": "application/x-www-form-urlencoded"},
        body,
        key_id,
        secret,
        REGION,
        "sts",
        datetime.now(UTC),
    )
    response = await api.http.post(STS, content=body, headers=headers)
    assert response.status_code == 400, response.text
    assert f"<Code>{code}</Code>" in response.text


# --- lifetime: deletion, revocation, expiry, bad tokens ------------------------------------------


async def test_deleted_role_ends_its_sessions_and_a_new_role_does_not_revive_them(api: Api) -> None:
    """After the role is deleted (even re-created) its sessions are InvalidClientTokenId."""
    arn = await role(api, "Doomed", trust(user_arn(api, "nobody")))
    await api.iam.put_inline_policy("role", "Doomed", "list", allow("iam:ListRoles"))
    creds = (await assume(api, "nobody", arn))["Credentials"]
    session = client(api, "iam", creds)
    assert "Roles" in await api.run(session.list_roles)
    await api.iam.delete_role("Doomed", force=True)
    assert code_of(await refused(api, session.list_roles)) == "InvalidClientTokenId"
    await role(api, "Doomed", trust(user_arn(api, "nobody")))
    await api.iam.put_inline_policy("role", "Doomed", "list", allow("iam:ListRoles"))
    assert code_of(await refused(api, session.list_roles)) == "InvalidClientTokenId"


async def test_revoke_role_sessions_refuses_older_sessions_only(api: Api) -> None:
    """RevokeRoleSessions (AWSRevokeOlderSessions) denies sessions issued before it."""
    arn = await role(api, "Revocable", trust(user_arn(api, "nobody")))
    await api.iam.put_inline_policy("role", "Revocable", "list", allow("iam:ListRoles"))
    old = client(api, "iam", (await assume(api, "nobody", arn))["Credentials"])
    assert "Roles" in await api.run(old.list_roles)
    await anyio.sleep(1.05)  # AWS's revocation time has one-second precision
    result = await invoke(api.iam, "RevokeRoleSessions", {"RoleName": "Revocable"})
    assert result["PolicyName"] == "AWSRevokeOlderSessions"
    error = await refused(api, old.list_roles)
    assert code_of(error) == "AccessDenied"
    assert "explicit deny" in error.response["Error"]["Message"]
    new = client(api, "iam", (await assume(api, "nobody", arn))["Credentials"])
    assert "Roles" in await api.run(new.list_roles)


async def test_expired_credentials_are_expired_token_and_not_retried(api: Api) -> None:
    """Past its expiry a session is ExpiredToken (403), which botocore does not retry."""
    arn = await role(api, "Brief", trust(user_arn(api, "nobody")))
    await api.iam.put_inline_policy("role", "Brief", "list", allow("iam:ListRoles"))
    creds = (await assume(api, "nobody", arn, DurationSeconds=900))["Credentials"]
    assert api.app.services is not None
    guard = api.app.services.guard
    real = guard.clock
    guard.clock = lambda: real() + timedelta(seconds=901)
    session = client(api, "iam", creds, retries=True)
    before = len(api.sent)
    error = await refused(api, session.list_roles)
    assert code_of(error) == "ExpiredToken"
    assert error.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert len(api.sent) == before + 1


@pytest.mark.parametrize("damage", ["flip", "truncate", "garbage"])
async def test_damaged_session_token_is_invalid_client_token_id(api: Api, damage: str) -> None:
    """A tampered, truncated or made-up session token is 403 InvalidClientTokenId."""
    arn = await role(api, "Intact", trust(user_arn(api, "nobody")))
    creds = dict((await assume(api, "nobody", arn))["Credentials"])
    token = creds["SessionToken"]
    middle = len(token) // 2
    creds["SessionToken"] = {
        "flip": token[:middle] + ("A" if token[middle] != "A" else "B") + token[middle + 1 :],
        "truncate": token[:-10],
        "garbage": "not a token at all",
    }[damage]
    error = await refused(api, client(api, "sts", creds).get_caller_identity)
    assert code_of(error) == "InvalidClientTokenId"


async def test_session_token_with_another_key_id_is_refused(api: Api) -> None:
    """A token presented with another session's key id is InvalidClientTokenId."""
    arn = await role(api, "Pair", trust(user_arn(api, "nobody")))
    first = (await assume(api, "nobody", arn))["Credentials"]
    second = (await assume(api, "nobody", arn))["Credentials"]
    mixed = {**second, "SessionToken": first["SessionToken"]}
    error = await refused(api, client(api, "sts", mixed).get_caller_identity)
    assert code_of(error) == "InvalidClientTokenId"


# --- GetSessionToken ------------------------------------------------------------------------------


async def test_get_session_token_without_mfa_cannot_call_iam(api: Api) -> None:
    """GetSessionToken credentials without MFA are the user, but IAM refuses them."""
    creds = (await api.run(client(api, "sts", api.keys["admin"]).get_session_token))["Credentials"]
    remaining = creds["Expiration"] - datetime.now(UTC)
    assert timedelta(hours=11, minutes=59) < remaining <= timedelta(hours=12)
    me = await api.run(client(api, "sts", creds).get_caller_identity)
    assert me["Arn"] == user_arn(api, "admin")
    error = await refused(api, client(api, "iam", creds).list_users)
    assert code_of(error) == "InvalidClientTokenId"


async def test_get_session_token_with_mfa_satisfies_mfa_conditions(api: Api) -> None:
    """With SerialNumber and TokenCode the session carries MFA and may call IAM."""
    serial, totp = await enable_mfa(api, "admin")
    await api.iam.put_inline_policy(
        "user",
        "admin",
        "deny-without-mfa",
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Deny",
                    "Action": "iam:ListUsers",
                    "Resource": "*",
                    "Condition": {"BoolIfExists": {"aws:MultiFactorAuthPresent": "false"}},
                }
            ],
        },
    )
    sts = client(api, "sts", api.keys["admin"])
    creds = (
        await api.run(
            sts.get_session_token,
            SerialNumber=serial,
            TokenCode=next_code(totp),
            DurationSeconds=900,
        )
    )["Credentials"]
    assert "Users" in await api.run(client(api, "iam", creds).list_users)
    # The long-term key itself has no MFA context: the deny applies.
    assert (
        code_of(await refused(api, client(api, "iam", api.keys["admin"]).list_users))
        == "AccessDenied"
    )


async def test_get_session_token_refuses_sessions_and_bad_durations(api: Api) -> None:
    """Only users and root may call it, for 900 to 129600 seconds."""
    arn = await role(api, "Caller", trust(user_arn(api, "nobody")))
    creds = (await assume(api, "nobody", arn))["Credentials"]
    error = await refused(api, client(api, "sts", creds).get_session_token)
    assert code_of(error) == "AccessDenied"
    caller = client(api, "sts", api.keys["nobody"])
    for seconds in (899, 129601):
        error = await refused(api, caller.get_session_token, DurationSeconds=seconds)
        assert code_of(error) == "ValidationError"


# --- audit ----------------------------------------------------------------------------------------


async def test_assume_role_is_audited_without_secrets(api: Api, tmp_path: Any) -> None:
    """Each STS call is audited with its decision; no secret or token reaches the log."""
    arn = await role(api, "Audited", trust(user_arn(api, "nobody")))
    creds = (await assume(api, "nobody", arn))["Credentials"]
    assert api.app.services is not None
    auditor = api.app.services.auditor
    for _ in range(200):
        if auditor.pending == 0 and any(
            e.get("eventName") == "AssumeRole" for e in audit_events(tmp_path)
        ):
            break
        await anyio.sleep(0.01)
    events = [e for e in audit_events(tmp_path) if e.get("eventName") == "AssumeRole"]
    assert events and events[-1]["decision"] == "allowed"
    assert events[-1]["resources"] == [{"ARN": arn}]
    text = (tmp_path / "audit.jsonl").read_text()
    assert creds["SecretAccessKey"] not in text
    assert creds["SessionToken"] not in text


async def test_transitive_session_tags_pass_through_role_chaining(api: Api) -> None:
    """Transitive tags follow a chained session and cannot be overridden; others do not."""
    first = await role(api, "Hop1", trust(user_arn(api, "nobody")))
    second = await role(
        api, "Hop2", trust(f"arn:aws:sts::{api.iam.account_id}:assumed-role/Hop1/s1")
    )
    await api.iam.put_inline_policy(
        "role", "Hop2", "ops", allow("iam:ListRoles", StringEquals={"aws:PrincipalTag/team": "ops"})
    )
    tags = [{"Key": "team", "Value": "ops"}]
    carried = await assume(api, "nobody", first, Tags=tags, TransitiveTagKeys=["team"])
    hop = client(api, "sts", carried["Credentials"])
    chained = await api.run(hop.assume_role, RoleArn=second, RoleSessionName="s2")
    assert "Roles" in await api.run(client(api, "iam", chained["Credentials"]).list_roles)
    error = await refused(
        api,
        hop.assume_role,
        RoleArn=second,
        RoleSessionName="s2",
        Tags=[{"Key": "Team", "Value": "dev"}],
    )
    assert code_of(error) == "ValidationError"
    dropped = await assume(api, "nobody", first, Tags=tags)
    hop = client(api, "sts", dropped["Credentials"])
    chained = await api.run(hop.assume_role, RoleArn=second, RoleSessionName="s2")
    session = client(api, "iam", chained["Credentials"])
    assert code_of(await refused(api, session.list_roles)) == "AccessDenied"


async def test_untrusted_caller_learns_nothing_about_the_role(api: Api) -> None:
    """Duration and policy checks come after the trust check: outsiders only see AccessDenied."""
    arn = await role(api, "Private", trust(user_arn(api, "reader")))
    caller = client(api, "sts", api.keys["nobody"])
    for extra in (
        {"DurationSeconds": 43200},
        {"PolicyArns": [{"arn": "arn:aws:iam::aws:policy/Nope"}]},
    ):
        error = await refused(api, caller.assume_role, RoleArn=arn, RoleSessionName="s1", **extra)
        assert code_of(error) == "AccessDenied"
    trusted = client(api, "sts", api.keys["reader"])
    error = await refused(
        api,
        trusted.assume_role,
        RoleArn=arn,
        RoleSessionName="s1",
        PolicyArns=[{"arn": "arn:aws:iam::aws:policy/Nope"}],
    )
    assert code_of(error) == "ValidationError"


async def test_guessing_mfa_codes_locks_the_owner_out(api: Api) -> None:
    """After five wrong codes even the right one is refused for a while (no brute force)."""
    serial, totp = await enable_mfa(api, "nobody")
    arn = await role(api, "Guess", trust(user_arn(api, "nobody")))
    caller = client(api, "sts", api.keys["nobody"])
    right = next_code(totp)
    wrong = [f"{n:06d}" for n in range(20) if f"{n:06d}" != right][:5]
    for code in wrong:
        error = await refused(
            api,
            caller.assume_role,
            RoleArn=arn,
            RoleSessionName="s1",
            SerialNumber=serial,
            TokenCode=code,
        )
        assert code_of(error) == "AccessDenied"
    error = await refused(api, caller.get_session_token, SerialNumber=serial, TokenCode=right)
    assert code_of(error) == "AccessDenied"
    assert error.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    # Others are not locked out.
    reader_serial, reader_totp = await enable_mfa(api, "reader")
    creds = await api.run(
        client(api, "sts", api.keys["reader"]).get_session_token,
        SerialNumber=reader_serial,
        TokenCode=next_code(reader_totp),
    )
    assert creds["Credentials"]["AccessKeyId"].startswith("ASIA")
