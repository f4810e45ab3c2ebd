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
import csv
import io
import os
import shlex
import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import aiohttp

from gateway.app import create_app
from gateway.cli import EXIT_INTERRUPTED, UsageError
from gateway.cli.apply import Change, apply
from gateway.cli.iamfile import IAMFile, load_iam_file
from gateway.cli.init import DEFAULT_ROOT_EMAIL, sign_in_url
from gateway.config import Settings, load_config
from gateway.errors import ConfigError
from gateway.iam import IAM, create_account, list_accounts, write_master_key
from gateway.iam.models import Account
from gateway.iam.passwords import generate_password
from gateway.runtime import cipher_from_settings, store_from_settings
from gateway.store import Store

if TYPE_CHECKING:
    from gateway.demo.walkthrough import Servers

DEFAULT_DIR = Path("var") / "demo"
DEFAULT_PORT = 8080
DEFAULT_UPSTREAM_PORT = 9000
HOST = "127.0.0.1"
BUCKETS = ("backup", "other")
PROGRAM = "backup"  # the walkthrough's program user, and its upstream and service name
CSV_HEADER = ("Access key ID", "Secret access key")  # as the AWS console's download
SAMPLE = "hello from the backup job\n"
PACKAGED_IAM_FILE = Path(__file__).resolve().parents[1] / "demo" / "iam.toml"
SOURCE_IAM_FILE = Path(__file__).resolve().parents[2] / "config" / "iam.toml"

CONFIG_TEMPLATE = """\
# Written by `gateway demo` on every run (ports from its flags). For a deployment,
# start from config/gateway.toml, which documents every key.
# Relative paths are resolved against the directory of this file.

[server]
host = "{host}"
port = {port}
public_url = "http://{host}:{port}"

[store]
url = "sqlite:///gateway.db"

[secrets]
master_key_file = "master.key"
master_key_env = "GATEWAY_DEMO_MASTER_KEY"

[audit]
sink = "file"
file = "audit.jsonl"

[[upstreams]]
name = "backup"
url = "http://{host}:{upstream_port}"
prefix = "/backup"
service = "backup"
strip_prefix = true

[[upstreams.routes]]
methods = ["PUT"]
path = "/buckets/{{bucket}}/objects/{{key:path}}"
action = "backup:PutObject"
resource = "arn:aws:backup:{{region}}:{{account}}:bucket/{{bucket}}/{{key}}"
condition_keys = {{ "backup:BucketName" = "{{bucket}}" }}

[[upstreams.routes]]
methods = ["GET", "HEAD"]
path = "/buckets/{{bucket}}/objects/{{key:path}}"
action = "backup:GetObject"
resource = "arn:aws:backup:{{region}}:{{account}}:bucket/{{bucket}}/{{key}}"
"""


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
class DemoPaths:
    """
    Where the demo keeps its files.
    """

    root: Path

    @property
    def config(self) -> Path:
        return self.root / "gateway.toml"

    @property
    def audit(self) -> Path:
        return self.root / "audit.jsonl"

    @property
    def credentials(self) -> Path:
        return self.root / f"{PROGRAM}-credentials.csv"

    @property
    def objects(self) -> Path:
        return self.root / "objects"

    @property
    def sample(self) -> Path:
        return self.root / "hello.txt"


@dataclass(frozen=True, slots=True)
class Credentials:
    """
    User ``backup``'s access key, as the demo's own client holds it.
    """

    access_key_id: str
    secret_access_key: str = field(repr=False)


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
    _say(f"gateway demo in {_shown(paths.root)} (kept for the next run; delete it to start over)")
    _say("\n1. Set up the store and the walkthrough's IAM")
    settings = _write_config(paths, args.port, args.upstream_port)
    credentials, signin = asyncio.run(_set_up(settings, paths, spec, iam_file))
    demo = Demo(settings, paths, args.upstream_port, credentials, signin)
    return _serve(demo, serve=not args.no_serve)


def demo_iam_file() -> Path:
    """
    Return the walkthrough's IAM file: config/iam.toml in a source tree, else the packaged copy.
    """
    return SOURCE_IAM_FILE if SOURCE_IAM_FILE.is_file() else PACKAGED_IAM_FILE


# --- 1. set up --------------------------------------------------------------------------------


def _write_config(paths: DemoPaths, port: int, upstream_port: int) -> Settings:
    try:
        paths.root.mkdir(parents=True, exist_ok=True)
        paths.config.write_text(
            CONFIG_TEMPLATE.format(host=HOST, port=port, upstream_port=upstream_port),
            encoding="utf-8",
        )
        if not paths.sample.exists():
            paths.sample.write_text(SAMPLE, encoding="utf-8")
    except OSError as exc:
        reason = (exc.strerror or type(exc).__name__).lower()
        raise ConfigError(
            f"cannot write the demo's files: {reason}", file=str(paths.root)
        ) from None
    _say(f"   wrote {_shown(paths.config)}")
    # The demo is self-contained: GATEWAY_* overrides meant for another setup do not apply.
    return load_config(paths.config, environ={})


async def _set_up(
    settings: Settings, paths: DemoPaths, spec: IAMFile, iam_file: Path
) -> tuple[Credentials, str]:
    store = await store_from_settings(settings)
    try:
        applied = await store.migrate()
        if applied:
            _say(f"   created the store {settings.store.display_url} (schema {max(applied)})")
        accounts = await list_accounts(store)
        key_file = settings.secrets.master_key_file
        if not key_file.exists():
            if accounts:
                # SECURITY: a new key would make every stored secret undecryptable.
                raise ConfigError(
                    "the demo store exists but its master key is missing; delete the "
                    "directory to start over",
                    file=str(key_file),
                )
            write_master_key(key_file)
            _say(f"   created the master key {_shown(key_file)} (mode 0600)")
        account = accounts[0] if accounts else await _create_account(store, spec)
        iam = IAM(store, cipher_from_settings(settings), account_id=account.account_id)
        await iam.seed_builtin_policies()
        if accounts:
            _say(
                f"   reusing account {account.account_id}, root user {account.root_email} "
                "(its password was printed at the first run)"
            )
        copy = " (the packaged copy of config/iam.toml)" if iam_file == PACKAGED_IAM_FILE else ""
        _say(f"   applying {_shown(iam_file)}{copy}")
        changes, notices = await apply(iam, spec, report=_print_plan)
        if not changes:
            _say("     no changes")
        for notice in notices:
            _say(f"     {notice.text}")
        signin = sign_in_url(settings, await iam.get_account())
        _say(f"   sign-in URL: {signin}")
        return await _access_key(iam, paths), signin
    finally:
        await store.close()


async def _create_account(store: Store, spec: IAMFile) -> Account:
    password = generate_password(None)
    account = await create_account(
        store, root_email=DEFAULT_ROOT_EMAIL, root_password=password, alias=spec.account_alias
    )
    _say(f"   created account {account.account_id} with its root user {account.root_email}")
    _say(f"     root password (shown once): {password}")
    return account


def _print_plan(changes: list[Change]) -> None:
    for change in changes:
        _say(f"     {change}")


async def _access_key(iam: IAM, paths: DemoPaths) -> Credentials:
    """
    Reuse the key saved in the CSV file, or replace the user's keys with a new one.
    """
    saved = _read_credentials(paths.credentials)
    keys = await iam.list_access_keys(PROGRAM)
    if saved is not None and saved.access_key_id in {key.access_key_id for key in keys}:
        _say(
            f"   reusing access key {saved.access_key_id} of user {PROGRAM} "
            f"(its secret is in {_shown(paths.credentials)})"
        )
        return saved
    for key in keys:
        # The demo's own keys; their secrets were lost with the CSV file.
        await iam.delete_access_key(PROGRAM, key.access_key_id)
        _say(f"   deleted access key {key.access_key_id} of user {PROGRAM} (secret not saved)")
    new = await iam.create_access_key(PROGRAM)
    credentials = Credentials(new.key.access_key_id, new.secret_access_key)
    _write_credentials(paths.credentials, credentials)
    _say(f"   created access key {credentials.access_key_id} for user {PROGRAM}")
    _say(f"     secret access key (shown once): {credentials.secret_access_key}")
    _say(f"     saved as {_shown(paths.credentials)} (mode 0600), like the console's download")
    return credentials


def _read_credentials(path: Path) -> Credentials | None:
    try:
        rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8-sig"))))
    except (OSError, UnicodeDecodeError, csv.Error):
        return None
    if len(rows) != 2 or tuple(rows[0]) != CSV_HEADER or len(rows[1]) != 2:
        return None
    return Credentials(rows[1][0], rows[1][1])


def _write_credentials(path: Path, credentials: Credentials) -> None:
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    writer.writerow((credentials.access_key_id, credentials.secret_access_key))
    # SECURITY: created 0600 and re-chmodded, in case an older file was more open.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, text.getvalue().encode("utf-8"))
    finally:
        os.close(fd)


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
        _say("\n2. Start the demo object store and the gateway")
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
                        _say(f"\nServing on {demo.settings.server.public_url} until Ctrl-C.")
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
        _say("\nStopped the gateway and the object store.")
        return EXIT_INTERRUPTED if received[0] == signal.SIGINT else 0
    if not serve:
        _say("\nStopped both servers (--no-serve); run without it to keep them serving.")
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
        _say(f"   object store  {upstream}  (buckets {buckets}; files in {_shown(paths.objects)})")
        _say(f"   gateway       {base}  (upstream `{PROGRAM}` under /{PROGRAM}/)")
        offset = walkthrough.audit_offset(paths.audit)
        _say(f"\n3. Call the gateway as user {PROGRAM} (SigV4, key {credentials.access_key_id})")
        calls = (
            ("its bucket: allowed by backup-write", "PUT", "backup", "hello.txt"),
            ("another bucket: nothing allows it", "GET", "other", "secret.txt"),
        )
        for title, method, bucket, key in calls:
            path = f"/{PROGRAM}/buckets/{bucket}/objects/{key}"
            body = SAMPLE.encode() if method == "PUT" else b""
            _say(f"   {method} {path}    ({title})")
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
            _say(f"   -> {exchange}")
        lines = await walkthrough.read_audit(paths.audit, offset, len(calls))
        _say(f"   audit events ({_shown(paths.audit)}):")
        for line in lines:
            _say(f"   {line}")
        console = await walkthrough.has_route(session, demo.signin)
    _instructions(demo, console=console)


def _instructions(demo: Demo, *, console: bool) -> None:
    paths, credentials = demo.paths, demo.credentials
    base = demo.settings.server.public_url.rstrip("/")
    provider = f"aws:amz:{demo.settings.server.region}:{PROGRAM}"
    csv_file = shlex.quote(_shown(paths.credentials))
    put = f"{base}/{PROGRAM}/buckets/backup/objects/hello.txt"
    get = f"{base}/{PROGRAM}/buckets/other/objects/secret.txt"
    sigv4 = f'curl --aws-sigv4 "{provider}" --user "$AKID:$SECRET"'
    _say("\n4. Try it yourself")
    note = "" if console else "  (console sign-in: coming with the console)"
    _say(f"   sign-in link: {demo.signin}{note}")
    _say(f"   as user {PROGRAM}, from another terminal (the secret is read from the CSV file):")
    _say("")
    _say(f"     AKID={credentials.access_key_id}")
    _say(f"     SECRET=$(sed -n 2p {csv_file} | cut -d, -f2)")
    _say(f"     {sigv4} -X PUT --data-binary @{shlex.quote(_shown(paths.sample))} {put}")
    _say(f"     {sigv4} {get}")
    _say(f"     tail -f {shlex.quote(_shown(paths.audit))}")
    _say("")
    _say("   The PUT is allowed (200), the GET denied (403 AccessDenied); each adds an audit line.")


# --- output -----------------------------------------------------------------------------------


def _say(text: str) -> None:
    # Flushed line by line: the demo's output is read live, often through a pipe (make, tee).
    print(text, flush=True)


def _shown(path: Path) -> str:
    """
    ``path`` as a user would type it: relative to the working directory when inside it.
    """
    absolute = path.absolute()
    try:
        return str(absolute.relative_to(Path.cwd()))
    except ValueError:
        return str(absolute)
