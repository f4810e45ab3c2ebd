"""
Shared fixtures: stores on both backends, a master-key cipher, an IAM service.

The PostgreSQL half of every store test runs whenever GATEWAY_TEST_POSTGRES_DSN is
set (CI always sets it); each test gets a schema of its own, dropped afterwards.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from gateway.iam import IAM, Cipher, create_account
from gateway.iam.crypto import generate_master_key, parse_master_keys
from gateway.store import Store, open_store

POSTGRES_DSN = os.environ.get("GATEWAY_TEST_POSTGRES_DSN")
BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
ROOT_PASSWORD = "Root-Passw0rd!"

StoreFactory = Callable[[], Awaitable[Store]]
SelfSigned = Callable[[Path], tuple[Path, Path]]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def self_signed() -> SelfSigned:
    """Write a self-signed `localhost` certificate and its key under a directory."""
    return _self_signed


def _self_signed(directory: Path) -> tuple[Path, Path]:
    # A certificate for `localhost` that is its own CA, and its key, as PEM files.
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=1))
        .not_valid_after(now + timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if POSTGRES_DSN:
        return
    skip = pytest.mark.skip(reason="GATEWAY_TEST_POSTGRES_DSN is not set")
    for item in items:
        if item.get_closest_marker("postgres") is not None:
            item.add_marker(skip)


@pytest.fixture(params=BACKENDS)
async def store_factory(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[StoreFactory]:
    """
    Open stores on one fresh database; several calls share it, like several processes.
    """
    opened: list[Store] = []
    if request.param == "sqlite":
        path = tmp_path / "gateway.db"

        async def factory() -> Store:
            store = await open_store(sqlite_path=path)
            opened.append(store)
            return store

        yield factory
    else:
        import asyncpg

        assert POSTGRES_DSN is not None
        schema = "t_" + secrets.token_hex(6)
        admin = await asyncpg.connect(POSTGRES_DSN)
        await admin.execute(f"CREATE SCHEMA {schema}")

        async def factory() -> Store:
            store = await open_store(dsn=POSTGRES_DSN, schema=schema, pool_max_size=4)
            opened.append(store)
            return store

        try:
            yield factory
        finally:
            for store in opened:
                await store.close()
            opened.clear()
            await admin.execute(f"DROP SCHEMA {schema} CASCADE")
            await admin.close()
    for store in opened:
        await store.close()


@pytest.fixture
async def store(store_factory: StoreFactory) -> Store:
    """
    A migrated store on a fresh database.
    """
    opened = await store_factory()
    await opened.migrate()
    return opened


@pytest.fixture(scope="session")
def cipher() -> Cipher:
    return Cipher(parse_master_keys(generate_master_key(), source="test"))


@pytest.fixture
async def iam(store: Store, cipher: Cipher) -> IAM:
    """
    The IAM service of a fresh account, with the built-in policies seeded.
    """
    account = await create_account(
        store, root_email="root@example.com", root_password=ROOT_PASSWORD
    )
    service = IAM(store, cipher, account_id=account.account_id)
    await service.seed_builtin_policies()
    return service
