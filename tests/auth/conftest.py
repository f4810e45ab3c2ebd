"""
Fixtures for the SigV4 tests: raw HTTP text or a URL -> RequestView.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Mapping
from urllib.parse import unquote, urlsplit

import pytest

from gateway.types import RequestView

RawRequest = Callable[..., tuple[RequestView, bytes]]
ViewFactory = Callable[..., RequestView]


def _decoded_path(raw_path: str) -> str:
    """Model of the edge: drop dot segments and empty segments, then percent-decode."""
    normalized = posixpath.normpath("/" + raw_path) if raw_path else "/"
    normalized = "/" + normalized.lstrip("/")
    if raw_path.endswith("/") and normalized != "/":
        normalized += "/"
    return unquote(normalized)


def parse_raw(
    data: bytes, *, encoding: str = "latin-1", raw_path: str | None = None
) -> tuple[RequestView, bytes]:
    """Parse request bytes as a server would: request line, folded headers, body."""
    for separator in (b"\r\n\r\n", b"\n\n"):
        head, found, body = data.partition(separator)
        if found:
            break
    else:
        head, body = data, b""
    lines = head.decode(encoding).replace("\r\n", "\n").split("\n")
    method, _, rest = lines[0].partition(" ")
    target = rest.rsplit(" ", 1)[0]  # the suite's get-space has a literal space
    path, _, query = target.partition("?")
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        if not line.strip():
            continue
        if line[:1] in (" ", "\t") and headers:  # obsolete line folding
            name, value = headers[-1]
            headers[-1] = (name, f"{value} {line.strip()}")
            continue
        name, _, value = line.partition(":")
        headers.append((name.strip().lower(), value.strip()))
    wire = path if raw_path is None else raw_path
    view = RequestView(
        method=method,
        path=_decoded_path(wire),
        raw_path=wire,
        query_string=query,
        headers=tuple(headers),
    )
    return view, body


@pytest.fixture
def raw_request() -> RawRequest:
    """Turn raw request bytes into (RequestView, body)."""
    return parse_raw


@pytest.fixture
def view_factory() -> ViewFactory:
    """Build a RequestView from a method, a URL and headers (as a client would send them)."""

    def make(method: str, url: str, headers: Mapping[str, str] | None = None) -> RequestView:
        parts = urlsplit(url)
        pairs = [(name.lower(), value) for name, value in (headers or {}).items()]
        if not any(name == "host" for name, _ in pairs):
            pairs.insert(0, ("host", parts.netloc))
        return RequestView(
            method=method,
            path=_decoded_path(parts.path),
            raw_path=parts.path,
            query_string=parts.query,
            headers=tuple(pairs),
        )

    return make
