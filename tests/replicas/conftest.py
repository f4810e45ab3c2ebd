"""
Two gateway replicas on one PostgreSQL database: real processes, real sockets.

One module-wide cluster: a database created for it (dropped afterwards), the
config and master key written by ``gateway init``, IAM set up with ``gateway
apply`` and ``gateway iam`` (run in this process through the CLI's ``main``), a
tiny threaded upstream, and two ``gateway serve`` processes: replica A talks to
PostgreSQL directly, replica B through a TCP relay the tests control (in a
thread of its own), so an outage can be staged for B alone. The machine's shared
PostgreSQL server is never stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import io
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from gateway.auth.sigv4_sign import presign_url
from gateway.cli import main as gateway_main
from tests.conftest import POSTGRES_DSN
from tests.replicas.relay import Relay

REGION = "us-east-1"
SERVICE = "svc"
ROOT_PASSWORD = "Root-Passw0rd!replicas"
SLOW_SECONDS = 1.5
USERS = ("alice", "bob", "carol", "dave", "erin", "frank")
READ_ITEMS = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Action": "svc:GetItem",
            "Resource": "arn:aws:svc:*:*:item/*",
        }
    ],
}
CONFIG = """
[server]
host = "127.0.0.1"
port = 8080
region = "us-east-1"
shutdown_grace_seconds = 5.0

[store]
url = "{dsn}"
pool_min_size = 1
pool_max_size = 4
connect_timeout_seconds = 2.0

[secrets]
master_key_file = "master.key"

[signin]
max_failures = 4
lock_seconds = 60
backoff_base_seconds = 0.01
backoff_max_seconds = 0.05

[audit]
sink = "none"

[metrics]
enabled = true

[[upstreams]]
name = "svc"
url = "http://127.0.0.1:{upstream_port}"
prefix = "/svc"
service = "svc"
read_timeout_seconds = 10.0

[[upstreams.routes]]
methods = ["GET"]
path = "/items/{{id}}"
action = "svc:GetItem"
resource = "arn:aws:svc:{{region}}:{{account}}:item/{{id}}"

[[upstreams.routes]]
methods = ["GET"]
path = "/slow/{{id}}"
action = "svc:GetItem"
resource = "arn:aws:svc:{{region}}:{{account}}:item/{{id}}"
"""
IAM_FILE = """
[[policies]]
name = "read-items"
document = '''{policy}'''
{users}
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def with_host(dsn: str, host: str, port: int, database: str | None = None) -> str:
    """
    Return ``dsn`` pointing at ``host:port`` (and ``database``), credentials kept.
    """
    parts = urlsplit(dsn)
    userinfo, _, _ = parts.netloc.rpartition("@")
    netloc = f"{userinfo}@{host}:{port}" if userinfo else f"{host}:{port}"
    path = f"/{database}" if database else parts.path
    return urlunsplit(parts._replace(netloc=netloc, path=path))


# --- the upstream ---------------------------------------------------------------------------------


class _Upstream(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        if "/slow/" in self.path:
            time.sleep(SLOW_SECONDS)
        body = b"ok"
        self.send_response(200)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        return


# --- the relay, in a thread -----------------------------------------------------------------------


class ThreadedRelay:
    """
    The ``Relay`` on an event loop of its own, driven from synchronous tests.
    """

    def __init__(self, host: str, port: int) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.relay = Relay(host, port)
        self._run(self.relay.start())

    def _run(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(10)

    @property
    def port(self) -> int:
        return self.relay.port

    def cut(self) -> None:
        self._run(self.relay.cut())

    def restore(self) -> None:
        self._run(self.relay.restore())

    def close(self) -> None:
        self._run(self.relay.close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


# --- replicas -------------------------------------------------------------------------------------


@dataclass
class Replica:
    name: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    def conn(self, timeout: float = 10.0) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def fetch(self, path: str, timeout: float = 10.0) -> tuple[int, bytes]:
        conn = self.conn(timeout)
        try:
            conn.request("GET", path)
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait(5)


@dataclass
class Cluster:
    directory: Path
    config: Path
    dsn: str
    relay: ThreadedRelay
    keys: dict[str, tuple[str, str]] = field(default_factory=dict)
    replicas: list[Replica] = field(default_factory=list)
    account_id: str = ""

    @property
    def a(self) -> Replica:
        return self.replicas[0]

    @property
    def b(self) -> Replica:
        return self.replicas[1]

    def cli(self, *args: str, check: bool = True) -> str:
        """
        Run ``gateway <args> --config <config>`` in this process; return its output.
        """
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            status = gateway_main([*args, "--config", str(self.config)])
        if check and status != 0:
            raise AssertionError(f"gateway {' '.join(args)} failed ({status}): {err.getvalue()}")
        return out.getvalue()

    def new_key(self, user: str) -> tuple[str, str]:
        key = json.loads(self.cli("iam", "create-access-key", "--user-name", user))["AccessKey"]
        self.keys[user] = (key["AccessKeyId"], key["SecretAccessKey"])
        return self.keys[user]

    def signed(self, user: str, path: str = "/svc/items/1") -> str:
        key_id, secret = self.keys[user]
        return presign_url(
            "GET",
            f"http://127.0.0.1{path}",
            key_id,
            secret,
            REGION,
            SERVICE,
            datetime.now(UTC),
            headers={"host": "gateway"},
        ).removeprefix("http://127.0.0.1")

    def get(self, replica: Replica, user: str, path: str = "/svc/items/1") -> tuple[int, bytes]:
        conn = replica.conn()
        try:
            conn.request("GET", self.signed(user, path), headers={"host": "gateway"})
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()

    def start(self, name: str, *, dsn: str | None = None, port: int | None = None) -> Replica:
        """
        Start ``gateway serve`` and wait until it is ready.
        """
        port = port or free_port()
        log = self.directory / f"{name}.log"
        env = {**os.environ, "GATEWAY_STORE_URL": dsn or self.dsn, "PYTHONUNBUFFERED": "1"}
        with log.open("ab") as sink:
            process = subprocess.Popen(  # noqa: S603 - our own command line
                [sys.executable, "-m", "gateway", "serve", "--config", str(self.config)]
                + ["--port", str(port)],
                stdout=sink,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=self.directory,
            )
        replica = Replica(name, port, process, log)
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise AssertionError(f"replica {name} exited:\n{log.read_text()}")
            with contextlib.suppress(OSError):
                if replica.fetch("/_gateway/ready", timeout=2)[0] == 200:
                    break
            if time.monotonic() > deadline:
                replica.stop(signal.SIGKILL)
                raise AssertionError(f"replica {name} not ready:\n{log.read_text()}")
            time.sleep(0.05)
        return replica


def _admin(dsn: str, statement: str) -> None:
    async def run() -> None:
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute(statement)
        finally:
            await conn.close()

    asyncio.run(run())


def wait_until(check: Callable[[], bool], seconds: float = 10.0, step: float = 0.05) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(step)


def metric(replica: Replica, name: str) -> float:
    """
    Return the sum of every sample of ``name`` on the replica's /_gateway/metrics.
    """
    status, body = replica.fetch("/_gateway/metrics")
    assert status == 200
    total = 0.0
    for line in body.decode().splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            total += float(line.rsplit(" ", 1)[1])
    return total


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """
    Replicas A (direct) and B (through the relay) on one fresh database.
    """
    if not POSTGRES_DSN:
        pytest.skip("GATEWAY_TEST_POSTGRES_DSN is not set")
    parts = urlsplit(POSTGRES_DSN)
    host, port = parts.hostname or "127.0.0.1", parts.port or 5432
    database = "gw_replicas_" + secrets.token_hex(5)
    _admin(POSTGRES_DSN, f"CREATE DATABASE {database}")
    directory = tmp_path_factory.mktemp("replicas")
    dsn = with_host(POSTGRES_DSN, host, port, database)
    upstream = ThreadingHTTPServer(("127.0.0.1", 0), _Upstream)
    upstream.daemon_threads = True
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    relay = ThreadedRelay(host, port)
    config = directory / "gateway.toml"
    config.write_text(CONFIG.format(dsn=dsn, upstream_port=upstream.server_address[1]))
    cluster = Cluster(directory, config, dsn, relay)
    try:
        done = subprocess.run(  # noqa: S603 - our own command line
            [sys.executable, "-m", "gateway", "init", "--config", str(config)]
            + ["--root-password-stdin"],
            input=ROOT_PASSWORD + "\n",
            capture_output=True,
            text=True,
            cwd=directory,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        users = "".join(
            f'\n[[users]]\nname = "{user}"\npolicies = ["read-items"]\n' for user in USERS
        )
        iam_file = directory / "iam.toml"
        iam_file.write_text(IAM_FILE.format(policy=json.dumps(READ_ITEMS), users=users))
        cluster.cli("apply", str(iam_file))
        for user in USERS:
            cluster.new_key(user)
        cluster.account_id = json.loads(cluster.cli("iam", "get-user", "--user-name", "alice"))[
            "User"
        ]["Arn"].split(":")[4]
        cluster.replicas.append(cluster.start("a"))
        cluster.replicas.append(
            cluster.start("b", dsn=with_host(POSTGRES_DSN, "127.0.0.1", relay.port, database))
        )
        yield cluster
    finally:
        for replica in cluster.replicas:
            replica.stop(signal.SIGKILL)
        relay.close()
        upstream.shutdown()
        upstream.server_close()
        _admin(POSTGRES_DSN, f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
