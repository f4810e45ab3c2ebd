"""
ASGI type aliases shared by the edge modules.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class RequestView:
    """
    One request as the gateway sees it, built once at the edge from the ASGI scope.

    ``path`` is the normalized, percent-decoded path: it is what routes match, what
    is authorized and what is forwarded. ``raw_path`` is the path exactly as the
    client sent it (still percent-encoded), which SigV4 needs for the canonical URI.
    Header names are lowercase; values are latin-1 decoded; order and duplicates
    are kept.
    """

    method: str
    path: str
    raw_path: str
    query_string: str
    headers: tuple[tuple[str, str], ...]
    scheme: str = "http"
    client_ip: str = ""
    request_id: str = ""

    def header(self, name: str) -> str | None:
        """
        Return the first value of header ``name`` (lowercase), or None.
        """
        for key, value in self.headers:
            if key == name:
                return value
        return None

    def header_values(self, name: str) -> list[str]:
        """
        Return every value of header ``name`` (lowercase), in order.
        """
        return [value for key, value in self.headers if key == name]

    @property
    def host(self) -> str:
        return self.header("host") or ""

    @property
    def has_body(self) -> bool:
        """
        False when the request has no body by RFC 9112 (no Transfer-Encoding, and no
        Content-Length or a zero one); a body that is there is read, never assumed.
        """
        return self.header("content-length") not in (None, "0") or (
            self.header("transfer-encoding") is not None
        )
