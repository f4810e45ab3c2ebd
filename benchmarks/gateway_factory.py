"""
An import string for uvicorn's own process manager: `benchmarks.gateway_factory:create`.

``gateway serve`` passes an app object to ``uvicorn.run``, so it cannot use uvicorn's
``--workers`` (which needs an import string to rebuild the app in each child). This
module builds the same app from ``$GATEWAY_CONFIG`` in each worker:

    GATEWAY_CONFIG=gw.toml uvicorn benchmarks.gateway_factory:create --factory \\
        --workers 2 --loop uvloop --http httptools

With ``BENCH_AUDIT_PER_PID=1`` each worker appends its audit events to
``<audit.file>.<pid>`` instead of the shared file, so requests can be counted per
worker (the events themselves carry no pid).
"""

from __future__ import annotations

import os

from gateway.app import GatewayApp, create_app
from gateway.config import load_config


def create() -> GatewayApp:
    """Build the gateway app from ``$GATEWAY_CONFIG`` (uvicorn ``--factory``)."""
    environ = dict(os.environ)
    if environ.get("BENCH_AUDIT_PER_PID") == "1":
        settings = load_config(environ=environ)
        if settings.audit.file is not None:
            environ["GATEWAY_AUDIT_FILE"] = f"{settings.audit.file}.{os.getpid()}"
    return create_app(load_config(environ=environ))
