"""
gateway: AWS-IAM-style identity and access management in front of HTTP services.

The supported public API:

- ``GatewayMiddleware``: wrap any ASGI app with the gateway's authentication and
  authorization; ``get_gateway(scope)`` reads the principal and decision.
- ``create_app(settings)``: the gateway's own ASGI app (proxy mode).
- ``load_config(path)``, ``Settings``: the validated ops configuration.
- ``verify_assertion``: for upstreams, check the ``X-Gateway-Identity`` header.
"""

from __future__ import annotations

from gateway.app import create_app
from gateway.assertion import verify_assertion
from gateway.config import Settings, load_config
from gateway.middleware import GatewayContext, GatewayMiddleware, get_gateway

__version__ = "0.1.0"

__all__ = [
    "GatewayContext",
    "GatewayMiddleware",
    "Settings",
    "__version__",
    "create_app",
    "get_gateway",
    "load_config",
    "verify_assertion",
]
