"""
`gateway apply` and `gateway export`: plan, idempotence, dry run, rollback, round trip.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.cli.conftest import EXAMPLE_IAM, Runner, generation, write_config

TRUST = (
    '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", '
    '"Principal": {"AWS": "arn:aws:iam::123456789012:root"}, "Action": "sts:AssumeRole"}]}'
)

FULL = f"""
account_alias = "roundtrip"

[password_policy]
minimum_password_length = 14
require_numbers = true

[[policies]]
name = "backup-write"
path = "/backup/"
description = "write backups"
document = {{ Version = "2012-10-17", Statement = [
  {{ Effect = "Allow", Action = "backup:PutObject", Resource = "arn:aws:backup:*:*:bucket/b/*" }},
] }}

[[policies]]
name = "boundary"
document = '''{{"Version": "2012-10-17",
  "Statement": [{{"Effect": "Allow", "Action": "backup:*", "Resource": "*"}}]}}'''

[[groups]]
name = "admins"
policies = ["AdministratorAccess"]

[[groups]]
name = "operators"
path = "/ops/"
policies = ["IAMReadOnlyAccess"]
[groups.inline_policies]
read = {{ Version = "2012-10-17", Statement = [
  {{ Effect = "Allow", Action = "backup:GetObject", Resource = "*" }},
] }}

[[users]]
name = "steve"
tags = {{ team = "ops", "cost center" = "42" }}
groups = ["admins", "operators"]
console = {{ password_reset_required = true }}

[[users]]
name = "backup"
path = "/programs/"
policies = ["backup-write"]
permissions_boundary = "boundary"
[users.inline_policies]
extra = '''{{"Version": "2012-10-17",
  "Statement": [{{"Effect": "Deny", "Action": "backup:DeleteObject", "Resource": "*"}}]}}'''

[[roles]]
name = "backup-writer"
description = "assumed by the backup job"
max_session_duration = 7200
trust_policy = '''{TRUST}'''
tags = {{ purpose = "backup" }}
policies = ["backup-write"]
"""


def export(gateway: Runner, config: Path, fmt: str = "toml") -> str:
    result = gateway("export", "--config", config, "--format", fmt)
    assert result.code == 0, result.err
    return result.out


def write(tmp_path: Path, text: str, name: str = "iam.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_walkthrough_apply_then_list_users(gateway: Runner, initialized: Path) -> None:
    """init, apply config/iam.toml, list-users: steve and backup exist as the story says."""
    result = gateway("apply", EXAMPLE_IAM, "--config", initialized)
    assert result.code == 0, result.err
    assert "+ create user steve" in result.out
    assert "+ create login profile for user steve (password reset required)" in result.out
    passwords = re.findall(r"console password for user steve .*: (\S+)$", result.out, re.M)
    assert len(passwords) == 1
    users = json.loads(gateway("iam", "list-users", "--config", initialized).out)["Users"]
    assert sorted(u["UserName"] for u in users) == ["backup", "steve"]
    cfg = ("--config", str(initialized))
    profile = json.loads(gateway("iam", "get-login-profile", *cfg, "--user-name", "steve").out)
    assert profile["LoginProfile"]["PasswordResetRequired"] is True
    assert json.loads(
        gateway("iam", "list-attached-user-policies", *cfg, "--user-name", "steve").out
    ) == {"AttachedPolicies": []}
    attached = json.loads(
        gateway("iam", "list-attached-user-policies", *cfg, "--user-name", "backup").out
    )
    assert [p["PolicyName"] for p in attached["AttachedPolicies"]] == ["backup-write"]
    assert json.loads(gateway("iam", "list-access-keys", *cfg, "--user-name", "backup").out) == {
        "AccessKeyMetadata": []
    }
    group = json.loads(gateway("iam", "get-group", *cfg, "--group-name", "admins").out)
    assert group["Users"] == []


def test_apply_is_idempotent(gateway: Runner, initialized: Path) -> None:
    """A second apply prints `no changes` and writes nothing (the change marker stays)."""
    assert gateway("apply", EXAMPLE_IAM, "--config", initialized).code == 0
    before = generation(initialized)
    again = gateway("apply", EXAMPLE_IAM, "--config", initialized)
    assert again.code == 0
    assert again.out == "no changes\n"
    assert generation(initialized) == before


def test_dry_run_changes_nothing(gateway: Runner, initialized: Path) -> None:
    """--dry-run prints the plan and leaves the store exactly as it was."""
    before = (export(gateway, initialized), generation(initialized))
    result = gateway("apply", EXAMPLE_IAM, "--config", initialized, "--dry-run")
    assert result.code == 0
    assert "+ create user backup" in result.out
    assert result.out.rstrip().endswith("dry run: 8 changes planned, nothing changed")
    assert "console password" not in result.out
    assert (export(gateway, initialized), generation(initialized)) == before


def test_changes_are_planned_terraform_style(
    gateway: Runner, initialized: Path, tmp_path: Path
) -> None:
    """Edits show as `~ update` and `- detach`; a new document becomes a new default version."""
    gateway("apply", EXAMPLE_IAM, "--config", initialized)
    text = EXAMPLE_IAM.read_text(encoding="utf-8")
    text = text.replace('"backup:PutObject"', '["backup:PutObject", "backup:GetObject"]')
    text = text.replace('policies = ["backup-write"]\n', "")
    text = text.replace('# groups = ["admins"]', 'groups = ["admins"]')
    result = gateway("apply", write(tmp_path, text), "--config", initialized)
    assert result.code == 0, result.err
    assert result.out.splitlines() == [
        "~ update policy backup-write (new default version v2)",
        "+ add user steve to group admins",
        "- detach policy backup-write from user backup",
        "applied 3 changes",
    ]
    cfg = ("--config", str(initialized))
    members = json.loads(gateway("iam", "get-group", *cfg, "--group-name", "admins").out)["Users"]
    assert [u["UserName"] for u in members] == ["steve"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[[users]]\nname = "steve"\ngroups = ["admins"]\n[[users]]\nname = "bob"\n'
         'groups = ["admin"]\n[[groups]]\nname = "admins"\n',
         "iam.toml: users[1].groups[0]: unknown group `admin`; did you mean `admins`?"),
        ('[[users]]\nname = "steve"\npolicies = ["AdministratorAcess"]\n',
         "iam.toml: users[0].policies[0]: unknown policy `AdministratorAcess`; "
         "did you mean `AdministratorAccess`?"),
        ('[[users]]\nname = "steve"\ngruops = []\n',
         "iam.toml: users[0].gruops: unknown key; did you mean `groups`?"),
        ('[[policies]]\nname = "p"\ndocument = { Version = "2012-10-17", Statement = '
         '[{ Effect = "Alow", Action = "*", Resource = "*" }] }\n',
         "iam.toml: policies[0].document: Statement[0].Effect"),
        ('[[users]]\nname = "bad name"\n', "iam.toml: users[0].name: 1 validation error"),
        ('[[users]\nname = "x"\n', "iam.toml: line 1: invalid TOML"),
        ('[[users]]\nname = "a"\n[[users]]\nname = "A"\n',
         "iam.toml: users[1]: duplicate user `A` (first in users[0])"),
    ],
)  # fmt: skip
def test_malformed_file_names_the_location_and_changes_nothing(
    gateway: Runner, initialized: Path, tmp_path: Path, text: str, message: str
) -> None:
    """A bad file is one error line naming file and location; the store is untouched."""
    before = generation(initialized)
    path = write(tmp_path, text)
    result = gateway("apply", path, "--config", initialized)
    assert result.code == 1
    assert result.err.startswith(f"gateway: error: {tmp_path}/{message}")
    assert result.err.count("\n") == 1 and result.out == ""
    assert generation(initialized) == before


def test_failure_midway_rolls_everything_back(
    gateway: Runner, initialized: Path, tmp_path: Path
) -> None:
    """When a change fails mid-way (inline quota), nothing of the plan remains."""
    gateway("apply", EXAMPLE_IAM, "--config", initialized)
    before = (export(gateway, initialized), generation(initialized))
    # Each document fits alone; together they exceed the 2,048-character user quota,
    # which only the service checks, after the user and the first policy were written.
    resources = ", ".join(f'"arn:aws:backup:*:*:bucket/b{i:03}/*"' for i in range(40))
    document = (
        '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", '
        f'"Action": "backup:PutObject", "Resource": [{resources}]}}]}}'
    )
    text = (
        '[[users]]\nname = "newcomer"\n[users.inline_policies]\n'
        f"one = '''{document}'''\ntwo = '''{document}'''\n"
    )
    result = gateway("apply", write(tmp_path, text), "--config", initialized)
    assert result.code == 1
    assert "+ create user newcomer" in result.out
    assert result.err.startswith("gateway: error: ")
    assert "(LimitExceeded)" in result.err and "nothing was changed" in result.err
    assert result.err.count("\n") == 1
    assert (export(gateway, initialized), generation(initialized)) == before


def test_export_round_trip(gateway: Runner, initialized: Path, tmp_path: Path) -> None:
    """export -> apply on a fresh store reproduces the state; on the same store: no changes."""
    applied = gateway("apply", write(tmp_path, FULL), "--config", initialized)
    assert applied.code == 0, applied.err
    secret = re.search(r"console password for user steve .*: (\S+)$", applied.out, re.M)
    assert secret is not None
    exported = export(gateway, initialized)
    assert secret.group(1) not in exported
    dumped = write(tmp_path, exported, "exported.toml")
    assert gateway("apply", dumped, "--config", initialized).out == "no changes\n"

    fresh = tmp_path / "fresh"
    fresh.mkdir()
    other = write_config(fresh)
    assert gateway("init", "--config", other).code == 0
    reproduced = gateway("apply", dumped, "--config", other)
    assert reproduced.code == 0, reproduced.err
    assert export(gateway, other) == exported
    as_json = write(tmp_path, export(gateway, initialized, "json"), "exported.json")
    assert gateway("apply", as_json, "--config", other).out == "no changes\n"


def test_removing_from_the_file_detaches_and_prune_deletes(
    gateway: Runner, initialized: Path, tmp_path: Path
) -> None:
    """Named entities follow the file exactly; unnamed ones go only with `prune = true`."""
    gateway("apply", write(tmp_path, FULL), "--config", initialized)
    cfg = ("--config", str(initialized))
    gateway("iam", "create-user", *cfg, "--user-name", "manual")
    text = '[[users]]\nname = "steve"\n'
    result = gateway("apply", write(tmp_path, text), *cfg)
    assert result.code == 0, result.err
    assert "- remove user steve from group admins" in result.out
    assert "- delete login profile of user steve" in result.out
    assert "~ update tags of user steve" in result.out
    assert "manual" not in result.out
    pruned = gateway("apply", write(tmp_path, "prune = true\n" + text), *cfg, "--dry-run")
    assert "- delete user manual (prune)" in pruned.out
    assert "- delete policy backup-write (prune)" in pruned.out
    assert gateway("apply", write(tmp_path, "prune = true\n" + text), *cfg).code == 0
    users = json.loads(gateway("iam", "list-users", *cfg).out)["Users"]
    assert [u["UserName"] for u in users] == ["steve"]
    policies = json.loads(gateway("iam", "list-policies", *cfg, "--scope", "Local").out)
    assert policies == {"Policies": []}
