"""
``gateway serve`` and ``gateway reload``.

``serve`` runs the gateway under uvicorn (uvloop and httptools). The store and
master key are opened once before uvicorn starts, so that a missing key or an
old schema is one clear line, not a server traceback. With ``--pid-file`` it
records its process id there, for ``gateway reload``.

On SIGTERM (or SIGINT) it stops gracefully: ``/_gateway/ready`` answers 503 at
once, the listener stops accepting, in-flight requests get up to
``server.shutdown_grace_seconds`` to finish, then the lifespan shutdown writes
pending access-key usage and audit events and closes the store; the process
exits 0.

``reload`` re-reads the routes and upstreams of a running gateway without
dropping in-flight requests: it sends the process SIGHUP (so does
``kill -HUP``), after checking that the new config loads and compiles, so a
bad file is refused here and the running gateway keeps its routes.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import signal
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, NoReturn

from gateway.cli._common import add_config_argument
from gateway.config import Settings, load_config
from gateway.errors import GatewayError, InvalidInput
from gateway.routing import RouteTable
from gateway.runtime import Runtime

if TYPE_CHECKING:
    import uvicorn

    from gateway.app import GatewayApp


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """
    Add the ``serve`` and ``reload`` commands.
    """
    parser = subparsers.add_parser("serve", help="run the gateway")
    add_config_argument(parser)
    parser.add_argument("--host", help="listen address (default from config)")
    parser.add_argument("--port", type=int, help="listen port (default from config)")
    parser.add_argument("--pid-file", metavar="FILE", help="write the process id here")
    parser.set_defaults(func=run)
    reload = subparsers.add_parser(
        "reload", help="reload routes and upstreams of a running gateway (SIGHUP)"
    )
    add_config_argument(reload)
    target = reload.add_mutually_exclusive_group(required=True)
    target.add_argument("--pid-file", metavar="FILE", help="the file `serve --pid-file` wrote")
    target.add_argument("--pid", type=int, help="the gateway's process id")
    reload.set_defaults(func=run_reload)


async def _preflight(settings: Settings) -> None:
    runtime = await Runtime.open(settings)
    await runtime.close()


def run(args: argparse.Namespace) -> int:
    """
    Validate config, store and key, then serve until interrupted.
    """
    import uvicorn

    from gateway.app import create_app

    settings = load_config(args.config)
    asyncio.run(_preflight(settings))
    host = args.host or settings.server.host
    port = args.port or settings.server.port
    pid_file = Path(args.pid_file) if args.pid_file else None
    if pid_file is not None:
        pid_file.write_text(f"{os.getpid()}\n", encoding="ascii")
    app = create_app(settings)
    # uvicorn restores this handler after its graceful shutdown and re-raises SIGTERM
    # to it; a stop that was asked for is a success, so the process exits 0.
    signal.signal(signal.SIGTERM, _exit_ok)
    try:
        config = uvicorn.Config(
            app,
            host=host,
            port=port,
            loop="uvloop",
            http="httptools",
            lifespan="on",
            log_level="info",
            # SECURITY: uvicorn's access log prints full URLs, presigned credentials
            # included; the audit trail (with those redacted) is the access log.
            access_log=False,
            # SECURITY: uvicorn would otherwise rewrite the client address and scheme
            # from X-Forwarded-* sent by any loopback peer, forging aws:SourceIp and
            # aws:SecureTransport; the gateway decides with [server] trusted_proxies.
            proxy_headers=False,
            timeout_graceful_shutdown=math.ceil(settings.server.shutdown_grace_seconds),
            server_header=False,
        )
        _draining_server(config, app).run()
    finally:
        if pid_file is not None:
            pid_file.unlink(missing_ok=True)
    return 0


def _exit_ok(_signum: int, _frame: FrameType | None) -> NoReturn:
    raise SystemExit(0)


def _draining_server(config: uvicorn.Config, app: GatewayApp) -> uvicorn.Server:
    import uvicorn

    class DrainingServer(uvicorn.Server):
        # Readiness turns 503 the moment the stop signal arrives, before uvicorn
        # closes the listener, so a load balancer probing it drains this replica.
        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            app.draining = True
            super().handle_exit(sig, frame)

    return DrainingServer(config)


def run_reload(args: argparse.Namespace) -> int:
    """
    Check the config, then ask the running gateway to reload it.
    """
    settings = load_config(args.config)
    RouteTable.compile(
        settings.upstreams, region=settings.server.region, file=str(settings.source or "")
    )
    if args.pid is not None:
        pid = int(args.pid)
    else:
        try:
            pid = int(Path(args.pid_file).read_text(encoding="ascii").strip())
        except (OSError, ValueError):
            raise InvalidInput(
                f"cannot read a process id from `{args.pid_file}`; is the gateway running "
                "with `serve --pid-file`?"
            ) from None
    try:
        os.kill(pid, signal.SIGHUP)
    except ProcessLookupError:
        raise GatewayError(f"no process {pid}; is the gateway running?", status=400) from None
    print(f"asked gateway process {pid} to reload {settings.source}")
    return 0
