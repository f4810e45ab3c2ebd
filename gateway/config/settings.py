"""
The settings themselves: frozen dataclasses and their safe defaults.

Part of ``gateway.config``. These are plain values; validating and building them
from the TOML tables happens in ``gateway.config.sections`` and
``gateway.config.upstreams``. Imports nothing from the gateway outside this package.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal
from urllib.parse import urlsplit, urlunsplit

from .secret import Secret

__all__ = [
    "AuditSettings",
    "AuditSink",
    "MetricsSettings",
    "RouteSettings",
    "SecretsSettings",
    "ServerSettings",
    "SessionSettings",
    "Settings",
    "SigninSettings",
    "StoreKind",
    "StoreSettings",
    "UpstreamSettings",
]


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
DEFAULT_OUTAGE_GRACE_SECONDS: Final = 0.0

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

StoreKind = Literal["sqlite", "postgresql"]
AuditSink = Literal["stdout", "file", "none"]
AUDIT_SINKS: Final[tuple[AuditSink, ...]] = ("stdout", "file", "none")

# The keys each scalar section accepts, in file order; env overrides may target any of them.
SECTION_KEYS: Final[dict[str, tuple[str, ...]]] = {
    "server": (
        "host",
        "port",
        "public_url",
        "region",
        "shutdown_grace_seconds",
        "max_body_bytes",
        "trusted_proxies",
    ),
    "store": (
        "url",
        "pool_min_size",
        "pool_max_size",
        "busy_timeout_ms",
        "connect_timeout_seconds",
        "outage_grace_seconds",
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
    "metrics": ("enabled", "listen"),
}


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
    trusted_proxies: tuple[str, ...] = ()

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
    outage_grace_seconds: float = DEFAULT_OUTAGE_GRACE_SECONDS

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
class MetricsSettings:
    """
    The Prometheus endpoint: off by default; ``listen`` (host, port) serves it on a
    listener of its own instead of ``/_gateway/metrics`` on the main one.
    """

    enabled: bool = False
    listen: tuple[str, int] | None = None


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
    resource_policy: str | None = None


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
    resource_policy: str | None = None
    # https only: a PEM bundle that replaces the system's trust store for this upstream.
    ca_file: Path | None = None


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
    metrics: MetricsSettings = MetricsSettings()
