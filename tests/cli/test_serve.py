"""
`gateway serve` as a real process, and the change marker across processes.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.conftest import write_config


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _gateway(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - fixed argv, our own entry point
        [sys.executable, "-m", "gateway", *args], capture_output=True, text=True, timeout=60
    )


def _ready(port: int) -> dict[str, object]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/_gateway/ready", timeout=5) as resp:  # noqa: S310
        return json.loads(resp.read())  # type: ignore[no-any-return]


def _status(port: int, path: str) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as resp:  # noqa: S310
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


UPSTREAM = """
[[upstreams]]
name = "{name}"
url = "http://127.0.0.1:9"
prefix = "/{name}"
service = "{name}"
"""


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Path, int]]:
    """An initialized store with `gateway serve` running on it."""
    config = write_config(tmp_path)
    assert _gateway("init", "--config", str(config)).returncode == 0
    port = _free_port()
    pid_file = tmp_path / "gateway.pid"
    server = subprocess.Popen(  # noqa: S603 - fixed argv, our own entry point
        [
            sys.executable,
            "-m",
            "gateway",
            "serve",
            "--config",
            str(config),
            "--port",
            str(port),
            "--pid-file",
            str(pid_file),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            try:
                _ready(port)
                break
            except OSError:
                time.sleep(0.1)
        else:
            pytest.fail("gateway serve did not become ready")
        yield config, port
    finally:
        server.terminate()
        server.wait(timeout=15)


def test_iam_change_in_another_process_is_seen_on_next_request(served: tuple[Path, int]) -> None:
    """A `gateway iam` write from another process moves the marker the server reads."""
    config, port = served
    before = _ready(port)["generation"]
    result = _gateway("iam", "create-user", "--user-name", "steve", "--config", str(config))
    assert result.returncode == 0, result.stderr
    after = _ready(port)["generation"]
    assert isinstance(before, int) and isinstance(after, int) and after > before


def test_serve_refuses_uninitialized_store(tmp_path: Path) -> None:
    """Serving a store that was never initialized is one clear line, not a traceback."""
    config = write_config(tmp_path)
    result = _gateway("serve", "--config", str(config), "--port", str(_free_port()))
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert "master key" in result.stderr or "gateway init" in result.stderr


def test_reload_swaps_routes_and_refuses_a_bad_config(served: tuple[Path, int]) -> None:
    """`gateway reload` adds a new upstream's routes; a broken file changes nothing."""
    config, port = served
    pid_file = config.parent / "gateway.pid"
    assert _status(port, "/reports/x") == 404
    original = config.read_text()
    config.write_text(original + UPSTREAM.format(name="reports"))
    result = _gateway("reload", "--config", str(config), "--pid-file", str(pid_file))
    assert result.returncode == 0, result.stderr
    for _ in range(50):
        if _status(port, "/reports/x") == 403:  # routed now: it wants a signature
            break
        time.sleep(0.1)
    assert _status(port, "/reports/x") == 403
    config.write_text(original + "[[upstreams]]\nname = 'broken'\n")
    refused = _gateway("reload", "--config", str(config), "--pid-file", str(pid_file))
    assert refused.returncode != 0 and "Traceback" not in refused.stderr
    os.kill(int(pid_file.read_text()), signal.SIGHUP)  # even when signalled directly
    time.sleep(0.5)
    assert _status(port, "/reports/x") == 403
    assert _status(port, "/_gateway/health") == 200
