"""
Micro-benchmark: authenticating a request signed with a long-term access key vs one
signed with temporary (STS) credentials.

Run: `python benchmarks/sts_bench.py`. Both paths go through
`KeyAuthenticator.authenticate` on the same signed GET, warm (the key's cache entry,
or the opened session token, is already in memory), so the figure is what every
request pays: parsing is excluded, SigV4 verification included. Also prints the
cold cost of opening a session token (AES-GCM + JSON), paid once per token per
process. Neither path touches the store once warm; the temporary-credential path
never does.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gateway.auth.keys import KeyAuthenticator  # noqa: E402  (path set up above)
from gateway.auth.session_token import SessionClaims, SessionTokens  # noqa: E402
from gateway.auth.sigv4_parse import SignedRequest, parse_authorization  # noqa: E402
from gateway.auth.sigv4_sign import sign_request  # noqa: E402
from gateway.iam import IAM, Cipher, models  # noqa: E402
from gateway.iam.crypto import generate_master_key, parse_master_keys  # noqa: E402
from gateway.types import RequestView  # noqa: E402

ACCOUNT = "123456789012"
EMPTY = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
BATCHES = 7
ROUNDS = 2000
NOW = datetime.now(UTC)
USER = models.User(
    "backup", "AIDAEXAMPLEEXAMPLE1", f"arn:aws:iam::{ACCOUNT}:user/backup", "/", NOW, ACCOUNT
)
LONG_TERM = ("AKIAEXAMPLEEXAMPLE12", "l" * 40)


class _KeysOnly(IAM):
    """The one IAM call authentication makes for a long-term key, from memory."""

    async def access_key_secret(self, access_key_id: str) -> tuple[models.User, str, str] | None:
        return (USER, LONG_TERM[1], "Active") if access_key_id == LONG_TERM[0] else None


def _signed(key_id: str, secret: str, token: str | None) -> tuple[SignedRequest, RequestView]:
    headers = sign_request(
        "GET",
        "http://gateway.test/backup/buckets/backup/objects/a.txt",
        {"host": "gateway.test"},
        b"",
        key_id,
        secret,
        "us-east-1",
        "backup",
        NOW,
        session_token=token,
    )
    view = RequestView(
        method="GET",
        path="/backup/buckets/backup/objects/a.txt",
        raw_path="/backup/buckets/backup/objects/a.txt",
        query_string="",
        headers=tuple((name.lower(), value) for name, value in headers.items()),
        scheme="http",
        client_ip="127.0.0.1",
    )
    signed = parse_authorization(view)
    assert signed is not None
    return signed, view


async def _per_call(call: Callable[[], Awaitable[object]]) -> float:
    """Median microseconds per call over BATCHES batches of ROUNDS calls."""
    await call()
    samples = []
    for _ in range(BATCHES):
        started = time.perf_counter()
        for _ in range(ROUNDS):
            await call()
        samples.append((time.perf_counter() - started) / ROUNDS * 1e6)
    return statistics.median(samples)


async def main() -> None:
    cipher = Cipher(parse_master_keys(generate_master_key(), source="bench"))
    iam = _KeysOnly(None, cipher, account_id="")  # type: ignore[arg-type]  # no store needed
    keys = KeyAuthenticator(iam, region="us-east-1")
    claims = SessionClaims(
        account_id=ACCOUNT,
        kind="role",
        entity_id="AROAEXAMPLEEXAMPLE1",
        entity_arn=f"arn:aws:iam::{ACCOUNT}:role/Backup",
        entity_name="Backup",
        session_name="nightly",
        issued_at=NOW,
        expires_at=NOW + timedelta(hours=1),
        access_key_id="ASIAEXAMPLEEXAMPLE12",
        secret_access_key="t" * 40,
        tags=(("team", "ops"),),
    )
    tokens = SessionTokens(cipher)
    token = tokens.seal(claims)
    long_signed, long_view = _signed(*LONG_TERM, None)
    sts_signed, sts_view = _signed(claims.access_key_id, claims.secret_access_key, token)
    keys.observe(1)

    async def long_term() -> object:
        return await keys.authenticate(
            long_signed,
            long_view,
            service="backup",
            now=NOW,
            payload_hash=EMPTY,
            allow_unsigned_payload=False,
        )

    async def temporary() -> object:
        return await keys.authenticate(
            sts_signed,
            sts_view,
            service="backup",
            now=NOW,
            payload_hash=EMPTY,
            allow_unsigned_payload=False,
        )

    async def open_token() -> object:
        return tokens.open(token)

    long_us = await _per_call(long_term)
    sts_us = await _per_call(temporary)
    open_us = await _per_call(open_token)
    print(f"session token: {len(token)} characters")
    print(f"long-term key request:          {long_us:8.1f} us/authentication")
    print(f"temporary-credential request:   {sts_us:8.1f} us/authentication")
    print(f"ratio (temporary / long-term):  {sts_us / long_us:8.2f}")
    print(f"opening a token (cold, once):   {open_us:8.1f} us")


if __name__ == "__main__":
    asyncio.run(main())
