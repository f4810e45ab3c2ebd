"""
Tests for gateway.config: loading, validation messages, env overrides, Secret.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

from gateway.config import (
    _SECTION_KEYS,
    DEFAULT_MAX_BODY_BYTES,
    RouteSettings,
    Secret,
    Settings,
    default_settings,
    load_config,
    settings_from_mapping,
)
from gateway.config import _parse_bool as parse_bool
from gateway.errors import ConfigError
from tests.conftest import SelfSigned

EXAMPLE = Path(__file__).resolve().parents[1] / "config" / "gateway.toml"
FILE = "gateway.toml"


# --- helpers and fixtures ---------------------------------------------------------------------


def build(
    data: Mapping[str, object],
    *,
    environ: Mapping[str, str] | None = None,
    base_dir: Path = Path("/srv/gateway"),
) -> Settings:
    return settings_from_mapping(data, file=FILE, base_dir=base_dir, environ=environ or {})


def failure(data: Mapping[str, object], environ: Mapping[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as info:
        build(data, environ=environ)
    return str(info.value)


def route(**overrides: object) -> dict[str, object]:
    """A valid route table; an override of None removes the key."""
    table: dict[str, object] = {
        "methods": ["PUT"],
        "path": "/buckets/{bucket}/objects/{key:path}",
        "action": "backup:PutObject",
        "resource": "arn:aws:backup:{region}:{account}:bucket/{bucket}/{key}",
        **overrides,
    }
    return {key: value for key, value in table.items() if value is not None}


def upstream(**overrides: object) -> dict[str, object]:
    """A valid upstream table; an override of None removes the key."""
    table: dict[str, object] = {
        "name": "backup",
        "url": "http://127.0.0.1:9000",
        "prefix": "/backup",
        "service": "backup",
        "routes": [route()],
        **overrides,
    }
    return {key: value for key, value in table.items() if value is not None}


def with_routes(*routes: dict[str, object]) -> dict[str, object]:
    return {"upstreams": [upstream(routes=list(routes))]}


@pytest.fixture
def write_config(tmp_path: Path) -> Callable[..., Path]:
    """Write a config file under tmp_path and return its path."""

    def write(text: str, name: str = "gateway.toml") -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return path

    return write


# --- the example file ---------------------------------------------------------------------------


def test_example_file_loads() -> None:
    """The shipped config/gateway.toml is valid and describes the backup upstream."""
    settings = load_config(EXAMPLE, environ={})
    assert settings.source == EXAMPLE
    assert settings.store.kind == "sqlite"
    assert settings.store.sqlite_path == EXAMPLE.parent / "var" / "gateway.db"
    assert settings.secrets.master_key_file == EXAMPLE.parent / "var" / "master.key"
    (backup,) = settings.upstreams
    assert (backup.name, backup.url, backup.prefix, backup.service) == (
        "backup",
        "http://127.0.0.1:9000",
        "/backup",
        "backup",
    )
    assert backup.routes[0] == RouteSettings(
        methods=("PUT",),
        path="/buckets/{bucket}/objects/{key:path}",
        action="backup:PutObject",
        resource="arn:aws:backup:{region}:{account}:bucket/{bucket}/{key}",
        condition_keys=(("backup:BucketName", "{bucket}"),),
    )


def test_example_file_shows_the_defaults() -> None:
    """Every scalar section of the example equals the built-in defaults."""
    example = load_config(EXAMPLE, environ={})
    defaults = default_settings(EXAMPLE.parent)
    for section in _SECTION_KEYS:
        assert getattr(example, section) == getattr(defaults, section), section


@pytest.mark.parametrize(
    ("section", "key"), [(s, k) for s, keys in _SECTION_KEYS.items() for k in keys]
)
def test_example_file_documents_every_key(section: str, key: str) -> None:
    """Each key of each section appears (set or commented out) in its example section."""
    text = EXAMPLE.read_text(encoding="utf-8")
    body = text.split(f"[{section}]\n", 1)[1].split("\n[", 1)[0]
    assert re.search(rf"^(# )?{key} = ", body, re.MULTILINE), f"{section}.{key}"


def test_defaults() -> None:
    """An empty mapping gives the documented defaults, paths under base_dir."""
    settings = default_settings(Path("/srv/gateway"))
    assert settings.server.port == 8080
    assert settings.server.public_url == "http://127.0.0.1:8080"
    assert settings.server.max_body_bytes == DEFAULT_MAX_BODY_BYTES == 10 * 1024 * 1024
    assert not settings.server.is_https
    assert settings.store.sqlite_path == Path("/srv/gateway/var/gateway.db")
    assert settings.store.dsn.reveal() == "sqlite:////srv/gateway/var/gateway.db"
    assert settings.secrets.master_key_file == Path("/srv/gateway/var/master.key")
    assert settings.secrets.master_key is None
    assert settings.audit.sink == "stdout"
    assert settings.upstreams == ()
    assert settings.source is None


def test_settings_are_frozen() -> None:
    """Settings cannot be changed after validation."""
    settings = default_settings()
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.server.port = 1  # type: ignore[misc]


# --- finding and reading the file ---------------------------------------------------------------


def test_missing_file_says_how_to_create_one(tmp_path: Path) -> None:
    """A missing file is named, with the `gateway init` command that creates it."""
    path = tmp_path / "nope.toml"
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={})
    assert str(info.value) == (
        f"{path}: file not found; create one with `gateway init --config {path}`"
    )
    assert info.value.file == str(path)


def test_path_from_gateway_config_env(write_config: Callable[..., Path]) -> None:
    """Without a path, $GATEWAY_CONFIG names the file."""
    path = write_config("[server]\nport = 9001\n", "etc/custom.toml")
    settings = load_config(environ={"GATEWAY_CONFIG": str(path)})
    assert settings.server.port == 9001
    assert settings.source == path


def test_path_defaults_to_gateway_toml_in_cwd(
    write_config: Callable[..., Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without a path or $GATEWAY_CONFIG, ./gateway.toml is read."""
    write_config("[server]\nport = 9002\n")
    monkeypatch.chdir(tmp_path)
    assert load_config(environ={}).server.port == 9002


def test_directory_is_not_a_config_file(tmp_path: Path) -> None:
    """A directory given as the config file gets a clear error."""
    with pytest.raises(ConfigError, match="is a directory, expected a TOML file"):
        load_config(tmp_path, environ={})


def test_toml_syntax_error_names_line_and_column(write_config: Callable[..., Path]) -> None:
    """A TOML syntax error reports the file, line and column."""
    path = write_config("[server]\nport = = 1\n")
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={})
    assert str(info.value) == f"{path}: line 2, column 8: invalid TOML: invalid value"


def test_toml_error_at_end_of_file(write_config: Callable[..., Path]) -> None:
    """A TOML error found at the end of the file says so."""
    path = write_config('[server]\nhost = "127.0.0.1')
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={})
    assert str(info.value) == f"{path}: end of file: invalid TOML: unterminated string"


def test_non_utf8_file(write_config: Callable[..., Path]) -> None:
    """A file that is not UTF-8 is a config error, not a traceback."""
    path = write_config("")
    path.write_bytes(b"[server]\nhost = '\xff'\n")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(path, environ={})


def test_unknown_key_in_file_names_the_file(write_config: Callable[..., Path]) -> None:
    """An unknown key gets the file, the dotted key and a did-you-mean."""
    path = write_config('[store]\nuri = "sqlite:///x.db"\n', "config/gateway.toml")
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={})
    assert str(info.value) == f"{path}: store.uri: unknown key; did you mean `url`?"
    assert (info.value.file, info.value.key) == (str(path), "store.uri")


# --- relative paths -----------------------------------------------------------------------------


def test_relative_paths_follow_the_config_file(
    write_config: Callable[..., Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Relative store, master key and audit paths resolve against the file's directory."""
    path = write_config(
        '[store]\nurl = "sqlite:///data/gw.db"\n'
        '[secrets]\nmaster_key_file = "keys/master.key"\n'
        '[audit]\nsink = "file"\nfile = "../logs/audit.jsonl"\n',
        "etc/gateway.toml",
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    settings = load_config(path, environ={})
    assert settings.store.sqlite_path == tmp_path / "etc" / "data" / "gw.db"
    assert settings.secrets.master_key_file == tmp_path / "etc" / "keys" / "master.key"
    assert settings.audit.file == tmp_path / "logs" / "audit.jsonl"


def test_relative_config_path_is_made_absolute(
    write_config: Callable[..., Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A relative config path resolves against the working directory, once."""
    write_config("", "etc/gateway.toml")
    monkeypatch.chdir(tmp_path)
    settings = load_config("etc/gateway.toml", environ={})
    assert settings.source == tmp_path / "etc" / "gateway.toml"
    assert settings.store.sqlite_path == tmp_path / "etc" / "var" / "gateway.db"


def test_absolute_and_memory_sqlite_urls(tmp_path: Path) -> None:
    """`sqlite:////abs` is absolute and `sqlite:///:memory:` has no path."""
    absolute = build({"store": {"url": f"sqlite:///{tmp_path}/gw.db"}})
    assert absolute.store.sqlite_path == tmp_path / "gw.db"
    memory = build({"store": {"url": "sqlite:///:memory:"}})
    assert memory.store.sqlite_path is None
    assert memory.store.is_memory
    assert memory.store.display_url == "sqlite:///:memory:"


def test_path_objects_are_accepted_from_python(tmp_path: Path) -> None:
    """settings_from_mapping takes Path values for path keys."""
    settings = build({"secrets": {"master_key_file": tmp_path / "k"}})
    assert settings.secrets.master_key_file == tmp_path / "k"


# --- store --------------------------------------------------------------------------------------


# The ids avoid the bare keyword `postgres`, which marks tests that need a live server.
@pytest.mark.parametrize("scheme", ["postgresql", "postgres"], ids=["postgresql", "alias"])
def test_postgresql_url(scheme: str) -> None:
    """A PostgreSQL URL keeps its password inside the Secret and out of display_url."""
    url = f"{scheme}://gw:hunter2@db.internal:5433/gateway?sslmode=require"
    store = build({"store": {"url": url}}).store
    assert store.kind == "postgresql"
    assert store.sqlite_path is None
    assert store.dsn.reveal() == url
    assert store.display_url == f"{scheme}://db.internal:5433/gateway"
    assert "hunter2" not in repr(store)


def test_store_errors_never_echo_the_url() -> None:
    """A bad PostgreSQL URL is rejected without showing its password."""
    message = failure({"store": {"url": "postgresql://gw:hunter2@db:port/gateway"}})
    assert message.startswith("gateway.toml: store.url: invalid PostgreSQL URL")
    assert "hunter2" not in message
    message = failure({}, {"GATEWAY_STORE_URL": "mysql://gw:hunter2@db/gateway"})
    assert message == (
        "GATEWAY_STORE_URL: unsupported scheme `mysql`; expected `sqlite` or `postgresql`"
    )


# --- server -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("server", "public_url"),
    [
        ({}, "http://127.0.0.1:8080"),
        ({"port": 9000}, "http://127.0.0.1:9000"),
        ({"host": "0.0.0.0"}, "http://127.0.0.1:8080"),  # noqa: S104 - the case under test
        ({"host": "::"}, "http://[::1]:8080"),
        ({"host": "gw.internal"}, "http://gw.internal:8080"),
        ({"public_url": "https://gw.example.com/"}, "https://gw.example.com"),
        ({"public_url": "https://gw.example.com/iam/"}, "https://gw.example.com/iam"),
    ],
)
def test_public_url(server: dict[str, object], public_url: str) -> None:
    """public_url defaults to the listener (loopback for wildcard binds) and loses a final /."""
    assert build({"server": server}).server.public_url == public_url


def test_is_https() -> None:
    """is_https follows the public URL's scheme."""
    assert build({"server": {"public_url": "https://gw.example.com"}}).server.is_https
    assert not build({"server": {"public_url": "http://gw.example.com"}}).server.is_https


@pytest.mark.parametrize("region", ["us-east-1", "eu-central-2", "us-gov-west-1", "ap-southeast-4"])
def test_valid_regions(region: str) -> None:
    """AWS-shaped region names are accepted."""
    assert build({"server": {"region": region}}).server.region == region


# --- upstreams ----------------------------------------------------------------------------------


def test_upstream_normalization() -> None:
    """Hosts are lowercased, a trailing / leaves prefixes and methods are uppercased."""
    settings = build(
        {
            "upstreams": [
                upstream(prefix="/backup/", routes=[route(methods=["put", "post"])]),
                upstream(name="files", prefix=None, host="Files.Internal:8443", routes=[]),
                upstream(name="everything", prefix="/", routes=[route(methods=["*"])]),
            ]
        }
    )
    backup, files, everything = settings.upstreams
    assert backup.prefix == "/backup"
    assert backup.routes[0].methods == ("PUT", "POST")
    assert (files.host, files.prefix, files.routes) == ("files.internal:8443", None, ())
    assert everything.prefix == "/"
    assert everything.routes[0].methods == ("*",)


def test_upstream_defaults() -> None:
    """Upstreams strip their prefix and have timeouts unless told otherwise."""
    (backup,) = build({"upstreams": [upstream()]}).upstreams
    assert backup.strip_prefix is True
    assert (backup.connect_timeout_seconds, backup.read_timeout_seconds) == (5.0, 30.0)
    assert backup.routes[0].unsigned_payload is False
    assert backup.routes[0].condition_keys == ()


def test_upstream_ca_file(tmp_path: Path, self_signed: SelfSigned) -> None:
    """An https upstream's CA bundle is resolved against the config's directory and read."""
    cert_file, _ = self_signed(tmp_path / "tls")
    data = {"upstreams": [upstream(url="https://files.internal", ca_file="tls/cert.pem")]}
    (files,) = build(data, base_dir=tmp_path).upstreams
    assert files.ca_file == cert_file.resolve()
    assert build({"upstreams": [upstream()]}).upstreams[0].ca_file is None


def test_upstream_ca_file_errors(tmp_path: Path) -> None:
    """A CA bundle on an http upstream, a missing one or one without a certificate is refused."""
    (tmp_path / "empty.pem").write_text("not a certificate\n")

    def error(url: str, ca_file: str) -> str:
        with pytest.raises(ConfigError) as info:
            build({"upstreams": [upstream(url=url, ca_file=ca_file)]}, base_dir=tmp_path)
        return str(info.value)

    key = f"{FILE}: upstreams[0].ca_file:"
    assert error("http://files.internal", "empty.pem") == f"{key} is only for `https` upstreams"
    missing = error("https://files.internal", "missing.pem")
    assert missing.startswith(f"{key} cannot read `{tmp_path / 'missing.pem'}`")
    empty = error("https://files.internal", "empty.pem")
    assert (
        empty == f"{key} `{tmp_path / 'empty.pem'}` holds no PEM certificate (expected a CA bundle)"
    )


def test_route_star_resource_and_condition_keys() -> None:
    """A route may use `*` as resource and template its condition keys."""
    settings = build(
        with_routes(
            route(
                methods=["GET"],
                path="/buckets/{bucket}",
                action="backup:ListObjects",
                resource="*",
                condition_keys={"backup:BucketName": "{bucket}", "backup:Region": "{region}"},
                unsigned_payload=True,
            )
        )
    )
    (listing,) = settings.upstreams[0].routes
    assert listing.resource == "*"
    assert listing.condition_keys == (
        ("backup:BucketName", "{bucket}"),
        ("backup:Region", "{region}"),
    )
    assert listing.unsigned_payload is True


# --- every validation rule, with its exact message ----------------------------------------------

CASES: list[tuple[dict[str, object], str]] = [
    # sections and keys
    ({"storage": {}}, "storage: unknown section; did you mean `store`?"),
    ({"store": {"uri": "x"}}, "store.uri: unknown key; did you mean `url`?"),
    (
        {"session": {"zzz": 1}},
        "session.zzz: unknown key; expected `cookie_name`, "
        "`idle_timeout_seconds` or `absolute_timeout_seconds`",
    ),
    ({"server": 5}, "server: expected a table, got integer `5`"),
    # types
    ({"server": {"port": "abc"}}, "server.port: expected an integer, got string `abc`"),
    ({"server": {"port": True}}, "server.port: expected an integer, got boolean `true`"),
    ({"server": {"port": 8080.0}}, "server.port: expected an integer, got float `8080.0`"),
    ({"server": {"port": [8080]}}, "server.port: expected an integer, got an array"),
    ({"server": {"host": 5}}, "server.host: expected a string, got integer `5`"),
    ({"server": {"host": ""}}, "server.host: must not be empty"),
    (
        {"server": {"shutdown_grace_seconds": "10"}},
        "server.shutdown_grace_seconds: expected a number, got string `10`",
    ),
    (
        {"server": {"shutdown_grace_seconds": float("nan")}},
        "server.shutdown_grace_seconds: expected a number, got float `nan`",
    ),
    (
        {"secrets": {"master_key_file": 5}},
        "secrets.master_key_file: expected a path string, got integer `5`",
    ),
    ({"secrets": {"master_key_file": ""}}, "secrets.master_key_file: must not be empty"),
    # server
    ({"server": {"port": 0}}, "server.port: must be between 1 and 65535, got `0`"),
    ({"server": {"port": 65536}}, "server.port: must be between 1 and 65535, got `65536`"),
    (
        {"server": {"host": "not a host"}},
        "server.host: expected a hostname or IP address, got `not a host`",
    ),
    (
        {"server": {"public_url": "ftp://gw"}},
        "server.public_url: expected an absolute `http` or `https` URL, got `ftp://gw`",
    ),
    (
        {"server": {"public_url": "/gateway"}},
        "server.public_url: expected an absolute `http` or `https` URL, got `/gateway`",
    ),
    (
        {"server": {"public_url": "http://gw/?a=1"}},
        "server.public_url: must not have a query or fragment, got `http://gw/?a=1`",
    ),
    (
        {"server": {"public_url": "http://gw/#top"}},
        "server.public_url: must not have a query or fragment, got `http://gw/#top`",
    ),
    (
        {"server": {"public_url": "http://u:hunter2@gw"}},
        "server.public_url: must not contain credentials (`user:password@`)",
    ),
    (
        {"server": {"region": "US-East-1"}},
        "server.region: expected an AWS region such as `us-east-1`, got `US-East-1`",
    ),
    (
        {"server": {"region": "useast1"}},
        "server.region: expected an AWS region such as `us-east-1`, got `useast1`",
    ),
    (
        {"server": {"shutdown_grace_seconds": -1}},
        "server.shutdown_grace_seconds: must not be negative, got `-1`",
    ),
    ({"server": {"max_body_bytes": 0}}, "server.max_body_bytes: must be at least 1, got `0`"),
    # store
    (
        {"store": {"url": "mysql://db/gateway"}},
        "store.url: unsupported scheme `mysql`; expected `sqlite` or `postgresql`",
    ),
    (
        {"store": {"url": "var/gateway.db"}},
        "store.url: expected a URL such as "
        "`sqlite:///var/gateway.db` or `postgresql://host/dbname`",
    ),
    (
        {"store": {"url": "sqlite://host/gateway.db"}},
        "store.url: expected "
        "`sqlite:///relative/path`, `sqlite:////absolute/path` or `sqlite:///:memory:`",
    ),
    (
        {"store": {"url": "sqlite:///"}},
        "store.url: expected "
        "`sqlite:///relative/path`, `sqlite:////absolute/path` or `sqlite:///:memory:`",
    ),
    (
        {"store": {"url": "sqlite:///gw.db?mode=ro"}},
        "store.url: expected "
        "`sqlite:///relative/path`, `sqlite:////absolute/path` or `sqlite:///:memory:`",
    ),
    (
        {"store": {"url": "postgresql://db/gateway#x"}},
        "store.url: a PostgreSQL URL must not have a `#` fragment",
    ),
    (
        {"store": {"pool_min_size": 5, "pool_max_size": 2}},
        "store.pool_min_size: must not exceed `pool_max_size` (2), got `5`",
    ),
    ({"store": {"pool_max_size": 0}}, "store.pool_max_size: must be at least 1, got `0`"),
    ({"store": {"pool_min_size": -1}}, "store.pool_min_size: must be at least 0, got `-1`"),
    ({"store": {"busy_timeout_ms": -1}}, "store.busy_timeout_ms: must be at least 0, got `-1`"),
    (
        {"store": {"connect_timeout_seconds": 0}},
        "store.connect_timeout_seconds: must be greater than 0, got `0`",
    ),
    # secrets
    (
        {"secrets": {"master_key_env": "MASTER-KEY"}},
        "secrets.master_key_env: expected an environment variable name, got `MASTER-KEY`",
    ),
    (
        {"secrets": {"master_key_env": "GATEWAY_STORE_KEY"}},
        "secrets.master_key_env: `GATEWAY_STORE_KEY` collides with the "
        "`GATEWAY_<SECTION>_<KEY>` overrides; pick another name",
    ),
    # session
    (
        {"session": {"cookie_name": "my session"}},
        "session.cookie_name: expected a cookie name (RFC 6265 token), got `my session`",
    ),
    (
        {"session": {"idle_timeout_seconds": 0}},
        "session.idle_timeout_seconds: must be at least 1, got `0`",
    ),
    (
        {"session": {"absolute_timeout_seconds": 0}},
        "session.absolute_timeout_seconds: must be at least 1, got `0`",
    ),
    (
        {"session": {"idle_timeout_seconds": 100, "absolute_timeout_seconds": 50}},
        "session.idle_timeout_seconds: must not exceed `absolute_timeout_seconds` (50), got `100`",
    ),
    # signin
    ({"signin": {"max_failures": 0}}, "signin.max_failures: must be at least 1, got `0`"),
    ({"signin": {"lock_seconds": 0}}, "signin.lock_seconds: must be at least 1, got `0`"),
    (
        {"signin": {"backoff_base_seconds": -1}},
        "signin.backoff_base_seconds: must not be negative, got `-1`",
    ),
    (
        {"signin": {"backoff_max_seconds": 0.5}},
        "signin.backoff_max_seconds: must be at least `backoff_base_seconds` (1), got `0.5`",
    ),
    (
        {"signin": {"mfa_drift_steps": 3}},
        "signin.mfa_drift_steps: must be between 0 and 2, got `3`",
    ),
    (
        {"signin": {"mfa_drift_steps": -1}},
        "signin.mfa_drift_steps: must be between 0 and 2, got `-1`",
    ),
    # audit
    (
        {"audit": {"sink": "syslog"}},
        "audit.sink: expected `stdout`, `file` or `none`, got `syslog`",
    ),
    ({"audit": {"sink": "file"}}, "audit.file: required when `audit.sink` is `file`"),
    # upstreams
    (
        {"upstreams": {"name": "backup"}},
        "upstreams: expected an array of tables (`[[upstreams]]`), got a table",
    ),
    ({"upstreams": [5]}, "upstreams[0]: expected a table, got integer `5`"),
    (
        {"upstreams": [upstream(prefx="/b")]},
        "upstreams[0].prefx: unknown key; did you mean `prefix`?",
    ),
    ({"upstreams": [upstream(name=None)]}, "upstreams[0].name: missing required key"),
    (
        {"upstreams": [upstream(name="Backup!")]},
        "upstreams[0].name: expected lowercase letters, digits, `-` or `_`, got `Backup!`",
    ),
    (
        {"upstreams": [upstream(), upstream(prefix="/other")]},
        "upstreams[1].name: `backup` is already used by upstreams[0]",
    ),
    (
        {"upstreams": [upstream(), upstream(name="other")]},
        "upstreams[1].prefix: `/backup` is already used by upstreams[0]",
    ),
    ({"upstreams": [upstream(url=None)]}, "upstreams[0].url: missing required key"),
    (
        {"upstreams": [upstream(url="ftp://files")]},
        "upstreams[0].url: expected an absolute `http` or `https` URL, got `ftp://files`",
    ),
    (
        {"upstreams": [upstream(url="http://127.0.0.1:9000/?debug=1")]},
        "upstreams[0].url: must not have a query or fragment, got `http://127.0.0.1:9000/?debug=1`",
    ),
    (
        {"upstreams": [upstream(url="http://127.0.0.1:port")]},
        "upstreams[0].url: invalid URL `http://127.0.0.1:port`",
    ),
    (
        {"upstreams": [upstream(host="backup.internal")]},
        "upstreams[0]: expected exactly one of `prefix` or `host`",
    ),
    (
        {"upstreams": [upstream(prefix=None)]},
        "upstreams[0]: expected exactly one of `prefix` or `host`",
    ),
    (
        {"upstreams": [upstream(prefix="backup")]},
        "upstreams[0].prefix: expected a path such as "
        "`/backup` (no `//`, `.` or `..` segments, no query or percent-encoding), got `backup`",
    ),
    (
        {"upstreams": [upstream(prefix="/a//b")]},
        "upstreams[0].prefix: expected a path such as "
        "`/backup` (no `//`, `.` or `..` segments, no query or percent-encoding), got `/a//b`",
    ),
    (
        {"upstreams": [upstream(prefix="/a/../b")]},
        "upstreams[0].prefix: expected a path such as "
        "`/backup` (no `//`, `.` or `..` segments, no query or percent-encoding), got `/a/../b`",
    ),
    (
        {"upstreams": [upstream(prefix="/a%2Fb")]},
        "upstreams[0].prefix: expected a path such as "
        "`/backup` (no `//`, `.` or `..` segments, no query or percent-encoding), got `/a%2Fb`",
    ),
    (
        {"upstreams": [upstream(prefix="/_gateway")]},
        "upstreams[0].prefix: `/_gateway` is under `/_gateway/`, reserved for the gateway",
    ),
    (
        {"upstreams": [upstream(prefix="/_Gateway/iam")]},
        "upstreams[0].prefix: `/_Gateway/iam` is under `/_gateway/`, reserved for the gateway",
    ),
    (
        {"upstreams": [upstream(prefix=None, host="backup internal")]},
        "upstreams[0].host: expected a hostname such as `backup.internal`, got `backup internal`",
    ),
    (
        {
            "upstreams": [
                upstream(prefix=None, host="a.internal"),
                upstream(name="b", prefix=None, host="A.internal"),
            ]
        },
        "upstreams[1].host: `a.internal` is already used by upstreams[0]",
    ),
    (
        {"upstreams": [upstream(service="Backup")]},
        "upstreams[0].service: expected lowercase letters, digits or `-`, got `Backup`",
    ),
    (
        {"upstreams": [upstream(strip_prefix="yes")]},
        "upstreams[0].strip_prefix: expected a boolean, got string `yes`",
    ),
    (
        {"upstreams": [upstream(connect_timeout_seconds=0)]},
        "upstreams[0].connect_timeout_seconds: must be greater than 0, got `0`",
    ),
    (
        {"upstreams": [upstream(read_timeout_seconds=-5)]},
        "upstreams[0].read_timeout_seconds: must be greater than 0, got `-5`",
    ),
    (
        {"upstreams": [upstream(routes={"path": "/"})]},
        "upstreams[0].routes: expected an array of tables, got a table",
    ),
    # routes
    (
        with_routes(route(acton="x")),
        "upstreams[0].routes[0].acton: unknown key; did you mean `action`?",
    ),
    (
        with_routes(
            route(),
            route(methods=["GET"]),
            route(methods=["DELETE"], action="DeleteObject"),
        ),
        "upstreams[0].routes[2].action: expected `service:Action` such as `backup:PutObject`, "
        "got `DeleteObject`",
    ),
    (
        with_routes(route(action="backup:Put*")),
        "upstreams[0].routes[0].action: expected `service:Action` such as `backup:PutObject`, "
        "got `backup:Put*`",
    ),
    (with_routes(route(methods=None)), "upstreams[0].routes[0].methods: missing required key"),
    (
        with_routes(route(methods="PUT")),
        "upstreams[0].routes[0].methods: expected an array of strings, got string `PUT`",
    ),
    (
        with_routes(route(methods=[])),
        "upstreams[0].routes[0].methods: expected at least one HTTP method",
    ),
    (
        with_routes(route(methods=["FETCH"])),
        "upstreams[0].routes[0].methods: unknown HTTP method `FETCH`; expected `DELETE`, `GET`, "
        "`HEAD`, `OPTIONS`, `PATCH`, `POST`, `PUT` or `*` alone",
    ),
    (
        with_routes(route(methods=["GET", "get"])),
        "upstreams[0].routes[0].methods: lists a method twice",
    ),
    (with_routes(route(path=None)), "upstreams[0].routes[0].path: missing required key"),
    (
        with_routes(route(path="buckets/{bucket}")),
        "upstreams[0].routes[0].path: expected a path template such as "
        "`/buckets/{bucket}/objects/{key:path}`, got `buckets/{bucket}`",
    ),
    (
        with_routes(route(path="/buckets/{bucket", resource="*")),
        "upstreams[0].routes[0].path: expected a path template such as "
        "`/buckets/{bucket}/objects/{key:path}`, got `/buckets/{bucket`",
    ),
    (
        with_routes(route(path="/a/../b", resource="*")),
        "upstreams[0].routes[0].path: expected a path template such as "
        "`/buckets/{bucket}/objects/{key:path}`, got `/a/../b`",
    ),
    (
        with_routes(route(path="/buckets/{bucket:int}")),
        "upstreams[0].routes[0].path: invalid placeholder `{bucket:int}`; "
        "expected `{name}` or `{name:path}`",
    ),
    (
        with_routes(route(path="/{key:path}/meta")),
        "upstreams[0].routes[0].path: placeholder `{key:path}` must end the path",
    ),
    (
        with_routes(route(path="/{bucket}/{bucket}")),
        "upstreams[0].routes[0].path: placeholder `{bucket}` appears twice",
    ),
    (
        with_routes(route(path="/{region}/x")),
        "upstreams[0].routes[0].path: placeholder `{region}` is reserved",
    ),
    (
        with_routes(route(resource="bucket/{bucket}")),
        "upstreams[0].routes[0].resource: expected an ARN template such as "
        "`arn:aws:backup:{region}:{account}:bucket/{bucket}` or `*`, got `bucket/{bucket}`",
    ),
    (
        with_routes(route(resource="arn:aws:backup:{region}:{account}:bucket/{nope}")),
        "upstreams[0].routes[0].resource: unknown placeholder `{nope}`; expected one of "
        "`{bucket}`, `{key}`, `{account}`, `{region}`",
    ),
    (
        with_routes(route(resource="arn:aws:backup:{region}:{account}:bucket/{bucket")),
        "upstreams[0].routes[0].resource: unbalanced `{` or `}` in "
        "`arn:aws:backup:{region}:{account}:bucket/{bucket`",
    ),
    (
        with_routes(route(condition_keys={"aws:username": "{bucket}"})),
        "upstreams[0].routes[0].condition_keys.aws:username: "
        "`aws:` keys are set by the gateway, not by routes",
    ),
    (
        with_routes(route(condition_keys={"bucket": "{bucket}"})),
        "upstreams[0].routes[0].condition_keys.bucket: "
        "expected a condition key such as `backup:BucketName`",
    ),
    (
        with_routes(route(condition_keys={"backup:Size": 5})),
        "upstreams[0].routes[0].condition_keys.backup:Size: expected a string, got integer `5`",
    ),
    (
        with_routes(route(condition_keys="backup:Bucket")),
        "upstreams[0].routes[0].condition_keys: expected a table of strings, "
        "got string `backup:Bucket`",
    ),
    (
        with_routes(route(condition_keys={"backup:Owner": "{owner}"})),
        "upstreams[0].routes[0].condition_keys.backup:Owner: unknown placeholder `{owner}`; "
        "expected one of `{bucket}`, `{key}`, `{account}`, `{region}`",
    ),
    (
        with_routes(route(unsigned_payload="false")),
        "upstreams[0].routes[0].unsigned_payload: expected a boolean, got string `false`",
    ),
    (
        with_routes(route(), route(methods=["POST", "PUT"])),
        "upstreams[0].routes[1]: `PUT /buckets/{bucket}/objects/{key:path}` "
        "is already routed by routes[0]",
    ),
]


@pytest.mark.parametrize(("data", "message"), CASES)
def test_invalid_config(data: dict[str, object], message: str) -> None:
    """Each rule rejects bad input, naming the file, the key and what was expected."""
    with pytest.raises(ConfigError) as info:
        build(data)
    assert str(info.value) == f"{FILE}: {message}"
    assert info.value.file == FILE
    assert not str(info.value).endswith(".")
    assert "hunter2" not in str(info.value)


# --- environment overrides ----------------------------------------------------------------------


def test_env_overrides_the_file(write_config: Callable[..., Path]) -> None:
    """GATEWAY_<SECTION>_<KEY> wins over the file, coerced to the key's type."""
    path = write_config('[server]\nport = 8081\nregion = "eu-west-1"\n')
    settings = load_config(
        path,
        environ={
            "GATEWAY_SERVER_PORT": "9000",
            "GATEWAY_SERVER_SHUTDOWN_GRACE_SECONDS": "2.5",
            "GATEWAY_STORE_URL": "postgresql://gw:hunter2@db/gateway",
            "GATEWAY_SIGNIN_MFA_DRIFT_STEPS": "0",
            "GATEWAY_AUDIT_SINK": "none",
        },
    )
    assert settings.server.port == 9000
    assert settings.server.region == "eu-west-1"
    assert settings.server.shutdown_grace_seconds == 2.5
    assert settings.store.kind == "postgresql"
    assert settings.store.dsn.reveal() == "postgresql://gw:hunter2@db/gateway"
    assert settings.signin.mfa_drift_steps == 0
    assert settings.audit.sink == "none"


def test_env_paths_resolve_against_the_config_dir(write_config: Callable[..., Path]) -> None:
    """A relative path from the environment resolves like one from the file."""
    path = write_config("", "etc/gateway.toml")
    settings = load_config(path, environ={"GATEWAY_SECRETS_MASTER_KEY_FILE": "keys/m.key"})
    assert settings.secrets.master_key_file == path.parent / "keys" / "m.key"


def test_unrelated_gateway_variables_are_ignored() -> None:
    """GATEWAY_CONFIG, GATEWAY_MASTER_KEY, GATEWAY_TEST_* and others are not overrides."""
    settings = build(
        {},
        environ={
            "GATEWAY_CONFIG": "/etc/gateway.toml",
            "GATEWAY_MASTER_KEY": "c2VjcmV0LWtleS1tYXRlcmlhbA==",
            "GATEWAY_TEST_POSTGRES_DSN": "postgresql://localhost/test",
            "GATEWAY_LOG_LEVEL": "debug",
            "PATH": "/usr/bin",
            "gateway_server_port": "1",
        },
    )
    assert settings == dataclasses.replace(
        default_settings(Path("/srv/gateway")), secrets=settings.secrets
    )


def test_master_key_from_env() -> None:
    """The master key variable is read at load time, wrapped in a Secret."""
    key = "c2VjcmV0LWtleS1tYXRlcmlhbA=="
    settings = build({"secrets": {"master_key_env": "MY_KEY"}}, environ={"MY_KEY": key})
    assert settings.secrets.master_key == Secret(key)
    assert key not in repr(settings)


def test_bad_master_key_in_env_is_not_echoed() -> None:
    """A master key that is not base64 is refused without being shown."""
    message = failure({}, {"GATEWAY_MASTER_KEY": "not base64: hunter2"})
    assert message.startswith("GATEWAY_MASTER_KEY: expected the master key as base64 text")
    assert "hunter2" not in message


def test_several_master_keys_in_env_for_rotation() -> None:
    """During a rotation the variable holds several keys, the current one first."""
    new, old = "bmV3LWtleS1tYXRlcmlhbC0xMjM0NQ==", "c2VjcmV0LWtleS1tYXRlcmlhbA=="
    for text in (f"{new},{old}", f"{new}\n{old}\n", f" {new} , {old} "):
        settings = build({}, environ={"GATEWAY_MASTER_KEY": text})
        assert settings.secrets.master_key == Secret(f"{new}\n{old}")
    message = failure({}, {"GATEWAY_MASTER_KEY": f"{new},hunter2!"})
    assert "hunter2" not in message and message.startswith("GATEWAY_MASTER_KEY: expected")


ENV_CASES: list[tuple[dict[str, str], str]] = [
    ({"GATEWAY_SERVER_PORT": "abc"}, "GATEWAY_SERVER_PORT: expected an integer, got `abc`"),
    ({"GATEWAY_SERVER_PORT": "80.5"}, "GATEWAY_SERVER_PORT: expected an integer, got `80.5`"),
    (
        {"GATEWAY_SERVER_PORT": "70000"},
        "GATEWAY_SERVER_PORT: must be between 1 and 65535, got `70000`",
    ),
    (
        {"GATEWAY_SERVER_SHUTDOWN_GRACE_SECONDS": "soon"},
        "GATEWAY_SERVER_SHUTDOWN_GRACE_SECONDS: expected a number, got `soon`",
    ),
    (
        {"GATEWAY_SERVER_SHUTDOWN_GRACE_SECONDS": "inf"},
        "GATEWAY_SERVER_SHUTDOWN_GRACE_SECONDS: expected a number, got `inf`",
    ),
    ({"GATEWAY_SESSION_COOKIE_NAME": ""}, "GATEWAY_SESSION_COOKIE_NAME: must not be empty"),
    (
        {"GATEWAY_AUDIT_SINK": "syslog"},
        "GATEWAY_AUDIT_SINK: expected `stdout`, `file` or `none`, got `syslog`",
    ),
    (
        {"GATEWAY_STORE_URI": "sqlite:///x.db"},
        "GATEWAY_STORE_URI: unknown variable; did you mean `GATEWAY_STORE_URL`?",
    ),
    (
        {"GATEWAY_SERVER_PROT": "9000"},
        "GATEWAY_SERVER_PROT: unknown variable; did you mean `GATEWAY_SERVER_PORT`?",
    ),
    (
        {"GATEWAY_UPSTREAMS_URL": "http://x"},
        "GATEWAY_UPSTREAMS_URL: upstreams cannot be set from the environment; edit the config file",
    ),
    (
        {"GATEWAY_SESSION_IDLE_TIMEOUT_SECONDS": "50000"},
        "GATEWAY_SESSION_IDLE_TIMEOUT_SECONDS: must not exceed `absolute_timeout_seconds` "
        "(43200), got `50000`",
    ),
    (
        {"GATEWAY_AUDIT_SINK": "file"},
        "gateway.toml: audit.file: required when `audit.sink` is `file`",
    ),
]


@pytest.mark.parametrize(("environ", "message"), ENV_CASES)
def test_invalid_env_override(environ: dict[str, str], message: str) -> None:
    """A bad override names the variable (or, for a missing companion key, the file)."""
    assert failure({}, environ) == message


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("true", True),
        ("TRUE", True),
        ("1", True),
        ("yes", True),
        ("false", False),
        ("0", False),
        ("No", False),
        ("on", None),
        ("", None),
        ("2", None),
    ],
)
def test_env_boolean_spellings(text: str, value: bool | None) -> None:
    """Booleans from the environment accept true/false, 1/0 and yes/no only."""
    assert parse_bool(text) is value


# --- Secret -------------------------------------------------------------------------------------


def test_secret_is_redacted_everywhere() -> None:
    """repr, str, f-strings, %-formatting and containers never show the value."""
    secret = Secret("hunter2")
    shown = [
        repr(secret),
        str(secret),
        f"{secret}",
        f"{secret!r}",
        f"{secret:>20}",
        "%s %r" % (secret, secret),  # noqa: UP031 - %-formatting is what we check
        repr([secret]),
        repr({"dsn": secret}),
        str(ConfigError(f"bad {secret}", file="f", key="k")),
    ]
    assert all("hunter2" not in text for text in shown)
    assert repr(secret) == "Secret('**********')"
    assert str(secret) == "**********"


def test_secret_reveal_and_compare() -> None:
    """reveal() gives the value back; equality compares values."""
    secret = Secret("hunter2")
    assert secret.reveal() == "hunter2"
    assert secret == Secret("hunter2")
    assert secret != Secret("hunter3")
    assert secret != "hunter2"
    assert hash(secret) == hash(Secret("other"))


def test_secret_is_immutable_and_not_a_string() -> None:
    """A Secret cannot be changed, and refuses non-string values."""
    secret = Secret("hunter2")
    with pytest.raises(AttributeError):
        secret._value = "x"
    with pytest.raises(TypeError):
        Secret(b"hunter2")  # type: ignore[arg-type]
    assert not isinstance(secret, str)


def test_settings_repr_hides_the_dsn() -> None:
    """The whole Settings repr never shows a store password."""
    settings = build({"store": {"url": "postgresql://gw:hunter2@db/gateway"}})
    assert "hunter2" not in repr(settings)
    assert "hunter2" not in str(settings)
