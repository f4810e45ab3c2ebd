"""
``gateway demo``: the walkthrough, working on this machine, in one command.

It keeps everything in one working directory (``./var/demo`` unless ``--dir``
says otherwise) and reuses it on the next run:

1. writes ``gateway.toml`` there (SQLite store, master key, audit log, and the
   ``backup`` upstream on the demo object store), creates the store, the master
   key (mode 0600) and the account with its root user (the password is printed
   once), seeds the built-in policies, applies the walkthrough's IAM file and
   gives user ``backup`` an access key (the secret is printed once and saved
   like the AWS console's CSV download, mode 0600);
2. serves the demo object store and the gateway in one event loop;
3. calls the gateway as ``backup``: a write to its bucket (allowed), a read of
   another bucket (denied), and prints the audit events they produced;
4. prints the sign-in link and ``curl`` commands to try, then serves until
   Ctrl-C (or stops at once with ``--no-serve``).

The outermost layer, like the rest of ``gateway.cli``.
"""

from __future__ import annotations

import argparse
import asyncio
import shlex
import signal
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import aiohttp

from gateway.app import create_app
from gateway.cli import EXIT_INTERRUPTED, UsageError
from gateway.cli.demo_setup import (
    CONFIG_TEMPLATE,
    CSV_HEADER,
    HOST,
    PACKAGED_IAM_FILE,
    PROGRAM,
    SAMPLE,
    SOURCE_IAM_FILE,
    Credentials,
    DemoPaths,
    demo_iam_file,
    say,
    set_up,
    shown,
    write_config,
)
from gateway.cli.iamfile import load_iam_file
from gateway.config import Settings

if TYPE_CHECKING:
    from gateway.demo.walkthrough import Servers

__all__ = [
    "BUCKETS",
    "CONFIG_TEMPLATE",
    "CSV_HEADER",
    "DEFAULT_DIR",
    "DEFAULT_PORT",
    "DEFAULT_UPSTREAM_PORT",
    "HOST",
    "PACKAGED_IAM_FILE",
    "PROGRAM",
    "SAMPLE",
    "SOURCE_IAM_FILE",
    "Credentials",
    "Demo",
    "DemoPaths",
    "demo_iam_file",
    "register",
    "run",
]

DEFAULT_DIR = Path("var") / "demo"
DEFAULT_PORT = 8080
DEFAULT_UPSTREAM_PORT = 9000
BUCKETS = ("backup", "other")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """
    Add the ``demo`` command.
    """
    parser = subparsers.add_parser(
        "demo",
        help="run the walkthrough locally: a demo upstream, seeded users, printed instructions",
        description="Set up a store with the walkthrough's users in DIR, serve a demo object "
        "store behind the gateway, show an allowed and a denied call with their audit events, "
        "and print commands to try. DIR is reused on the next run.",
    )
    parser.add_argument(
        "--dir",
        metavar="DIR",
        type=Path,
        default=DEFAULT_DIR,
        help=f"the working directory, kept between runs (default: ./{DEFAULT_DIR})",
    )
    parser.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help=f"the gateway's port (default: {DEFAULT_PORT})",
    )
    parser.add_argument(
        "--upstream-port",
        type=int,
        default=DEFAULT_UPSTREAM_PORT,
        help=f"the demo object store's port (default: {DEFAULT_UPSTREAM_PORT})",
    )
    parser.add_argument(
        "--no-serve", action="store_true", help="stop after the walkthrough instead of serving"
    )
    parser.set_defaults(func=run)


@dataclass(frozen=True, slots=True)
class Demo:
    """
    A set-up demo, ready to serve.
    """

    settings: Settings
    paths: DemoPaths
    upstream_port: int
    credentials: Credentials
    signin: str  # the account's console sign-in URL


def run(args: argparse.Namespace) -> int:
    """
    Set up, show the walkthrough, then serve until interrupted (0, or 130 after Ctrl-C).
    """
    for flag, port in (("--port", args.port), ("--upstream-port", args.upstream_port)):
        if not 1 <= port <= 65535:
            raise UsageError(f"{flag}: expected a port number from 1 to 65535, got {port}")
    if args.port == args.upstream_port:
        raise UsageError("--port and --upstream-port must differ")
    paths = DemoPaths(args.dir)
    iam_file = demo_iam_file()
    spec = load_iam_file(str(iam_file))
    say(f"gateway demo in {shown(paths.root)} (kept for the next run; delete it to start over)")
    say("\n1. Set up the store and the walkthrough's IAM")
    settings = write_config(paths, args.port, args.upstream_port)
    credentials, signin = asyncio.run(set_up(settings, paths, spec, iam_file))
    demo = Demo(settings, paths, args.upstream_port, credentials, signin)
    return _serve(demo, serve=not args.no_serve)


# --- 2-4. serve and show ----------------------------------------------------------------------


def _serve(demo: Demo, *, serve: bool) -> int:
    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        return runner.run(_run(demo, serve=serve))


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    try:
        import uvloop
    except ImportError:  # Windows: the default loop
        return None
    return uvloop.new_event_loop


async def _run(demo: Demo, *, serve: bool) -> int:
    # Imported here: uvicorn and the object store are only needed once the demo serves.
    from gateway.demo import walkthrough

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    received: list[signal.Signals] = []

    def on_signal(signum: signal.Signals) -> None:
        received.append(signum)
        stop.set()

    # Only what Ctrl-C (and a service manager's SIGTERM) needs: stop both servers cleanly.
    handled = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(signum, on_signal, signum)
        except (NotImplementedError, RuntimeError):  # not the main thread, or Windows
            continue
        handled.append(signum)
    try:
        say("\n2. Start the demo object store and the gateway")
        async with walkthrough.running(
            create_app(demo.settings),
            host=HOST,
            port=demo.settings.server.port,
            upstream_root=demo.paths.objects,
            upstream_port=demo.upstream_port,
            buckets=BUCKETS,
            grace_seconds=demo.settings.server.shutdown_grace_seconds,
        ) as servers:
            show = asyncio.create_task(_show(demo, servers))
            stopped = asyncio.create_task(stop.wait())
            try:
                await asyncio.wait({show, stopped}, return_when=asyncio.FIRST_COMPLETED)
                if not show.done():
                    show.cancel()
                else:
                    show.result()
                    if serve:
                        say(f"\nServing on {demo.settings.server.public_url} until Ctrl-C.")
                        watched = {stopped, servers.gateway, servers.upstream}
                        await asyncio.wait(watched, return_when=asyncio.FIRST_COMPLETED)
                        if not stop.is_set():
                            servers.check()
            finally:
                stopped.cancel()
    finally:
        for signum in handled:
            loop.remove_signal_handler(signum)
    if received:
        say("\nStopped the gateway and the object store.")
        return EXIT_INTERRUPTED if received[0] == signal.SIGINT else 0
    if not serve:
        say("\nStopped both servers (--no-serve); run without it to keep them serving.")
    return 0


async def _show(demo: Demo, servers: Servers) -> None:
    from gateway.demo import walkthrough

    paths, credentials = demo.paths, demo.credentials
    base = demo.settings.server.public_url.rstrip("/")
    upstream = f"http://{HOST}:{demo.upstream_port}"
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        await walkthrough.wait_until_ready(
            session, servers, [f"{upstream}/buckets", f"{base}/_gateway/ready"]
        )
        buckets = ", ".join(BUCKETS)
        say(f"   object store  {upstream}  (buckets {buckets}; files in {shown(paths.objects)})")
        say(f"   gateway       {base}  (upstream `{PROGRAM}` under /{PROGRAM}/)")
        offset = walkthrough.audit_offset(paths.audit)
        say(f"\n3. Call the gateway as user {PROGRAM} (SigV4, key {credentials.access_key_id})")
        calls = (
            ("its bucket: allowed by backup-write", "PUT", "backup", "hello.txt"),
            ("another bucket: nothing allows it", "GET", "other", "secret.txt"),
        )
        for title, method, bucket, key in calls:
            path = f"/{PROGRAM}/buckets/{bucket}/objects/{key}"
            body = SAMPLE.encode() if method == "PUT" else b""
            say(f"   {method} {path}    ({title})")
            exchange = await walkthrough.signed_call(
                session,
                method,
                base + path,
                access_key_id=credentials.access_key_id,
                secret_access_key=credentials.secret_access_key,
                region=demo.settings.server.region,
                service=PROGRAM,
                body=body,
                headers={"Content-Type": "text/plain"} if body else None,
            )
            say(f"   -> {exchange}")
        lines = await walkthrough.read_audit(paths.audit, offset, len(calls))
        say(f"   audit events ({shown(paths.audit)}):")
        for line in lines:
            say(f"   {line}")
        console = await walkthrough.has_route(session, demo.signin)
    _instructions(demo, console=console)


def _instructions(demo: Demo, *, console: bool) -> None:
    paths, credentials = demo.paths, demo.credentials
    base = demo.settings.server.public_url.rstrip("/")
    provider = f"aws:amz:{demo.settings.server.region}:{PROGRAM}"
    csv_file = shlex.quote(shown(paths.credentials))
    put = f"{base}/{PROGRAM}/buckets/backup/objects/hello.txt"
    get = f"{base}/{PROGRAM}/buckets/other/objects/secret.txt"
    sigv4 = f'curl --aws-sigv4 "{provider}" --user "$AKID:$SECRET"'
    say("\n4. Try it yourself")
    note = "" if console else "  (console sign-in: coming with the console)"
    say(f"   sign-in link: {demo.signin}{note}")
    say(f"   as user {PROGRAM}, from another terminal (the secret is read from the CSV file):")
    say("")
    say(f"     AKID={credentials.access_key_id}")
    say(f"     SECRET=$(sed -n 2p {csv_file} | cut -d, -f2)")
    say(f"     {sigv4} -X PUT --data-binary @{shlex.quote(shown(paths.sample))} {put}")
    say(f"     {sigv4} {get}")
    say(f"     tail -f {shlex.quote(shown(paths.audit))}")
    say("")
    say("   The PUT is allowed (200), the GET denied (403 AccessDenied); each adds an audit line.")
