"""
The fast paths of SigV4 canonicalization and parsing agree with the plain AWS rules.
"""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import product
from urllib.parse import quote, quote_from_bytes, unquote, unquote_to_bytes

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.auth import canonical_query, canonical_uri, parse_authorization, presign_url
from gateway.errors import AuthError
from gateway.types import RequestView

NOW = datetime(2015, 8, 30, 12, 36, tzinfo=UTC)


def _reference_query(query: str, *, presigned: bool) -> str:
    """The AWS rule, one component at a time: decode %XX, encode all but unreserved, sort."""
    pairs = []
    for part in query.split("&"):
        if not part:
            continue
        name, _, value = part.partition("=")
        name = quote_from_bytes(unquote_to_bytes(name), safe="~")
        if presigned and name == "X-Amz-Signature":
            continue
        pairs.append((name, quote_from_bytes(unquote_to_bytes(value), safe="~")))
    return "&".join(f"{name}={value}" for name, value in sorted(pairs))


def _reference_uri(raw_path: str, *, double_encode: bool, normalize: bool) -> str:
    """The AWS rule for the path: drop dot segments and `//`, then encode again."""
    path = raw_path or "/"
    if normalize:
        segments: list[str] = []
        for segment in path.split("/"):
            if segment == "..":
                if segments:
                    segments.pop()
            elif segment and segment != ".":
                segments.append(segment)
        first = "/" if path.startswith("/") else ""
        last = "/" if path.endswith("/") and segments else ""
        path = first + "/".join(segments) + last or "/"
    return quote(path, safe="/~") if double_encode else path


def _case_variants(byte: int) -> list[str]:
    return ["".join(p) for p in product(*({d, d.lower()} for d in f"{byte:02X}"))]


# --- canonical_query ---------------------------------------------------------------------


@pytest.mark.parametrize("byte", range(256))
def test_every_escape_canonicalizes_like_the_aws_rule(byte: int) -> None:
    """Each `%XX`, in every case of its hex digits, canonicalizes as decode-then-encode does."""
    for hex_digits in _case_variants(byte):
        for query in (f"a=%{hex_digits}", f"a%{hex_digits}=1", f"a=x%{hex_digits}y&b=%2F"):
            assert canonical_query(query) == _reference_query(query, presigned=False), query


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        # already canonical: taken as is, only sorted
        ("b=2&a=1", "a=1&b=2"),
        ("a=%2F%20&a=%2B", "a=%2B&a=%2F%20"),
        # a `=` inside a value is encoded even when everything else is canonical
        ("a=b=c&d=1", "a=b%3Dc&d=1"),
        ("a==", "a=%3D"),
        # escapes of unreserved characters decode; lowercase hex turns uppercase
        ("a=%7e%41%2f", "a=~A%2F"),
        # a `%` without two hex digits after it is a literal percent sign
        ("a=100%", "a=100%25"),
        ("a=%zz&b=%4", "a=%25zz&b=%254"),
        # reserved characters, `+`, spaces and non-ASCII are encoded
        ("a=x+y z&é=1", "%C3%A9=1&a=x%2By%20z"),
        # names without a value, empty parts
        ("b&a=&&c", "a=&b=&c="),
    ],
)
def test_canonical_query_table(query: str, expected: str) -> None:
    """Canonical queries for the cases each path of canonical_query handles."""
    assert canonical_query(query) == expected
    assert _reference_query(query, presigned=False) == expected


_query_pieces = st.sampled_from(
    [
        "a",
        "Z",
        "0",
        "-",
        "~",
        ".",
        "_",
        "%",
        "%2F",
        "%2f",
        "%7E",
        "%7e",
        "%41",
        "%3D",
        "%26",
        "%C3%A9",
        "%zz",
        "&",
        "&",
        "=",
        "=",
        "+",
        " ",
        "/",
        "é",
        "X-Amz-Signature",
    ]
)


@settings(max_examples=1000, deadline=None)
@given(query=st.lists(_query_pieces, max_size=16).map("".join), presigned=st.booleans())
def test_canonical_query_matches_the_aws_rule(query: str, presigned: bool) -> None:
    """For any query, canonical_query is the component-by-component AWS rule."""
    assert canonical_query(query, presigned=presigned) == _reference_query(
        query, presigned=presigned
    )


# --- canonical_uri -----------------------------------------------------------------------

_path_pieces = st.sampled_from(
    ["/", "/", "a", "Z", "0", "-", "_", "~", ".", "..", "%20", "%2F", "%41", " ", "+", "é", ":"]
)


@settings(max_examples=1000, deadline=None)
@given(
    raw_path=st.lists(_path_pieces, max_size=10).map("".join),
    double_encode=st.booleans(),
    normalize=st.booleans(),
)
def test_canonical_uri_matches_the_aws_rule(
    raw_path: str, double_encode: bool, normalize: bool
) -> None:
    """For any path and flags, canonical_uri is the AWS rule, plain paths included."""
    assert canonical_uri(
        raw_path, double_encode=double_encode, normalize=normalize
    ) == _reference_uri(raw_path, double_encode=double_encode, normalize=normalize)


@pytest.mark.parametrize("raw_path", ["/", "/a", "/a/", "/a-b/c_d/e~f", "/a/.b/c.", "/v1.2/x"])
def test_plain_paths_are_their_own_canonical_uri(raw_path: str) -> None:
    """A path of unreserved characters without dot segments or `//` is left alone."""
    assert canonical_uri(raw_path) == raw_path
    assert canonical_uri(raw_path, double_encode=False, normalize=False) == raw_path


# --- parse_authorization: query values ---------------------------------------------------


def _presigned_view(raw: str = "placeholder", credential: str | None = None) -> RequestView:
    """A presigned request, its session token replaced by `raw` and maybe its credential."""
    url = presign_url(
        "GET",
        "https://gw.example/a",
        "AKIDEXAMPLE",
        "secret",
        "us-east-1",
        "service",
        NOW,
        session_token="placeholder",
    )
    query = url.partition("?")[2].replace("Token=placeholder", f"Token={raw}")
    if credential is not None:
        query = query.replace(
            "AKIDEXAMPLE%2F20150830%2Fus-east-1%2Fservice%2Faws4_request", credential
        )
    return RequestView("GET", "/a", "/a", query, (("host", "gw.example"),))


_token_pieces = st.sampled_from(
    ["a", "Z", "0", "+", "/", "%", "%2B", "%2b", "%2F", "%3D", "%41", "%C3%A9", "%e9", "%zz", "é"]
)


@settings(max_examples=500, deadline=None)
@given(token=st.lists(_token_pieces, min_size=1, max_size=12).map("".join))
def test_query_values_decode_like_unquote(token: str) -> None:
    """Auth query values decode %XX exactly as urllib's unquote does; `+` stays a plus."""
    signed = parse_authorization(_presigned_view(token))
    assert signed is not None
    assert signed.security_token == unquote(token, errors="replace")


# --- parse_authorization: the credential -------------------------------------------------


@pytest.mark.parametrize(
    ("credential", "message"),
    [
        ("AKID%2F20150830%2Fus-east-1%2Fservice", "must have the form"),
        ("AKID%2F20150830%2Fus-east-1%2Fservice%2Faws4", "valid terminator"),
        ("AK-ID%2F20150830%2Fus-east-1%2Fservice%2Faws4_request", "malformed access key id"),
        ("AKID%2F2015083%2Fus-east-1%2Fservice%2Faws4_request", "malformed date '2015083'"),
        ("AKID%2F20150231%2Fus-east-1%2Fservice%2Faws4_request", "malformed date '20150231'"),
        ("AKID%2F20150830%2Fus%20east%2Fservice%2Faws4_request", "malformed region 'us east'"),
        ("AKID%2F20150830%2Fus-east-1%2F%2Faws4_request", "malformed service ''"),
        ("AKID%2F20150830%2Fus-east-1%2Fs%2A3%2Faws4_request", "malformed service 's[*]3'"),
    ],
)
def test_malformed_credential_names_the_failing_part(credential: str, message: str) -> None:
    """A credential that fails a check is refused with the first failing part named."""
    with pytest.raises(AuthError, match=message) as caught:
        parse_authorization(_presigned_view(credential=credential))
    assert caught.value.code == "AuthorizationQueryParametersError"


def test_well_formed_credential_is_split() -> None:
    """A well-formed credential gives its key id and scope."""
    signed = parse_authorization(_presigned_view())
    assert signed is not None
    assert (signed.access_key_id, signed.date, signed.region, signed.service) == (
        "AKIDEXAMPLE",
        "20150830",
        "us-east-1",
        "service",
    )
