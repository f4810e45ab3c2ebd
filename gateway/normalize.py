"""
Request-path normalization and the ``RequestView`` built from an ASGI scope.

Layer: the edge. ``request_view()`` runs once per request, before anything else
looks at it; from then on the gateway reads the frozen view, never the scope.
Imports ``gateway.errors`` and ``gateway.types`` only.

INVARIANT: what is authorized is exactly what is forwarded. The path is
normalized once, here; ``RequestView.path`` is that normalized, percent-decoded
path, and routes match it, policies see it and ``encode_path()`` turns it back
into the one canonical wire form that is sent upstream, so that
``normalize_path(encode_path(path)) == path`` for every normalized ``path``.

Normalization rules (``normalize_path``), in the order they apply:

- refused: more than ``MAX_PATH_BYTES`` (414); a path not starting with ``/``
  (including ``*`` and absolute-form targets); a query (``?``) or fragment
  (``#``) left in the path; invalid percent-encoding (``%``, ``%2``, ``%zz``);
  an encoded slash ``%2F`` or any backslash (``\\``, ``%5C``), since
  upstreams disagree on whether they separate segments; ``;`` and ``%3B``, since
  Tomcat, Jetty and Spring strip ``;params`` from segments (``/admin;x=1/``
  reaches ``/admin/`` there); NUL and control characters, raw or encoded;
  bytes that are not UTF-8 after decoding (overlong forms such as ``%C0%AE``
  included); Unicode format and unassigned characters, and characters whose
  compatibility form (NFKC) holds ``/``, ``\\``, ``.``, ``;``, ``%``, ``?`` or
  ``#`` (fullwidth ``．`` or ``／``), which an upstream that folds Unicode would
  turn into separators or dot segments; a ``..`` that climbs above the root.
- rewritten: every other percent-escape is decoded exactly once (``%7E`` is
  ``~``, ``%252e`` is the literal text ``%2e``); ``.`` segments are removed and
  ``..`` segments remove their parent, encoded forms included (RFC 3986
  §5.2.4, after §6.2.2.2 decoded ``%2e``); empty segments (``//``) are merged.
- kept: the case of the path (resources are case-sensitive) and a trailing
  slash, which is meaningful to many upstreams.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from collections.abc import Iterable
from itertools import islice
from typing import Final
from urllib.parse import quote

from gateway.errors import InvalidInput
from gateway.request_ids import new_request_id
from gateway.types import RequestView, Scope

__all__ = [
    "MAX_HEADER_BYTES",
    "MAX_HEADERS",
    "MAX_PATH_BYTES",
    "IPNetwork",
    "encode_path",
    "normalize_path",
    "parse_trusted_proxies",
    "request_view",
]

MAX_PATH_BYTES: Final = 8192
MAX_HEADERS: Final = 100
MAX_HEADER_BYTES: Final = 16384

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_INVALID_URI: Final = "InvalidURI"
_HEX: Final = frozenset(b"0123456789abcdefABCDEF")
_SLASH: Final = 0x2F
# Bytes refused whether raw or percent-encoded: backslash, `;`, NUL, controls and DEL.
_REFUSED: Final = {0x5C: "a backslash", 0x3B: "a `;` path parameter"}
# What a Unicode-folding upstream must never be able to turn a character into.
_SIGNIFICANT: Final = frozenset("/\\.;%?#")
_REFUSED_CATEGORIES: Final = frozenset(("Cc", "Cf", "Cn", "Co", "Cs", "Zl", "Zp"))
# RFC 9110 §5.6.2 token, restricted to uppercase like nginx: methods are case-sensitive, and a
# lowercase `get` that a lenient upstream treats as GET must not dodge a GET route.
_METHOD: Final = re.compile(r"[A-Z][A-Z0-9!#$%&'*+.^_`|~-]*")
# A path that normalizes to itself: `/`, or non-empty segments of RFC 3986 pchars but `%` and
# `;`, none starting with `.`, and an optional trailing slash. So no escape, dot segment, `//`,
# backslash, control or non-ASCII character; most requests match, and skip the byte loop.
# INVARIANT: the rules of `normalize_path` return every path this matches unchanged.
_PLAIN_PATH: Final = re.compile(
    r"/|(?:/[A-Za-z0-9_~!$&'()*+,=:@-][A-Za-z0-9._~!$&'()*+,=:@-]*)+/?", re.ASCII
)
# An IPv4 address as `str(ipaddress.ip_address(...))` writes it: no leading zeros.
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
_PLAIN_IPV4: Final = re.compile(rf"{_OCTET}(?:\.{_OCTET}){{3}}", re.ASCII)


def normalize_path(raw_path: str) -> str:
    """
    Normalize a request path once, for matching, authorization and forwarding.

    Args:
        raw_path: the path as sent, percent-encoded, without the query. Characters
            outside ASCII stand for their UTF-8 bytes; lone surrogates produced by
            ``bytes.decode("utf-8", "surrogateescape")`` stand for the raw bytes.

    Returns:
        The percent-decoded path: it starts with ``/``, has no ``.``, ``..`` or
        empty segments, and keeps the case and any trailing slash of the input.

    Raises:
        InvalidInput: the path is ambiguous or malformed (400 ``InvalidURI``), or
            longer than ``MAX_PATH_BYTES`` (414 ``RequestURITooLong``).
    """
    if len(raw_path) <= MAX_PATH_BYTES and _PLAIN_PATH.fullmatch(raw_path):
        return raw_path  # already normalized
    try:
        raw = raw_path.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        raise _invalid("the path is not UTF-8") from None
    if len(raw) > MAX_PATH_BYTES:
        raise InvalidInput(
            f"the path is longer than {MAX_PATH_BYTES} bytes",
            code="RequestURITooLong",
            status=414,
        )
    if not raw.startswith(b"/"):
        raise _invalid(f"the path `{_clip(raw)}` must start with `/`")
    for segment in raw.split(b"/"):
        # SECURITY: SigV4 clients resolve only literal dot segments; an encoded one
        # (`%2e%2e`) would be resolved here but not in the signed canonical URI, so a
        # signature (or presigned URL) for `/a/b` could be replayed as
        # `/a/%2e%2e/../b`, which would reach a different resource. Refuse it.
        if b"%" in segment and _percent_decode(segment) in (b".", b".."):
            raise _invalid(f"the path `{_clip(raw)}` has a percent-encoded dot segment")
    decoded = _percent_decode(raw)
    try:
        text = decoded.decode("utf-8")
    except UnicodeDecodeError:
        raise _invalid(f"the path `{_clip(raw)}` is not UTF-8 once decoded") from None
    if not text.isascii():
        _check_unicode(text, raw)
    return _remove_dot_segments(text, raw)


def encode_path(path: str) -> str:
    """
    Percent-encode a normalized path canonically, for the request line sent upstream.

    Everything but RFC 3986 unreserved characters and ``/`` is encoded, as UTF-8
    with uppercase hex (the rule of SigV4's ``UriEncode``): no upstream decodes it
    into anything but ``path``, not even one that turns ``+`` into a space.
    ``normalize_path(encode_path(path)) == path`` for every normalized ``path``.
    """
    return quote(path, safe="/")


def parse_trusted_proxies(cidrs: Iterable[str | IPNetwork]) -> tuple[IPNetwork, ...]:
    """
    Parse trusted proxy CIDRs once (at start-up) for ``request_view()``.

    Raises:
        ValueError: an entry is not an IP address or network.
    """
    return tuple(
        item if not isinstance(item, str) else ipaddress.ip_network(item.strip(), strict=False)
        for item in cidrs
    )


def request_view(
    scope: Scope,
    *,
    trusted_proxies: Iterable[str | IPNetwork] = (),
    request_id: str | None = None,
) -> RequestView:
    """
    Build the frozen view of an ASGI ``http`` or ``websocket`` request.

    The path comes from ``scope["raw_path"]`` when the server provides it (the
    bytes as sent, so ``%2F`` and ``%2e`` stay visible), else from
    ``scope["path"]`` re-encoded by the rule of ``encode_path()``.

    Args:
        scope: the ASGI connection scope.
        trusted_proxies: CIDRs of reverse proxies whose ``X-Forwarded-For`` is
            believed; parse them once with ``parse_trusted_proxies()``.
        request_id: the id to give the request; a fresh one when None.

    Returns:
        The view. ``client_ip`` is the direct peer, or, when that peer is a trusted
        proxy, the right-most ``X-Forwarded-For`` address that is not one; it is
        ``""`` when the peer is not an IP address (a Unix socket, a test client).

    Raises:
        InvalidInput: the path is refused (see ``normalize_path``), the method is
            not an uppercase token, the ``Host`` header is repeated, or the headers
            exceed ``MAX_HEADERS`` or ``MAX_HEADER_BYTES`` (431).
    """
    headers = _headers(scope.get("headers") or ())
    method = str(scope.get("method", "GET"))
    if not _METHOD.fullmatch(method):
        raise InvalidInput(
            f"invalid HTTP method `{_clip(method.encode('latin-1', 'replace'))}`; "
            "expected an uppercase token such as `GET`",
            code="InvalidRequest",
        )
    # SECURITY: RFC 9112 §3.2: a request with several Host fields is answered 400; which of
    # them an upstream would pick is exactly what a host-based routing bypass needs.
    if [name for name, _ in headers].count("host") > 1:
        raise InvalidInput("more than one `Host` header", code="InvalidRequest")
    raw_bytes = scope.get("raw_path")
    if isinstance(raw_bytes, bytes | bytearray):
        # A `?` in raw_path can only be the query delimiter (a literal one is `%3F`).
        raw_bytes = bytes(raw_bytes).partition(b"?")[0]
        raw_path = raw_bytes.decode("latin-1")
        # ASCII reads the same in latin-1 and UTF-8; decode only what differs.
        path = normalize_path(
            raw_path if raw_path.isascii() else raw_bytes.decode("utf-8", "surrogateescape")
        )
    else:
        # Lone surrogates (undecodable bytes a server let through) encode to bytes that
        # normalize_path then refuses as not UTF-8, instead of raising here.
        raw_path = quote(str(scope.get("path", "")), safe="/", errors="surrogatepass")
        path = normalize_path(raw_path)
    scheme = scope.get("scheme") or ("ws" if scope.get("type") == "websocket" else "http")
    return RequestView(
        method=method,
        path=path,
        raw_path=raw_path,
        query_string=bytes(scope.get("query_string") or b"").decode("latin-1"),
        headers=headers,
        scheme=str(scheme),
        client_ip=_client_ip(
            scope, headers, parse_trusted_proxies(trusted_proxies) if trusted_proxies else ()
        ),
        request_id=new_request_id() if request_id is None else request_id,
    )


# --- the path ------------------------------------------------------------------------------------


def _percent_decode(raw: bytes) -> bytes:
    out = bytearray()
    i, size = 0, len(raw)
    while i < size:
        byte = raw[i]
        encoded = byte == 0x25  # `%`
        if encoded:
            if i + 2 >= size:
                raise _invalid(f"invalid percent-encoding in `{_clip(raw)}`")
            if raw[i + 1] not in _HEX or raw[i + 2] not in _HEX:
                raise _invalid(f"invalid percent-encoding in `{_clip(raw)}`")
            byte = int(raw[i + 1 : i + 3], 16)
            i += 3
        else:
            i += 1
            if byte in (0x3F, 0x23):  # `?`, `#`
                raise _invalid(f"the path `{_clip(raw)}` holds a query or fragment")
        if encoded and byte == _SLASH:
            # SECURITY: `%2F` is one segment to some upstreams and a separator to others.
            raise _invalid(f"the path `{_clip(raw)}` holds an encoded slash `%2F`")
        if byte in _REFUSED:
            raise _invalid(f"the path `{_clip(raw)}` holds {_REFUSED[byte]}")
        if byte < 0x20 or byte == 0x7F:
            raise _invalid(f"the path `{_clip(raw)}` holds a control character")
        out.append(byte)
    return bytes(out)


def _check_unicode(text: str, raw: bytes) -> None:
    for char in text:
        if char.isascii():
            continue
        if unicodedata.category(char) in _REFUSED_CATEGORIES:
            raise _invalid(
                f"the path `{_clip(raw)}` holds the invisible or unassigned character "
                f"U+{ord(char):04X}"
            )
        # SECURITY: an upstream that applies NFKC would read U+FF0E as `.` and U+FF0F as `/`.
        if _SIGNIFICANT.intersection(unicodedata.normalize("NFKC", char)):
            raise _invalid(
                f"the path `{_clip(raw)}` holds U+{ord(char):04X}, which Unicode folds "
                "into a path delimiter"
            )


def _remove_dot_segments(text: str, raw: bytes) -> str:
    # INVARIANT: `text` has no encoded slash left, so its `/` are exactly the separators sent.
    segments = text.split("/")[1:]
    stack: list[str] = []
    for segment in segments:
        if segment == "..":
            if not stack:
                raise _invalid(f"the path `{_clip(raw)}` climbs above the root with `..`")
            stack.pop()
        elif segment not in ("", "."):
            stack.append(segment)
    # A trailing slash survives, and so does the directory a final `.` or `..` names.
    trailing = segments[-1] in ("", ".", "..") and bool(stack)
    return "/" + "/".join(stack) + ("/" if trailing else "")


def _invalid(message: str) -> InvalidInput:
    return InvalidInput(message, code=_INVALID_URI)


def _clip(raw: bytes, limit: int = 80) -> str:
    # Echo the path as sent, printable ASCII only, so the message stays one clean line.
    text = "".join(
        chr(b) if 0x20 <= b < 0x7F and b != 0x60 else f"%{b:02X}" for b in raw[: limit + 1]
    )
    return text if len(raw) <= limit else f"{text[: limit - 3]}..."


# --- headers and the client address --------------------------------------------------------------


def _headers(raw: Iterable[tuple[bytes, bytes]]) -> tuple[tuple[str, str], ...]:
    items = list(islice(raw, MAX_HEADERS + 1))  # one too many is enough to refuse
    if len(items) > MAX_HEADERS or (
        sum([len(name) + len(value) for name, value in items]) > MAX_HEADER_BYTES
    ):
        raise InvalidInput(
            f"the request headers exceed {MAX_HEADERS} fields or {MAX_HEADER_BYTES} bytes",
            code="RequestHeaderSectionTooLarge",
            status=431,
        )
    # str(buffer, encoding) decodes bytes, bytearray and memoryview alike.
    return tuple([(str(name, "latin-1").lower(), str(value, "latin-1")) for name, value in items])


def _client_ip(
    scope: Scope, headers: tuple[tuple[str, str], ...], trusted: tuple[IPNetwork, ...]
) -> str:
    client = scope.get("client")
    if not client:
        return ""
    host = str(client[0])
    if not trusted and _PLAIN_IPV4.fullmatch(host):
        return host  # what the general path returns for it, without building an address
    peer = _parse_ip(host)
    if peer is None:
        return ""
    if not _is_trusted(peer, trusted):
        return str(peer)
    forwarded = [
        item.strip()
        for name, value in headers
        if name == "x-forwarded-for"
        for item in value.split(",")
    ]
    # SECURITY: only the entries our own proxies appended are facts; read from the right and stop
    # at the first address no trusted proxy owns. Anything further left is what the client wrote.
    nearest = peer
    for item in reversed(forwarded):
        address = _parse_ip(item)
        if address is None:
            break
        nearest = address
        if not _is_trusted(address, trusted):
            break
    return str(nearest)


def _parse_ip(text: str) -> IPAddress | None:
    text = text.strip()
    if text.startswith("["):  # `[2001:db8::1]:443`
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:  # `192.0.2.1:443`
        text = text.partition(":")[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _is_trusted(address: IPAddress, trusted: tuple[IPNetwork, ...]) -> bool:
    return any(address.version == network.version and address in network for network in trusted)
