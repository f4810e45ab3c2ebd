"""
`gateway demo`: set-up, the scripted walkthrough, reuse of its directory, and the printed curl.
"""

from __future__ import annotations

import asyncio
import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import IO

import pytest

from gateway.cli.demo import PACKAGED_IAM_FILE
from gateway.config import load_config
from gateway.iam import IAM, list_accounts
from gateway.runtime import cipher_from_settings, store_from_settings
from tests.cli.conftest import EXAMPLE_IAM, Result, Runner

CURL = Path("/usr/bin/curl")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _ports() -> tuple[int, int]:
    port = _free_port()
    upstream = _free_port()
    while upstream == port:
        upstream = _free_port()
    return port, upstream


def _demo(gateway: Runner, directory: Path) -> Result:
    port, upstream = _ports()
    return gateway(
        "demo", "--no-serve", "--dir", directory, "--port", port, "--upstream-port", upstream
    )


def _secret(directory: Path) -> tuple[str, str]:
    lines = (directory / "backup-credentials.csv").read_text(encoding="utf-8").splitlines()
    assert lines[0] == "Access key ID,Secret access key"
    key_id, secret = lines[1].split(",")
    return key_id, secret


def _audit_events(out: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.splitlines() if line.strip().startswith("{")]


def _state(directory: Path) -> tuple[int, list[str]]:
    """Return the number of accounts and user backup's access key ids."""

    async def read() -> tuple[int, list[str]]:
        settings = load_config(directory / "gateway.toml", environ={})
        store = await store_from_settings(settings)
        try:
            accounts = await list_accounts(store)
            iam = IAM(store, cipher_from_settings(settings), account_id=accounts[0].account_id)
            keys = await iam.list_access_keys("backup")
            return len(accounts), [key.access_key_id for key in keys]
        finally:
            await store.close()

    return asyncio.run(read())


# --- in-process, --no-serve ---------------------------------------------------------------------


def test_first_run_shows_the_allowed_and_the_denied_call(gateway: Runner, tmp_path: Path) -> None:
    """The first run sets up the store, then prints a 200 PUT, a 403 GET and their audit events."""
    result = _demo(gateway, tmp_path / "demo")
    assert result.code == 0, result.err
    out = result.out
    assert "created account" in out and "root password (shown once): " in out
    assert "+ create user backup" in out and "+ attach policy backup-write to user backup" in out
    assert "-> 200 OK" in out and "user/programs/backup" in out
    assert (
        "-> 403 Forbidden AccessDenied: User: arn:aws:iam::" in out
        and ":user/programs/backup is not authorized to perform: backup:GetObject on resource: "
        "arn:aws:backup:us-east-1:"
        in out
    )
    events = _audit_events(out)
    assert [(e["eventName"], e["decision"]) for e in events] == [
        ("PutObject", "allowed"),
        ("GetObject", "implicitDeny"),
    ]
    assert "/_gateway/signin/example" in out
    assert 'curl --aws-sigv4 "aws:amz:us-east-1:backup"' in out


def test_credentials_csv_is_private_and_the_secret_printed_once(
    gateway: Runner, tmp_path: Path
) -> None:
    """The access key CSV is mode 0600 and its secret appears exactly once in the output."""
    directory = tmp_path / "demo"
    result = _demo(gateway, directory)
    assert result.code == 0, result.err
    key_id, secret = _secret(directory)
    assert (directory / "backup-credentials.csv").stat().st_mode & 0o777 == 0o600
    assert (directory / "master.key").stat().st_mode & 0o777 == 0o600
    assert result.out.count(secret) == 1
    assert secret not in result.err
    assert secret not in (directory / "audit.jsonl").read_text(encoding="utf-8")
    assert f"AKID={key_id}" in result.out


def test_second_run_reuses_the_directory(gateway: Runner, tmp_path: Path) -> None:
    """A second run keeps the one account and the one key, and prints no secret."""
    directory = tmp_path / "demo"
    assert _demo(gateway, directory).code == 0
    key_id, secret = _secret(directory)
    again = _demo(gateway, directory)
    assert again.code == 0, again.err
    assert _state(directory) == (1, [key_id])
    assert "reusing account" in again.out and "no changes" in again.out
    assert f"reusing access key {key_id}" in again.out
    assert secret not in again.out and "(shown once)" not in again.out
    assert "-> 200 OK" in again.out and "-> 403 Forbidden AccessDenied" in again.out
    assert [e["decision"] for e in _audit_events(again.out)] == ["allowed", "implicitDeny"]


def test_lost_credentials_file_replaces_the_key(gateway: Runner, tmp_path: Path) -> None:
    """Without its CSV file the old key is deleted and one new key is created."""
    directory = tmp_path / "demo"
    assert _demo(gateway, directory).code == 0
    old_id, _ = _secret(directory)
    (directory / "backup-credentials.csv").unlink()
    again = _demo(gateway, directory)
    assert again.code == 0, again.err
    new_id, new_secret = _secret(directory)
    assert new_id != old_id
    assert _state(directory) == (1, [new_id])
    assert again.out.count(new_secret) == 1


@pytest.mark.parametrize("flag", ["--port", "--upstream-port"])
def test_busy_port_is_a_usage_error(gateway: Runner, tmp_path: Path, flag: str) -> None:
    """A port already in use ends with one line on stderr naming its flag, exit status 2."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        ports = {"--port": _free_port(), "--upstream-port": _free_port()}
        ports[flag] = busy.getsockname()[1]
        argv = [str(item) for pair in ports.items() for item in pair]
        result = gateway("demo", "--no-serve", "--dir", tmp_path / "demo", *argv)
    assert result.code == 2
    assert result.err.count("\n") == 1
    assert result.err.strip().endswith(f"pick another port with {flag}")
    assert "address already in use" in result.err


def test_same_ports_are_refused(gateway: Runner, tmp_path: Path) -> None:
    """The gateway and the object store cannot share a port."""
    result = gateway(
        "demo", "--no-serve", "--dir", tmp_path, "--port", "9100", "--upstream-port", "9100"
    )
    assert result.code == 2
    assert "--port and --upstream-port must differ" in result.err
    assert not (tmp_path / "gateway.toml").exists()


def test_packaged_iam_file_is_config_iam_toml() -> None:
    """The IAM file shipped for installed copies is the same as config/iam.toml."""
    assert PACKAGED_IAM_FILE.read_bytes() == EXAMPLE_IAM.read_bytes()


# --- a live demo and the printed curl commands --------------------------------------------------


def _lines(stream: IO[str], into: queue.Queue[str]) -> None:
    for line in stream:
        into.put(line)


def _read_until(lines: queue.Queue[str], marker: str, seen: list[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not any(marker in line for line in seen):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            pytest.fail(f"`{marker}` not printed in time; got:\n{''.join(seen)}")
        try:
            seen.append(lines.get(timeout=remaining))
        except queue.Empty:
            continue


def _sh(script: str, cwd: Path) -> str:
    done = subprocess.run(  # noqa: S603 - bash runs the demo's own printed commands
        ["/bin/bash", "-c", script], cwd=cwd, capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.skipif(not CURL.exists(), reason="curl is not installed at /usr/bin/curl")
def test_printed_curl_commands_work_against_a_live_demo(tmp_path: Path) -> None:
    """The printed curl commands get 200 for the PUT and 403 AccessDenied for the GET."""
    port, upstream = _ports()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    demo = subprocess.Popen(  # noqa: S603 - fixed argv, our own entry point
        [sys.executable, "-m", "gateway", "demo", "--dir", "demo"]
        + ["--port", str(port), "--upstream-port", str(upstream)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=_lines, args=(demo.stdout, lines), daemon=True).start()
    seen: list[str] = []
    try:
        _read_until(lines, "until Ctrl-C", seen, timeout=60)
        url = f"http://127.0.0.1:{port}/_gateway/ready"
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - local http
            assert response.status == 200
        printed = [line.strip() for line in seen]
        setup = "\n".join(line for line in printed if line.startswith(("AKID=", "SECRET=")))
        put, get = (line for line in printed if line.startswith("curl "))
        assert "-X PUT" in put and "secret.txt" in get

        stored = json.loads(_sh(f"{setup}\n{put}", tmp_path))
        assert stored["key"] == "hello.txt" and stored["storedBy"].endswith(":user/programs/backup")
        denied = _sh(f"{setup}\n{get} -w ' %{{http_code}}'", tmp_path)
        assert "<Code>AccessDenied</Code>" in denied and denied.endswith(" 403")
        assert "is not authorized to perform: backup:GetObject" in denied

        # The audit sink writes from a background task: wait for both lines to land.
        by_curl: list[dict[str, object]] = []
        for _ in range(100):
            audit = (tmp_path / "demo" / "audit.jsonl").read_text(encoding="utf-8")
            by_curl = [json.loads(line) for line in audit.splitlines() if "curl/" in line]
            if len(by_curl) >= 2:
                break
            time.sleep(0.05)
        assert [e["decision"] for e in by_curl] == ["allowed", "implicitDeny"]
    finally:
        demo.send_signal(signal.SIGINT)
        try:
            code = demo.wait(timeout=30)
        finally:
            if demo.poll() is None:
                demo.kill()
                demo.wait()
        if demo.stdout is not None:
            demo.stdout.close()
    assert code == 130
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0  # the gateway stopped listening
