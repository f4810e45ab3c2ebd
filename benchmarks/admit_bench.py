"""
Micro-benchmark of the gateway's per-request work outside the HTTP client and server.

Run: `nice -n 10 .venv/bin/python benchmarks/admit_bench.py [--iterations N] [--repeat N]`.

It builds a real gateway in process (`create_app` + `start()`, SQLite store and a file
audit sink in a temp dir), with the set-up of `proxy_bench.py`: one user allowed
`bench:GetItem` by an inline policy, one access key, and the route
`GET /bench/items/{id}` -> `bench:GetItem` on `arn:aws:bench:{region}:{account}:item/{id}`.
It presigns `--distinct` GET URLs (default 1,000; `presign_url`, expires 604800), one per
item, and builds the ASGI scopes uvicorn (httptools) gives for them, taken in turn; then
it times each stage of a request on its own, and all of them in a row, warm (the
per-generation caches are filled):

- `request_view`: scope -> `RequestView` (gateway/normalize.py);
- `guard.admit`: generation check, route, SigV4 parse and full verification, policy
  evaluation (gateway/guard.py);
- `identity_headers + upstream_headers`: the assertion and the headers sent upstream
  (gateway/app.py, gateway/proxy.py; called, not changed here);
- `build_event`: the audit event (gateway/audit/events.py; the gateway has the audit
  drainer build it, through `Auditor.defer`);
- `encode_line`: what the drainer's sink does with one event (gateway/audit/sinks.py).

Printed: microseconds of CPU time (`time.process_time`, so that other load on a shared box
counts less) per call, best of `--repeat` runs of `--iterations` calls each.
Nothing is asserted about time; the first lines check that the request is admitted.

Noise-free comparison: `--only STAGE` times one stage; run it under
`valgrind --tool=callgrind` with `--repeat 1` and two values of `--iterations` (500 and
2500, i.e. 550 and 2750 calls with the warm-up); the difference in instructions divided
by 2200 is the cost of one call, set-up excluded.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from proxy_bench import POLICY, REGION, SERVICE  # noqa: E402  (the same set-up as the proxy)

from gateway.app import create_app, identity_headers  # noqa: E402  (path set up above)
from gateway.audit import build_event  # noqa: E402
from gateway.audit.sinks import encode_line  # noqa: E402
from gateway.auth.sigv4_sign import presign_url  # noqa: E402
from gateway.config import settings_from_mapping  # noqa: E402
from gateway.guard import Attempt  # noqa: E402
from gateway.iam import IAM, create_account, write_master_key  # noqa: E402
from gateway.iam.naming import now as utc_now  # noqa: E402
from gateway.normalize import request_view  # noqa: E402
from gateway.proxy import upstream_headers  # noqa: E402
from gateway.request_ids import new_request_id  # noqa: E402
from gateway.store import open_store  # noqa: E402

HOST = "127.0.0.1:8080"
STAGES = {
    "view": "request_view",
    "admit": "guard.admit",
    "headers": "identity_headers + upstream_headers",
    "event": "build_event",
    "encode": "encode_line (drainer)",
}


async def _no_body() -> dict[str, Any]:
    return {"type": "http.request", "body": b"", "more_body": False}


def _scope(url: str) -> dict[str, Any]:
    # What uvicorn (httptools) hands the app for wrk's `GET <url>`: only a Host header.
    parts = urlsplit(url)
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "server": ("127.0.0.1", 8080),
        "client": ("127.0.0.1", 40000),
        "scheme": "http",
        "method": "GET",
        "root_path": "",
        "path": parts.path,
        "raw_path": parts.path.encode("ascii"),
        "query_string": parts.query.encode("ascii"),
        "headers": [(b"host", HOST.encode("ascii"))],
        "state": {},
    }


async def _build(directory: Path, count: int) -> tuple[Any, list[dict[str, Any]]]:
    write_master_key(directory / "master.key")
    settings = settings_from_mapping(
        {
            "store": {"url": "sqlite:///gw.db"},
            "secrets": {"master_key_file": "master.key"},
            "server": {"region": REGION},
            "audit": {"sink": "file", "file": "audit.jsonl"},
            "upstreams": [
                {
                    "name": "bench",
                    "url": "http://127.0.0.1:9",
                    "prefix": "/bench",
                    "service": SERVICE,
                    "routes": [
                        {
                            "methods": ["GET"],
                            "path": "/items/{id}",
                            "action": "bench:GetItem",
                            "resource": "arn:aws:bench:{region}:{account}:item/{id}",
                        }
                    ],
                }
            ],
        },
        base_dir=directory,
        environ={},
    )
    store = await open_store(sqlite_path=directory / "gw.db")
    await store.migrate()
    account = await create_account(
        store,
        root_email="root@example.com",
        root_password="Bench-Root-Passw0rd!x9",  # noqa: S106 - a throwaway store
    )
    await store.close()
    app = create_app(settings)
    await app.start()
    try:
        return app, await _seed(app, account.account_id, count)
    except BaseException:
        await app.stop()
        raise


async def _seed(app: Any, account_id: str, count: int) -> list[dict[str, Any]]:
    # The bench user, its policy and key; the scopes of `count` distinct presigned GETs.
    runtime = app.services.runtime
    iam = IAM(runtime.store, runtime.cipher, account_id=account_id)
    await iam.create_user("bench")
    await iam.put_inline_policy("user", "bench", "read-items", POLICY)
    key = await iam.create_access_key("bench")
    now = datetime.now(UTC)
    return [
        _scope(
            presign_url(
                "GET",
                f"http://{HOST}/bench/items/{item}",
                key.key.access_key_id,
                key.secret_access_key,
                REGION,
                SERVICE,
                now,
                expires=604800,
            )
        )
        for item in range(count)
    ]


def _best(run: Callable[[int], float], iterations: int, repeat: int) -> float:
    run(max(1, iterations // 10))  # warm-up
    times = []
    for _ in range(repeat):
        gc.collect()
        times.append(run(iterations))
    return min(times) / iterations * 1e6


async def _best_async(
    run: Callable[[int], Awaitable[float]], iterations: int, repeat: int
) -> float:
    await run(max(1, iterations // 10))
    times = []
    for _ in range(repeat):
        gc.collect()
        times.append(await run(iterations))
    return min(times) / iterations * 1e6


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--iterations", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--distinct", type=int, default=1000, help="distinct presigned requests, taken in turn"
    )
    parser.add_argument(
        "--only",
        choices=[*STAGES, "total"],
        help="time one stage only (for callgrind: run twice with different --iterations)",
    )
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="admit-bench-") as temp:
        app, scopes = await _build(Path(temp), options.distinct)
        try:
            await _measure(app, scopes, options.iterations, options.repeat, options.only)
        finally:
            await app.stop()


async def _measure(
    app: Any, scopes: list[dict[str, Any]], iterations: int, repeat: int, only: str | None
) -> None:
    services = app.services
    guard, signer = services.guard, services.signer
    region = app.settings.server.region
    cookie_name = guard.cookies.name
    trusted = guard.trusted_proxies

    def view_of(index: int) -> Any:
        scope = scopes[index % len(scopes)]
        return request_view(scope, trusted_proxies=trusted, request_id=new_request_id())

    views = [view_of(index) for index in range(len(scopes))]
    view = views[0]
    attempt = Attempt(view=view)
    admission = await guard.admit(view, _no_body, attempt)
    print(
        f"admitted: {admission.decision.verdict.value} {admission.match.action} "
        f"{admission.match.resource}"
    )

    def event_of(view: Any, attempt: Attempt) -> dict[str, Any]:
        match = attempt.match
        return build_event(
            view=view,
            principal=attempt.principal,
            action=match.action if match else None,
            resources=[match.resource] if match else [],
            decision=attempt.decision,
            error_code=None,
            upstream=match.upstream.name if match else None,
            upstream_status=200,
            latency_ms=1.234,
            now=utc_now(),
            region=region,
        )

    event = event_of(view, attempt)
    print(f"audit line: {len(encode_line(event))} bytes")

    def headers_of(view: Any, admission: Any) -> list[tuple[str, str]]:
        return upstream_headers(
            view,
            identity=identity_headers(admission, signer, request_id=view.request_id),
            cookie_name=cookie_name,
        )

    def time_view(n: int) -> float:
        start = time.process_time()
        for index in range(n):
            view_of(index)
        return time.process_time() - start

    async def time_admit(n: int) -> float:
        start = time.process_time()
        for index in range(n):
            one = views[index % len(views)]
            await guard.admit(one, _no_body, Attempt(view=one))
        return time.process_time() - start

    def time_headers(n: int) -> float:
        start = time.process_time()
        for _ in range(n):
            headers_of(view, admission)
        return time.process_time() - start

    def time_event(n: int) -> float:
        start = time.process_time()
        for _ in range(n):
            event_of(view, attempt)
        return time.process_time() - start

    def time_encode(n: int) -> float:
        start = time.process_time()
        for _ in range(n):
            encode_line(event)
        return time.process_time() - start

    async def time_total(n: int) -> float:
        start = time.process_time()
        for index in range(n):
            one = view_of(index)
            tried = Attempt(view=one)
            admitted = await guard.admit(one, _no_body, tried)
            headers_of(one, admitted)
            encode_line(event_of(one, tried))
        return time.process_time() - start

    timers = {
        "view": time_view,
        "admit": time_admit,
        "headers": time_headers,
        "event": time_event,
        "encode": time_encode,
        "total": time_total,
    }
    results: dict[str, float] = {}
    for stage, timer in timers.items():
        if only is not None and stage != only:
            continue
        if asyncio.iscoroutinefunction(timer):
            results[stage] = await _best_async(timer, iterations, repeat)
        else:
            results[stage] = _best(cast(Callable[[int], float], timer), iterations, repeat)
        print(f"{STAGES.get(stage, 'total (all stages in a row)'):<40} {results[stage]:8.2f} us")
    if only is None:
        owned = sum(results[stage] for stage in ("view", "admit", "event", "encode"))
        print(f"{'sum (view+admit+event+encode)':<40} {owned:8.2f} us")


if __name__ == "__main__":
    asyncio.run(main())
