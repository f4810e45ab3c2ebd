"""The SimulateCustomPolicy-shaped simulator and the `gateway policy` CLI."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import pytest

from gateway.cli.policy import register
from gateway.policy import InvalidSimulation, StatementRef, simulate, simulate_custom_policy

CHANGE_PW = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "iam:ChangePassword",
                "Resource": "arn:aws:iam::*:user/${aws:username}",
            }
        ],
    },
    indent=2,
)
USER = "arn:aws:iam::123456789012:user/steve"


def _request(**kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "PolicyInputList": [CHANGE_PW],
        "ActionNames": ["iam:ChangePassword"],
        "ResourceArns": [USER],
        "ContextEntries": [
            {
                "ContextKeyName": "aws:username",
                "ContextKeyValues": ["steve"],
                "ContextKeyType": "string",
            }
        ],
        "CallerArn": USER,
    }
    base.update(kw)
    return {k: v for k, v in base.items() if v is not None}


def test_allowed_with_positions() -> None:
    """An allowed result names the policy and the statement's position."""
    [result] = simulate_custom_policy(_request())["EvaluationResults"]
    assert result["EvalDecision"] == "allowed"
    assert result["MatchedStatements"] == [
        {
            "SourcePolicyId": "PolicyInputList.1",
            "SourcePolicyType": "IAM Policy",
            "StartPosition": {"Line": 4, "Column": 5},
            "EndPosition": {"Line": 8, "Column": 5},
        }
    ]


def test_statement_without_position() -> None:
    """A matched statement whose position is unknown is reported without positions."""
    ref = StatementRef("inline", "identity", 0, "", None)
    assert simulate._statement(ref) == {
        "SourcePolicyId": "inline",
        "SourcePolicyType": "IAM Policy",
    }


def test_missing_context_and_boundary() -> None:
    """Missing keys are listed; a boundary adds its decision detail."""
    boundary = json.dumps({"Statement": {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}})
    response = simulate_custom_policy(
        _request(
            ContextEntries=None,
            PermissionsBoundaryPolicyInputList=[boundary],
            ActionNames=["iam:ChangePassword", "s3:GetObject"],
        )
    )
    first, second = response["EvaluationResults"]
    assert first["EvalDecision"] == "implicitDeny"
    assert first["MissingContextValues"] == ["aws:username"]
    assert second["PermissionsBoundaryDecisionDetail"] == {"AllowedByPermissionsBoundary": True}


def test_resource_and_trust_policies() -> None:
    """A ResourcePolicy is matched against CallerArn; one without Resource is a trust policy."""
    bucket = json.dumps(
        {
            "Statement": {
                "Effect": "Allow",
                "Principal": {"AWS": USER},
                "Action": "s3:GetObject",
                "Resource": "*",
            }
        }
    )
    result = simulate_custom_policy(
        _request(
            PolicyInputList=[],
            ResourcePolicy=bucket,
            ActionNames=["s3:GetObject"],
            ResourceArns=["arn:aws:s3:::b/k"],
            ResourceOwner="arn:aws:iam::123456789012:root",
        )
    )
    assert result["EvaluationResults"][0]["EvalDecision"] == "allowed"
    assert result["EvaluationResults"][0]["MatchedStatements"][0]["SourcePolicyType"] == (
        "Resource Policy"
    )
    trust = json.dumps(
        {"Statement": {"Effect": "Allow", "Principal": {"AWS": USER}, "Action": "sts:AssumeRole"}}
    )
    result = simulate_custom_policy(
        _request(
            PolicyInputList=[],
            ResourcePolicy=trust,
            ActionNames=["sts:AssumeRole"],
            ResourceArns=None,
            ResourceOwner="123456789012",
        )
    )
    assert result["EvaluationResults"][0]["EvalDecision"] == "allowed"
    assert result["EvaluationResults"][0]["EvalResourceName"] == "*"


@pytest.mark.parametrize(
    ("kind", "values", "condition"),
    [
        ("numeric", ["5"], {"NumericLessThan": {"k:n": "10"}}),
        ("numericList", ["5", "2.5"], {"ForAllValues:NumericLessThan": {"k:n": "10"}}),
        ("boolean", ["True"], {"Bool": {"k:n": "true"}}),
        ("ip", ["10.0.0.1"], {"IpAddress": {"k:n": "10.0.0.0/8"}}),
        ("ipList", ["10.0.0.1", "10.0.0.2"], {"ForAllValues:IpAddress": {"k:n": "10.0.0.0/8"}}),
        ("binary", ["YQ=="], {"BinaryEquals": {"k:n": "YQ=="}}),
        ("binaryList", ["YQ=="], {"ForAnyValue:BinaryEquals": {"k:n": "YQ=="}}),
        ("date", ["2020-01-01T00:00:00Z"], {"DateLessThan": {"k:n": "2021-01-01T00:00:00Z"}}),
        ("dateList", ["1577836800"], {"ForAnyValue:DateLessThan": {"k:n": "2021-01-01"}}),
        ("stringList", ["a", "b"], {"ForAllValues:StringLike": {"k:n": "?"}}),
        ("booleanList", ["false"], {"ForAnyValue:Bool": {"k:n": "false"}}),
        ("string", [], {"Null": {"k:n": "true"}}),
    ],
)
def test_context_key_types(kind: str, values: list[str], condition: dict[str, Any]) -> None:
    """Every ContextKeyType is read as its type and compared by value."""
    policy = json.dumps(
        {"Statement": {"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": condition}}
    )
    response = simulate_custom_policy(
        _request(
            PolicyInputList=[policy],
            ContextEntries=[
                {"ContextKeyName": "k:n", "ContextKeyValues": values, "ContextKeyType": kind}
            ],
        )
    )
    assert response["EvaluationResults"][0]["EvalDecision"] == "allowed"


BAD = [
    ([], "", "must be a JSON object"),
    ({"PolicyInputList": [], "ActionName": []}, "", "did you mean `ActionNames`?"),
    ({"ActionNames": ["s3:x"]}, "", "`PolicyInputList` is required"),
    (_request(PolicyInputList="x"), "PolicyInputList", "list of strings"),
    (_request(PolicyInputList=["{"]), "PolicyInputList.1", "syntax error"),
    (
        _request(PolicyInputList=['{"Statement":{"Effect":"x","Action":"*","Resource":"*"}}']),
        "PolicyInputList.1: Statement.Effect",
        "not a valid effect",
    ),
    (_request(ResourcePolicy=3), "ResourcePolicy", "must be a string"),
    (_request(ResourcePolicy='{"Statement": 1}'), "ResourcePolicy: Statement", "object or"),
    (_request(ResourcePolicy="{"), "ResourcePolicy", "syntax error"),
    (_request(ActionNames=[]), "ActionNames", "must not be empty"),
    (_request(CallerArn=3), "CallerArn", "must be a string"),
    (_request(ResourceOwner=3), "ResourceOwner", "must be a string"),
    (_request(ResourceOwner="me"), "ResourceOwner", "not an account"),
    (_request(ContextEntries={}), "ContextEntries", "must be a list"),
    (_request(ContextEntries=[3]), "ContextEntries[0]", "must be an object"),
    (_request(ContextEntries=[{"ContextKeyValues": []}]), "ContextEntries[0]", "ContextKeyName"),
    (
        _request(ContextEntries=[{"ContextKeyName": "a:b", "ContextKeyValues": "x"}]),
        "ContextEntries[0]",
        "ContextKeyValues",
    ),
    (
        _request(
            ContextEntries=[
                {"ContextKeyName": "a:b", "ContextKeyValues": ["x"], "ContextKeyType": "strings"}
            ]
        ),
        "ContextEntries[0]",
        "did you mean `string`",
    ),
    (
        _request(ContextEntries=[{"ContextKeyName": "a:b", "ContextKeyValues": ["x", "y"]}]),
        "ContextEntries[0]",
        "use `stringList`",
    ),
    (
        _request(
            ContextEntries=[
                {"ContextKeyName": "a:b", "ContextKeyValues": ["x"], "ContextKeyType": "numeric"}
            ]
        ),
        "ContextEntries[0]",
        "number",
    ),
    (
        _request(
            ContextEntries=[
                {"ContextKeyName": "a:b", "ContextKeyValues": ["x"], "ContextKeyType": "boolean"}
            ]
        ),
        "ContextEntries[0]",
        "`x`",
    ),
    (
        _request(
            ContextEntries=[
                {"ContextKeyName": "a:b", "ContextKeyValues": ["x"], "ContextKeyType": "ip"}
            ]
        ),
        "ContextEntries[0]",
        "IP",
    ),
    (
        _request(
            ContextEntries=[
                {"ContextKeyName": "a:b", "ContextKeyValues": ["x"], "ContextKeyType": "date"}
            ]
        ),
        "ContextEntries[0]",
        "date",
    ),
    (
        _request(
            ContextEntries=[
                {"ContextKeyName": "a:b", "ContextKeyValues": ["!"], "ContextKeyType": "binary"}
            ]
        ),
        "ContextEntries[0]",
        "",
    ),
]


@pytest.mark.parametrize(("request_json", "path", "fragment"), BAD)
def test_bad_requests(request_json: Any, path: str, fragment: str) -> None:
    """Badly shaped requests are refused with the field that is wrong."""
    with pytest.raises(InvalidSimulation) as info:
        simulate_custom_policy(request_json)
    assert info.value.path == path
    assert fragment in info.value.message


def _run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="gateway")
    register(parser.add_subparsers())
    args = parser.parse_args(argv)
    result: int = args.func(args)
    return result


def test_cli_validate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`validate` prints findings with file and path and exits 0 or 1."""
    good = tmp_path / "good.json"
    good.write_text(CHANGE_PW)
    risky = tmp_path / "risky.json"
    risky.write_text(
        json.dumps({"Statement": {"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}})
    )
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"Statement": {"Effect": "Allow", "Action": "*"}}))
    assert _run(["policy", "validate", str(good), str(risky)]) == 0
    out = capsys.readouterr().out
    assert f"{good}: ok" in out
    assert f"{risky}: warning: Statement.NotAction:" in out
    assert _run(["policy", "validate", "--json", str(bad)]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["files"][0]["valid"] is False
    assert report["files"][0]["findings"][0]["code"] == "MALFORMED_POLICY"
    assert _run(["policy", "validate", "--type", "resource", str(good)]) == 1
    assert "must name a `Principal`" in capsys.readouterr().out


def test_cli_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Unreadable or invalid input is one line on stderr and exit status 2."""
    missing = str(tmp_path / "nope.json")
    assert _run(["policy", "validate", missing]) == 2
    assert _run(["policy", "simulate", missing]) == 2
    not_json = tmp_path / "x.json"
    not_json.write_text("{")
    assert _run(["policy", "simulate", str(not_json)]) == 2
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100000)
    assert _run(["policy", "simulate", str(deep)]) == 2
    shape = tmp_path / "shape.json"
    shape.write_text(json.dumps({"ActionNames": ["s3:x"]}))
    assert _run(["policy", "simulate", str(shape)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 5
    assert err[-1] == "gateway policy simulate: error: `PolicyInputList` is required"
    with pytest.raises(SystemExit) as info:
        _run(["policy"])
    assert info.value.code == 2


def test_cli_simulate_stdin(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`simulate -` reads the request from stdin and prints the response JSON."""
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps(_request())))
    assert _run(["policy", "simulate", "-"]) == 0
    response = json.loads(capsys.readouterr().out)
    assert response["EvaluationResults"][0]["EvalDecision"] == "allowed"
    monkeypatch.setattr("sys.stdin", io.StringIO(CHANGE_PW))
    assert _run(["policy", "validate", "-"]) == 0
