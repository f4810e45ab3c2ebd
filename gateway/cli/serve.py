"""
``gateway serve``: run the gateway under uvicorn (uvloop and httptools).

The store and master key are opened once before uvicorn starts, so that a
missing key or an old schema is one clear line, not a server traceback.
"""

from __future__ import annotations

import argparse
import asyncio

from gateway.config import Settings, load_config
from gateway.runtime import Runtime


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """
    Add the ``serve`` command.
    """
    parser = subparsers.add_parser("serve", help="run the gateway")
    if not any("--config" in action.option_strings for action in parser._actions):
        parser.add_argument("--config", help="ops config file (default $GATEWAY_CONFIG)")
    parser.add_argument("--host", help="listen address (default from config)")
    parser.add_argument("--port", type=int, help="listen port (default from config)")
    parser.set_defaults(func=run)


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
    uvicorn.run(
        create_app(settings),
        host=host,
        port=port,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        log_level="info",
        timeout_graceful_shutdown=int(settings.server.shutdown_grace_seconds),
        server_header=False,
    )
    return 0
