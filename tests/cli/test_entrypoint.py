"""
The real entry point: `python -m gateway` in a subprocess, as an operator runs it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.cli.conftest import EXAMPLE_IAM, write_config


def gateway(*argv: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    return subprocess.run(  # noqa: S603 - fixed argv, our own interpreter
        [sys.executable, "-m", "gateway", *map(str, argv)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_walkthrough_in_a_subprocess(tmp_path: Path) -> None:
    """`gateway init && gateway apply config/iam.toml && gateway iam list-users` works."""
    config = write_config(tmp_path)
    init = gateway("init", "--config", config, cwd=tmp_path)
    assert init.returncode == 0, init.stderr
    assert init.stdout.count("root password: ") == 1
    applied = gateway("apply", EXAMPLE_IAM, "--config", config, cwd=tmp_path)
    assert applied.returncode == 0, applied.stderr
    listed = gateway("iam", "list-users", "--config", config, cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    names = sorted(user["UserName"] for user in json.loads(listed.stdout)["Users"])
    assert names == ["backup", "steve"]


def test_errors_in_a_subprocess_are_one_line(tmp_path: Path) -> None:
    """A failing operation prints the aws CLI's line and exits 1, with no traceback."""
    config = write_config(tmp_path)
    gateway("init", "--config", config, cwd=tmp_path)
    missing = gateway("iam", "get-user", "--config", config, "--user-name", "bob", cwd=tmp_path)
    assert missing.returncode == 1
    assert missing.stderr == (
        "An error occurred (NoSuchEntity) when calling the GetUser operation: "
        "The user with name bob cannot be found.\n"
    )
    usage = gateway("iam", "get-user", cwd=tmp_path)
    assert usage.returncode == 2 and usage.stderr.count("\n") == 1
