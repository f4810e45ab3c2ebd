"""
Fixtures for the command-line tests: a config file in tmp_path and an in-process runner.

``gateway(...)`` runs ``main()`` in this process and returns the exit status with
what it printed; ``initialized`` is a config whose store ``gateway init`` has set up.
"""

from __future__ import annotations

import asyncio
import io
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from gateway.cli import main
from gateway.config import load_config
from gateway.runtime import store_from_settings

REPO = Path(__file__).resolve().parents[2]
EXAMPLE_IAM = REPO / "config" / "iam.toml"


@dataclass(frozen=True, slots=True)
class Result:
    code: int
    out: str
    err: str


Runner = Callable[..., Result]


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """
    Keep the developer's GATEWAY_* variables (config path, key, overrides) out of the tests.
    """
    for name in list(os.environ):
        if name.startswith("GATEWAY_") and name != "GATEWAY_TEST_POSTGRES_DSN":
            monkeypatch.delenv(name)
    yield


def write_config(directory: Path) -> Path:
    """
    Write a gateway.toml whose store and master key live in ``directory``.
    """
    path = directory / "gateway.toml"
    path.write_text(
        "[server]\n"
        'public_url = "http://gateway.test:8080"\n'
        "[store]\n"
        f'url = "sqlite:///{directory}/gw.db"\n'
        "[secrets]\n"
        f'master_key_file = "{directory}/master.key"\n',
        encoding="utf-8",
    )
    return path


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """
    A configuration file for a store that does not exist yet.
    """
    return write_config(tmp_path)


@pytest.fixture
def gateway(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Runner:
    """
    Run ``gateway ARGS...`` in-process; ``stdin=`` feeds standard input.
    """

    def run(*argv: str | Path, stdin: str = "") -> Result:
        capsys.readouterr()
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
        code = main([str(arg) for arg in argv])
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run


@pytest.fixture
def initialized(gateway: Runner, config: Path) -> Path:
    """
    The config of a store set up by ``gateway init`` (account alias `example`).
    """
    result = gateway("init", "--config", config, "--account-alias", "example")
    assert result.code == 0, result.err
    return config


def generation(config: Path) -> int:
    """
    Return the store's change marker: every committed write increases it.
    """

    async def read() -> int:
        store = await store_from_settings(load_config(config))
        try:
            return await store.generation()
        finally:
            await store.close()

    return asyncio.run(read())
