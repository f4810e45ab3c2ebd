"""
``/_gateway/credentials``: temporary credentials for workloads, container-style.

The AWS SDKs' container credential provider reads this endpoint when a program
runs with::

    AWS_CONTAINER_CREDENTIALS_FULL_URI=http://127.0.0.1:8080/_gateway/credentials
    AWS_CONTAINER_AUTHORIZATION_TOKEN=<the workload's bootstrap token>

It sends ``GET`` with the token as the whole ``Authorization`` header and expects
JSON with ``AccessKeyId``, ``SecretAccessKey``, ``Token`` and ``Expiration``
(ISO 8601), which it refreshes by itself before they expire (botocore: when
less than 15 minutes remain). Each answer is a new session of the workload's
role, named after the workload, lasting the workload's duration (at most the
role's maximum session duration). Every issuance and every refusal is audited;
the response is never cached. botocore fetches plain-HTTP credentials only from
loopback addresses (and the ECS/EKS link-local hosts): serve the gateway to
workloads on loopback or over HTTPS.

A missing token is 401, a wrong one 403 (JSON ``{"Code", "Message"}``); neither
says whether the workload exists.

Layer: the edge.
"""

from __future__ import annotations

import json
import logging
import time
from typing import TYPE_CHECKING, Any

from gateway.api.sts import issue_role_session
from gateway.audit import build_event
from gateway.auth.keys import session_principal
from gateway.errors import AuthError, ClientError, GatewayError
from gateway.iam.naming import now as utc_now
from gateway.iam.workloads import authenticate_workload
from gateway.normalize import request_view
from gateway.principal import Principal
from gateway.request_ids import new_request_id
from gateway.types import Receive, RequestView, Scope, Send

if TYPE_CHECKING:
    from gateway.app import GatewayApp

log = logging.getLogger("gateway.api")

ACTION = "gateway:GetWorkloadCredentials"
_MAX_TOKEN_CHARS = 256
_INVALID = "The workload token is not valid."


class _Unauthorized(AuthError):
    code = "MissingAuthenticationToken"
    status = 401


async def _respond(send: Send, status: int, body: dict[str, Any], request_id: str) -> None:
    payload = json.dumps(body).encode("utf-8")
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode("ascii")),
                (b"cache-control", b"no-store"),
                (b"x-amzn-requestid", request_id.encode("ascii", "replace")),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


class CredentialsEndpoint:
    """
    Serve a workload's temporary credentials to whoever presents its bootstrap token.
    """

    def __repr__(self) -> str:
        return "CredentialsEndpoint()"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        gateway: GatewayApp = scope["state"]["gateway"]
        request_id = new_request_id()
        started = time.perf_counter()
        view: RequestView | None = None
        principal: Principal | None = None
        role_arn: str | None = None
        error_code: str | None = None
        try:
            services = gateway.services
            if services is None:
                raise GatewayError("the gateway is starting", code="ServiceUnavailable", status=503)
            view = request_view(
                scope, trusted_proxies=services.guard.trusted_proxies, request_id=request_id
            )
            if view.method != "GET":
                raise ClientError("use GET", code="MethodNotAllowed", status=405)
            token = view.header("authorization")
            if not token:
                raise _Unauthorized("an Authorization header with the workload token is required")
            runtime = services.runtime
            found = None
            if len(token) <= _MAX_TOKEN_CHARS:
                found = await authenticate_workload(runtime.store, runtime.cipher, token.strip())
            if found is None:
                raise AuthError(_INVALID, code="AccessDenied")
            workload, role = found
            role_arn = role.arn
            now = services.guard.clock()
            issued = issue_role_session(
                services.guard.keys.tokens,
                role,
                session_name=workload.name,
                now=now,
                seconds=min(workload.duration_seconds, role.max_session_duration),
            )
            principal = session_principal(issued.claims)
            body = {
                "AccessKeyId": issued.claims.access_key_id,
                "SecretAccessKey": issued.claims.secret_access_key,
                "Token": issued.token,
                "Expiration": issued.claims.expires_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "AccountId": issued.claims.account_id,
                "RoleArn": role.arn,
            }
            await _respond(send, 200, body, request_id)
        except GatewayError as exc:
            error_code = exc.code
            await _respond(send, exc.status, {"Code": exc.code, "Message": exc.message}, request_id)
        except Exception:
            # A bug, not bad input: log it (no request data), answer 500 without detail.
            error_code = "InternalFailure"
            log.exception("internal error in the credentials endpoint, request %s", request_id)
            await _respond(
                send,
                500,
                {"Code": "InternalFailure", "Message": "We encountered an internal error."},
                request_id,
            )
        finally:
            services = gateway.services
            if services is not None and view is not None:
                services.auditor.record(
                    build_event(
                        view=view,
                        principal=principal,
                        action=ACTION,
                        resources=[role_arn] if role_arn else [],
                        decision=None,
                        error_code=error_code,
                        upstream=None,
                        upstream_status=None,
                        latency_ms=(time.perf_counter() - started) * 1000,
                        now=utc_now(),
                        region=gateway.settings.server.region,
                    )
                )
