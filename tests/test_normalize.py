"""
Tests for gateway.normalize: path normalization, canonical encoding, the RequestView.
"""

from __future__ import annotations

import ipaddress
import itertools
import re
from collections.abc import Sequence

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.errors import InvalidInput
from gateway.normalize import (
    MAX_HEADER_BYTES,
    MAX_HEADERS,
    MAX_PATH_BYTES,
    encode_path,
    normalize_path,
    parse_trusted_proxies,
    request_view,
)
from gateway.types import Scope

# --- normalize_path: rewritten -------------------------------------------------------------------

NORMALIZED = [
    # plain paths pass unchanged, case and trailing slash included
    ("/", "/"),
    ("/a/b", "/a/b"),
    ("/Buckets/Prod", "/Buckets/Prod"),
    ("/a/b/", "/a/b/"),
    # percent-encoded unreserved characters are decoded (RFC 3986 §6.2.2.2), either hex case
    ("/%7Euser", "/~user"),
    ("/%41%62c", "/Abc"),
    ("/a%2db%5F", "/a-b_"),
    # every other escape is decoded exactly once
    ("/a%20b", "/a b"),
    ("/a%3Fb%23c", "/a?b#c"),
    ("/100%25", "/100%"),
    ("/a%2Bb", "/a+b"),
    # dot segments are resolved (RFC 3986 §5.2.4)
    ("/a/./b", "/a/b"),
    ("/a/../b", "/b"),
    ("/a/b/..", "/a/"),
    ("/a/b/.", "/a/b/"),
    ("/a/b/../../c", "/c"),
    ("/a/..", "/"),
    ("/./a", "/a"),
    # encoded dots that are not a whole dot segment stay ordinary characters
    ("/a/%2e%2e%2e/b", "/a/.../b"),
    ("/a/x%2e/b", "/a/x./b"),
    # dots that are not whole segments are ordinary characters
    ("/a/.../b", "/a/.../b"),
    ("/a/..b", "/a/..b"),
    ("/a/.hidden", "/a/.hidden"),
    ("/a/b..", "/a/b.."),
    # duplicate slashes are merged
    ("//", "/"),
    ("//a", "/a"),
    ("/a//b", "/a/b"),
    ("/a///b//", "/a/b/"),
    ("/a/.//../b", "/b"),
    # double-encoding is decoded once and stays literal text
    ("/%252e%252e/x", "/%2e%2e/x"),
    ("/a%252Fb", "/a%2Fb"),
    ("/a%255Cb", "/a%5Cb"),
    ("/a%253Bb", "/a%3Bb"),
    ("/a%2500", "/a%00"),
    # unicode: UTF-8, encoded or raw
    ("/caf%C3%A9", "/café"),
    ("/café", "/café"),
    ("/%E2%82%AC", "/€"),
    ("/%F0%9F%98%80", "/\U0001f600"),
    ("/a%C2%A0b", "/a\u00a0b"),
]


@pytest.mark.parametrize(("raw", "expected"), NORMALIZED)
def test_normalize_path_rewrites(raw: str, expected: str) -> None:
    """An unambiguous path normalizes to its one decoded form."""
    assert normalize_path(raw) == expected


# --- normalize_path: refused ---------------------------------------------------------------------

REFUSED = [
    # not an origin-form path
    ("", "must start with `/`"),
    ("*", "must start with `/`"),
    ("a/b", "must start with `/`"),
    ("http://evil.example/x", "must start with `/`"),
    ("%2Fa", "must start with `/`"),
    # a query or fragment left in the path
    ("/a?b", "query or fragment"),
    ("/a#b", "query or fragment"),
    # dot segments that climb above the root
    ("/..", "climbs above the root"),
    ("/a/../..", "climbs above the root"),
    # percent-encoded dot segments: SigV4 clients would not resolve them, the gateway
    # would, so a signature for one path could be replayed on another
    ("/%2e%2e/etc/passwd", "percent-encoded dot segment"),
    ("/a/%2E%2E/%2e%2e/b", "percent-encoded dot segment"),
    ("/a/%2e/b", "percent-encoded dot segment"),
    ("/a/%2E%2e/b", "percent-encoded dot segment"),
    ("/a/.%2e/b", "percent-encoded dot segment"),
    ("/a/%2e./b", "percent-encoded dot segment"),
    ("/a/b/%2E", "percent-encoded dot segment"),
    # encoded slashes
    ("/a%2Fb", "encoded slash"),
    ("/a%2fb", "encoded slash"),
    ("/buckets/secret%2F..%2Fpublic", "encoded slash"),
    ("/..%2Fadmin", "encoded slash"),
    # backslashes, raw or encoded
    ("/a\\b", "backslash"),
    ("/a%5Cb", "backslash"),
    ("/a%5cb", "backslash"),
    ("/..\\admin", "backslash"),
    # `;` path parameters, raw or encoded (Tomcat-style `/admin;x=1/` bypasses)
    ("/admin;x=1/", "`;` path parameter"),
    ("/admin;/", "`;` path parameter"),
    ("/..;/admin", "`;` path parameter"),
    ("/a%3Bb", "`;` path parameter"),
    ("/a%3bb", "`;` path parameter"),
    # NUL and control characters, raw or encoded
    ("/a%00b", "control character"),
    ("/a\x00b", "control character"),
    ("/a%0Ab", "control character"),
    ("/a%0d%0aSet-Cookie:x", "control character"),
    ("/a\tb", "control character"),
    ("/a%7Fb", "control character"),
    ("/a%C2%85b", "invisible or unassigned character U+0085"),
    # invalid percent-encoding
    ("/%", "invalid percent-encoding"),
    ("/a%2", "invalid percent-encoding"),
    ("/a%zz", "invalid percent-encoding"),
    ("/a%%30", "invalid percent-encoding"),
    ("/a%g0", "invalid percent-encoding"),
    ("/a% 2", "invalid percent-encoding"),
    ("/a%-1", "invalid percent-encoding"),
    # bytes that are not UTF-8 once decoded
    ("/%FF", "not UTF-8"),
    ("/%C3", "not UTF-8"),
    ("/%C3%28", "not UTF-8"),
    ("/%C0%AE%C0%AE/admin", "not UTF-8"),
    ("/%E0%80%AF", "not UTF-8"),
    ("/%ED%A0%80", "not UTF-8"),
    ("/\udcff", "not UTF-8"),
    ("/\ud800", "not UTF-8"),
    # unicode an upstream could fold into delimiters, and invisible characters
    ("/\uff0e\uff0e/admin", "U+FF0E"),
    ("/%EF%BC%8E%EF%BC%8E/admin", "U+FF0E"),
    ("/a\uff0fb", "U+FF0F"),
    ("/a\ufe68b", "U+FE68"),
    ("/a\u2024b", "U+2024"),
    ("/a\uff1bb", "U+FF1B"),
    ("/a\u200bb", "U+200B"),
    ("/a\u202eb", "U+202E"),
    ("/%EF%BB%BFa", "U+FEFF"),
    ("/a\u0378", "U+0378"),
    ("/a\u2028b", "U+2028"),
]


@pytest.mark.parametrize(("raw", "reason"), REFUSED)
def test_normalize_path_refuses(raw: str, reason: str) -> None:
    """An ambiguous or malformed path is refused with a 400 InvalidURI that says why."""
    with pytest.raises(InvalidInput) as info:
        normalize_path(raw)
    assert (info.value.code, info.value.status) == ("InvalidURI", 400)
    assert reason in info.value.message
    assert info.value.message[0].islower()
    assert "\n" not in info.value.message


def test_normalize_path_echoes_the_path_printably() -> None:
    """The error quotes the path as sent, with bytes outside printable ASCII escaped."""
    with pytest.raises(InvalidInput) as info:
        normalize_path("/caf\u00e9/a\x00`b")
    assert "`/caf%C3%A9/a%00%60b`" in info.value.message


# --- normalize_path: length ----------------------------------------------------------------------


def test_normalize_path_accepts_the_limit() -> None:
    """A path of exactly MAX_PATH_BYTES bytes is accepted."""
    path = "/" + "a" * (MAX_PATH_BYTES - 1)
    assert normalize_path(path) == path


@pytest.mark.parametrize(
    "raw",
    [
        "/" + "a" * MAX_PATH_BYTES,
        "/" + "\u00e9" * (MAX_PATH_BYTES // 2),
        "/" + "%41" * (MAX_PATH_BYTES // 3 + 1),
    ],
)
def test_normalize_path_refuses_long_paths(raw: str) -> None:
    """A path longer than MAX_PATH_BYTES UTF-8 bytes as sent is refused with a 414."""
    with pytest.raises(InvalidInput) as info:
        normalize_path(raw)
    assert (info.value.code, info.value.status) == ("RequestURITooLong", 414)


# --- encode_path ---------------------------------------------------------------------------------

ENCODED = [
    # unreserved characters and `/` stay
    ("/", "/"),
    ("/a-b_c.d~e/F0", "/a-b_c.d~e/F0"),
    # everything else is encoded, uppercase hex
    ("/a b", "/a%20b"),
    ("/a+b", "/a%2Bb"),
    ("/a:b@c", "/a%3Ab%40c"),
    ("/a?b#c", "/a%3Fb%23c"),
    ("/100%", "/100%25"),
    ("/%2e%2e", "/%252e%252e"),
    ("/café", "/caf%C3%A9"),
    ("/\U0001f600", "/%F0%9F%98%80"),
]


@pytest.mark.parametrize(("path", "expected"), ENCODED)
def test_encode_path(path: str, expected: str) -> None:
    """A normalized path encodes like SigV4's UriEncode, keeping `/`."""
    assert encode_path(path) == expected
    assert normalize_path(expected) == path


# --- the invariant, for any input ----------------------------------------------------------------

_TRICKY = st.sampled_from(
    [
        "/",
        "/",
        ".",
        "..",
        "%2e",
        "%2E",
        "%25",
        "%2F",
        "%5C",
        "%3B",
        "%00",
        "%C3%A9",
        "%C0%AE",
        "%FF",
        "%",
        "2",
        "e",
        "a",
        "B",
        ";",
        "\\",
        "?",
        "\x00",
        " ",
        "+",
        "~",
        "é",
        "\uff0e",
        "\udcff",
    ]
)
RAW_PATHS = st.one_of(
    st.text(max_size=40),
    st.lists(_TRICKY, max_size=20).map("".join),
    st.lists(_TRICKY, max_size=20).map(lambda parts: "/" + "".join(parts)),
)


def _check_invariant(raw: str) -> None:
    try:
        path = normalize_path(raw)
    except InvalidInput as exc:
        assert exc.status in (400, 414)
        return
    assert path.startswith("/")
    for bad in ("/./", "/../", "//", "\\", ";", "\x00"):
        assert bad not in path
    assert not path.endswith(("/.", "/.."))
    wire = encode_path(path)
    assert normalize_path(wire) == path
    assert encode_path(normalize_path(wire)) == wire


@given(RAW_PATHS)
def test_normalization_invariant(raw: str) -> None:
    """Any path is refused, or normalizes to a clean path that round-trips through the wire."""
    _check_invariant(raw)


@given(st.lists(st.sampled_from(["a", "b", ".", "..", "", "%2e", "%2E%2e", "%252e"]), max_size=8))
def test_normalization_invariant_on_dot_segments(segments: list[str]) -> None:
    """Paths made of dot and empty segments keep the invariant."""
    _check_invariant("/" + "/".join(segments))


# --- request_view --------------------------------------------------------------------------------


def _scope(
    *,
    raw_path: bytes | None = b"/a/b",
    path: str = "/a/b",
    method: str = "GET",
    headers: Sequence[tuple[bytes, bytes]] = ((b"host", b"example.test"),),
    client: tuple[str, int] | None = ("203.0.113.9", 50000),
    kind: str = "http",
) -> Scope:
    scope: Scope = {
        "type": kind,
        "method": method,
        "scheme": "https",
        "path": path,
        "query_string": b"x=1&y=%C3%A9",
        "headers": list(headers),
        "client": client,
    }
    if raw_path is not None:
        scope["raw_path"] = raw_path
    if kind == "websocket":
        del scope["method"]
        scope["scheme"] = "wss"
    return scope


def test_request_view_fields() -> None:
    """Every field of the view comes from the scope, the path normalized once."""
    scope = _scope(
        raw_path=b"/a/./b/%7Ex",
        headers=[(b"Host", b"example.test"), (b"X-Thing", b"\xe9"), (b"x-thing", b"2")],
    )
    view = request_view(scope, request_id="req-1")
    assert view.method == "GET"
    assert view.path == "/a/b/~x"
    assert view.raw_path == "/a/./b/%7Ex"
    assert view.query_string == "x=1&y=%C3%A9"
    assert view.headers == (("host", "example.test"), ("x-thing", "\xe9"), ("x-thing", "2"))
    assert view.scheme == "https"
    assert view.client_ip == "203.0.113.9"
    assert view.request_id == "req-1"


def test_request_view_generates_request_ids() -> None:
    """Without a request id, each view gets a fresh uuid4 hex."""
    first, second = request_view(_scope()), request_view(_scope())
    assert re.fullmatch(r"[0-9a-f]{32}", first.request_id)
    assert first.request_id != second.request_id


def test_request_view_prefers_raw_path() -> None:
    """An encoded slash the server already decoded in `path` is still refused via raw_path."""
    with pytest.raises(InvalidInput, match="encoded slash"):
        request_view(_scope(raw_path=b"/a%2Fb", path="/a/b"))


def test_request_view_drops_a_query_left_in_raw_path() -> None:
    """A server that leaves the query in raw_path does not make it part of the path."""
    view = request_view(_scope(raw_path=b"/a/b?x=1"))
    assert (view.path, view.raw_path) == ("/a/b", "/a/b")


def test_request_view_reads_raw_utf8_bytes() -> None:
    """Raw UTF-8 bytes in raw_path are decoded; raw_path keeps them byte for byte as latin-1."""
    view = request_view(_scope(raw_path=b"/caf\xc3\xa9"))
    assert view.path == "/café"
    assert view.raw_path.encode("latin-1") == b"/caf\xc3\xa9"


def test_request_view_refuses_raw_invalid_utf8() -> None:
    """Raw bytes that are not UTF-8 are refused."""
    with pytest.raises(InvalidInput, match="not UTF-8"):
        request_view(_scope(raw_path=b"/caf\xe9"))


@pytest.mark.parametrize(
    ("path", "normalized", "raw_path"),
    [
        ("/a b/c", "/a b/c", "/a%20b/c"),
        ("/a/%2e%2e/b", "/a/%2e%2e/b", "/a/%252e%252e/b"),
        ("/a/../b", "/b", "/a/../b"),
        ("/caf\u00e9", "/caf\u00e9", "/caf%C3%A9"),
    ],
)
def test_request_view_without_raw_path(path: str, normalized: str, raw_path: str) -> None:
    """Without raw_path, the decoded scope path is re-encoded, then normalized."""
    view = request_view(_scope(raw_path=None, path=path))
    assert (view.path, view.raw_path) == (normalized, raw_path)


@pytest.mark.parametrize("path", ["/a\\b", "/a;b", "/a\x00b", "/a\udcff", "/a\ud800", "a"])
def test_request_view_without_raw_path_refuses(path: str) -> None:
    """Without raw_path, a decoded scope path with an ambiguous character is still refused."""
    with pytest.raises(InvalidInput):
        request_view(_scope(raw_path=None, path=path))


def test_request_view_websocket() -> None:
    """A websocket scope reads as a GET with its ws/wss scheme."""
    view = request_view(_scope(kind="websocket"))
    assert (view.method, view.scheme) == ("GET", "wss")


@pytest.mark.parametrize("method", ["PROPFIND", "M-SEARCH", "VERSION-CONTROL"])
def test_request_view_accepts_extension_methods(method: str) -> None:
    """Uppercase method tokens beyond the standard ones are accepted."""
    assert request_view(_scope(method=method)).method == method


@pytest.mark.parametrize("method", ["get", "Get", "", "G ET", "GET\r\n", "-GET", "1GET"])
def test_request_view_refuses_bad_methods(method: str) -> None:
    """A method that is not an uppercase token is refused: `get` must not dodge GET routes."""
    with pytest.raises(InvalidInput, match="invalid HTTP method") as info:
        request_view(_scope(method=method))
    assert info.value.status == 400


def test_request_view_refuses_two_hosts() -> None:
    """Two Host headers are refused (RFC 9112 §3.2): routing must not guess between them."""
    headers = [(b"host", b"a.internal"), (b"Host", b"b.internal")]
    with pytest.raises(InvalidInput, match="more than one `Host` header"):
        request_view(_scope(headers=headers))


# --- request_view: header limits -----------------------------------------------------------------


def test_request_view_accepts_header_limits() -> None:
    """Exactly MAX_HEADERS headers of exactly MAX_HEADER_BYTES in total are accepted."""
    headers = [(b"x-%02d" % i, b"v" * 100) for i in range(MAX_HEADERS - 1)]
    headers.append((b"x-last", b"v" * (MAX_HEADER_BYTES - 104 * (MAX_HEADERS - 1) - 6)))
    assert sum(len(name) + len(value) for name, value in headers) == MAX_HEADER_BYTES
    assert len(request_view(_scope(headers=headers)).headers) == MAX_HEADERS


@pytest.mark.parametrize(
    "headers",
    [
        [(b"x-a", b"1")] * (MAX_HEADERS + 1),
        [(b"x-a", b"v" * (MAX_HEADER_BYTES - 2))],
        [(b"x-a", b"v" * 9000), (b"x-b", b"v" * 9000)],
    ],
    ids=["too-many", "one-too-big", "too-big-in-total"],
)
def test_request_view_refuses_oversized_headers(headers: list[tuple[bytes, bytes]]) -> None:
    """Too many headers, or too many header bytes, get a 431."""
    with pytest.raises(InvalidInput) as info:
        request_view(_scope(headers=headers))
    assert (info.value.code, info.value.status) == ("RequestHeaderSectionTooLarge", 431)


# --- request_view: client address ----------------------------------------------------------------

PROXIES = ("10.0.0.0/8", "fd00::/8")

CLIENT_IPS = [
    # an untrusted peer is the client, whatever it claims
    ("203.0.113.9", ["198.51.100.7"], (), "203.0.113.9"),
    ("203.0.113.9", ["198.51.100.7"], PROXIES, "203.0.113.9"),
    # a trusted peer: the right-most untrusted address
    ("10.0.0.1", ["198.51.100.7"], PROXIES, "198.51.100.7"),
    ("10.0.0.1", ["6.6.6.6, 198.51.100.7"], PROXIES, "198.51.100.7"),
    ("10.0.0.1", ["6.6.6.6, 198.51.100.7, 10.0.0.2"], PROXIES, "198.51.100.7"),
    ("10.0.0.1", ["6.6.6.6", "198.51.100.7"], PROXIES, "198.51.100.7"),
    ("10.0.0.1", [], PROXIES, "10.0.0.1"),
    ("10.0.0.1", ["10.0.0.3, 10.0.0.2"], PROXIES, "10.0.0.3"),
    # garbage stops the walk at the last address a trusted proxy vouched for
    ("10.0.0.1", ["not-an-ip, 198.51.100.7"], PROXIES, "198.51.100.7"),
    ("10.0.0.1", ["198.51.100.7, not-an-ip"], PROXIES, "10.0.0.1"),
    ("10.0.0.1", [""], PROXIES, "10.0.0.1"),
    # ports, brackets, IPv6 and IPv4-mapped addresses
    ("10.0.0.1", ["198.51.100.7:4711"], PROXIES, "198.51.100.7"),
    ("10.0.0.1", ["[2001:db8::7]:443"], PROXIES, "2001:db8::7"),
    ("fd00::1", ["2001:db8::7"], PROXIES, "2001:db8::7"),
    ("::ffff:10.0.0.1", ["198.51.100.7"], PROXIES, "198.51.100.7"),
    ("::ffff:203.0.113.9", [], (), "203.0.113.9"),
    # a peer that is not an IP address
    ("testclient", ["198.51.100.7"], PROXIES, ""),
]


@pytest.mark.parametrize(("peer", "forwarded", "trusted", "expected"), CLIENT_IPS)
def test_request_view_client_ip(
    peer: str, forwarded: list[str], trusted: tuple[str, ...], expected: str
) -> None:
    """X-Forwarded-For counts only from trusted proxies, read from the right."""
    headers = [(b"host", b"example.test")]
    headers += [(b"x-forwarded-for", value.encode()) for value in forwarded]
    scope = _scope(headers=headers, client=(peer, 1234))
    view = request_view(scope, trusted_proxies=parse_trusted_proxies(trusted))
    assert view.client_ip == expected


def test_request_view_without_client() -> None:
    """A connection without a peer address (a Unix socket) has an empty client_ip."""
    assert request_view(_scope(client=None)).client_ip == ""


def test_request_view_accepts_cidr_strings() -> None:
    """Trusted proxies may be given as CIDR strings."""
    scope = _scope(headers=[(b"x-forwarded-for", b"198.51.100.7")], client=("10.1.2.3", 1))
    assert request_view(scope, trusted_proxies=["10.0.0.0/8"]).client_ip == "198.51.100.7"


def test_parse_trusted_proxies() -> None:
    """CIDRs parse once into networks; host bits are allowed, garbage is not."""
    parsed = parse_trusted_proxies(["10.1.2.3/8", ipaddress.ip_network("fd00::/8"), " 192.0.2.1 "])
    assert [str(network) for network in parsed] == ["10.0.0.0/8", "fd00::/8", "192.0.2.1/32"]
    with pytest.raises(ValueError, match="does not appear to be"):
        parse_trusted_proxies(["ten.0.0.0/8"])


# --- fast paths agree with the general rules -----------------------------------------------------


def _reference_normalize(raw: str) -> str:
    """RFC 3986 §5.2.4 over a path of plain ASCII characters; `..` above the root is refused."""
    segments: list[str] = []
    for segment in raw.split("/")[1:]:
        if segment == "..":
            if not segments:
                raise InvalidInput("climbs above the root", code="InvalidURI")
            segments.pop()
        elif segment not in ("", "."):
            segments.append(segment)
    trailing = raw.split("/")[-1] in ("", ".", "..") and bool(segments)
    return "/" + "/".join(segments) + ("/" if trailing else "")


_PLAIN_PIECES = st.sampled_from(
    ["/", "/", "/", ".", "..", "a", "Z", "0", "-", "_", "~", "!", "$", "&", "'", "(", "*", ":", "@"]
)


@given(st.lists(_PLAIN_PIECES, max_size=16).map(lambda parts: "/" + "".join(parts)))
def test_plain_ascii_paths_follow_the_dot_segment_rules(raw: str) -> None:
    """Paths without escapes normalize by RFC 3986 alone, whether or not they take the fast path."""
    try:
        expected = _reference_normalize(raw)
    except InvalidInput:
        with pytest.raises(InvalidInput, match="climbs above the root"):
            normalize_path(raw)
    else:
        assert normalize_path(raw) == expected


@pytest.mark.parametrize(
    "raw",
    ["/" + "a" * (MAX_PATH_BYTES - 1), "/" + "a/" * (MAX_PATH_BYTES // 2 - 1) + "b"],
    ids=["one-segment", "many-segments"],
)
def test_plain_paths_at_the_limit(raw: str) -> None:
    """A plain path of exactly MAX_PATH_BYTES passes; one byte more is refused with 414."""
    assert len(raw) == MAX_PATH_BYTES
    assert normalize_path(raw) == raw
    with pytest.raises(InvalidInput) as info:
        normalize_path(raw + "c")
    assert info.value.status == 414


@pytest.mark.parametrize(
    ("peer", "trusted", "expected"),
    [
        # dotted quads as the general path writes them come back as they are
        ("192.0.2.1", (), "192.0.2.1"),
        ("100.64.0.9", (), "100.64.0.9"),
        ("255.255.255.255", (), "255.255.255.255"),
        # anything else is parsed: leading zeros and stray dots are not addresses
        ("010.0.0.1", (), ""),
        ("192.0.2.1.", (), ""),
        ("256.0.0.1", (), ""),
        (" 192.0.2.1", (), "192.0.2.1"),
        ("192.0.2.1:8080", (), "192.0.2.1"),
        ("::FFFF:192.0.2.1", (), "192.0.2.1"),
        ("2001:DB8::1", (), "2001:db8::1"),
        # with trusted proxies every peer takes the general path
        ("192.0.2.1", ("10.0.0.0/8",), "192.0.2.1"),
        ("10.0.0.1", ("10.0.0.0/8",), "198.51.100.7"),
    ],
)
def test_request_view_client_ip_forms(peer: str, trusted: tuple[str, ...], expected: str) -> None:
    """The peer address is reported in its canonical form, or as "" when it is not one."""
    scope = _scope(headers=[(b"x-forwarded-for", b"198.51.100.7")], client=(peer, 1))
    view = request_view(scope, trusted_proxies=parse_trusted_proxies(trusted))
    assert view.client_ip == expected


def test_request_view_decodes_any_bytes_like_header() -> None:
    """Header names and values may be bytes, bytearray or memoryview; all decode as latin-1."""
    headers = [
        (b"Host", b"example.test"),
        (bytearray(b"X-A"), bytearray(b"caf\xe9")),
        (memoryview(b"X-B"), memoryview(b"2")),
    ]
    scope = _scope()
    scope["headers"] = headers
    view = request_view(scope)
    assert view.headers == (("host", "example.test"), ("x-a", "café"), ("x-b", "2"))


def test_request_view_refuses_endless_headers() -> None:
    """Headers from a generator are read only up to the first one too many."""
    scope = _scope()
    scope["headers"] = itertools.repeat((b"x-a", b"1"))
    with pytest.raises(InvalidInput) as info:
        request_view(scope)
    assert info.value.status == 431
