"""
Benchmark of several replicas on PostgreSQL: one `gateway serve` against two.

Run: `GATEWAY_BENCH_POSTGRES_DSN=postgresql://postgres@127.0.0.1:5432/test
.venv/bin/python benchmarks/replicas_bench.py [--duration S] [--warmup S]`
(falls back to GATEWAY_TEST_POSTGRES_DSN). Needs `wrk`; nginx as the upstream
when installed (see `upstream.py`).

What it does: creates a database of its own on that server (dropped at the end),
`gateway init` + a user with an inline policy allowing `bench:GetItem` and an access
key (the proxy benchmark's set-up, on PostgreSQL), then

starts two replicas (`gateway serve`, one uvicorn worker each, on one database) and
alternates, for `--rounds` rounds (default 3):

(a) one replica: wrk with 32 connections on the first replica's port (the second
    replica idles);
(b) two replicas: two wrk processes with 16 connections each, one per port (the load
    split evenly, as a round-robin balancer would), their rates added.

Nothing is pinned: two cores are shared by the replicas, wrk and the upstream, and on
a shared machine by whatever else runs, so the rounds alternate and the median ratio
is the figure. Each run: a warm-up, then the timed run; every request is one
presigned GET fully verified and authorized. Printed per round: req/s, p50/p99 (the
worse of the two wrk runs for (b)), store queries per request over the timed run,
read from the replicas' `/_gateway/metrics` (`gateway_store_queries_total` against
the requests they answered; with the change listener in sync it is about zero), and
the (b)/(a) ratio.
"""

# ruff: noqa: S603, S607 - a benchmark driver: it runs fixed local commands it builds itself

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import statistics
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parent))

from proxy_bench import (  # noqa: E402 - the path is set up above
    GATEWAY,
    POLICY,
    ROOT_PASSWORD,
    Gateway,
    WrkResult,
    cli,
    code_version,
    free_port,
    server,
    write_config,
    wrk,
)
from upstream import run_upstream  # noqa: E402


def _database_dsn(dsn: str, database: str) -> str:
    return urlunsplit(urlsplit(dsn)._replace(path=f"/{database}"))


@contextlib.contextmanager
def fresh_database(dsn: str) -> Iterator[str]:
    """A database of its own on the server at ``dsn``; dropped afterwards."""
    name = "gw_bench_" + secrets.token_hex(4)

    async def admin(statement: str) -> None:
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute(statement)
        finally:
            await conn.close()

    asyncio.run(admin(f"CREATE DATABASE {name}"))
    try:
        yield _database_dsn(dsn, name)
    finally:
        asyncio.run(admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


def set_up(directory: Path, upstream_url: str, dsn: str) -> Gateway:
    """`gateway init` on PostgreSQL, a user allowed bench:GetItem, an access key."""
    config = write_config(directory, upstream_url, free_port())
    text = config.read_text().replace('url = "sqlite:///gateway.db"', f'url = "{dsn}"')
    config.write_text(text + "\n[metrics]\nenabled = true\n")
    flag = ["--config", str(config)]
    cli("init", *flag, "--root-password-stdin", stdin=ROOT_PASSWORD + "\n")
    cli("iam", "create-user", "--user-name", "bench", *flag)
    cli(
        "iam", "put-user-policy", "--user-name", "bench", "--policy-name", "bench-read",
        "--policy-document", json.dumps(POLICY), *flag,
    )  # fmt: skip
    key = json.loads(cli("iam", "create-access-key", "--user-name", "bench", *flag))["AccessKey"]
    return Gateway(directory, config, 0, key["AccessKeyId"], key["SecretAccessKey"])


def store_queries(port: int) -> tuple[float, float]:
    """(store queries, proxied requests) so far, from the replica's metrics."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/_gateway/metrics", timeout=5) as r:
        text = r.read().decode()
    queries = requests = 0.0
    for line in text.splitlines():
        if line.startswith("gateway_store_queries_total"):
            queries += float(line.rsplit(" ", 1)[1])
        elif line.startswith("gateway_requests_total{"):
            requests += float(line.rsplit(" ", 1)[1])
    return queries, requests


def run_load(
    gateway: Gateway, ports: list[int], args: argparse.Namespace
) -> tuple[list[WrkResult], float]:
    """Warm up, then one timed wrk per port in parallel; return results and queries/request."""
    connections = args.connections // len(ports)
    urls = [gateway.url(port) for port in ports]
    with ThreadPoolExecutor(len(ports)) as pool:
        list(pool.map(lambda u: wrk(u, args.warmup, connections=connections, cpus=None), urls))
        before = [store_queries(port) for port in ports]
        results = list(
            pool.map(lambda u: wrk(u, args.duration, connections=connections, cpus=None), urls)
        )
        after = [store_queries(port) for port in ports]
    queries = sum(a[0] - b[0] for a, b in zip(after, before, strict=True))
    requests = sum(a[1] - b[1] for a, b in zip(after, before, strict=True))
    return results, queries / max(requests, 1.0)


@contextlib.contextmanager
def replicas(gateway: Gateway, count: int) -> Iterator[list[int]]:
    """`count` gateway serve processes on free ports; stopped (SIGTERM) afterwards."""
    with contextlib.ExitStack() as stack:
        ports = []
        for index in range(count):
            port = free_port()
            stack.enter_context(
                server(
                    [*GATEWAY, "serve", "--config", str(gateway.config), "--port", str(port)],
                    port,
                    gateway.directory / f"serve-{count}-{index}.log",
                    cpus=None,
                )
            )
            ports.append(port)
        for port in ports:  # ready = store reachable and the listener given a moment
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                with contextlib.suppress(OSError):
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/_gateway/ready") as r:
                        if r.status == 200:
                            break
                time.sleep(0.1)
        time.sleep(0.5)
        yield ports


def row(label: str, results: list[WrkResult], per_request: float) -> str:
    rps = sum(result.rps for result in results)
    p50 = max(result.p50_ms for result in results)
    p99 = max(result.p99_ms for result in results)
    errors = sum(result.errors for result in results)
    return (
        f"{label} | {rps:>9,.0f} | {p50:>7.2f} | {p99:>7.2f} | {errors:>6} | {per_request:>12.5f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", type=float, default=10.0, help="timed run, seconds")
    parser.add_argument("--warmup", type=float, default=3.0, help="warm-up run, seconds")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections in all")
    parser.add_argument("--rounds", type=int, default=3, help="alternating (a)/(b) rounds")
    parser.add_argument("--python-upstream", action="store_true", help="never use nginx")
    args = parser.parse_args()
    dsn = os.environ.get("GATEWAY_BENCH_POSTGRES_DSN") or os.environ.get(
        "GATEWAY_TEST_POSTGRES_DSN"
    )
    if not dsn:
        raise SystemExit("set GATEWAY_BENCH_POSTGRES_DSN (or GATEWAY_TEST_POSTGRES_DSN)")
    print(code_version())
    print(f"{os.cpu_count()} CPUs; nothing pinned; {args.connections} connections in all")
    with (
        tempfile.TemporaryDirectory(prefix="replicas-bench-") as tmp,
        run_upstream(free_port(), prefer_nginx=not args.python_upstream) as upstream,
        fresh_database(dsn) as database,
    ):
        gateway = set_up(Path(tmp), upstream.url, database)
        print(f"upstream: {upstream.kind}; store: PostgreSQL (a database of its own)\n")
        print("| round | setup          |     req/s | p50 ms  | p99 ms  | errors | store q/req  |")
        print("| ----- | -------------- | --------- | ------- | ------- | ------ | ------------ |")
        ratios = []
        with replicas(gateway, 2) as ports:
            for number in range(1, args.rounds + 1):
                one, one_q = run_load(gateway, ports[:1], args)
                print(row(f"| {number:>5} | one replica   ", one, one_q))
                two, two_q = run_load(gateway, ports, args)
                print(row(f"| {number:>5} | two replicas  ", two, two_q))
                ratios.append(sum(r.rps for r in two) / max(sum(r.rps for r in one), 1.0))
    listed = ", ".join(f"{ratio:.2f}x" for ratio in ratios)
    print(
        f"\ntwo replicas / one replica: median {statistics.median(ratios):.2f}x "
        f"(rounds: {listed}; target >= 1.4x)"
    )
    if upstream.kind != "nginx":
        print("note: the Python upstream shares the CPUs too; nginx makes the ratio fairer")


if __name__ == "__main__":
    main()
