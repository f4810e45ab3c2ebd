"""
`gateway iam <operation>`: the aws CLI's names, flags, output and error lines.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.conftest import Runner

POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "backup:PutObject", "Resource": "*"}],
}


def test_create_access_key_prints_aws_json(gateway: Runner, initialized: Path) -> None:
    """create-access-key prints AWS's AccessKey JSON with indent 4, the secret included once."""
    assert gateway("iam", "create-user", "--config", initialized, "--user-name", "backup").code == 0
    result = gateway("iam", "create-access-key", "--config", initialized, "--user-name", "backup")
    assert result.code == 0, result.err
    assert result.out.startswith('{\n    "AccessKey": {\n        "UserName": "backup",')
    key = json.loads(result.out)["AccessKey"]
    assert set(key) == {"UserName", "AccessKeyId", "Status", "SecretAccessKey", "CreateDate"}
    assert key["Status"] == "Active" and key["CreateDate"].endswith("+00:00")
    listed = gateway("iam", "list-access-keys", "--config", initialized, "--user-name", "backup")
    assert key["SecretAccessKey"] not in listed.out


def test_third_access_key_is_limit_exceeded(gateway: Runner, initialized: Path) -> None:
    """A third key fails with the aws CLI's one-line LimitExceeded report and exit 1."""
    gateway("iam", "create-user", "--config", initialized, "--user-name", "backup")
    for _ in range(2):
        assert (
            gateway(
                "iam", "create-access-key", "--config", initialized, "--user-name", "backup"
            ).code
            == 0
        )
    result = gateway("iam", "create-access-key", "--config", initialized, "--user-name", "backup")
    assert result.code == 1
    assert result.out == ""
    assert result.err == (
        "An error occurred (LimitExceeded) when calling the CreateAccessKey operation: "
        "Cannot exceed quota for AccessKeysPerUser: 2\n"
    )


def test_delete_user_lists_blockers_and_force_works(gateway: Runner, initialized: Path) -> None:
    """delete-user names what blocks it; --force removes those first."""
    cfg = ("--config", str(initialized))
    gateway("iam", "create-user", *cfg, "--user-name", "steve")
    gateway("iam", "create-access-key", *cfg, "--user-name", "steve")
    gateway("iam", "create-group", *cfg, "--group-name", "admins")
    gateway("iam", "add-user-to-group", *cfg, "--group-name", "admins", "--user-name", "steve")
    refused = gateway("iam", "delete-user", *cfg, "--user-name", "steve")
    assert refused.code == 1
    assert refused.err.startswith("An error occurred (DeleteConflict) when calling the DeleteUser")
    assert "access keys" in refused.err and "group memberships" in refused.err
    forced = gateway("iam", "delete-user", *cfg, "--user-name", "steve", "--force")
    assert forced.code == 0 and forced.out == ""
    assert json.loads(gateway("iam", "list-users", *cfg).out) == {"Users": []}


def test_policy_document_from_file_and_inline(
    gateway: Runner, initialized: Path, tmp_path: Path
) -> None:
    """--policy-document takes file://PATH or inline JSON; get-user-policy prints it decoded."""
    cfg = ("--config", str(initialized))
    document = tmp_path / "policy.json"
    document.write_text(json.dumps(POLICY), encoding="utf-8")
    gateway("iam", "create-user", *cfg, "--user-name", "backup")
    put = gateway(
        "iam", "put-user-policy", *cfg, "--user-name", "backup", "--policy-name", "write",
        "--policy-document", f"file://{document}",
    )  # fmt: skip
    assert put.code == 0, put.err
    got = gateway("iam", "get-user-policy", *cfg, "--user-name", "backup", "--policy-name", "write")
    assert json.loads(got.out)["PolicyDocument"] == POLICY
    created = gateway(
        "iam", "create-policy", *cfg, "--policy-name", "backup-write",
        "--policy-document", json.dumps(POLICY), "--description", "write backups",
    )  # fmt: skip
    arn = json.loads(created.out)["Policy"]["Arn"]
    version = gateway(
        "iam", "create-policy-version", *cfg, "--policy-arn", arn,
        "--policy-document", json.dumps(POLICY), "--set-as-default",
    )  # fmt: skip
    assert json.loads(version.out)["PolicyVersion"]["IsDefaultVersion"] is True
    attach = gateway(
        "iam", "attach-user-policy", *cfg, "--user-name", "backup", "--policy-arn", arn
    )
    assert attach.code == 0 and attach.out == ""
    attached = gateway("iam", "list-attached-user-policies", *cfg, "--user-name", "backup")
    assert json.loads(attached.out) == {
        "AttachedPolicies": [{"PolicyName": "backup-write", "PolicyArn": arn}]
    }


def test_tags_in_shorthand_and_json(gateway: Runner, initialized: Path) -> None:
    """--tags takes the aws CLI's Key=k,Value=v shorthand and its JSON form."""
    cfg = ("--config", str(initialized))
    result = gateway(
        "iam", "create-user", *cfg, "--user-name", "bob",
        "--tags", "Key=team,Value=ops", '[{"Key": "cost", "Value": "42"}]',
    )  # fmt: skip
    assert result.code == 0, result.err
    tags = json.loads(gateway("iam", "list-user-tags", *cfg, "--user-name", "bob").out)
    assert tags == {"Tags": [{"Key": "team", "Value": "ops"}, {"Key": "cost", "Value": "42"}]}
    gateway("iam", "untag-user", *cfg, "--user-name", "bob", "--tag-keys", "team", "cost")
    assert json.loads(gateway("iam", "list-user-tags", *cfg, "--user-name", "bob").out) == {
        "Tags": []
    }


def test_boolean_and_integer_flags(gateway: Runner, initialized: Path) -> None:
    """Booleans are --x/--no-x, integers are checked, enums list their choices."""
    cfg = ("--config", str(initialized))
    gateway("iam", "create-user", *cfg, "--user-name", "steve")
    created = gateway(
        "iam", "create-login-profile", *cfg, "--user-name", "steve",
        "--password", "Initial-Passw0rd!", "--password-reset-required",
    )  # fmt: skip
    assert json.loads(created.out)["LoginProfile"]["PasswordResetRequired"] is True
    gateway(
        "iam", "update-login-profile", *cfg, "--user-name", "steve",
        "--no-password-reset-required",
    )  # fmt: skip
    profile = json.loads(gateway("iam", "get-login-profile", *cfg, "--user-name", "steve").out)
    assert profile["LoginProfile"]["PasswordResetRequired"] is False
    gateway(
        "iam", "update-account-password-policy", *cfg, "--minimum-password-length", "14",
        "--require-symbols",
    )  # fmt: skip
    policy = json.loads(gateway("iam", "get-account-password-policy", *cfg).out)
    assert policy["PasswordPolicy"]["MinimumPasswordLength"] == 14
    assert policy["PasswordPolicy"]["RequireSymbols"] is True


def test_output_table_and_text(gateway: Runner, initialized: Path) -> None:
    """--output table aligns columns with a header; --output text is tab-separated."""
    cfg = ("--config", str(initialized))
    gateway("iam", "create-user", *cfg, "--user-name", "steve")
    gateway("iam", "create-user", *cfg, "--user-name", "backup", "--path", "/programs/")
    table = gateway("iam", "list-users", *cfg, "--output", "table").out.splitlines()
    assert table[0] == "Users"
    assert table[1].split() == ["Path", "UserName", "UserId", "Arn", "CreateDate"]
    assert table[2].split()[:2] == ["/programs/", "backup"]
    assert table[3].split()[:2] == ["/", "steve"]
    assert table[1].index("UserName") == table[2].index("backup") == table[3].index("steve")
    text = gateway("iam", "list-users", *cfg, "--output", "text").out.splitlines()
    assert text[0].split("\t")[0] == "USERS" and text[0].split("\t")[-1] == "backup"


def test_role_flags(gateway: Runner, initialized: Path, tmp_path: Path) -> None:
    """create-role takes the trust policy, description and max session duration."""
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
             "Action": "sts:AssumeRole"}
        ],
    }  # fmt: skip
    cfg = ("--config", str(initialized))
    created = gateway(
        "iam", "create-role", *cfg, "--role-name", "backup-writer",
        "--assume-role-policy-document", json.dumps(trust), "--max-session-duration", "7200",
    )  # fmt: skip
    assert created.code == 0, created.err
    role = json.loads(gateway("iam", "get-role", *cfg, "--role-name", "backup-writer").out)["Role"]
    assert role["AssumeRolePolicyDocument"] == trust and role["MaxSessionDuration"] == 7200


@pytest.mark.parametrize(
    ("argv", "code", "start"),
    [
        (["iam", "get-user", "--user-name", "bob"], 1,
         "An error occurred (NoSuchEntity) when calling the GetUser operation: "
         "The user with name bob cannot be found."),
        (["iam", "get-user"], 2, "gateway: error: iam get-user: the following arguments"),
        (["iam", "creat-user"], 2, "gateway: error: iam: unknown command `creat-user`; did you"),
        (["iam", "update-role", "--role-name", "r", "--max-session-duration", "1h"], 2,
         "gateway: error: iam update-role: argument --max-session-duration: expected an integer"),
        (["iam", "put-user-policy", "--user-name", "u", "--policy-name", "p",
          "--policy-document", "file://missing.json"], 2,
         "gateway: error: iam put-user-policy: argument --policy-document: cannot read "
         "`file://missing.json`: no such file"),
        (["iam", "create-policy", "--policy-name", "p", "--policy-document", "{not json"], 1,
         "An error occurred (MalformedPolicyDocument) when calling the CreatePolicy operation"),
        (["iam", "update-access-key", "--user-name", "u", "--access-key-id", "A",
          "--status", "On"], 2, "gateway: error: iam update-access-key: argument --status"),
        (["iam", "create-user", "--user-name", "bad name"], 1,
         "An error occurred (ValidationError) when calling the CreateUser operation"),
        (["iam", "list-users", "--account", "nosuch"], 1, "gateway: error: no account `nosuch`"),
        (["apply", "missing.toml"], 1, "gateway: error: missing.toml: file not found"),
        (["nonsense"], 2, "gateway: error: unknown command `nonsense`"),
    ],
)  # fmt: skip
def test_every_error_is_one_line(
    gateway: Runner, initialized: Path, argv: list[str], code: int, start: str
) -> None:
    """Each error path prints exactly one line on stderr, no traceback, with its exit status."""
    result = gateway(*argv, "--config", initialized) if argv != ["nonsense"] else gateway(*argv)
    assert result.code == code
    assert result.err.startswith(start)
    assert result.err.count("\n") == 1
    assert "Traceback" not in result.err and result.out == ""


def test_internal_error_exits_70_without_traceback(
    gateway: Runner, initialized: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An unexpected exception is one `internal error` line and exit status 70."""

    async def broken(*args: object, **kwargs: object) -> dict[str, object]:
        raise RuntimeError("secret-ish detail")

    monkeypatch.setattr("gateway.cli.iam.invoke", broken)
    result = gateway("iam", "list-users", "--config", initialized)
    assert result.code == 70
    assert result.err == (
        "gateway: internal error: RuntimeError; this is a bug "
        "(set GATEWAY_DEBUG=1 to see the traceback)\n"
    )


def test_interrupt_exits_130(
    gateway: Runner, initialized: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C is reported in one line with exit status 130, not swallowed."""

    async def interrupted(*args: object, **kwargs: object) -> dict[str, object]:
        raise KeyboardInterrupt

    monkeypatch.setattr("gateway.cli.iam.invoke", interrupted)
    result = gateway("iam", "list-users", "--config", initialized)
    assert result.code == 130
    assert result.err == "gateway: interrupted\n"


def test_several_accounts_need_account(gateway: Runner, initialized: Path) -> None:
    """With two accounts in the store, --account picks one by alias; without it, an error."""
    import asyncio

    from gateway.config import load_config
    from gateway.iam import create_account
    from gateway.runtime import store_from_settings

    async def second() -> None:
        store = await store_from_settings(load_config(initialized))
        try:
            await create_account(
                store, root_email="two@example.com", root_password="Second-Passw0rd!", alias="two"
            )
        finally:
            await store.close()

    asyncio.run(second())
    ambiguous = gateway("iam", "list-users", "--config", initialized)
    assert ambiguous.code == 1 and "--account ID_OR_ALIAS" in ambiguous.err
    created = gateway(
        "iam", "create-user", "--config", initialized, "--account", "two", "--user-name", "x"
    )
    assert created.code == 0, created.err
    assert ":user/x" in created.out
    listed = gateway("iam", "list-users", "--config", initialized, "--account", "example")
    assert json.loads(listed.out) == {"Users": []}
