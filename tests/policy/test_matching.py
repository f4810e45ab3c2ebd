"""Wildcard matching, ARN splitting, policy variables and statement positions."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.policy.matching import (
    Glob,
    compile_regex,
    glob_tokens,
    parse_template,
    split_arn,
    stringify,
)
from gateway.policy.positions import statement_spans


def naive_match(pattern: str, text: str) -> bool:
    """Reference matcher: plain recursion over `*` and `?`, no regex, no fnmatch."""
    if not pattern:
        return not text
    head = pattern[0]
    if head == "*":
        return naive_match(pattern[1:], text) or (bool(text) and naive_match(pattern, text[1:]))
    if not text:
        return False
    return (head == "?" or head == text[0]) and naive_match(pattern[1:], text[1:])


# --- wildcard table -----------------------------------------------------------------
@pytest.mark.parametrize(
    ("pattern", "text", "expected"),
    [
        # literal
        ("arn:aws:s3:::b/k", "arn:aws:s3:::b/k", True),
        ("arn:aws:s3:::b/k", "arn:aws:s3:::b/K", False),
        # star crosses colons and slashes
        ("arn:aws:s3:::*", "arn:aws:s3:::b/c:d", True),
        ("*", "", True),
        ("a*b*c", "abc", True),
        ("a*b*c", "aXbYbZc", True),
        ("a*b*c", "acb", False),
        # question mark is exactly one character
        ("a?c", "abc", True),
        ("a?c", "ac", False),
        ("??", "ab", True),
        ("*?", "", False),
        ("a*?b", "axyb", True),
    ],
)
def test_wildcard_table(pattern: str, text: str, expected: bool) -> None:
    """Regex and glob engines agree with the table and with each other."""
    tokens = glob_tokens(pattern)
    assert (compile_regex([tokens]).fullmatch(text) is not None) is expected
    assert Glob.from_tokens(tokens).matches(text) is expected


ALPHABET = st.sampled_from("ab:/*?")


@settings(max_examples=400)
@given(st.text(ALPHABET, max_size=8), st.text(st.sampled_from("ab:/"), max_size=10))
def test_engines_agree_with_naive_matcher(pattern: str, text: str) -> None:
    """Both compiled engines agree with the naive recursive matcher on any input."""
    expected = naive_match(pattern, text)
    tokens = glob_tokens(pattern)
    assert (compile_regex([tokens]).fullmatch(text) is not None) is expected
    assert Glob.from_tokens(tokens).matches(text) is expected


@settings(max_examples=200)
@given(
    st.text(st.sampled_from("ab*?"), max_size=6),
    st.text(st.sampled_from("ab*?"), max_size=4),
    st.text(st.sampled_from("ab"), max_size=8),
)
def test_template_value_is_literal(prefix: str, value: str, tail: str) -> None:
    """A substituted variable value matches only itself, even when it holds wildcards."""
    template = parse_template(prefix + "${aws:username}", variables=True)
    assert template is not None
    matched = template.matches(tail, {"aws:username": (value,)})
    expected = tail.endswith(value) and naive_match(prefix, tail[: len(tail) - len(value)])
    assert matched is expected


def test_split_arn() -> None:
    """An ARN splits into six parts and the resource keeps its colons."""
    assert split_arn("arn:aws:sns:us-east-1:123:topic:sub") == (
        "arn",
        "aws",
        "sns",
        "us-east-1",
        "123",
        "topic:sub",
    )
    assert split_arn("arn:aws:s3") is None
    assert split_arn("urn:aws:s3:::b") is None


def test_template_parsing() -> None:
    """Variables, defaults and escapes are recognized only when variables are enabled."""
    assert parse_template("a/${aws:username}", variables=False) is None
    assert parse_template("no variables", variables=True) is None
    template = parse_template("${aws:x, 'd'}/${*}${?}${$}/${unclosed", variables=True)
    assert template is not None
    assert template.keys == ("aws:x",)
    assert template.text({}) == "d/*?$/${unclosed"
    with pytest.raises(ValueError, match="invalid default"):
        parse_template("${aws:x, d}", variables=True)
    with pytest.raises(ValueError, match="invalid policy variable"):
        parse_template("${nocolon}", variables=True)


def test_template_missing_and_multivalued() -> None:
    """A missing variable is reported; a multivalued one does not resolve."""
    template = parse_template("x/${aws:username}", variables=True)
    assert template is not None
    missing: list[str] = []
    assert template.text({}, missing) is None
    assert missing == ["aws:username"]
    assert template.glob({"aws:username": ("a", "b")}) is None
    assert template.text({"aws:username": (True,)}) == "x/true"


# --- segments between stars ---------------------------------------------------------
@pytest.mark.parametrize(
    ("pattern", "text", "expected"),
    [
        ("a*?*b", "axb", True),
        ("a*??*b", "axb", False),
        ("a*??*b", "axyb", True),
        # the first place the segment's literal occurs is not always a match
        ("a*b?c*d", "abxxbycd", True),
        ("a*b?c*d", "abxbxd", False),
    ],
)
def test_question_mark_segments(pattern: str, text: str, expected: bool) -> None:
    """Middle segments are found leftmost, with or without a literal to search for."""
    tokens = glob_tokens(pattern)
    assert (compile_regex([tokens]).fullmatch(text) is not None) is expected
    assert Glob.from_tokens(tokens).matches(text) is expected


def test_template_with_empty_variable_value() -> None:
    """A variable that resolves to "" leaves its segment anchored on the next literal."""
    template = parse_template("a*${aws:username}b*c", variables=True)
    assert template is not None
    assert template.matches("axbyc", {"aws:username": ("",)})
    assert not template.matches("axyc", {"aws:username": ("",)})
    assert template.matches("axbobbyc", {"aws:username": ("bob",)})


def test_stringify_bytes() -> None:
    """Bytes are substituted as UTF-8 text, with undecodable bytes replaced."""
    assert stringify(b"caf\xc3\xa9") == "café"
    assert stringify(b"\xff") == "\ufffd"
    template = parse_template("x/${aws:username}", variables=True)
    assert template is not None
    assert template.text({"aws:username": (b"bob",)}) == "x/bob"


# --- statement positions ------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"Statement": {"Effect": "Allow"}}', [((1, 15), (1, 33))]),
        ('{\n "Id": "x",\n "Statement": [{}, {}]\n}', [((3, 16), (3, 17)), ((3, 20), (3, 21))]),
        # layouts that cannot be followed give no positions, never an error
        ("[]", None),
        ('{"Version": "2012-10-17"}', None),
        ('{"Version": ', None),
        ("", None),
    ],
)
def test_statement_spans(text: str, expected: list[Any] | None) -> None:
    """Spans run from a statement's first to its last character, lines and columns from 1."""
    assert statement_spans(text) == expected
