"""Parsing and validation of policy documents."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.policy import MalformedPolicy, PolicyError, PolicyTooLarge, parse_policy
from gateway.policy.document import TOP_ELEMENTS


def _stmt(**kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}
    base.update(kw)
    return {k: v for k, v in base.items() if v is not None}


def _doc(*stmts: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(stmts)}


# --- malformed documents: (document, kind, path, message fragment) -----------------
MALFORMED = [
    ("{", "identity", "", "syntax error in policy"),
    ('{"Statement": [], "Statement": []}', "identity", "", "duplicate element `Statement`"),
    ("[]", "identity", "", "must be a JSON object"),
    ({"Versoin": "2012-10-17", "Statement": []}, "identity", "", "did you mean `Version`?"),
    ({"Version": "2012-10-18", "Statement": [_stmt()]}, "identity", "Version", "`2012-10-18`"),
    ({"Id": 3, "Statement": [_stmt()]}, "identity", "Id", "must be a string"),
    ({"Version": "2012-10-17"}, "identity", "", "must contain a `Statement`"),
    ({"Statement": []}, "identity", "Statement", "must not be empty"),
    ({"Statement": "x"}, "identity", "Statement", "object or a list"),
    (_doc({}), "identity", "Statement[0]", "statement is empty"),
    (_doc(_stmt(), "x"), "identity", "Statement[1]", "must be a JSON object"),
    (_doc(_stmt(Effect="allow")), "identity", "Statement[0].Effect", "`allow` is not a valid"),
    (_doc(_stmt(Effect=None)), "identity", "Statement[0]", "must have an `Effect`"),
    (_doc(_stmt(Sid=1)), "identity", "Statement[0].Sid", "must be a string"),
    (_doc(_stmt(Sid="a"), _stmt(Sid="a")), "identity", "Statement[1].Sid", "duplicate Sid"),
    (_doc(_stmt(Actions="x")), "identity", "Statement[0]", "did you mean `Action`?"),
    (_doc(_stmt(NotAction="s3:x")), "identity", "Statement[0]", "both `Action` and `NotAction`"),
    (_doc(_stmt(Action=None)), "identity", "Statement[0]", "must contain actions"),
    (_doc(_stmt(Action="s3GetObject")), "identity", "Statement[0].Action", "prefix it"),
    (_doc(_stmt(Action=[])), "identity", "Statement[0].Action", "must not be empty"),
    (_doc(_stmt(Action=[1])), "identity", "Statement[0].Action", "list of strings"),
    (_doc(_stmt(Resource=None)), "identity", "Statement[0]", "must contain resources"),
    (_doc(_stmt(Resource="bucket")), "identity", "Statement[0].Resource", "use an ARN or `*`"),
    (_doc(_stmt(Resource="arn:aws:s3")), "identity", "Statement[0].Resource", "`arn:aws:s3`"),
    (_doc(_stmt(Resource="arn:aws:s3:::${x}")), "identity", "Statement[0].Resource", "variable"),
    (_doc(_stmt(NotResource="*")), "identity", "Statement[0]", "both `Resource` and"),
    (_doc(_stmt(Principal="*")), "identity", "Statement[0].Principal", "must not specify"),
    (_doc(_stmt(Principal="*")), "boundary", "Statement[0].Principal", "permissions boundary"),
    (_doc(_stmt()), "resource", "Statement[0]", "must name a `Principal`"),
    (_doc(_stmt(Principal={"Aws": "*"})), "resource", "Statement[0].Principal", "`AWS`"),
    (
        _doc(_stmt(Principal={"AWS": "arn:aws:iam::123456789012:user/*"})),
        "resource",
        "Statement[0].Principal",
        "wildcards are not allowed",
    ),
    (_doc(_stmt(Principal={"AWS": "bob"})), "resource", "Statement[0].Principal", "`bob`"),
    (_doc(_stmt(Principal={"AWS": []})), "resource", "Statement[0].Principal", "non-empty"),
    (_doc(_stmt(Principal={"Service": " "})), "resource", "Statement[0].Principal", "empty"),
    (_doc(_stmt(Principal=3)), "resource", "Statement[0].Principal", "must be `*`"),
    (
        _doc(_stmt(Action="sts:AssumeRole", Principal="*")),
        "trust",
        "Statement[0].Resource",
        "must not have `Resource`",
    ),
    (
        _doc(_stmt(Action="s3:GetObject", Resource=None, Principal="*")),
        "trust",
        "Statement[0].Action",
        "not allowed in a trust policy",
    ),
    (
        _doc(_stmt(Action=None, NotAction="sts:x", Resource=None, Principal="*")),
        "trust",
        "Statement[0].NotAction",
        "must use `Action`",
    ),
    (_doc(_stmt(Condition=[])), "identity", "Statement[0].Condition", "object of operators"),
    (
        _doc(_stmt(Condition={"StringEqual": {"aws:x": "y"}})),
        "identity",
        "Statement[0].Condition.StringEqual",
        "did you mean `StringEquals`?",
    ),
    (
        _doc(_stmt(Condition={"ForAnyValue:stringlike": {"aws:x": "y"}})),
        "identity",
        "Statement[0].Condition.ForAnyValue:stringlike",
        "did you mean `StringLike`?",
    ),
    (
        _doc(_stmt(Condition={"StringEquals": {}})),
        "identity",
        "Statement[0].Condition.StringEquals",
        "map condition keys",
    ),
    (
        _doc(_stmt(Condition={"StringEquals": {"nokey": "y"}})),
        "identity",
        "Statement[0].Condition.StringEquals",
        "prefixed by a service",
    ),
    (
        _doc(_stmt(Condition={"StringEquals": {"aws:x": []}})),
        "identity",
        "Statement[0].Condition.StringEquals",
        "has no values",
    ),
    (
        _doc(_stmt(Condition={"StringEquals": {"aws:x": [{}]}})),
        "identity",
        "Statement[0].Condition.StringEquals",
        "strings, numbers or booleans",
    ),
    (
        _doc(_stmt(Condition={"NumericEquals": {"aws:x": "ten"}})),
        "identity",
        "Statement[0].Condition.NumericEquals",
        "`ten` is not a number",
    ),
    (
        _doc(_stmt(Condition={"NumericEquals": {"aws:x": "nan"}})),
        "identity",
        "Statement[0].Condition.NumericEquals",
        "finite",
    ),
    (
        _doc(_stmt(Condition={"DateEquals": {"aws:x": "soon"}})),
        "identity",
        "Statement[0].Condition.DateEquals",
        "ISO 8601",
    ),
    (
        _doc(_stmt(Condition={"Bool": {"aws:x": "yes"}})),
        "identity",
        "Statement[0].Condition.Bool",
        "`yes`",
    ),
    (
        _doc(_stmt(Condition={"BinaryEquals": {"aws:x": "!!"}})),
        "identity",
        "Statement[0].Condition.BinaryEquals",
        "base64",
    ),
    (
        _doc(_stmt(Condition={"IpAddress": {"aws:x": "10.0.0.300/8"}})),
        "identity",
        "Statement[0].Condition.IpAddress",
        "CIDR",
    ),
    (
        _doc(_stmt(Condition={"ArnLike": {"aws:x": "nope"}})),
        "identity",
        "Statement[0].Condition.ArnLike",
        "not an ARN",
    ),
    (
        _doc(_stmt(Condition={"ArnLike": {"aws:x": "x:${aws:username}"}})),
        "identity",
        "Statement[0].Condition.ArnLike",
        "not an ARN",
    ),
    (
        _doc(_stmt(Condition={"Null": {"aws:x": "maybe"}})),
        "identity",
        "Statement[0].Condition.Null",
        "`maybe`",
    ),
    (
        _doc(_stmt(Condition={"ForAllValues:Null": {"aws:x": "true"}})),
        "identity",
        "Statement[0].Condition.ForAllValues:Null",
        "takes no qualifier",
    ),
    (
        _doc(_stmt(Condition={"StringEquals": {"aws:x": "${oops}"}})),
        "identity",
        "Statement[0].Condition.StringEquals",
        "invalid policy variable",
    ),
]


@pytest.mark.parametrize(("document", "kind", "path", "fragment"), MALFORMED)
def test_malformed(document: Any, kind: Any, path: str, fragment: str) -> None:
    """Each malformed document is refused with its JSON path and a clear message."""
    with pytest.raises(MalformedPolicy) as info:
        parse_policy(document if isinstance(document, str) else json.dumps(document), kind=kind)
    assert info.value.path == path
    assert fragment in info.value.message
    assert str(info.value) == (f"{path}: {info.value.message}" if path else info.value.message)


def test_single_statement_path_and_dict_input() -> None:
    """A single Statement object is addressed as `Statement`; dict input works too."""
    with pytest.raises(MalformedPolicy) as info:
        parse_policy({"Statement": {"Effect": "Maybe", "Action": "*", "Resource": "*"}})
    assert info.value.path == "Statement.Effect"
    policy = parse_policy({"Statement": {"Effect": "Allow", "Action": "*", "Resource": "*"}})
    assert policy.statements[0].ref.span is None
    assert policy.version == ""


def test_bytes_and_bad_utf8() -> None:
    """Bytes are decoded as UTF-8 and invalid bytes are a PolicyError."""
    ok = parse_policy(b'{"Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}')
    assert len(ok.statements) == 1
    with pytest.raises(PolicyError, match="UTF-8"):
        parse_policy(b"\xff")


def test_unknown_kind_and_non_json_mapping() -> None:
    """An unknown kind and a mapping that is not JSON are refused."""
    with pytest.raises(MalformedPolicy, match="did you mean `trust`"):
        parse_policy("{}", kind="trusts")  # type: ignore[arg-type]  # deliberately invalid
    with pytest.raises(MalformedPolicy, match="not a JSON document"):
        parse_policy({"Statement": {1, 2}})
    with pytest.raises(MalformedPolicy, match="nested too deeply"):
        parse_policy("[" * 100000)


def test_size_limit_ignores_whitespace() -> None:
    """Size is counted without whitespace, as AWS does, against `max_size`."""
    compact = '{"Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}'
    spaced = json.dumps(json.loads(compact), indent=8)
    assert parse_policy(spaced, max_size=len(compact)).size == len(compact)
    with pytest.raises(PolicyTooLarge) as info:
        parse_policy(spaced, max_size=len(compact) - 1)
    assert info.value.code == "LimitExceeded"


def test_statement_positions() -> None:
    """Statements carry their start and end line and column in the source text."""
    text = (
        '{\n  "Version": "2012-10-17",\n  "Statement": [\n'
        '    {"Effect": "Allow", "Action": "*", "Resource": "*"},\n'
        '    {"Effect": "Deny", "Action": "*", "Resource": "*"}\n  ]\n}'
    )
    policy = parse_policy(text, policy_id="p")
    assert policy.statements[0].ref.span == ((4, 5), (4, 55))
    assert policy.statements[1].ref.span == ((5, 5), (5, 54))
    assert policy.statements[1].ref.policy_id == "p"


def test_trust_policy_actions() -> None:
    """Trust policies accept the sts:AssumeRole family and sts:* wildcards."""
    doc = {
        "Statement": {
            "Effect": "Allow",
            "Principal": "*",
            "Action": ["sts:AssumeRole*", "sts:TagSession"],
        }
    }
    assert parse_policy(doc, kind="trust").kind == "trust"


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    *TOP_ELEMENTS,
                    "Effect",
                    "Action",
                    "NotAction",
                    "Resource",
                    "NotResource",
                    "Principal",
                    "Condition",
                    "Sid",
                    "AWS",
                    "StringLike",
                    "aws:SourceIp",
                    "Null",
                    "x",
                ]
            ),
            children,
            max_size=5,
        )
    ),
    max_leaves=20,
)


@settings(max_examples=300)
@given(JSON, st.sampled_from(["identity", "resource", "trust", "boundary", "session"]))
def test_parser_raises_only_policy_error(document: Any, kind: Any) -> None:
    """No JSON value makes the parser raise anything but PolicyError."""
    for candidate in (document, {"Statement": document}, {"Statement": [document]}):
        try:
            parse_policy(json.dumps(candidate), kind=kind)
        except PolicyError as exc:
            assert exc.message
        except ValueError:  # pragma: no cover - would be a bug
            pytest.fail("ValueError escaped the parser")


@settings(max_examples=200)
@given(st.text(max_size=40))
def test_parser_raises_only_policy_error_on_text(text: str) -> None:
    """No text makes the parser raise anything but PolicyError."""
    try:
        parse_policy(text)
    except PolicyError as exc:
        assert isinstance(exc.message, str)
