"""
AWS-style error responses for the edge: XML by default, JSON when the client asks.

The body carries exactly what AWS would send (code, message, request id); no
traceback, no internal detail, never a secret.
"""

from __future__ import annotations

import json
from xml.sax.saxutils import escape

from gateway.errors import GatewayError
from gateway.types import RequestView, Send

IAM_NAMESPACE = "https://iam.amazonaws.com/doc/2010-05-08/"


def wants_json(view: RequestView | None) -> bool:
    """
    True when the client asked for JSON (Accept or an AWS JSON content type).
    """
    if view is None:
        return False
    accept = (view.header("accept") or "").lower()
    content_type = (view.header("content-type") or "").lower()
    return "application/json" in accept or "json" in content_type


def error_body(
    error: GatewayError, *, request_id: str, as_json: bool, namespace: str = IAM_NAMESPACE
) -> tuple[bytes, bytes]:
    """
    Return (content type, body) for ``error`` in AWS's Query-protocol error shape.
    """
    kind = "Sender" if error.status < 500 else "Receiver"
    if as_json:
        body = {
            "Error": {"Type": kind, "Code": error.code, "Message": error.message},
            "RequestId": request_id,
        }
        return b"application/json", json.dumps(body).encode("utf-8")
    xml = (
        f'<ErrorResponse xmlns="{escape(namespace)}">'
        f"<Error><Type>{kind}</Type><Code>{escape(error.code)}</Code>"
        f"<Message>{escape(error.message)}</Message></Error>"
        f"<RequestId>{escape(request_id)}</RequestId></ErrorResponse>"
    )
    return b"text/xml", xml.encode("utf-8")


async def send_error(
    send: Send,
    error: GatewayError,
    view: RequestView | None,
    *,
    request_id: str,
    extra_headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    """
    Send ``error`` as a complete response.
    """
    content_type, body = error_body(error, request_id=request_id, as_json=wants_json(view))
    headers = [
        (b"content-type", content_type),
        (b"content-length", str(len(body)).encode("ascii")),
        (b"x-amzn-requestid", request_id.encode("ascii", "replace")),
        (b"cache-control", b"no-store"),
    ]
    if extra_headers:
        headers.extend(extra_headers)
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
