"""
Benchmark of the gateway as a proxy, with a minimal pass-through proxy side by side.

Run: `.venv/bin/python benchmarks/proxy_bench.py [--quick] [--requests N] [--large]`.
Needs `wrk`, `taskset` and `curl`; nginx is used as the upstream when installed
(else a small asyncio server, see `upstream.py`); py-spy (pip) for the profile.

What it does, in one run, so that the ratios compare like with like on a noisy box:

(a) wrk -> upstream directly; (b) wrk -> `passthrough.py` -> upstream (aiohttp's
client, the baseline the targets are set against); (b2) the same pass-through over the
gateway's own upstream client (`--client native`), to show what forwarding alone costs
either way; (c) wrk -> `gateway serve` -> upstream. The load is --distinct (default 20,000)
presigned GET targets, each with its own signature, cycled by a wrk Lua script, so that
nothing can be answered from a cache of one request (`--replay` replays one URL instead);
(a), (b) and (b2) get the same targets.
Proxies are pinned to CPU 0, wrk and the upstream to CPU 1 (for (a) the upstream
moves to CPU 0). Each run: warm-up, then a timed wrk run (32 connections, 2 threads,
`--latency`). Printed: req/s, p50, p99 and the gateway/pass-through ratios.
(d) memory: the gateway's RSS after the warm-up and after every chunk of a long run
(`--requests`, default 200,000, counted from the end of the warm-up, run (c) included),
with the growth in percent; a py-spy profile of the gateway is taken during the first
chunk and its stages and hottest frames are printed.
(e) the gateway figure again with a large store (100,000 users, 10,000 managed
policies, each user attached to one), side by side with the small store; users and
policies are created through `gateway.iam.IAM` in a batch transaction, attachments as
rows in one store transaction; the seeding is timed. On by default (it takes well under
two minutes); `--no-large` skips it.
(g) temporary credentials: the bench user assumes a role through the gateway's STS,
and a URL presigned with those credentials (X-Amz-Security-Token) is measured against
the long-term key's URL, alternating twice in the same gateway process.
(f) two workers: uvicorn's own `--workers 2` over `gateway_factory:create`, against one
worker, both unpinned (two cores shared by everything); requests per worker are
counted from one audit file per worker process.
(h) rounds: (b) and (c) again, `--rounds` times (default 3), alternating, each in a
freshly started server, with the median of the per-round ratios: the pass-through's
figure moves by a quarter from one run to the next on a shared box, so one pair of
runs alone can put the ratio on either side of a target.
"""

# ruff: noqa: S603, S607 - a benchmark driver: it runs fixed local commands (wrk, taskset,
# curl, nginx, py-spy, the gateway) that it builds itself, found on PATH

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from upstream import Upstream, run_upstream  # noqa: E402

from gateway.auth.sigv4_sign import presign_url, sign_request  # noqa: E402  (path set up above)

PYTHON = sys.executable
GATEWAY = [PYTHON, "-m", "gateway"]
REGION = "us-east-1"
SERVICE = "bench"
ROLE = "bench-role"
ROOT_PASSWORD = "Bench-Root-Passw0rd!x9"  # noqa: S105 - a throwaway store in a temp dir
SERVER_CPU = "0"
CLIENT_CPU = "1"
METHOD = (
    "gateway requests: every request is fully verified (signature, scope, expiry), "
    "authorized and audited; caches: key lookup and compiled policies are per-generation "
    "caches"
)
POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "ReadItems",
            "Effect": "Allow",
            "Action": "bench:GetItem",
            "Resource": "arn:aws:bench:*:*:item/*",
        }
    ],
}

# --- processes ---------------------------------------------------------------------------


def code_version() -> str:
    """The commit measured, and whether gateway/ had uncommitted changes (read-only git)."""
    git = ["git", "--no-optional-locks", "-C", str(ROOT)]
    head = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    if head.returncode != 0:
        return "gateway: not a git checkout"
    changed = subprocess.run(
        [*git, "status", "--porcelain", "--", "gateway"], capture_output=True, text=True
    ).stdout.splitlines()
    dirty = f" + uncommitted changes in {len(changed)} files under gateway/" if changed else ""
    return f"gateway at commit {head.stdout.strip()}{dirty}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_listening(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server on port {port} exited:\n{log.read_text()[-2000:]}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"server on port {port} did not start:\n{log.read_text()[-2000:]}")


@contextlib.contextmanager
def server(
    command: list[str],
    port: int,
    log: Path,
    *,
    cpus: str | None,
    env: dict[str, str] | None = None,
) -> Iterator[subprocess.Popen[bytes]]:
    """Start a server (pinned to ``cpus`` when given), wait for its port, stop it."""
    pin = ["taskset", "-c", cpus] if cpus else []
    with log.open("ab") as out:
        process = subprocess.Popen(
            [*pin, *command],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            env={**os.environ, **(env or {})},
        )
    try:
        wait_listening(port, process, log)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def children(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def uvicorn_workers(supervisor: int) -> list[int]:
    """The worker processes of uvicorn's supervisor (not multiprocessing's helpers)."""
    workers = []
    for pid in children(supervisor):
        with contextlib.suppress(OSError):
            if b"resource_tracker" not in Path(f"/proc/{pid}/cmdline").read_bytes():
                workers.append(pid)
    return workers


# --- wrk ---------------------------------------------------------------------------------


@dataclass
class WrkResult:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    seconds: float
    errors: int  # non-2xx/3xx responses plus socket errors


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


@dataclass(frozen=True)
class Load:
    """
    What wrk sends: ``url`` replayed, or, with ``targets``, the request targets in that
    file (one per line, each presigned on its own) taken in turn by every connection.
    """

    url: str
    targets: Path | None = None

    @property
    def host(self) -> str:
        return self.url.split("/")[2]

    def on(self, base: str) -> Load:
        """The same targets sent to another server (``http://host:port``)."""
        if self.targets is None:
            return Load(base + "/" + self.url.split("/", 3)[3])
        return Load(base, self.targets)


# wrk's LuaJIT: each thread reads the targets once and starts at its own offset.
_CYCLE_LUA = """
local targets = {}
local index = 0
init = function(args)
  for line in io.lines(args[1]) do targets[#targets + 1] = line end
  index = math.random(#targets)
end
request = function()
  index = index % #targets + 1
  return wrk.format("GET", targets[index])
end
"""


def wrk(load: Load, seconds: float, *, connections: int, cpus: str | None) -> WrkResult:
    pin = ["taskset", "-c", cpus] if cpus else []
    # wrk takes whole seconds only.
    command = [*pin, "wrk", "-t2", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--latency"]
    if load.targets is None:
        command.append(load.url)
    else:
        script = load.targets.with_suffix(".lua")
        if not script.exists():
            script.write_text(_CYCLE_LUA)
        command += ["-s", str(script), load.url, "--", str(load.targets)]
    done_run = subprocess.run(command, capture_output=True, text=True)
    if done_run.returncode != 0:
        raise SystemExit(f"wrk failed: {done_run.stderr.strip() or done_run.stdout.strip()}")
    out = done_run.stdout
    done = re.search(r"(\d+) requests in ([\d.]+)(\w+)", out)
    if done is None:
        raise SystemExit(f"cannot read wrk's output:\n{out}")
    errors = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", out))
    socket_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out
    )
    if socket_errors:
        errors += sum(int(n) for n in socket_errors.groups())
    SENT[load.host] += int(done.group(1))
    return WrkResult(
        rps=float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        p50_ms=_ms(re.search(r"^\s*50%\s+(\S+)", out, re.M).group(1)),  # type: ignore[union-attr]
        p99_ms=_ms(re.search(r"^\s*99%\s+(\S+)", out, re.M).group(1)),  # type: ignore[union-attr]
        requests=int(done.group(1)),
        seconds=_ms(done.group(2) + done.group(3)) / 1000,
        errors=errors,
    )


SENT: Counter[str] = Counter()  # responses wrk counted, per host:port (warm-ups included)


def measure(load: Load, args: argparse.Namespace, *, cpus: str | None = CLIENT_CPU) -> WrkResult:
    """A warm-up run, then the timed run."""
    wrk(load, args.warmup, connections=args.connections, cpus=cpus)
    return wrk(load, args.duration, connections=args.connections, cpus=cpus)


# --- gateway set-up ------------------------------------------------------------------------


@dataclass
class Gateway:
    directory: Path
    config: Path
    port: int
    access_key_id: str
    secret: str

    @property
    def audit(self) -> Path:
        return self.directory / "audit.jsonl"

    def url(self, port: int | None = None) -> str:
        return presign_url(
            "GET",
            f"http://127.0.0.1:{port or self.port}/bench/items/42",
            self.access_key_id,
            self.secret,
            REGION,
            SERVICE,
            datetime.now(UTC),
            expires=604800,
        )

    def load(self, args: argparse.Namespace, port: int | None = None) -> Load:
        """The load of ``args``: distinct presigned targets, or one URL replayed."""
        port = port or self.port
        if args.replay:
            return Load(self.url(port))
        return presigned_load(
            f"http://127.0.0.1:{port}",
            self.directory / f"targets-{port}.txt",
            args.distinct,
            self.access_key_id,
            self.secret,
        )


def presigned_load(
    base: str, path: Path, count: int, key_id: str, secret: str, token: str | None = None
) -> Load:
    """
    Write ``count`` request targets for ``GET /bench/items/<n>``, each presigned with its
    own signature (one per item), and return them as a load on ``base``.
    """
    if not path.exists():
        now = datetime.now(UTC)
        lines = []
        for item in range(count):
            url = presign_url(
                "GET",
                f"{base}/bench/items/{item}",
                key_id,
                secret,
                REGION,
                SERVICE,
                now,
                expires=604800 if token is None else 3600,
                session_token=token,
            )
            lines.append("/" + url.split("/", 3)[3])
        path.write_text("\n".join(lines) + "\n")
    return Load(base, path)


def write_config(directory: Path, upstream_url: str, port: int) -> Path:
    config = directory / "gateway.toml"
    config.write_text(
        f"""\
[server]
host = "127.0.0.1"
port = {port}
region = "{REGION}"

[store]
url = "sqlite:///gateway.db"

[secrets]
master_key_file = "master.key"

[audit]
sink = "file"
file = "audit.jsonl"

[[upstreams]]
name = "bench"
url = "{upstream_url}"
prefix = "/bench"
service = "{SERVICE}"

[[upstreams.routes]]
methods = ["GET"]
path = "/items/{{id}}"
action = "bench:GetItem"
resource = "arn:aws:bench:{{region}}:{{account}}:item/{{id}}"
"""
    )
    return config


def cli(*args: str, stdin: str | None = None) -> str:
    done = subprocess.run([*GATEWAY, *args], input=stdin, capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        raise SystemExit(f"gateway {' '.join(args[:2])} failed:\n{done.stderr}")
    return done.stdout


def set_up_gateway(directory: Path, upstream_url: str) -> Gateway:
    """init, a user with an inline policy allowing bench:GetItem, an access key (CLI)."""
    directory.mkdir(parents=True, exist_ok=True)
    port = free_port()
    config = write_config(directory, upstream_url, port)
    flag = ["--config", str(config)]
    cli("init", *flag, "--root-password-stdin", stdin=ROOT_PASSWORD + "\n")
    cli("iam", "create-user", "--user-name", "bench", *flag)
    cli(
        "iam",
        "put-user-policy",
        "--user-name",
        "bench",
        "--policy-name",
        "bench-read",
        "--policy-document",
        json.dumps(POLICY),
        *flag,
    )
    key = json.loads(cli("iam", "create-access-key", "--user-name", "bench", *flag))["AccessKey"]
    user_arn = bench_user_arn(config)
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": user_arn}, "Action": "sts:AssumeRole"}
        ],
    }
    role = ["--role-name", ROLE, *flag]
    cli("iam", "create-role", "--assume-role-policy-document", json.dumps(trust), *role)
    cli(
        "iam",
        "put-role-policy",
        "--policy-name",
        "bench-read",
        "--policy-document",
        json.dumps(POLICY),
        *role,
    )
    return Gateway(directory, config, port, key["AccessKeyId"], key["SecretAccessKey"])


def assume_role(gateway: Gateway) -> tuple[str, str, str]:
    """Temporary credentials for the bench role, from the gateway's STS (AssumeRole)."""
    account = bench_user_arn(gateway.config).split(":")[4]
    body = urlencode(
        {
            "Action": "AssumeRole",
            "Version": "2011-06-15",
            "RoleArn": f"arn:aws:iam::{account}:role/{ROLE}",
            "RoleSessionName": "bench",
            "DurationSeconds": "3600",
        }
    ).encode()
    url = f"http://127.0.0.1:{gateway.port}/_gateway/sts"
    headers = {"content-type": "application/x-www-form-urlencoded"}
    headers |= sign_request(
        "POST",
        url,
        headers,
        body,
        gateway.access_key_id,
        gateway.secret,
        REGION,
        "sts",
        datetime.now(UTC),
    )
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback
        text = response.read().decode()
    found = {
        name: re.search(f"<{name}>([^<]+)</{name}>", text)
        for name in ("AccessKeyId", "SecretAccessKey", "SessionToken")
    }
    if not all(found.values()):
        raise SystemExit(f"AssumeRole did not return credentials:\n{text[:500]}")
    return tuple(match.group(1) for match in found.values() if match)  # type: ignore[return-value]


def bench_user_arn(config: Path) -> str:
    user = json.loads(cli("iam", "get-user", "--user-name", "bench", "--config", str(config)))
    return str(user["User"]["Arn"])


def serve_gateway(
    gateway: Gateway, *, cpus: str | None
) -> contextlib.AbstractContextManager[subprocess.Popen[bytes]]:
    return server(
        [*GATEWAY, "serve", "--config", str(gateway.config)],
        gateway.port,
        gateway.directory / "serve.log",
        cpus=cpus,
    )


async def _seed(config: Path, users: int, policies: int, chunk: int = 2000) -> None:
    from gateway.config import load_config
    from gateway.runtime import Runtime

    runtime = await Runtime.open(load_config(str(config)))
    try:
        iam = await runtime.iam()

        async def policy(i: int) -> str:
            document = {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Sid": "TeamItems",
                        "Effect": "Allow",
                        "Action": [f"svc{i % 50}:Get*", "bench:List*"],
                        "Resource": f"arn:aws:bench:*:*:item/{i}-*",
                        "Condition": {"StringEquals": {"aws:PrincipalTag/team": f"t{i % 100}"}},
                    }
                ],
            }
            return (await batch.create_policy(f"team-{i:05d}", json.dumps(document))).policy_id

        async def user(i: int) -> str:
            tags = [{"Key": "team", "Value": f"t{i % 100}"}]
            return (await batch.create_user(f"user{i:06d}", tags=tags)).user_id

        async def gather(make: Callable[[int], Awaitable[str]], count: int) -> list[str]:
            # Many calls in flight at once keep aiosqlite's thread busy; awaiting them one
            # by one is about 3x slower.
            done: list[str] = []
            for start in range(0, count, chunk):
                done += await asyncio.gather(*map(make, range(start, min(start + chunk, count))))
            return done

        # Policies and users through the service layer (validated), in one transaction.
        async with iam.batch() as batch:
            policy_ids = await gather(policy, policies)
            user_ids = await gather(user, users)
        for i in range(min(5, policies)):
            await iam.attach_policy(
                "user", "bench", f"arn:aws:iam::{iam.account_id}:policy/team-{i:05d}"
            )
        # One attachment per user as raw rows through the store's own write transaction
        # (attach_policy makes four store calls per link: ~4x slower for 100,000 links).
        async with runtime.store.transaction(write=True) as tx:
            for start in range(0, users, chunk):
                await asyncio.gather(
                    *(
                        tx.insert(
                            "policy_attachments",
                            {
                                "principal_type": "user",
                                "principal_id": user_ids[i],
                                "policy_id": policy_ids[i % len(policy_ids)],
                            },
                        )
                        for i in range(start, min(start + chunk, users))
                    )
                )
    finally:
        await runtime.close()


def seed_large(gateway: Gateway, users: int, policies: int) -> float:
    started = time.perf_counter()
    asyncio.run(_seed(gateway.config, users, policies))
    return time.perf_counter() - started


def curl_status(url: str) -> tuple[int, float]:
    out = subprocess.run(
        ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code} %{time_total}", url],
        capture_output=True,
        text=True,
    ).stdout.split()
    return int(out[0]), float(out[1]) * 1000


def check_gateway(gateway: Gateway, port: int | None = None) -> float:
    """The presigned URL gets 200, unsigned and tampered requests 403; first-request ms."""
    url = gateway.url(port)
    status, first_ms = curl_status(url)
    unsigned, _ = curl_status(url.split("?", 1)[0])
    tampered, _ = curl_status(url[:-4] + ("0000" if not url.endswith("0000") else "1111"))
    if (status, unsigned, tampered) != (200, 403, 403):
        raise SystemExit(
            f"gateway check failed: presigned {status} (want 200), unsigned {unsigned} "
            f"(want 403), tampered {tampered} (want 403)"
        )
    return first_ms


def check_url(url: str) -> None:
    """A presigned URL with temporary credentials gets 200 before it is measured."""
    status, _ = curl_status(url)
    if status != 200:
        raise SystemExit(f"temporary-credential check failed: {status} (want 200)")


# --- profile -----------------------------------------------------------------------------


def start_profile(pid: int, seconds: int, out: Path) -> subprocess.Popen[bytes] | None:
    spy = shutil.which("py-spy") or str(Path(PYTHON).parent / "py-spy")
    if not Path(spy).exists():
        return None
    return subprocess.Popen(
        [
            spy,
            "record",
            "--pid",
            str(pid),
            "--duration",
            str(seconds),
            "--format",
            "raw",
            "--threads",
            "-o",
            str(out),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


# Where the event loop's time goes, by the stack frame that marks each stage (a sample
# counts for a stage when that frame is anywhere on its stack).
STAGES = [
    ("whole request in the app", "GatewayApp._proxy (gateway/app.py)"),
    ("  request_view (normalize)", "request_view (gateway/normalize.py)"),
    ("  Guard.admit (auth + authz)", "Guard.admit (gateway/guard.py)"),
    ("    store.generation() per request", "SqliteStore.generation (gateway/store/sqlite.py)"),
    ("    parse_authorization", "parse_authorization (gateway/auth/sigv4_parse.py)"),
    ("    KeyAuthenticator.authenticate", "KeyAuthenticator.authenticate (gateway/auth/keys.py)"),
    ("    RouteTable.match (x2)", "RouteTable.match (gateway/routing.py)"),
    ("    Authorizer.authorize", "Authorizer.authorize (gateway/authz.py)"),
    ("  identity_headers (assertion)", "identity_headers (gateway/app.py)"),
    ("  upstream_headers", "upstream_headers (gateway/proxy.py)"),
    ("  Forwarder.forward (upstream client)", "Forwarder.forward (gateway/proxy.py)"),
    ("audit drainer (build + encode + write)", "Auditor._drain (gateway/audit/auditor.py)"),
    ("  build_event (deferred to the drainer)", "build_event (gateway/audit/events.py)"),
    ("uvicorn access log (logging)", "Logger.info (logging/__init__.py)"),
]


def summarize_profile(raw: Path, top: int) -> list[str]:
    """Self and total time per function, as % of the event-loop thread's samples."""
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    threads: Counter[str] = Counter()
    loop_samples = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        count = int(count_text)
        thread, *frames = stack.split(";")
        name = re.sub(r"thread \(\d+\): ", "", thread)
        if name != "MainThread":
            # Helper threads mostly wait in queue.get, which py-spy still samples.
            waiting = frames and re.search(
                r"\((aiosqlite/core|concurrent/futures/thread)", frames[-1]
            )
            threads[name + (" (waiting)" if waiting else " (busy)")] += count
            continue
        loop_samples += count
        functions = [re.sub(r":\d+\)$", ")", frame) for frame in frames]
        if functions:
            own[functions[-1]] += count
        for function in set(functions):
            total[function] += count
    if not loop_samples:
        return ["  (no samples)"]

    def pct(n: int) -> str:
        return f"{100 * n / loop_samples:5.1f}%"

    lines = [
        f"  event-loop thread: {loop_samples} samples at 100 Hz (the percentages below); "
        "other threads: " + ", ".join(f"{k} {v}" for k, v in threads.most_common())
    ]
    lines.append("  stages (total time: samples with that frame on the stack):")
    lines += [f"    {pct(total[frame])}  {label}" for label, frame in STAGES]
    lines.append(f"  top {top} frames by self time:")
    lines += [f"    {pct(n)}  {f}" for f, n in own.most_common(top)]
    lines.append(
        f"  top {top} frames by total time (frames that wrap every request, from the CLI "
        "down to GatewayApp.__call__, left out):"
    )
    entry = total.get("GatewayApp.__call__ (gateway/app.py)", 0)
    inner = [(f, n) for f, n in total.most_common() if n < entry]
    lines += [f"    {pct(n)}  {f}" for f, n in inner[:top]]
    return lines


# --- runs --------------------------------------------------------------------------------


def row(label: str, result: WrkResult, note: str = "") -> str:
    errors = f"  ERRORS {result.errors}" if result.errors else ""
    return (
        f"  {label:<38} {result.rps:>9,.0f} {result.p50_ms:>9.2f} {result.p99_ms:>9.2f}"
        f"{errors}{note}"
    )


HEADER = f"  {'':<38} {'req/s':>9} {'p50 ms':>9} {'p99 ms':>9}"


def memory_run(
    pid: int, load: Load, args: argparse.Namespace, base: float, timed: WrkResult, out: Path
) -> tuple[list[str], list[str]]:
    """Continue from run (c) to ``args.requests`` requests in chunks, sampling RSS."""

    def growth(rss: float) -> str:
        return f"RSS {rss:7.1f} MiB ({100 * (rss - base) / base:+5.1f}%)"

    sent = timed.requests
    lines = [
        f"  after warm-up:             RSS {base:7.1f} MiB",
        f"  after {sent:>9,} requests: {growth(rss_mib(pid))}   {timed.rps:,.0f} req/s (run (c))",
    ]
    spy = start_profile(pid, args.profile_seconds, out) if args.profile else None
    rps, note = timed.rps, " (py-spy attached)" if spy else ""
    while sent < args.requests:
        seconds = max(2.0, min(args.chunk_seconds, (args.requests - sent) / max(rps, 1.0)))
        result = wrk(load, seconds, connections=args.connections, cpus=CLIENT_CPU)
        sent += result.requests
        rps = result.rps
        errors = f"  ERRORS {result.errors}" if result.errors else ""
        lines.append(
            f"  after {sent:>9,} requests: {growth(rss_mib(pid))}   {rps:,.0f} req/s{note}{errors}"
        )
        note = ""
    lines.append(f"  growth over {sent:,} requests after warm-up: {growth(rss_mib(pid))}")
    profile_lines: list[str] = []
    if spy is not None:
        _, err = spy.communicate()
        if spy.returncode == 0 and out.exists():
            profile_lines = summarize_profile(out, args.top)
            profile_lines.append(f"  raw stacks (py-spy --format raw --threads): {out}")
        else:
            profile_lines = [f"  py-spy failed: {err.decode(errors='replace').strip()[-300:]}"]
    elif args.profile:
        profile_lines = ["  py-spy not installed: `.venv/bin/pip install py-spy`"]
    return lines, profile_lines


def audit_lines(path: Path) -> int:
    if not path.exists():
        return 0
    with path.open("rb") as f:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))


def workers_run(gateway: Gateway, upstream: Upstream, args: argparse.Namespace) -> list[str]:
    """One worker vs uvicorn --workers 2, everything unpinned on both CPUs."""
    lines = [HEADER]
    upstream.pin("0,1")
    load = gateway.load(args)
    with serve_gateway(gateway, cpus=None):
        one = measure(load, args, cpus=None)
    lines.append(row("1 worker (gateway serve)", one))
    env = {"GATEWAY_CONFIG": str(gateway.config), "BENCH_AUDIT_PER_PID": "1"}
    command = [
        PYTHON,
        "-m",
        "uvicorn",
        "benchmarks.gateway_factory:create",
        "--factory",
        "--workers",
        "2",
        "--host",
        "127.0.0.1",
        "--port",
        str(gateway.port),
        "--loop",
        "uvloop",
        "--http",
        "httptools",
        "--no-server-header",
        "--no-access-log",
        "--no-proxy-headers",
    ]
    log = gateway.directory / "workers.log"
    with server(command, gateway.port, log, cpus=None, env=env) as supervisor:
        time.sleep(1.0)  # both workers: the socket is shared before each one is ready
        pids = uvicorn_workers(supervisor.pid)
        before = {pid: audit_lines(Path(f"{gateway.audit}.{pid}")) for pid in pids}
        two = measure(load, args, cpus=None)
        time.sleep(1.0)  # let the audit drainers write their buffers out
        counts = {pid: audit_lines(Path(f"{gateway.audit}.{pid}")) - before[pid] for pid in pids}
    upstream.pin(CLIENT_CPU)
    lines.append(row("2 workers (uvicorn --workers 2)", two))
    lines.append(
        f"  ratio 2 workers / 1 worker: rps {two.rps / one.rps:.2f}x, "
        f"p50 {two.p50_ms / one.p50_ms:.2f}x, p99 {two.p99_ms / one.p99_ms:.2f}x"
    )
    total = sum(counts.values())
    if total:
        share = ", ".join(f"pid {pid}: {n:,} ({100 * n / total:.0f}%)" for pid, n in counts.items())
        lines.append(
            f"  requests per worker (audit events, warm-up included): {share}; wrk "
            f"counted {two.requests:,} in the timed part"
        )
    else:
        lines.append("  requests per worker: no per-worker audit files were written")
    return lines


def measure_passthrough(
    upstream_url: str, load: Load, work: Path, args: argparse.Namespace, client: str
) -> tuple[WrkResult, float]:
    """Run `passthrough.py --client CLIENT` on the server CPU; its figures and RSS (MiB)."""
    port = free_port()
    with server(
        [
            PYTHON,
            str(ROOT / "benchmarks" / "passthrough.py"),
            "--port",
            str(port),
            "--upstream",
            upstream_url,
            "--client",
            client,
        ],
        port,
        work / f"passthrough-{client}.log",
        cpus=SERVER_CPU,
    ) as process:
        result = measure(load.on(f"http://127.0.0.1:{port}"), args)
        return result, rss_mib(process.pid)


def measure_gateway(gateway: Gateway, load: Load, args: argparse.Namespace) -> WrkResult:
    """Start the gateway on the server CPU, warm it up, and measure it (run (c) again)."""
    with serve_gateway(gateway, cpus=SERVER_CPU):
        check_gateway(gateway)
        return measure(load, args)


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def print_rounds(rounds: list[tuple[WrkResult, WrkResult]]) -> None:
    """(h): each round's (b) and (c), their ratios, and the medians of the ratios."""
    print(f"\n(h) {len(rounds)} more rounds of (b) then (c), each in a freshly started server")
    print(f"  {'':<12} {'(b) req/s':>10} {'(c) req/s':>10} {'rps':>8} {'p50':>7} {'p99':>7}")
    ratios = []
    for index, (floor, guarded) in enumerate(rounds, start=1):
        ratio = (
            guarded.rps / floor.rps,
            guarded.p50_ms / floor.p50_ms,
            guarded.p99_ms / floor.p99_ms,
        )
        ratios.append(ratio)
        print(
            f"  {f'round {index}':<12} {floor.rps:>10,.0f} {guarded.rps:>10,.0f} "
            f"{ratio[0]:>7.3f}x {ratio[1]:>6.2f}x {ratio[2]:>6.2f}x"
        )
    rps, p50, p99 = (_median([ratio[i] for ratio in ratios]) for i in range(3))
    print(
        f"  median ratio gateway / pass-through (b): rps {rps:.3f}x, p50 {p50:.2f}x, p99 {p99:.2f}x"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description="Gateway proxy benchmark (see module doc).")
    parser.add_argument(
        "--quick", action="store_true", help="5 s runs, 50,000 requests for (d), no (e)"
    )
    parser.add_argument(
        "--requests", type=int, default=None, help="requests for the memory run (default 200,000)"
    )
    large = parser.add_mutually_exclusive_group()
    large.add_argument(
        "--large", dest="large", action="store_true", default=None, help="run (e), the large store"
    )
    large.add_argument("--no-large", dest="large", action="store_false", help="skip (e)")
    parser.add_argument("--no-workers", dest="workers", action="store_false", help="skip (f)")
    parser.add_argument("--no-profile", dest="profile", action="store_false", help="skip py-spy")
    parser.add_argument(
        "--duration", type=float, default=None, help="seconds per timed run (default 10)"
    )
    parser.add_argument("--warmup", type=float, default=None, help="warm-up seconds (default 2)")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument(
        "--rounds", type=int, default=3, help="alternating rounds of (b) and (c) for (h); 0 skips"
    )
    parser.add_argument(
        "--distinct",
        type=int,
        default=20_000,
        help="distinct presigned request targets cycled by wrk (default 20,000)",
    )
    parser.add_argument(
        "--replay", action="store_true", help="replay one presigned URL instead of --distinct"
    )
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--policies", type=int, default=10_000)
    parser.add_argument("--top", type=int, default=15, help="profile frames to print")
    parser.add_argument(
        "--profile-out",
        type=Path,
        default=Path(tempfile.gettempdir()) / "gateway-proxy-profile.txt",
    )
    parser.add_argument(
        "--python-upstream", action="store_true", help="use the asyncio upstream, not nginx"
    )
    args = parser.parse_args()
    args.duration = args.duration or (5.0 if args.quick else 10.0)
    args.warmup = args.warmup or (1.0 if args.quick else 2.0)
    args.requests = args.requests or (50_000 if args.quick else 200_000)
    # Seeding (e) takes ~45 s here (under the 2 minutes that make it a default).
    args.large = (not args.quick) if args.large is None else args.large
    args.chunk_seconds = 30.0
    args.profile_seconds = 10 if not args.quick else 5
    for tool in ("wrk", "taskset", "curl"):
        if shutil.which(tool) is None:
            raise SystemExit(f"`{tool}` is needed and not installed")
    if os.cpu_count() and os.cpu_count() < 2:  # type: ignore[operator]
        raise SystemExit("needs two CPUs: servers on CPU 0, wrk on CPU 1")

    started = time.monotonic()
    print(__doc__.strip().splitlines()[0])
    print(
        f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs; wrk -t2 -c{args.connections} "
        f"--latency, {args.warmup:g} s warm-up + {args.duration:g} s per run; small GET"
    )
    print(code_version())
    print(METHOD)
    print(
        "load: one presigned URL replayed (--replay)"
        if args.replay
        else f"load: {args.distinct:,} distinct presigned targets (GET /bench/items/<n>, one "
        "signature each), taken in turn by every wrk connection (a Lua script); the same "
        "targets go to (a), (b) and (b2)"
    )
    with (
        tempfile.TemporaryDirectory(prefix="gateway-proxy-bench-") as tmp,
        run_upstream(
            free_port(), cpus=CLIENT_CPU, prefer_nginx=not args.python_upstream
        ) as upstream,
    ):
        work = Path(tmp)
        print(
            f"upstream: {upstream.kind} at {upstream.url}; CPU layout: proxies on CPU "
            f"{SERVER_CPU}, wrk + upstream on CPU {CLIENT_CPU} "
            f"(for (a): upstream on CPU {SERVER_CPU})"
        )
        gateway = set_up_gateway(work / "small", upstream.url)
        load = gateway.load(args)

        upstream.pin(SERVER_CPU)
        direct = measure(load.on(upstream.url), args)
        upstream.pin(CLIENT_CPU)

        proxied, passthrough_rss = measure_passthrough(upstream.url, load, work, args, "aiohttp")
        native, _ = measure_passthrough(upstream.url, load, work, args, "native")

        with serve_gateway(gateway, cpus=SERVER_CPU) as process:
            first_ms = check_gateway(gateway)
            wrk(load, args.warmup, connections=args.connections, cpus=CLIENT_CPU)
            base = rss_mib(process.pid)
            guarded = wrk(load, args.duration, connections=args.connections, cpus=CLIENT_CPU)
            memory, profile = memory_run(process.pid, load, args, base, guarded, args.profile_out)
            # (g): temporary credentials against long-term keys, alternating, same process.
            key_id, secret, token = assume_role(gateway)
            sts_url = presign_url(
                "GET",
                f"http://127.0.0.1:{gateway.port}/bench/items/42",
                key_id,
                secret,
                REGION,
                SERVICE,
                datetime.now(UTC),
                expires=3600,
                session_token=token,
            )
            check_url(sts_url)
            sts_load = (
                Load(sts_url)
                if args.replay
                else presigned_load(
                    f"http://127.0.0.1:{gateway.port}",
                    work / "sts-targets.txt",
                    args.distinct,
                    key_id,
                    secret,
                    token,
                )
            )
            sts_pairs = [
                (
                    wrk(load, args.duration, connections=args.connections, cpus=CLIENT_CPU),
                    wrk(sts_load, args.duration, connections=args.connections, cpus=CLIENT_CPU),
                )
                for _ in range(2)
            ]
        audited, sent = audit_lines(gateway.audit), SENT[load.host]
        rounds = [
            (
                measure_passthrough(upstream.url, load, work, args, "aiohttp")[0],
                measure_gateway(gateway, load, args),
            )
            for _ in range(args.rounds)
        ]

        print("\nthroughput and latency (32 connections)")
        print(HEADER)
        print(row("(a) upstream direct", direct))
        print(row("(b) pass-through proxy -> upstream", proxied))
        print(row("(b2) pass-through, gateway's client", native))
        print(row("(c) gateway -> upstream (presigned GET)", guarded))
        for label, floor in (("(b)", proxied), ("(b2)", native)):
            print(
                f"  ratio gateway / pass-through {label}: rps {guarded.rps / floor.rps:.3f}x, "
                f"p50 {guarded.p50_ms / floor.p50_ms:.2f}x, "
                f"p99 {guarded.p99_ms / floor.p99_ms:.2f}x"
            )
        print(f"  ratio pass-through / direct: rps {proxied.rps / direct.rps:.3f}x")
        print(f"  first gateway request after start (cold caches, curl): {first_ms:.1f} ms")
        print(
            f"  audit: {audited:,} events written for {sent + 3:,} requests "
            "counted by wrk and curl (wrk does not count the replies in flight when it stops)"
        )

        print(
            "\n(g) temporary credentials (AssumeRole, X-Amz-Security-Token presigned) against "
            "long-term key requests, alternating in one gateway process"
        )
        print(HEADER)
        for index, (keyed, temporary) in enumerate(sts_pairs, start=1):
            print(row(f"(g{index}) long-term access key", keyed))
            print(row(f"(g{index}) temporary credentials", temporary))
        key_rps = sum(pair[0].rps for pair in sts_pairs)
        sts_rps = sum(pair[1].rps for pair in sts_pairs)
        print(f"  ratio temporary / long-term: rps {sts_rps / key_rps:.3f}x")

        if rounds:
            print_rounds(rounds)

        print(
            f"\n(d) memory: gateway RSS from the end of the warm-up over {args.requests:,} "
            f"requests, run (c) included (pass-through, after its run: {passthrough_rss:.1f} MiB)"
        )
        print("\n".join(memory))

        if args.large:
            large_gateway = set_up_gateway(work / "large", upstream.url)
            seconds = seed_large(large_gateway, args.users, args.policies)
            size = (large_gateway.directory / "gateway.db").stat().st_size / 2**20
            print(
                f"\n(e) large store: {args.users:,} users + {args.policies:,} managed policies "
                f"(one attached to each user, 5 more to the bench user) seeded in {seconds:.1f} s: "
                f"users and policies through IAM.batch(), attachments as rows in one store "
                f"transaction; database {size:.0f} MiB"
            )
            # Side by side: the small-store gateway again, then the large one.
            with (
                serve_gateway(gateway, cpus=SERVER_CPU),
                serve_gateway(large_gateway, cpus=SERVER_CPU),
            ):
                small_first = check_gateway(gateway)
                large_first = check_gateway(large_gateway)
                small = measure(gateway.load(args), args)
                big = measure(large_gateway.load(args), args)
            print(HEADER)
            print(row("(c') gateway, small store (again)", small))
            print(row("(e) gateway, large store", big))
            print(
                f"  ratio large / small store: rps {big.rps / small.rps:.3f}x, "
                f"p50 {big.p50_ms / small.p50_ms:.2f}x, p99 {big.p99_ms / small.p99_ms:.2f}x; "
                f"first request {large_first:.1f} ms (small store: {small_first:.1f} ms)"
            )
        else:
            print("\n(e) large store: skipped (--large to run it)")

        if args.workers:
            print(
                "\n(f) two workers (nothing pinned: the 2 CPUs are shared by gateway, wrk, nginx)"
            )
            print("\n".join(workers_run(gateway, upstream, args)))

        if args.profile:
            print(
                f"\nprofile of the gateway under load (py-spy, {args.profile_seconds} s, "
                "during the first chunk of (d))"
            )
            print("\n".join(profile))
    print(f"\ntotal time {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
