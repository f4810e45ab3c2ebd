"""
The Query protocol without a server: form decoding, lists and maps, and the XML that
botocore parses, checked against the sts-iam-wire vectors.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import botocore.parsers
import botocore.session
import pytest
from botocore.model import OperationModel, Shape

from gateway.api.query import (
    MalformedQueryString,
    QueryMap,
    decode_form,
    entry_map,
    member_list,
    member_structs,
    render_error,
    render_result,
)
from gateway.errors import GatewayError, InvalidInput
from gateway.http_errors import IAM_NAMESPACE

VECTORS = Path(__file__).parent.parent / "vectors" / "sts-iam-wire"
SESSION = botocore.session.get_session()
IAM = SESSION.get_service_model("iam")
ERRORS = json.loads((VECTORS / "errors" / "index.json").read_text())["errors"]


def parse(body: bytes, status: int, operation: OperationModel) -> dict[str, Any]:
    """What botocore makes of a response body."""
    parser = botocore.parsers.QueryParser()
    response = {"status_code": status, "headers": {}, "body": body}
    return dict(parser.parse(response, operation.output_shape))


def as_result(value: Any, shape: Shape | None) -> Any:
    """Turn a parsed result back into what a handler returns (maps marked as such)."""
    if shape is None:
        return value
    if shape.type_name == "structure":
        members = shape.members  # type: ignore[attr-defined]
        return {key: as_result(item, members.get(key)) for key, item in value.items()}
    if shape.type_name == "list":
        return [as_result(item, shape.member) for item in value]  # type: ignore[attr-defined]
    if shape.type_name == "map":
        return QueryMap({key: as_result(item, shape.value) for key, item in value.items()})  # type: ignore[attr-defined]
    return value


def jsonable(value: Any) -> Any:
    """The parsed/*.json encoding of a botocore result."""
    if isinstance(value, dict):
        return {key: jsonable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [jsonable(item) for item in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return {"__bytes__": value.decode("ascii")}
    return value


# --- rendering, against botocore ---------------------------------------------------------------

RESPONSE_VECTORS = [
    ("iam-create_user.json", "CreateUser"),
    ("iam-create_access_key.json", "CreateAccessKey"),
    ("iam-create_virtual_mfa_device.json", "CreateVirtualMFADevice"),
    ("iam-enable_mfa_device.json", "EnableMFADevice"),
    ("iam-list_users.json", "ListUsers"),
    ("iam-simulate_custom_policy.json", "SimulateCustomPolicy"),
]


@pytest.mark.parametrize(("parsed_file", "action"), RESPONSE_VECTORS)
def test_rendered_results_parse_like_the_vectors(parsed_file: str, action: str) -> None:
    """A result rendered from a vector's content parses, in botocore, to the vector's result."""
    recorded = json.loads((VECTORS / "parsed" / parsed_file).read_text())
    served = (VECTORS / "responses" / recorded["served"][0]["file"]).read_bytes()
    operation = IAM.operation_model(action)
    expected = parse(served, 200, operation)
    request_id = expected["ResponseMetadata"]["RequestId"]
    content = {k: v for k, v in expected.items() if k != "ResponseMetadata"}
    result = as_result(content, operation.output_shape) if content else None
    body = render_result(action, IAM_NAMESPACE, result, request_id=request_id)
    got = parse(body, 200, operation)
    assert got == expected
    wanted = {k: v for k, v in recorded["result"].items() if k != "ResponseMetadata"}
    assert jsonable({k: v for k, v in got.items() if k != "ResponseMetadata"}) == wanted
    assert got["ResponseMetadata"]["RequestId"] == request_id
    if result is None:
        assert f"<{action}Result>".encode() not in body


@pytest.mark.parametrize("entry", [e for e in ERRORS if "file" in e], ids=lambda e: e["file"])
def test_rendered_errors_parse_like_the_vectors(entry: dict[str, Any]) -> None:
    """An error rendered from its code, status and message parses like the vector's body."""
    served = (VECTORS / "errors" / entry["file"]).read_bytes()
    operation = IAM.operation_model("GetUser")
    expected = parse(served, entry["http_status"], operation)
    error = GatewayError(
        expected["Error"]["Message"], code=entry["code"], status=entry["http_status"]
    )
    request_id = expected["ResponseMetadata"]["RequestId"]
    content_type, body = render_error(error, IAM_NAMESPACE, request_id=request_id)
    assert content_type == b"text/xml"
    got = parse(body, entry["http_status"], operation)
    assert got["Error"] == expected["Error"]
    assert got["Error"]["Type"] == entry["type"]
    assert got["ResponseMetadata"]["RequestId"] == request_id


@pytest.mark.parametrize(
    "parsed_file", sorted(p.name for p in (VECTORS / "parsed").glob("err-iam-*.json"))
)
def test_error_codes_raise_the_recorded_botocore_exception(parsed_file: str) -> None:
    """Each IAM error code we send maps to the exception class botocore raised for it."""
    recorded = json.loads((VECTORS / "parsed" / parsed_file).read_text())
    client = SESSION.create_client(
        "iam", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y"
    )
    code = recorded["response"]["Error"]["Code"]
    assert client.exceptions.from_code(code).__name__ == recorded["exception_class"]


def test_rendering_scalars_and_escaping() -> None:
    """Booleans, datetimes in UTC with Z, ints, bytes as base64, None omitted, text escaped."""
    moment = datetime(2026, 11, 28, 2, 3, 4, tzinfo=timezone(timedelta(hours=1)))
    body = render_result(
        "Probe",
        "urn:x",
        {
            "Flag": True,
            "Off": False,
            "When": moment,
            "Count": 7,
            "Blob": b"AB",
            "Skipped": None,
            "Text": "<a & 'b'>",
            "Items": ["x", "y"],
            "Map": QueryMap({"k": "v"}),
        },
        request_id="r-1",
    ).decode()
    assert "<Flag>true</Flag><Off>false</Off>" in body
    assert "<When>2026-11-28T01:03:04Z</When>" in body
    assert "<Count>7</Count><Blob>QUI=</Blob>" in body
    assert "Skipped" not in body
    assert "<Text>&lt;a &amp; 'b'&gt;</Text>" in body
    assert "<Items><member>x</member><member>y</member></Items>" in body
    assert "<Map><entry><key>k</key><value>v</value></entry></Map>" in body
    assert body.startswith('<ProbeResponse xmlns="urn:x"><ProbeResult>')


def test_rendering_refuses_naive_datetimes() -> None:
    """A naive datetime is a bug, not something to guess a zone for."""
    with pytest.raises(TypeError):
        render_result("P", "urn:x", {"When": datetime(2026, 1, 1)}, request_id="r")  # noqa: DTZ001
    assert render_result("P", "urn:x", {"When": datetime(2026, 1, 1, tzinfo=UTC)}, request_id="r")


# --- decoding ------------------------------------------------------------------------------------


def test_decode_form_as_botocore_encodes() -> None:
    """`+` is a space, escapes decode once, blank values and empty fields are kept or skipped."""
    params = decode_form("Action=CreateUser&Tags.member.2.Key=cost+center&Path=%2F&Empty=&&")
    assert params == {
        "Action": "CreateUser",
        "Tags.member.2.Key": "cost center",
        "Path": "/",
        "Empty": "",
    }
    assert decode_form("a=%2541") == {"a": "%41"}
    assert decode_form("X-Amz-Signature=ab&a=1", skip=frozenset({"X-Amz-Signature"})) == {"a": "1"}


@pytest.mark.parametrize(
    "text",
    [
        "a=1&a=2",  # a parameter given twice
        "a",  # a field without `=`
        "=1",  # no name
        "a=%zz",  # invalid percent-encoding
        "a=%2",  # truncated escape
        "a=%ff",  # not UTF-8 once decoded
        "a=é",  # raw non-ASCII
        "a=%00",  # NUL
        "&".join(f"p{n}=1" for n in range(2001)),  # too many fields
    ],
)
def test_decode_form_refuses_malformed_text(text: str) -> None:
    """Malformed form text is a 400 MalformedQueryString, never a guess."""
    with pytest.raises(MalformedQueryString) as caught:
        decode_form(text)
    assert caught.value.status == 400


def test_member_lists_in_index_order() -> None:
    """`Name.member.N` decodes in numeric order; a bare `Name=` is the empty list."""
    params = {f"A.member.{n}": f"v{n}" for n in (10, 2, 1, 3, 4, 5, 6, 7, 8, 9)}
    assert member_list(params, "A") == [f"v{n}" for n in range(1, 11)]
    assert member_list({"A": ""}, "A") == []
    assert member_list({}, "A") == []
    assert member_list({"AB.member.1": "x"}, "A") == []


@pytest.mark.parametrize(
    "params",
    [
        {"A.member.0": "x"},  # indexes start at 1
        {"A.member.1": "x", "A.member.3": "y"},  # a gap
        {"A.member.01": "x"},  # leading zero
        {"A.member.x": "x"},  # not a number
        {"A.member.-1": "x"},
        {"A.member.": "x"},
        {"A": "x"},  # a bare value is not a list
        {"A": "", "A.member.1": "x"},  # both forms at once
        {"A.member.1.Key": "x"},  # a structure where a value is expected
        {f"A.member.{n}": "x" for n in range(1, 1002)},  # too many members
    ],
)
def test_member_list_refuses_bad_encodings(params: dict[str, str]) -> None:
    """A list that is not `Name.member.1..N` is a 400 ValidationError."""
    with pytest.raises(InvalidInput) as caught:
        member_list(params, "A")
    assert (caught.value.status, caught.value.code) == (400, "ValidationError")


def test_member_structs_and_nested_lists() -> None:
    """Structures keep their fields; a nested list decodes from the structure."""
    params = {
        "Tags.member.1.Key": "team",
        "Tags.member.1.Value": "a",
        "Tags.member.2.Key": "cost center",
        "Tags.member.2.Value": "",
        "C.member.1.ContextKeyName": "aws:SourceIp",
        "C.member.1.ContextKeyValues.member.2": "10.0.0.2",
        "C.member.1.ContextKeyValues.member.1": "10.0.0.1",
    }
    assert member_structs(params, "Tags") == [
        {"Key": "team", "Value": "a"},
        {"Key": "cost center", "Value": ""},
    ]
    (entry,) = member_structs(params, "C")
    assert member_list(entry, "ContextKeyValues") == ["10.0.0.1", "10.0.0.2"]
    with pytest.raises(InvalidInput):
        member_structs({"Tags.member.1": "x"}, "Tags")


def test_entry_maps() -> None:
    """`Name.entry.N.key/value` decodes to a dict; a missing half or a repeated key is refused."""
    params = {"M.entry.1.key": "a", "M.entry.1.value": "1", "M.entry.2.key": "b"}
    with pytest.raises(InvalidInput):
        entry_map(params, "M")
    params["M.entry.2.value"] = "2"
    assert entry_map(params, "M") == {"a": "1", "b": "2"}
    params["M.entry.2.key"] = "a"
    with pytest.raises(InvalidInput):
        entry_map(params, "M")


# --- the IAM API's tables, against botocore's ------------------------------------------------


def test_paginated_operations_match_botocores_paginators() -> None:
    """Every served operation botocore pages over one list is paged over that list."""
    from gateway.api.iam import PAGINATED
    from gateway.iam.operations import OPERATIONS

    paginators = SESSION.get_paginator_model("iam")
    for name in OPERATIONS:
        try:
            config = paginators.get_paginator(name)
        except ValueError:
            assert name not in PAGINATED
            continue
        if isinstance(config["result_key"], str):
            assert PAGINATED.get(name) == config["result_key"], name


def test_account_level_operations_are_exactly_these() -> None:
    """Operations authorized on `*` are AWS's account-level ones; every other names a resource."""
    from gateway.api.iam_access import RESOURCE_KINDS
    from gateway.iam.operations import OPERATIONS

    account_level = {name for name in OPERATIONS if name not in RESOURCE_KINDS}
    assert account_level == {
        "ListUsers",
        "ListGroups",
        "ListRoles",
        "ListPolicies",
        "ListVirtualMFADevices",
        "UpdateAccountPasswordPolicy",
        "GetAccountPasswordPolicy",
        "DeleteAccountPasswordPolicy",
        "CreateAccountAlias",
        "DeleteAccountAlias",
        "ListAccountAliases",
        "GetAccountAuthorizationDetails",
        "SimulateCustomPolicy",
    }
    assert set(RESOURCE_KINDS) <= set(OPERATIONS)
