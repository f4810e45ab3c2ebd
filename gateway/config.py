"""
The ops configuration: TOML file -> frozen, validated settings.

``load_config()`` reads the file with ``tomllib``, applies the
``GATEWAY_<SECTION>_<KEY>`` environment overrides, then builds the frozen
dataclasses below. Every check runs here, before the gateway serves anything,
and every failure is a ``ConfigError`` naming the file (or the environment
variable), the key and what was expected. Secrets read here are wrapped in
``Secret`` so that they cannot leak through a repr, a log line or an error.

This module sits outside the request layers: the edge, the CLI and the store
read its settings. It imports nothing from the gateway except ``gateway.errors``.
"""

from __future__ import annotations

import base64
import binascii
import difflib
import hmac
import ipaddress
import math
import os
import re
import tomllib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal, TypeVar, cast
from urllib.parse import urlsplit, urlunsplit

from gateway.errors import ConfigError

__all__ = [
    "AuditSettings",
    "AuditSink",
    "RouteSettings",
    "Secret",
    "SecretsSettings",
    "ServerSettings",
    "SessionSettings",
    "Settings",
    "SigninSettings",
    "StoreKind",
    "StoreSettings",
    "UpstreamSettings",
    "default_settings",
    "load_config",
    "settings_from_mapping",
]

# --- where the file is ---------------------------------------------------------------------------

CONFIG_ENV_VAR: Final = "GATEWAY_CONFIG"
DEFAULT_CONFIG_FILE: Final = "gateway.toml"
ENV_PREFIX: Final = "GATEWAY_"

# --- defaults: safe, with every timeout on -------------------------------------------------------

DEFAULT_HOST: Final = "127.0.0.1"
DEFAULT_PORT: Final = 8080
DEFAULT_PUBLIC_URL: Final = f"http://{DEFAULT_HOST}:{DEFAULT_PORT}"
DEFAULT_REGION: Final = "us-east-1"
DEFAULT_SHUTDOWN_GRACE_SECONDS: Final = 10.0
DEFAULT_MAX_BODY_BYTES: Final = 10 * 1024 * 1024

DEFAULT_STORE_URL: Final = "sqlite:///var/gateway.db"
DEFAULT_POOL_MIN_SIZE: Final = 1
DEFAULT_POOL_MAX_SIZE: Final = 10
DEFAULT_BUSY_TIMEOUT_MS: Final = 5000
DEFAULT_STORE_CONNECT_TIMEOUT_SECONDS: Final = 10.0

DEFAULT_MASTER_KEY_FILE: Final = "var/master.key"
DEFAULT_MASTER_KEY_ENV: Final = "GATEWAY_MASTER_KEY"

DEFAULT_COOKIE_NAME: Final = "gateway_session"
DEFAULT_IDLE_TIMEOUT_SECONDS: Final = 3600
DEFAULT_ABSOLUTE_TIMEOUT_SECONDS: Final = 43200

DEFAULT_MAX_FAILURES: Final = 5
DEFAULT_LOCK_SECONDS: Final = 900
DEFAULT_BACKOFF_BASE_SECONDS: Final = 1.0
DEFAULT_BACKOFF_MAX_SECONDS: Final = 60.0
DEFAULT_MFA_DRIFT_STEPS: Final = 1
MAX_MFA_DRIFT_STEPS: Final = 2

DEFAULT_AUDIT_SINK: Final = "stdout"

DEFAULT_UPSTREAM_CONNECT_TIMEOUT_SECONDS: Final = 5.0
DEFAULT_UPSTREAM_READ_TIMEOUT_SECONDS: Final = 30.0

RESERVED_PREFIX: Final = "/_gateway"
# Placeholders a route's resource and condition templates may use besides its path parameters.
ROUTE_BUILTIN_PLACEHOLDERS: Final = ("account", "region")
HTTP_METHODS: Final = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")

StoreKind = Literal["sqlite", "postgresql"]
AuditSink = Literal["stdout", "file", "none"]
AUDIT_SINKS: Final[tuple[AuditSink, ...]] = ("stdout", "file", "none")

# The keys each scalar section accepts, in file order; env overrides may target any of them.
_SECTION_KEYS: Final[dict[str, tuple[str, ...]]] = {
    "server": (
        "host",
        "port",
        "public_url",
        "region",
        "shutdown_grace_seconds",
        "max_body_bytes",
    ),
    "store": (
        "url",
        "pool_min_size",
        "pool_max_size",
        "busy_timeout_ms",
        "connect_timeout_seconds",
    ),
    "secrets": ("master_key_file", "master_key_env"),
    "session": ("cookie_name", "idle_timeout_seconds", "absolute_timeout_seconds"),
    "signin": (
        "max_failures",
        "lock_seconds",
        "backoff_base_seconds",
        "backoff_max_seconds",
        "mfa_drift_steps",
    ),
    "audit": ("sink", "file"),
}
_UPSTREAM_KEYS: Final = (
    "name",
    "url",
    "prefix",
    "host",
    "service",
    "strip_prefix",
    "connect_timeout_seconds",
    "read_timeout_seconds",
    "routes",
)
_ROUTE_KEYS: Final = (
    "methods",
    "path",
    "action",
    "resource",
    "condition_keys",
    "unsigned_payload",
)

_REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-\d+")
_HOSTNAME = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)(\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))*\.?")
_VIRTUAL_HOST = re.compile(
    r"[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*(:\d{1,5})?"
)
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_BASE64 = re.compile(r"[A-Za-z0-9+/_-]+={0,2}")
# RFC 6265 §4.1.1: a cookie name is an RFC 2616 token.
_COOKIE_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_UPSTREAM_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
_SERVICE = re.compile(r"[a-z0-9-]+")
_ACTION = re.compile(r"[a-z0-9-]+:[A-Za-z][A-Za-z0-9]*")
_CONDITION_KEY = re.compile(r"[A-Za-z0-9-]+:[A-Za-z0-9_.:/-]+")
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_PLACEHOLDER_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Path characters we accept literally: RFC 3986 pchar without percent-encoding, so that the
# path matched here is byte for byte the path that is authorized and forwarded.
_PATH_CHARS = re.compile(r"[A-Za-z0-9._~!$&'()*+,;=:@/-]*")
_INT_TEXT = re.compile(r"[+-]?[0-9]+")
_BOOL_TEXT: Final = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}
_TOML_POSITION = re.compile(r"\s*\(at (?:line (\d+), column (\d+)|end of document)\)$")

_T = TypeVar("_T")
_D = TypeVar("_D")


class Secret:
    """
    A string that never shows itself: ``repr``, ``str`` and f-strings print asterisks.

    Call ``reveal()`` at the one place that needs the value (the driver that
    connects, the code that decrypts). This is deliberately not a ``str``
    subclass: concatenation, ``json.dumps`` or ``"".join`` would leak a subclass.
    Equality is compared in constant time.
    """

    __slots__ = ("_value",)
    _value: str

    def __init__(self, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError("a secret value must be a string")
        object.__setattr__(self, "_value", value)

    def reveal(self) -> str:
        """
        Return the secret value; keep it out of logs, errors and reprs.
        """
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    def __str__(self) -> str:
        return "**********"

    def __format__(self, format_spec: str) -> str:
        return str(self)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        # SECURITY: constant-time comparison; never `==` on secrets.
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        # SECURITY: a constant hash is correct and says nothing about the value.
        return hash(Secret)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("a secret is immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("a secret is immutable")

    def __copy__(self) -> Secret:
        return self

    def __deepcopy__(self, memo: dict[int, object]) -> Secret:
        return self


# --- the settings --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ServerSettings:
    """
    The listener and how the gateway presents itself.
    """

    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    public_url: str = DEFAULT_PUBLIC_URL
    region: str = DEFAULT_REGION
    shutdown_grace_seconds: float = DEFAULT_SHUTDOWN_GRACE_SECONDS
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES

    @property
    def is_https(self) -> bool:
        """
        True when clients reach the gateway over HTTPS (cookies are then `Secure`).
        """
        return self.public_url.startswith("https://")


@dataclass(frozen=True, slots=True)
class StoreSettings:
    """
    Where the IAM data lives: embedded SQLite or PostgreSQL.

    ``dsn`` is the URL the driver connects with (a PostgreSQL URL may hold a
    password); ``display_url`` is the one to log.
    """

    kind: StoreKind
    dsn: Secret
    sqlite_path: Path | None = None
    pool_min_size: int = DEFAULT_POOL_MIN_SIZE
    pool_max_size: int = DEFAULT_POOL_MAX_SIZE
    busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS
    connect_timeout_seconds: float = DEFAULT_STORE_CONNECT_TIMEOUT_SECONDS

    @property
    def is_memory(self) -> bool:
        """
        True for ``sqlite:///:memory:`` (tests only: the data dies with the process).
        """
        return self.kind == "sqlite" and self.sqlite_path is None

    @property
    def display_url(self) -> str:
        """
        The store URL without credentials or query parameters, safe to log.
        """
        if self.kind == "sqlite":
            return f"sqlite:///{self.sqlite_path or ':memory:'}"
        parts = urlsplit(self.dsn.reveal())
        host = parts.hostname or ""
        if ":" in host:
            host = f"[{host}]"
        netloc = f"{host}:{parts.port}" if parts.port else host
        return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


@dataclass(frozen=True, slots=True)
class SecretsSettings:
    """
    Where the master key (encryption of secrets at rest) comes from.

    ``master_key`` holds the value of the ``master_key_env`` variable when it
    was set at load time; it takes precedence over ``master_key_file``.
    """

    master_key_file: Path
    master_key_env: str = DEFAULT_MASTER_KEY_ENV
    master_key: Secret | None = None


@dataclass(frozen=True, slots=True)
class SessionSettings:
    """
    Console session cookies and how long a session lives.
    """

    cookie_name: str = DEFAULT_COOKIE_NAME
    idle_timeout_seconds: int = DEFAULT_IDLE_TIMEOUT_SECONDS
    absolute_timeout_seconds: int = DEFAULT_ABSOLUTE_TIMEOUT_SECONDS


@dataclass(frozen=True, slots=True)
class SigninSettings:
    """
    Brute-force protection for console sign-in and TOTP tolerance.
    """

    max_failures: int = DEFAULT_MAX_FAILURES
    lock_seconds: int = DEFAULT_LOCK_SECONDS
    backoff_base_seconds: float = DEFAULT_BACKOFF_BASE_SECONDS
    backoff_max_seconds: float = DEFAULT_BACKOFF_MAX_SECONDS
    mfa_drift_steps: int = DEFAULT_MFA_DRIFT_STEPS


@dataclass(frozen=True, slots=True)
class AuditSettings:
    """
    Where the audit events go; ``file`` is set (and required) for the file sink.
    """

    sink: AuditSink = DEFAULT_AUDIT_SINK
    file: Path | None = None


@dataclass(frozen=True, slots=True)
class RouteSettings:
    """
    One upstream route: requests matching ``methods`` and ``path`` become ``action``.

    ``path`` is matched below the upstream's prefix; ``{name}`` matches one
    segment and a final ``{name:path}`` the rest. ``resource`` and the values of
    ``condition_keys`` are templates over those names plus ``{region}`` and
    ``{account}``. ``methods`` is ``("*",)`` for any method.
    """

    methods: tuple[str, ...]
    path: str
    action: str
    resource: str
    condition_keys: tuple[tuple[str, str], ...] = ()
    unsigned_payload: bool = False


@dataclass(frozen=True, slots=True)
class UpstreamSettings:
    """
    A service behind the gateway, selected by path ``prefix`` or by ``host``.
    """

    name: str
    url: str
    prefix: str | None
    host: str | None
    service: str
    strip_prefix: bool = True
    connect_timeout_seconds: float = DEFAULT_UPSTREAM_CONNECT_TIMEOUT_SECONDS
    read_timeout_seconds: float = DEFAULT_UPSTREAM_READ_TIMEOUT_SECONDS
    routes: tuple[RouteSettings, ...] = ()


@dataclass(frozen=True, slots=True)
class Settings:
    """
    The whole validated configuration; ``source`` is the file it came from, if any.
    """

    server: ServerSettings
    store: StoreSettings
    secrets: SecretsSettings
    session: SessionSettings
    signin: SigninSettings
    audit: AuditSettings
    upstreams: tuple[UpstreamSettings, ...]
    source: Path | None = None


# --- entry points --------------------------------------------------------------------------------


def load_config(
    path: str | os.PathLike[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """
    Read, override from the environment and validate the ops configuration.

    Args:
        path: the TOML file; when None, ``$GATEWAY_CONFIG``, else ``./gateway.toml``.
        environ: the environment to read overrides from; ``os.environ`` when None.

    Returns:
        The frozen settings. Relative paths in the file are resolved against the
        file's directory.

    Raises:
        ConfigError: the file is missing or unreadable, is not valid TOML, or a
            value (from the file or the environment) is invalid.
    """
    env = os.environ if environ is None else environ
    if path is None:
        path = env.get(CONFIG_ENV_VAR) or DEFAULT_CONFIG_FILE
    file = os.fspath(path)
    source = Path(file).absolute()
    try:
        raw = source.read_bytes()
    except FileNotFoundError:
        raise ConfigError(
            f"file not found; create one with `gateway init --config {file}`", file=file
        ) from None
    except IsADirectoryError:
        raise ConfigError("is a directory, expected a TOML file", file=file) from None
    except OSError as exc:
        reason = (exc.strerror or type(exc).__name__).lower()
        raise ConfigError(f"cannot read the file: {reason}", file=file) from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError("invalid TOML: the file is not UTF-8 text", file=file) from None
    except tomllib.TOMLDecodeError as exc:
        raise _toml_error(exc, file) from None
    return _build(data, file=file, base_dir=source.parent, environ=env, source=source)


def settings_from_mapping(
    data: Mapping[str, object],
    *,
    file: str = "<memory>",
    base_dir: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """
    Validate settings given as a mapping shaped like the TOML file.

    For tests and for ``GatewayMiddleware``, which may be configured without a file.

    Args:
        data: the tables, as ``tomllib`` would return them.
        file: the name errors are reported under.
        base_dir: what relative paths are resolved against; the working directory when None.
        environ: the environment to read overrides from; ``os.environ`` when None
            (pass ``{}`` to ignore the environment).

    Raises:
        ConfigError: a value is invalid.
    """
    base = Path.cwd() if base_dir is None else base_dir.absolute()
    env = os.environ if environ is None else environ
    return _build(data, file=file, base_dir=base, environ=env, source=None)


def default_settings(base_dir: Path | None = None) -> Settings:
    """
    The settings of an empty file, ignoring the environment.

    Args:
        base_dir: what the default relative paths (``var/...``) are resolved against.
    """
    return settings_from_mapping({}, base_dir=base_dir, environ={})


# --- building ------------------------------------------------------------------------------------


def _build(
    data: Mapping[str, object],
    *,
    file: str,
    base_dir: Path,
    environ: Mapping[str, str],
    source: Path | None,
) -> Settings:
    for key in data:
        if key not in _SECTION_KEYS and key != "upstreams":
            raise ConfigError(
                _unknown(key, [*_SECTION_KEYS, "upstreams"], "section"), file=file, key=key
            )
    overrides = _environment_overrides(environ)
    tables = {
        name: _Table.of(data.get(name, {}), file=file, label=name, keys=keys, env=overrides[name])
        for name, keys in _SECTION_KEYS.items()
    }
    return Settings(
        server=_server(tables["server"]),
        store=_store(tables["store"], base_dir),
        secrets=_secrets(tables["secrets"], base_dir, environ),
        session=_session(tables["session"]),
        signin=_signin(tables["signin"]),
        audit=_audit(tables["audit"], base_dir),
        upstreams=_upstreams(data.get("upstreams", []), file),
        source=source,
    )


def _environment_overrides(environ: Mapping[str, str]) -> dict[str, dict[str, tuple[str, str]]]:
    """
    Collect ``GATEWAY_<SECTION>_<KEY>`` variables as section -> key -> (variable, text).

    Only a variable whose second word names a section is an override, so
    ``GATEWAY_CONFIG``, ``GATEWAY_MASTER_KEY`` and ``GATEWAY_TEST_*`` pass by.
    """
    overrides: dict[str, dict[str, tuple[str, str]]] = {name: {} for name in _SECTION_KEYS}
    for name in sorted(environ):
        if not name.startswith(ENV_PREFIX):
            continue
        section, _, key = name[len(ENV_PREFIX) :].partition("_")
        section, key = section.lower(), key.lower()
        if section == "upstreams":
            raise ConfigError(
                "upstreams cannot be set from the environment; edit the config file", key=name
            )
        if section not in _SECTION_KEYS:
            continue
        keys = _SECTION_KEYS[section]
        if key not in keys:
            known = [f"{ENV_PREFIX}{section}_{k}".upper() for k in keys]
            raise ConfigError(_unknown(name, known, "variable"), key=name)
        overrides[section][key] = (name, environ[name])
    return overrides


def _server(table: _Table) -> ServerSettings:
    host = table.string("host", DEFAULT_HOST)
    if not _is_host(host):
        raise table.error("host", f"expected a hostname or IP address, got `{_clip(host)}`")
    port = table.integer("port", DEFAULT_PORT, minimum=1, maximum=65535)
    public_url = table.optional_string("public_url")
    if public_url is None:
        public_url = _local_url(host, port)
    else:
        public_url = _http_url(table, "public_url", public_url)
    region = table.string("region", DEFAULT_REGION)
    if not _REGION.fullmatch(region):
        raise table.error(
            "region", f"expected an AWS region such as `us-east-1`, got `{_clip(region)}`"
        )
    return ServerSettings(
        host=host,
        port=port,
        public_url=public_url,
        region=region,
        shutdown_grace_seconds=table.number(
            "shutdown_grace_seconds", DEFAULT_SHUTDOWN_GRACE_SECONDS
        ),
        max_body_bytes=table.integer("max_body_bytes", DEFAULT_MAX_BODY_BYTES, minimum=1),
    )


def _local_url(host: str, port: int) -> str:
    # A wildcard bind address is not somewhere a browser can be sent; loopback is.
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    if address is not None and address.is_unspecified:
        host = "127.0.0.1" if address.version == 4 else "::1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"


def _store(table: _Table, base_dir: Path) -> StoreSettings:
    kind, sqlite_path, dsn = _store_url(table, table.string("url", DEFAULT_STORE_URL), base_dir)
    pool_min_size = table.integer("pool_min_size", DEFAULT_POOL_MIN_SIZE, minimum=0)
    pool_max_size = table.integer("pool_max_size", DEFAULT_POOL_MAX_SIZE, minimum=1)
    if pool_min_size > pool_max_size:
        raise table.error(
            "pool_min_size",
            f"must not exceed `pool_max_size` ({pool_max_size}), got `{pool_min_size}`",
        )
    return StoreSettings(
        kind=kind,
        dsn=dsn,
        sqlite_path=sqlite_path,
        pool_min_size=pool_min_size,
        pool_max_size=pool_max_size,
        busy_timeout_ms=table.integer("busy_timeout_ms", DEFAULT_BUSY_TIMEOUT_MS, minimum=0),
        connect_timeout_seconds=table.number(
            "connect_timeout_seconds", DEFAULT_STORE_CONNECT_TIMEOUT_SECONDS, positive=True
        ),
    )


def _store_url(table: _Table, url: str, base_dir: Path) -> tuple[StoreKind, Path | None, Secret]:
    # SECURITY: a PostgreSQL URL may carry a password, so no message here echoes the URL.
    scheme, separator, rest = url.partition("://")
    scheme = scheme.lower()
    if not separator:
        raise table.error(
            "url", "expected a URL such as `sqlite:///var/gateway.db` or `postgresql://host/dbname`"
        )
    if scheme == "sqlite":
        if not rest.startswith("/") or len(rest) == 1 or "?" in rest or "#" in rest:
            raise table.error(
                "url",
                "expected `sqlite:///relative/path`, `sqlite:////absolute/path` "
                "or `sqlite:///:memory:`",
            )
        if rest == "/:memory:":
            return "sqlite", None, Secret("sqlite:///:memory:")
        path = _resolve(base_dir, rest[1:])
        return "sqlite", path, Secret(f"sqlite:///{path}")
    if scheme in ("postgresql", "postgres"):
        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018 - parsing the port is the check
        except ValueError:
            raise table.error(
                "url",
                "invalid PostgreSQL URL; expected `postgresql://user:password@host:port/dbname`",
            ) from None
        if parts.fragment:
            raise table.error("url", "a PostgreSQL URL must not have a `#` fragment")
        return "postgresql", None, Secret(url)
    raise table.error(
        "url", f"unsupported scheme `{_clip(scheme)}`; expected `sqlite` or `postgresql`"
    )


def _secrets(table: _Table, base_dir: Path, environ: Mapping[str, str]) -> SecretsSettings:
    master_key_file = _resolve(base_dir, table.path("master_key_file", DEFAULT_MASTER_KEY_FILE))
    master_key_env = table.string("master_key_env", DEFAULT_MASTER_KEY_ENV)
    if not _ENV_NAME.fullmatch(master_key_env):
        raise table.error(
            "master_key_env",
            f"expected an environment variable name, got `{_clip(master_key_env)}`",
        )
    section = master_key_env[len(ENV_PREFIX) :].partition("_")[0].lower()
    if master_key_env.startswith(ENV_PREFIX) and section in (*_SECTION_KEYS, "upstreams"):
        raise table.error(
            "master_key_env",
            f"`{master_key_env}` collides with the `GATEWAY_<SECTION>_<KEY>` overrides; "
            "pick another name",
        )
    master_key = None
    text = environ.get(master_key_env, "").strip()
    if text:
        # SECURITY: the message never shows the value.
        if not _is_base64(text):
            raise ConfigError("expected the master key as base64 text", key=master_key_env)
        master_key = Secret(text)
    return SecretsSettings(
        master_key_file=master_key_file, master_key_env=master_key_env, master_key=master_key
    )


def _session(table: _Table) -> SessionSettings:
    cookie_name = table.string("cookie_name", DEFAULT_COOKIE_NAME)
    if not _COOKIE_NAME.fullmatch(cookie_name):
        raise table.error(
            "cookie_name", f"expected a cookie name (RFC 6265 token), got `{_clip(cookie_name)}`"
        )
    idle = table.integer("idle_timeout_seconds", DEFAULT_IDLE_TIMEOUT_SECONDS, minimum=1)
    absolute = table.integer(
        "absolute_timeout_seconds", DEFAULT_ABSOLUTE_TIMEOUT_SECONDS, minimum=1
    )
    if idle > absolute:
        raise table.error(
            "idle_timeout_seconds",
            f"must not exceed `absolute_timeout_seconds` ({absolute}), got `{idle}`",
        )
    return SessionSettings(
        cookie_name=cookie_name, idle_timeout_seconds=idle, absolute_timeout_seconds=absolute
    )


def _signin(table: _Table) -> SigninSettings:
    base = table.number("backoff_base_seconds", DEFAULT_BACKOFF_BASE_SECONDS)
    maximum = table.number("backoff_max_seconds", DEFAULT_BACKOFF_MAX_SECONDS)
    if maximum < base:
        raise table.error(
            "backoff_max_seconds",
            f"must be at least `backoff_base_seconds` ({base:g}), got `{maximum:g}`",
        )
    return SigninSettings(
        max_failures=table.integer("max_failures", DEFAULT_MAX_FAILURES, minimum=1),
        lock_seconds=table.integer("lock_seconds", DEFAULT_LOCK_SECONDS, minimum=1),
        backoff_base_seconds=base,
        backoff_max_seconds=maximum,
        mfa_drift_steps=table.integer(
            "mfa_drift_steps", DEFAULT_MFA_DRIFT_STEPS, minimum=0, maximum=MAX_MFA_DRIFT_STEPS
        ),
    )


def _audit(table: _Table, base_dir: Path) -> AuditSettings:
    sink = cast("AuditSink", table.choice("sink", DEFAULT_AUDIT_SINK, AUDIT_SINKS))
    file = table.optional_path("file")
    if sink == "file" and file is None:
        raise table.error("file", "required when `audit.sink` is `file`")
    return AuditSettings(sink=sink, file=None if file is None else _resolve(base_dir, file))


# --- upstreams and routes ------------------------------------------------------------------------


def _upstreams(raw: object, file: str) -> tuple[UpstreamSettings, ...]:
    if not isinstance(raw, list | tuple):
        raise ConfigError(
            f"expected an array of tables (`[[upstreams]]`), got {_describe(raw)}",
            file=file,
            key="upstreams",
        )
    upstreams: list[UpstreamSettings] = []
    seen: dict[tuple[str, str], str] = {}  # ("name" | "prefix" | "host", value) -> label
    for index, item in enumerate(raw):
        table = _Table.of(item, file=file, label=f"upstreams[{index}]", keys=_UPSTREAM_KEYS)
        upstream = _upstream(table)
        for key in ("name", "prefix", "host"):
            value = getattr(upstream, key)
            if value is None:
                continue
            if (key, value) in seen:
                raise table.error(key, f"`{value}` is already used by {seen[key, value]}")
            seen[key, value] = table.label
        upstreams.append(upstream)
    return tuple(upstreams)


def _upstream(table: _Table) -> UpstreamSettings:
    name = table.required_string("name")
    if not _UPSTREAM_NAME.fullmatch(name):
        raise table.error(
            "name", f"expected lowercase letters, digits, `-` or `_`, got `{_clip(name)}`"
        )
    url = _http_url(table, "url", table.required_string("url"))
    prefix = table.optional_string("prefix")
    host = table.optional_string("host")
    if (prefix is None) == (host is None):
        raise table.error(None, "expected exactly one of `prefix` or `host`")
    if prefix is not None:
        prefix = _prefix(table, prefix)
    if host is not None:
        host = host.lower()
        if not _VIRTUAL_HOST.fullmatch(host):
            raise table.error(
                "host", f"expected a hostname such as `backup.internal`, got `{_clip(host)}`"
            )
    service = table.required_string("service")
    if not _SERVICE.fullmatch(service):
        raise table.error(
            "service", f"expected lowercase letters, digits or `-`, got `{_clip(service)}`"
        )
    routes = tuple(
        _route(table.child(f"routes[{index}]", item, _ROUTE_KEYS))
        for index, item in enumerate(table.tables("routes"))
    )
    _reject_duplicate_routes(table, routes)
    return UpstreamSettings(
        name=name,
        url=url,
        prefix=prefix,
        host=host,
        service=service,
        strip_prefix=table.boolean("strip_prefix", True),
        connect_timeout_seconds=table.number(
            "connect_timeout_seconds", DEFAULT_UPSTREAM_CONNECT_TIMEOUT_SECONDS, positive=True
        ),
        read_timeout_seconds=table.number(
            "read_timeout_seconds", DEFAULT_UPSTREAM_READ_TIMEOUT_SECONDS, positive=True
        ),
        routes=routes,
    )


def _prefix(table: _Table, prefix: str) -> str:
    segments = prefix.split("/")
    if (
        not prefix.startswith("/")
        or not _PATH_CHARS.fullmatch(prefix)
        or any(segment in ("", ".", "..") for segment in segments[1:-1])
        or segments[-1] in (".", "..")
    ):
        raise table.error(
            "prefix",
            "expected a path such as `/backup` (no `//`, `.` or `..` segments, "
            f"no query or percent-encoding), got `{_clip(prefix)}`",
        )
    prefix = prefix.rstrip("/") or "/"
    reserved = prefix.casefold()
    if reserved == RESERVED_PREFIX or reserved.startswith(f"{RESERVED_PREFIX}/"):
        raise table.error(
            "prefix", f"`{_clip(prefix)}` is under `{RESERVED_PREFIX}/`, reserved for the gateway"
        )
    return prefix


def _route(table: _Table) -> RouteSettings:
    methods = _methods(table, table.string_list("methods"))
    path = table.required_string("path")
    names = _path_parameters(table, path)
    action = table.required_string("action")
    if not _ACTION.fullmatch(action):
        raise table.error(
            "action", f"expected `service:Action` such as `backup:PutObject`, got `{_clip(action)}`"
        )
    resource = table.required_string("resource")
    if resource != "*" and (not resource.startswith("arn:") or resource.count(":") < 5):
        raise table.error(
            "resource",
            "expected an ARN template such as `arn:aws:backup:{region}:{account}:bucket/{bucket}` "
            f"or `*`, got `{_clip(resource)}`",
        )
    _check_template(table, "resource", resource, names)
    condition_keys: list[tuple[str, str]] = []
    for key, value in table.string_table("condition_keys").items():
        label = f"condition_keys.{key}"
        if not _CONDITION_KEY.fullmatch(key):
            raise table.error(label, "expected a condition key such as `backup:BucketName`")
        # SECURITY: global `aws:` keys describe the caller and are set by the gateway alone; a
        # route that could set them could forge `aws:username` or `aws:SourceIp`.
        if key.lower().startswith("aws:"):
            raise table.error(label, "`aws:` keys are set by the gateway, not by routes")
        _check_template(table, label, value, names)
        condition_keys.append((key, value))
    return RouteSettings(
        methods=methods,
        path=path,
        action=action,
        resource=resource,
        condition_keys=tuple(condition_keys),
        unsigned_payload=table.boolean("unsigned_payload", False),
    )


def _methods(table: _Table, methods: Sequence[str]) -> tuple[str, ...]:
    normalized = tuple(method.upper() for method in methods)
    if not normalized:
        raise table.error("methods", "expected at least one HTTP method")
    if normalized == ("*",):
        return normalized
    for method in normalized:
        if method not in HTTP_METHODS:
            raise table.error(
                "methods",
                f"unknown HTTP method `{_clip(method)}`; "
                f"expected {_join([*HTTP_METHODS, '*'])} alone",
            )
    if len(set(normalized)) != len(normalized):
        raise table.error("methods", "lists a method twice")
    return normalized


def _path_parameters(table: _Table, path: str) -> tuple[str, ...]:
    names: list[str] = []
    for match in _PLACEHOLDER.finditer(path):
        name, colon, converter = match.group(1).partition(":")
        if not _PLACEHOLDER_NAME.fullmatch(name) or (colon and converter != "path"):
            raise table.error(
                "path",
                f"invalid placeholder `{{{_clip(match.group(1))}}}`; "
                "expected `{name}` or `{name:path}`",
            )
        if name in ROUTE_BUILTIN_PLACEHOLDERS:
            raise table.error("path", f"placeholder `{{{name}}}` is reserved")
        if name in names:
            raise table.error("path", f"placeholder `{{{name}}}` appears twice")
        if converter and match.end() != len(path):
            raise table.error("path", f"placeholder `{{{name}:path}}` must end the path")
        names.append(name)
    literal = _PLACEHOLDER.sub("x", path)
    segments = literal.split("/")
    if (
        not path.startswith("/")
        or "{" in literal
        or "}" in literal
        or not _PATH_CHARS.fullmatch(literal)
        or any(segment in ("", ".", "..") for segment in segments[1:-1])
        or segments[-1] in (".", "..")
    ):
        raise table.error(
            "path",
            "expected a path template such as `/buckets/{bucket}/objects/{key:path}`, "
            f"got `{_clip(path)}`",
        )
    return tuple(names)


def _check_template(table: _Table, key: str, template: str, names: Sequence[str]) -> None:
    known = (*names, *ROUTE_BUILTIN_PLACEHOLDERS)
    for match in _PLACEHOLDER.finditer(template):
        if match.group(1) not in known:
            raise table.error(
                key,
                f"unknown placeholder `{{{_clip(match.group(1))}}}`; expected one of "
                + ", ".join(f"`{{{name}}}`" for name in known),
            )
    literal = _PLACEHOLDER.sub("", template)
    if "{" in literal or "}" in literal:
        raise table.error(key, f"unbalanced `{{` or `}}` in `{_clip(template)}`")


def _reject_duplicate_routes(table: _Table, routes: Sequence[RouteSettings]) -> None:
    seen: dict[tuple[str, str], int] = {}
    for index, route in enumerate(routes):
        for method in route.methods:
            first = seen.setdefault((method, route.path), index)
            if first != index:
                raise table.error(
                    f"routes[{index}]",
                    f"`{method} {_clip(route.path)}` is already routed by routes[{first}]",
                )


# --- reading one table ---------------------------------------------------------------------------


class _Table:
    """
    One table of the file plus its env overrides, with typed getters.

    Each getter checks the type, applies the override and knows where a value
    came from, so an error names the variable or the ``file: section.key``.
    """

    __slots__ = ("env", "file", "label", "values")

    def __init__(
        self,
        values: Mapping[str, object],
        *,
        file: str,
        label: str,
        env: Mapping[str, tuple[str, str]],
    ) -> None:
        self.values = values
        self.file = file
        self.label = label
        self.env = env

    @classmethod
    def of(
        cls,
        raw: object,
        *,
        file: str,
        label: str,
        keys: Sequence[str],
        env: Mapping[str, tuple[str, str]] | None = None,
    ) -> _Table:
        if not isinstance(raw, Mapping):
            raise ConfigError(f"expected a table, got {_describe(raw)}", file=file, key=label)
        table = cls(cast("Mapping[str, object]", raw), file=file, label=label, env=env or {})
        for key in table.values:
            if key not in keys:
                raise table.error(key, _unknown(key, keys, "key"))
        return table

    def child(self, key: str, raw: object, keys: Sequence[str]) -> _Table:
        return _Table.of(raw, file=self.file, label=f"{self.label}.{key}", keys=keys)

    def error(self, key: str | None, message: str) -> ConfigError:
        if key is not None and key in self.env:
            return ConfigError(message, key=self.env[key][0])
        return ConfigError(
            message, file=self.file, key=f"{self.label}.{key}" if key else self.label
        )

    # Scalars: every getter returns the default when the key is absent.

    def string(self, key: str, default: str) -> str:
        value = self.optional_string(key)
        return default if value is None else value

    def optional_string(self, key: str) -> str | None:
        value = self._get(key, None, "a string", _as_str, _parse_str)
        if value == "":
            raise self.error(key, "must not be empty")
        return value

    def required_string(self, key: str) -> str:
        value = self.optional_string(key)
        if value is None:
            raise self.error(key, "missing required key")
        return value

    def path(self, key: str, default: str) -> Path:
        value = self.optional_path(key)
        return Path(default) if value is None else value

    def optional_path(self, key: str) -> Path | None:
        value = self._get(key, None, "a path string", _as_path, _parse_str)
        if value == "":
            raise self.error(key, "must not be empty")
        return None if value is None else Path(value)

    def boolean(self, key: str, default: bool) -> bool:
        return self._get(key, default, "a boolean", _as_bool, _parse_bool)

    def integer(
        self, key: str, default: int, *, minimum: int | None = None, maximum: int | None = None
    ) -> int:
        value = self._get(key, default, "an integer", _as_int, _parse_int)
        if minimum is not None and maximum is not None and not minimum <= value <= maximum:
            raise self.error(key, f"must be between {minimum} and {maximum}, got `{value}`")
        if minimum is not None and value < minimum:
            raise self.error(key, f"must be at least {minimum}, got `{value}`")
        return value

    def number(self, key: str, default: float, *, positive: bool = False) -> float:
        value = self._get(key, default, "a number", _as_float, _parse_float)
        if positive and value <= 0:
            raise self.error(key, f"must be greater than 0, got `{value:g}`")
        if value < 0:
            raise self.error(key, f"must not be negative, got `{value:g}`")
        return value

    def choice(self, key: str, default: str, choices: Sequence[str]) -> str:
        value = self.string(key, default)
        if value not in choices:
            raise self.error(key, f"expected {_join(choices)}, got `{_clip(value)}`")
        return value

    # Structures: never overridden from the environment.

    def string_list(self, key: str) -> list[str]:
        raw = self.values.get(key)
        if raw is None:
            raise self.error(key, "missing required key")
        if not isinstance(raw, list | tuple) or not all(isinstance(item, str) for item in raw):
            raise self.error(key, f"expected an array of strings, got {_describe(raw)}")
        return list(raw)

    def string_table(self, key: str) -> dict[str, str]:
        raw = self.values.get(key, {})
        if not isinstance(raw, Mapping):
            raise self.error(key, f"expected a table of strings, got {_describe(raw)}")
        for name, value in raw.items():
            if not isinstance(value, str):
                raise self.error(f"{key}.{name}", f"expected a string, got {_describe(value)}")
        return dict(raw)

    def tables(self, key: str) -> list[object]:
        raw = self.values.get(key, [])
        if not isinstance(raw, list | tuple):
            raise self.error(key, f"expected an array of tables, got {_describe(raw)}")
        return list(raw)

    def _get(
        self,
        key: str,
        default: _D,
        expected: str,
        coerce: Callable[[object], _T | None],
        parse: Callable[[str], _T | None],
    ) -> _T | _D:
        if key in self.env:
            name, text = self.env[key]
            parsed = parse(text)
            if parsed is None:
                raise ConfigError(f"expected {expected}, got `{_clip(text)}`", key=name)
            return parsed
        if key not in self.values:
            return default
        raw = self.values[key]
        value = coerce(raw)
        if value is None:
            raise self.error(key, f"expected {expected}, got {_describe(raw)}")
        return value


def _as_str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _parse_str(text: str) -> str | None:
    return text


def _as_path(value: object) -> str | None:
    return os.fspath(value) if isinstance(value, str | os.PathLike) else None


def _as_bool(value: object) -> bool | None:
    return value if isinstance(value, bool) else None


def _parse_bool(text: str) -> bool | None:
    return _BOOL_TEXT.get(text.strip().lower())


def _as_int(value: object) -> int | None:
    # bool is an int subclass in Python; `true` is not a port number.
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _parse_int(text: str) -> int | None:
    return int(text) if _INT_TEXT.fullmatch(text.strip()) else None


def _as_float(value: object) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def _parse_float(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


# --- small helpers -------------------------------------------------------------------------------


def _http_url(table: _Table, key: str, url: str) -> str:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - parsing the port is the check
    except ValueError:
        raise table.error(key, f"invalid URL `{_clip(url)}`") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise table.error(key, f"expected an absolute `http` or `https` URL, got `{_clip(url)}`")
    if parts.username is not None or parts.password is not None:
        # SECURITY: the URL holds credentials, so it is not echoed.
        raise table.error(key, "must not contain credentials (`user:password@`)")
    if parts.query or parts.fragment or url.endswith(("?", "#")):
        raise table.error(key, f"must not have a query or fragment, got `{_clip(url)}`")
    return url.rstrip("/")


def _is_host(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return bool(_HOSTNAME.fullmatch(host)) and len(host) <= 253
    return True


def _is_base64(text: str) -> bool:
    if not _BASE64.fullmatch(text):
        return False
    try:
        base64.b64decode(text.replace("-", "+").replace("_", "/"), validate=True)
    except binascii.Error:
        return False
    return True


def _resolve(base_dir: Path, path: Path | str) -> Path:
    return (base_dir / path).resolve()


def _toml_error(exc: tomllib.TOMLDecodeError, file: str) -> ConfigError:
    message = str(exc)
    position = "end of file"
    match = _TOML_POSITION.search(message)
    if match:
        message = message[: match.start()]
        if match.group(1):
            position = f"line {match.group(1)}, column {match.group(2)}"
    message = message[:1].lower() + message[1:]
    return ConfigError(f"invalid TOML: {message}", file=file, key=position)


def _unknown(name: str, choices: Iterable[str], what: str) -> str:
    options = list(choices)
    close = difflib.get_close_matches(name, options, n=1)
    if close:
        return f"unknown {what}; did you mean `{close[0]}`?"
    return f"unknown {what}; expected {_join(options)}"


def _join(options: Sequence[str]) -> str:
    quoted = [f"`{option}`" for option in options]
    if len(quoted) == 1:
        return quoted[0]
    return f"{', '.join(quoted[:-1])} or {quoted[-1]}"


def _describe(value: object) -> str:
    if isinstance(value, bool):
        return f"boolean `{str(value).lower()}`"
    if isinstance(value, str):
        return f"string `{_clip(value)}`"
    if isinstance(value, int):
        return f"integer `{value}`"
    if isinstance(value, float):
        return f"float `{value}`"
    if isinstance(value, list | tuple):
        return "an array"
    if isinstance(value, Mapping):
        return "a table"
    return type(value).__name__


def _clip(text: str, limit: int = 60) -> str:
    text = text.replace("\n", "\\n").replace("`", "'")
    return text if len(text) <= limit else f"{text[: limit - 3]}..."
