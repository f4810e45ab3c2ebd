"""
Step 1 of ``gateway demo``: the working directory, the store and the walkthrough's IAM.

``write_config()`` writes ``gateway.toml`` (SQLite store, master key, audit log,
and the ``backup`` upstream on the demo object store); ``set_up()`` creates the
store, the master key (mode 0600) and the account with its root user (the
password is printed once), seeds the built-in policies, applies the
walkthrough's IAM file and gives user ``backup`` an access key (the secret is
printed once and saved like the AWS console's CSV download, mode 0600). What an
earlier run made is reused. ``say()`` and ``shown()`` print the demo's output.

The outermost layer, like the rest of ``gateway.cli``; it applies the IAM file
with ``gateway.cli.apply``.
"""

from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass, field
from pathlib import Path

from gateway.cli.apply import Change, apply
from gateway.cli.iamfile import IAMFile
from gateway.cli.init import DEFAULT_ROOT_EMAIL, sign_in_url
from gateway.config import Settings, load_config
from gateway.errors import ConfigError
from gateway.iam import IAM, create_account, list_accounts, write_master_key
from gateway.iam.models import Account
from gateway.iam.passwords import generate_password
from gateway.runtime import cipher_from_settings, store_from_settings
from gateway.store import Store

HOST = "127.0.0.1"
PROGRAM = "backup"  # the walkthrough's program user, and its upstream and service name
CSV_HEADER = ("Access key ID", "Secret access key")  # as the AWS console's download
SAMPLE = "hello from the backup job\n"
PACKAGED_IAM_FILE = Path(__file__).resolve().parents[1] / "demo" / "iam.toml"
SOURCE_IAM_FILE = Path(__file__).resolve().parents[2] / "config" / "iam.toml"

CONFIG_TEMPLATE = """\
# Written by `gateway demo` on every run (ports from its flags). For a deployment,
# start from config/gateway.toml, which documents every key.
# Relative paths are resolved against the directory of this file.

[server]
host = "{host}"
port = {port}
public_url = "http://{host}:{port}"

[store]
url = "sqlite:///gateway.db"

[secrets]
master_key_file = "master.key"
master_key_env = "GATEWAY_DEMO_MASTER_KEY"

[audit]
sink = "file"
file = "audit.jsonl"

[[upstreams]]
name = "backup"
url = "http://{host}:{upstream_port}"
prefix = "/backup"
service = "backup"
strip_prefix = true

[[upstreams.routes]]
methods = ["PUT"]
path = "/buckets/{{bucket}}/objects/{{key:path}}"
action = "backup:PutObject"
resource = "arn:aws:backup:{{region}}:{{account}}:bucket/{{bucket}}/{{key}}"
condition_keys = {{ "backup:BucketName" = "{{bucket}}" }}

[[upstreams.routes]]
methods = ["GET", "HEAD"]
path = "/buckets/{{bucket}}/objects/{{key:path}}"
action = "backup:GetObject"
resource = "arn:aws:backup:{{region}}:{{account}}:bucket/{{bucket}}/{{key}}"
"""


@dataclass(frozen=True, slots=True)
class DemoPaths:
    """
    Where the demo keeps its files.
    """

    root: Path

    @property
    def config(self) -> Path:
        return self.root / "gateway.toml"

    @property
    def audit(self) -> Path:
        return self.root / "audit.jsonl"

    @property
    def credentials(self) -> Path:
        return self.root / f"{PROGRAM}-credentials.csv"

    @property
    def objects(self) -> Path:
        return self.root / "objects"

    @property
    def sample(self) -> Path:
        return self.root / "hello.txt"


@dataclass(frozen=True, slots=True)
class Credentials:
    """
    User ``backup``'s access key, as the demo's own client holds it.
    """

    access_key_id: str
    secret_access_key: str = field(repr=False)


def demo_iam_file() -> Path:
    """
    Return the walkthrough's IAM file: config/iam.toml in a source tree, else the packaged copy.
    """
    return SOURCE_IAM_FILE if SOURCE_IAM_FILE.is_file() else PACKAGED_IAM_FILE


def write_config(paths: DemoPaths, port: int, upstream_port: int) -> Settings:
    """
    Write the demo's ``gateway.toml`` (and the sample file) and load it.

    Raises:
        ConfigError: the directory or its files cannot be written.
    """
    try:
        paths.root.mkdir(parents=True, exist_ok=True)
        paths.config.write_text(
            CONFIG_TEMPLATE.format(host=HOST, port=port, upstream_port=upstream_port),
            encoding="utf-8",
        )
        if not paths.sample.exists():
            paths.sample.write_text(SAMPLE, encoding="utf-8")
    except OSError as exc:
        reason = (exc.strerror or type(exc).__name__).lower()
        raise ConfigError(
            f"cannot write the demo's files: {reason}", file=str(paths.root)
        ) from None
    say(f"   wrote {shown(paths.config)}")
    # The demo is self-contained: GATEWAY_* overrides meant for another setup do not apply.
    return load_config(paths.config, environ={})


async def set_up(
    settings: Settings, paths: DemoPaths, spec: IAMFile, iam_file: Path
) -> tuple[Credentials, str]:
    """
    Create or reuse the store, master key, account, IAM and access key.

    Returns:
        User ``backup``'s access key and the account's console sign-in URL.

    Raises:
        ConfigError: the store exists but its master key is missing.
    """
    store = await store_from_settings(settings)
    try:
        applied = await store.migrate()
        if applied:
            say(f"   created the store {settings.store.display_url} (schema {max(applied)})")
        accounts = await list_accounts(store)
        key_file = settings.secrets.master_key_file
        if not key_file.exists():
            if accounts:
                # SECURITY: a new key would make every stored secret undecryptable.
                raise ConfigError(
                    "the demo store exists but its master key is missing; delete the "
                    "directory to start over",
                    file=str(key_file),
                )
            write_master_key(key_file)
            say(f"   created the master key {shown(key_file)} (mode 0600)")
        account = accounts[0] if accounts else await _create_account(store, spec)
        iam = IAM(store, cipher_from_settings(settings), account_id=account.account_id)
        await iam.seed_builtin_policies()
        if accounts:
            say(
                f"   reusing account {account.account_id}, root user {account.root_email} "
                "(its password was printed at the first run)"
            )
        copy = " (the packaged copy of config/iam.toml)" if iam_file == PACKAGED_IAM_FILE else ""
        say(f"   applying {shown(iam_file)}{copy}")
        changes, notices = await apply(iam, spec, report=_print_plan)
        if not changes:
            say("     no changes")
        for notice in notices:
            say(f"     {notice.text}")
        signin = sign_in_url(settings, await iam.get_account())
        say(f"   sign-in URL: {signin}")
        return await _access_key(iam, paths), signin
    finally:
        await store.close()


async def _create_account(store: Store, spec: IAMFile) -> Account:
    password = generate_password(None)
    account = await create_account(
        store, root_email=DEFAULT_ROOT_EMAIL, root_password=password, alias=spec.account_alias
    )
    say(f"   created account {account.account_id} with its root user {account.root_email}")
    say(f"     root password (shown once): {password}")
    return account


def _print_plan(changes: list[Change]) -> None:
    for change in changes:
        say(f"     {change}")


async def _access_key(iam: IAM, paths: DemoPaths) -> Credentials:
    """
    Reuse the key saved in the CSV file, or replace the user's keys with a new one.
    """
    saved = _read_credentials(paths.credentials)
    keys = await iam.list_access_keys(PROGRAM)
    if saved is not None and saved.access_key_id in {key.access_key_id for key in keys}:
        say(
            f"   reusing access key {saved.access_key_id} of user {PROGRAM} "
            f"(its secret is in {shown(paths.credentials)})"
        )
        return saved
    for key in keys:
        # The demo's own keys; their secrets were lost with the CSV file.
        await iam.delete_access_key(PROGRAM, key.access_key_id)
        say(f"   deleted access key {key.access_key_id} of user {PROGRAM} (secret not saved)")
    new = await iam.create_access_key(PROGRAM)
    credentials = Credentials(new.key.access_key_id, new.secret_access_key)
    _write_credentials(paths.credentials, credentials)
    say(f"   created access key {credentials.access_key_id} for user {PROGRAM}")
    say(f"     secret access key (shown once): {credentials.secret_access_key}")
    say(f"     saved as {shown(paths.credentials)} (mode 0600), like the console's download")
    return credentials


def _read_credentials(path: Path) -> Credentials | None:
    try:
        rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8-sig"))))
    except (OSError, UnicodeDecodeError, csv.Error):
        return None
    if len(rows) != 2 or tuple(rows[0]) != CSV_HEADER or len(rows[1]) != 2:
        return None
    return Credentials(rows[1][0], rows[1][1])


def _write_credentials(path: Path, credentials: Credentials) -> None:
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    writer.writerow((credentials.access_key_id, credentials.secret_access_key))
    # SECURITY: created 0600 and re-chmodded, in case an older file was more open.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, text.getvalue().encode("utf-8"))
    finally:
        os.close(fd)


def say(text: str) -> None:
    """
    Print one line of the demo's output.
    """
    # Flushed line by line: the demo's output is read live, often through a pipe (make, tee).
    print(text, flush=True)


def shown(path: Path) -> str:
    """
    ``path`` as a user would type it: relative to the working directory when inside it.
    """
    absolute = path.absolute()
    try:
        return str(absolute.relative_to(Path.cwd()))
    except ValueError:
        return str(absolute)
