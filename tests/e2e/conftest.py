"""
A live gateway for end-to-end tests: real processes on real sockets.

One session starts the demo object store (a separate Python process), four raw TCP
upstreams in threads (``echo`` records what reaches it; ``hang``, ``reset`` and
``garbage`` misbehave), writes a ``gateway.toml`` in a temporary folder, sets up IAM
with the CLI exactly as an operator would (``init``, ``create-user``,
``create-policy``, ``attach-user-policy``, ``create-access-key``) and runs
``python -m gateway serve``. Nothing here imports the gateway: requests are signed by
real clients or by the small independent SigV4 signer below, and sent over sockets.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

REGION = "us-east-1"
SERVICE = "backup"
ROOT_PASSWORD = "Root-Passw0rd!e2e"
BUCKET_ROUTES = """
[[upstreams.routes]]
methods = ["PUT"]
path = "/buckets/{{bucket}}/objects/{{key:path}}"
action = "backup:PutObject"
resource = "arn:aws:backup:{{region}}:{{account}}:bucket/{{bucket}}/{{key}}"

[[upstreams.routes]]
methods = ["GET"]
path = "/buckets/{{bucket}}/objects/{{key:path}}"
action = "backup:GetObject"
resource = "arn:aws:backup:{{region}}:{{account}}:bucket/{{bucket}}/{{key}}"
"""
RAW_UPSTREAM = (
    """
[[upstreams]]
name = "{name}"
url = "http://127.0.0.1:{port}"
prefix = "/{name}"
service = "backup"
connect_timeout_seconds = 1.0
read_timeout_seconds = {read_timeout}
"""
    + BUCKET_ROUTES
)
CONFIG = """
[server]
host = "127.0.0.1"
port = {port}
region = "us-east-1"
shutdown_grace_seconds = 1.0
max_body_bytes = 1048576

[store]
url = "sqlite:///var/gateway.db"

[secrets]
master_key_file = "var/master.key"

[audit]
sink = "file"
file = "var/audit.jsonl"

[[upstreams]]
name = "backup"
url = "http://127.0.0.1:{store_port}"
prefix = "/backup"
service = "backup"
read_timeout_seconds = 5.0
"""
READ_WRITE_BACKUPS = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Action": ["backup:PutObject", "backup:GetObject"],
            "Resource": "arn:aws:backup:*:*:bucket/backup/*",
        }
    ],
}
# An inline policy: `backup` may reach the raw upstreams under bucket `probe`; it may not
# read `backup/loopback-denied/*` from a loopback address (the live clients all are), nor
# `backup/tls-only/*` over plain HTTP (the live gateway serves only that).
PROBE_BUCKET = "probe"
LOOPBACK_DENIED = "loopback-denied"
TLS_ONLY = "tls-only"
EXTRAS = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "ProbeUpstreams",
            "Effect": "Allow",
            "Action": ["backup:PutObject", "backup:GetObject"],
            "Resource": f"arn:aws:backup:*:*:bucket/{PROBE_BUCKET}/*",
        },
        {
            "Sid": "DenyLoopbackReads",
            "Effect": "Deny",
            "Action": "backup:GetObject",
            "Resource": f"arn:aws:backup:*:*:bucket/backup/{LOOPBACK_DENIED}/*",
            "Condition": {"IpAddress": {"aws:SourceIp": "127.0.0.0/8"}},
        },
        {
            "Sid": "DenyPlainHttpReads",
            "Effect": "Deny",
            "Action": "backup:GetObject",
            "Resource": f"arn:aws:backup:*:*:bucket/backup/{TLS_ONLY}/*",
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        },
    ],
}
OBJECTSTORE_SCRIPT = """
import asyncio, sys
from pathlib import Path
from gateway.demo.objectstore import serve_objectstore
asyncio.run(serve_objectstore(Path(sys.argv[1]), "127.0.0.1", int(sys.argv[2]),
                              buckets=["backup", "other"]))
"""
HANG_READ_TIMEOUT = 1.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- an independent SigV4 signer -----------------------------------------------------------------


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def _signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    key = _hmac(f"AWS4{secret}".encode(), date)
    for part in (region, service, "aws4_request"):
        key = _hmac(key, part)
    return key


def _canonical_query(query: str) -> str:
    pairs = []
    for part in filter(None, query.split("&")):
        name, _, value = part.partition("=")
        pairs.append((name, value))
    return "&".join(f"{n}={v}" for n, v in sorted(pairs))


def sign(
    method: str,
    target: str,
    headers: Sequence[tuple[str, str]],
    body: bytes,
    *,
    key_id: str,
    secret: str,
    host: str,
    now: datetime | None = None,
    signed_path: str | None = None,
    signed_names: Sequence[str] | None = None,
    payload_hash: str | None = None,
    service: str = SERVICE,
) -> list[tuple[str, str]]:
    """
    Sign a request as curl does (the path as sent) and return every header to send.

    ``signed_path``, ``signed_names`` and ``payload_hash`` override what is signed, to
    build requests whose signature covers something other than what is sent.
    """
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    out = [("Host", host), *headers, ("X-Amz-Date", stamp)]
    lowered = [(name.lower(), " ".join(value.split())) for name, value in out]
    names = list(signed_names) if signed_names is not None else sorted({n for n, _ in lowered})
    block = "".join(f"{n}:{','.join(v for k, v in lowered if k == n)}\n" for n in names)
    path, _, query = target.partition("?")
    creq = "\n".join(
        [
            method,
            signed_path or path,
            _canonical_query(query),
            block,
            ";".join(names),
            payload_hash or sha256_hex(body),
        ]
    )
    scope = f"{stamp[:8]}/{REGION}/{service}/aws4_request"
    sts = f"AWS4-HMAC-SHA256\n{stamp}\n{scope}\n{sha256_hex(creq.encode())}"
    signature = hmac.new(
        _signing_key(secret, stamp[:8], REGION, service), sts.encode(), hashlib.sha256
    ).hexdigest()
    out.append(
        (
            "Authorization",
            f"AWS4-HMAC-SHA256 Credential={key_id}/{scope}, "
            f"SignedHeaders={';'.join(names)}, Signature={signature}",
        )
    )
    return out


def presign(
    method: str,
    path: str,
    *,
    key_id: str,
    secret: str,
    host: str,
    now: datetime,
    expires: int,
) -> str:
    """
    Return ``path`` with presigned query authentication (non-S3: the empty body's hash).
    """
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    scope = f"{stamp[:8]}/{REGION}/{SERVICE}/aws4_request"
    params = [
        ("X-Amz-Algorithm", "AWS4-HMAC-SHA256"),
        ("X-Amz-Credential", f"{key_id}/{scope}"),
        ("X-Amz-Date", stamp),
        ("X-Amz-Expires", str(expires)),
        ("X-Amz-SignedHeaders", "host"),
    ]
    query = "&".join(f"{n}={quote(v, safe='-_.~')}" for n, v in params)
    creq = "\n".join(
        [method, path, _canonical_query(query), f"host:{host}\n", "host", sha256_hex(b"")]
    )
    sts = f"AWS4-HMAC-SHA256\n{stamp}\n{scope}\n{sha256_hex(creq.encode())}"
    signature = hmac.new(
        _signing_key(secret, stamp[:8], REGION, SERVICE), sts.encode(), hashlib.sha256
    ).hexdigest()
    return f"{path}?{query}&X-Amz-Signature={signature}"


# --- raw HTTP ------------------------------------------------------------------------------------


@dataclass
class Reply:
    """A response as read off the socket."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        found = [v for k, v in self.headers if k.lower() == name.lower()]
        return found[0] if found else None

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


def send_raw(port: int, data: bytes, *, timeout: float = 10.0) -> Reply:
    """Send ``data`` as is on a fresh connection and read one response."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        response = http.client.HTTPResponse(sock, method="GET")
        try:
            response.begin()
            body = response.read()
        finally:
            response.close()
        return Reply(response.status, response.getheaders(), body)


def build_request(
    method: str, target: str, headers: Sequence[tuple[str, str]], body: bytes = b""
) -> bytes:
    """Serialize a request byte for byte: no header is added, merged or fixed."""
    lines = [f"{method} {target} HTTP/1.1", *(f"{n}: {v}" for n, v in headers)]
    if body and not any(n.lower() == "content-length" for n, _ in headers):
        lines.append(f"Content-Length: {len(body)}")
    lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def aws_error_code(reply: Reply) -> str:
    """
    Return the ``<Code>`` of an AWS-style XML error body, failing on anything else.
    """
    assert reply.status >= 400, reply
    assert reply.header("content-type") == "text/xml", reply
    assert b"Traceback" not in reply.body, reply
    root = ET.fromstring(reply.body)  # noqa: S314 - our own server's reply, in a test
    assert root.tag.endswith("ErrorResponse"), reply
    code = root.findtext("{*}Error/{*}Code")
    assert code, reply
    assert root.findtext("{*}RequestId"), reply
    return code


# --- raw upstreams -------------------------------------------------------------------------------


class RawUpstream:
    """
    A TCP server in a thread that reads one HTTP request per connection and records it.

    ``echo`` answers 200 with a short body; ``hang`` never answers; ``reset`` aborts the
    connection (RST); ``garbage`` writes bytes that are not HTTP and closes.
    """

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.requests: list[bytes] = []
        self._server = socket.create_server(("127.0.0.1", 0))
        self._server.settimeout(0.2)
        self.port = int(self._server.getsockname()[1])
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            worker = threading.Thread(target=self._handle, args=(conn,), daemon=True)
            self._threads.append(worker)
            worker.start()

    def _handle(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(5.0)
            request = self._read_request(conn)
            if request is None:
                return
            self.requests.append(request)
            if self.mode == "echo":
                conn.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                    b"Content-Length: 2\r\nConnection: close\r\n\r\nok"
                )
            elif self.mode == "hang":
                conn.settimeout(0.2)
                while not self._stop.is_set():
                    try:
                        if not conn.recv(65536):
                            return  # the gateway gave up and closed
                    except TimeoutError:
                        continue
                    except OSError:
                        return
            elif self.mode == "reset":
                conn.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
                )
            elif self.mode == "garbage":
                conn.sendall(b"NOT HTTP AT ALL\r\n\x00\xff\r\n\r\n")

    @staticmethod
    def _read_request(conn: socket.socket) -> bytes | None:
        data = b""
        try:
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(65536)
                if not chunk:
                    return None
                data += chunk
            head, _, body = data.partition(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value.strip())
            while len(body) < length:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                body += chunk
        except OSError:
            return None
        return head + b"\r\n\r\n" + body

    def close(self) -> None:
        self._stop.set()
        self._server.close()
        self._thread.join(timeout=5)
        for worker in self._threads:
            worker.join(timeout=5)


# --- the live gateway ----------------------------------------------------------------------------


@dataclass
class Live:
    """The running gateway and how to reach it, its store and its upstreams as `backup`."""

    base_url: str
    port: int
    key_id: str
    secret: str = field(repr=False)
    audit_file: Path
    config: Path
    store_url: str
    account_id: str
    upstreams: dict[str, RawUpstream]
    log: Path
    env: dict[str, str] = field(repr=False)

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def cli(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run ``python -m gateway ARGS --config F`` in its own process."""
        return run_cli(self.config, self.env, *args, stdin=stdin)

    def signed(
        self,
        method: str,
        target: str,
        body: bytes = b"",
        headers: Sequence[tuple[str, str]] = (),
        **overrides: Any,
    ) -> list[tuple[str, str]]:
        """Headers for ``target`` signed as `backup` (see ``sign`` for the overrides)."""
        return sign(
            method,
            target,
            headers,
            body,
            key_id=self.key_id,
            secret=self.secret,
            host=self.host,
            **overrides,
        )

    def send(
        self, method: str, target: str, headers: Sequence[tuple[str, str]], body: bytes = b""
    ) -> Reply:
        """Send exactly these headers to the gateway over a raw socket."""
        return send_raw(self.port, build_request(method, target, headers, body))

    def call(self, method: str, target: str, body: bytes = b"", **overrides: Any) -> Reply:
        """Sign ``target`` as `backup` and send it as written."""
        return self.send(method, target, self.signed(method, target, body, **overrides), body)

    def stored_keys(self, bucket: str) -> list[str]:
        """The keys in ``bucket`` according to the object store itself (no gateway)."""
        url = f"{self.store_url}/buckets/{bucket}/objects"
        try:
            with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback
                return [item["key"] for item in json.load(response)["objects"]]
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return []
            raise

    def stored_object(self, bucket: str, key: str) -> bytes:
        """Read an object from the object store directly."""
        url = f"{self.store_url}/buckets/{bucket}/objects/{quote(key)}"
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback
            return bytes(response.read())

    def healthy(self) -> bool:
        """The gateway answers its health and readiness checks."""
        for path in ("/_gateway/health", "/_gateway/ready"):
            try:
                with urllib.request.urlopen(self.base_url + path, timeout=5) as response:  # noqa: S310
                    if response.status != 200:
                        return False
            except OSError:
                return False
        return True


def run_cli(
    config: Path, env: dict[str, str], *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own interpreter and arguments
        [sys.executable, "-m", "gateway", *args, "--config", str(config)],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def _cli_json(config: Path, env: dict[str, str], *args: str) -> dict[str, Any]:
    done = run_cli(config, env, *args)
    assert done.returncode == 0, f"gateway {' '.join(args)}: {done.stderr}"
    return json.loads(done.stdout) if done.stdout.strip() else {}


def _wait_for(url: str, process: subprocess.Popen[bytes], log: Path, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"{url}: the process exited with {process.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310 - loopback
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.05)
    pytest.fail(f"{url} did not answer within {seconds} s:\n{log.read_text()}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture(scope="session")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """A served gateway in front of the object store and the raw upstreams."""
    root = tmp_path_factory.mktemp("e2e")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GATEWAY_", "AWS_"))}
    env["HOME"] = str(root)  # no ~/.aws, no stray client config
    upstreams = {name: RawUpstream(name) for name in ("echo", "hang", "reset", "garbage")}
    processes: list[subprocess.Popen[bytes]] = []
    try:
        store_port, port = free_port(), free_port()
        store_log = root / "objectstore.log"
        with store_log.open("wb") as out:
            processes.append(
                subprocess.Popen(  # noqa: S603 - our own interpreter and script
                    [
                        sys.executable,
                        "-c",
                        OBJECTSTORE_SCRIPT,
                        str(root / "objects"),
                        str(store_port),
                    ],
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    env=env,
                )
            )
        store_url = f"http://127.0.0.1:{store_port}"
        _wait_for(f"{store_url}/buckets", processes[0], store_log, 20)

        text = CONFIG.format(port=port, store_port=store_port) + BUCKET_ROUTES.format()
        for name, upstream in upstreams.items():
            text += RAW_UPSTREAM.format(
                name=name, port=upstream.port, read_timeout=HANG_READ_TIMEOUT
            )
        config = root / "gateway.toml"
        config.write_text(text)

        done = run_cli(config, env, "init", "--root-password-stdin", stdin=ROOT_PASSWORD + "\n")
        assert done.returncode == 0, done.stderr
        assert ROOT_PASSWORD not in done.stdout
        _cli_json(config, env, "iam", "create-user", "--user-name", "backup")
        policy = _cli_json(
            config,
            env,
            "iam",
            "create-policy",
            "--policy-name",
            "backup-read-write",
            "--policy-document",
            json.dumps(READ_WRITE_BACKUPS),
        )
        arn = policy["Policy"]["Arn"]
        account_id = arn.split(":")[4]
        _cli_json(
            config, env, "iam", "attach-user-policy", "--user-name", "backup", "--policy-arn", arn
        )
        _cli_json(
            config,
            env,
            "iam",
            "put-user-policy",
            "--user-name",
            "backup",
            "--policy-name",
            "e2e-extras",
            "--policy-document",
            json.dumps(EXTRAS),
        )
        key = _cli_json(config, env, "iam", "create-access-key", "--user-name", "backup")
        key_id = key["AccessKey"]["AccessKeyId"]
        secret = key["AccessKey"]["SecretAccessKey"]

        gateway_log = root / "gateway.log"
        with gateway_log.open("wb") as out:
            processes.append(
                subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
                    [
                        sys.executable,
                        "-m",
                        "gateway",
                        "serve",
                        "--config",
                        str(config),
                        "--port",
                        str(port),
                    ],
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    env=env,
                )
            )
        base_url = f"http://127.0.0.1:{port}"
        _wait_for(f"{base_url}/_gateway/ready", processes[1], gateway_log, 30)
        yield Live(
            base_url=base_url,
            port=port,
            key_id=key_id,
            secret=secret,
            audit_file=root / "var" / "audit.jsonl",
            config=config,
            store_url=store_url,
            account_id=account_id,
            upstreams=upstreams,
            log=gateway_log,
            env=env,
        )
    finally:
        for process in reversed(processes):
            _stop(process)
        for upstream in upstreams.values():
            upstream.close()
