"""
A fast upstream for the proxy benchmark: a fixed small body for any GET.

nginx when it is installed (one worker process, ``return 200``, keep-alive, no access
log), else a minimal HTTP/1.1 server on asyncio (uvloop when importable) that answers
every request with the same bytes. Either way the upstream is far faster than the
Python proxies in front of it, so it does not cap what they can do.

Run alone: `python benchmarks/upstream.py [--port 9100] [--python]`.
"""

# ruff: noqa: S603, S607 - starts nginx/taskset/pgrep from PATH with arguments it builds

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

BODY = b'{"id":"42","name":"item","ok":true}'

_NGINX_CONF = """\
worker_processes 1;
daemon off;
master_process on;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    keepalive_requests 10000000;
    keepalive_timeout 120s;
    server {{
        listen 127.0.0.1:{port} reuseport backlog=4096;
        default_type application/json;
        location / {{ return 200 '{body}'; }}
    }}
}}
"""

_RESPONSE = (
    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
    b"content-length: " + str(len(BODY)).encode() + b"\r\n\r\n" + BODY
)


class _FixedResponse(asyncio.Protocol):
    """Answer each complete request head with the fixed response (keep-alive, GET only)."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        count = self.buffer.count(b"\r\n\r\n")
        if count:
            self.buffer = self.buffer[self.buffer.rfind(b"\r\n\r\n") + 4 :]
            self.transport.write(_RESPONSE * count)  # type: ignore[attr-defined]


async def serve_python(port: int) -> None:
    """Serve the fixed response on 127.0.0.1:``port`` until cancelled."""
    loop = asyncio.get_running_loop()
    server = await loop.create_server(_FixedResponse, "127.0.0.1", port, backlog=4096)
    async with server:
        await server.serve_forever()


@dataclass
class Upstream:
    """A running upstream: its kind, URL and process."""

    kind: str
    url: str
    process: subprocess.Popen[bytes]

    def pids(self) -> list[int]:
        """The upstream's processes (nginx: master and worker)."""
        children = subprocess.run(
            ["pgrep", "-P", str(self.process.pid)], capture_output=True, text=True
        ).stdout.split()
        return [self.process.pid, *map(int, children)]

    def pin(self, cpus: str) -> None:
        """Move every thread of every upstream process onto ``cpus``."""
        for pid in self.pids():
            subprocess.run(["taskset", "-a", "-p", "-c", cpus, str(pid)], capture_output=True)


def _wait_port(port: int, process: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"upstream exited with status {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"upstream did not listen on port {port} within {timeout} s")


@contextmanager
def run_upstream(
    port: int, *, cpus: str | None = None, prefer_nginx: bool = True
) -> Iterator[Upstream]:
    """Start the upstream (nginx if available), yield it, stop it."""
    nginx = shutil.which("nginx") or (
        "/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None
    )
    pin: Sequence[str] = ["taskset", "-c", cpus] if cpus else []
    with tempfile.TemporaryDirectory(prefix="bench-upstream-") as tmp:
        if prefer_nginx and nginx:
            conf = Path(tmp, "nginx.conf")
            conf.write_text(_NGINX_CONF.format(dir=tmp, port=port, body=BODY.decode()))
            command = [*pin, nginx, "-c", str(conf), "-p", tmp, "-e", f"{tmp}/error.log"]
            kind = "nginx"
        else:
            command = [*pin, sys.executable, __file__, "--port", str(port), "--python"]
            kind = "python-asyncio"
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            _wait_port(port, process)
            yield Upstream(kind, f"http://127.0.0.1:{port}", process)
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=9100)
    parser.add_argument("--python", action="store_true", help="the asyncio server, not nginx")
    args = parser.parse_args()
    if args.python:
        try:
            import uvloop
        except ImportError:
            asyncio.run(serve_python(args.port))
        else:
            uvloop.run(serve_python(args.port))
        return
    # Stopped by SIGTERM too (not only Ctrl-C), so nginx is always shut down with us.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with run_upstream(args.port) as upstream:
        print(f"{upstream.kind} upstream on {upstream.url} (Ctrl-C to stop)", flush=True)
        try:
            upstream.process.wait()
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
