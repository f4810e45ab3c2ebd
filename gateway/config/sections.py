"""
Building the scalar sections: ``[server]``, ``[store]``, ``[secrets]``, ``[session]``,
``[signin]`` and ``[audit]``.

Part of ``gateway.config``. Each builder takes its ``Table`` (file values plus env
overrides), checks every value and the rules between values (pool sizes, timeouts,
backoff), and returns the frozen settings. Imports nothing from the gateway except
``gateway.errors``.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from collections.abc import Mapping
from pathlib import Path
from typing import cast
from urllib.parse import urlsplit

from gateway.errors import ConfigError

from .reader import ENV_PREFIX, Table, clip
from .secret import Secret
from .settings import (
    AUDIT_SINKS,
    DEFAULT_ABSOLUTE_TIMEOUT_SECONDS,
    DEFAULT_AUDIT_SINK,
    DEFAULT_BACKOFF_BASE_SECONDS,
    DEFAULT_BACKOFF_MAX_SECONDS,
    DEFAULT_BUSY_TIMEOUT_MS,
    DEFAULT_COOKIE_NAME,
    DEFAULT_HOST,
    DEFAULT_IDLE_TIMEOUT_SECONDS,
    DEFAULT_LOCK_SECONDS,
    DEFAULT_MASTER_KEY_ENV,
    DEFAULT_MASTER_KEY_FILE,
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_MAX_FAILURES,
    DEFAULT_MFA_DRIFT_STEPS,
    DEFAULT_OUTAGE_GRACE_SECONDS,
    DEFAULT_POOL_MAX_SIZE,
    DEFAULT_POOL_MIN_SIZE,
    DEFAULT_PORT,
    DEFAULT_REGION,
    DEFAULT_SHUTDOWN_GRACE_SECONDS,
    DEFAULT_STORE_CONNECT_TIMEOUT_SECONDS,
    DEFAULT_STORE_URL,
    MAX_MFA_DRIFT_STEPS,
    SECTION_KEYS,
    AuditSettings,
    AuditSink,
    MetricsSettings,
    SecretsSettings,
    ServerSettings,
    SessionSettings,
    SigninSettings,
    StoreKind,
    StoreSettings,
)

__all__ = [
    "build_audit",
    "build_metrics",
    "build_secrets",
    "build_server",
    "build_session",
    "build_signin",
    "build_store",
    "http_url",
    "resolve_path",
]

_REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-\d+")
_HOSTNAME = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)(\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))*\.?")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_BASE64 = re.compile(r"[A-Za-z0-9+/_-]+={0,2}")
# RFC 6265 §4.1.1: a cookie name is an RFC 2616 token.
_COOKIE_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


def build_server(table: Table) -> ServerSettings:
    """
    Build and check ``[server]``.
    """
    host = table.string("host", DEFAULT_HOST)
    if not _is_host(host):
        raise table.error("host", f"expected a hostname or IP address, got `{clip(host)}`")
    port = table.integer("port", DEFAULT_PORT, minimum=1, maximum=65535)
    public_url = table.optional_string("public_url")
    if public_url is None:
        public_url = _local_url(host, port)
    else:
        public_url = http_url(table, "public_url", public_url)
    region = table.string("region", DEFAULT_REGION)
    if not _REGION.fullmatch(region):
        raise table.error(
            "region", f"expected an AWS region such as `us-east-1`, got `{clip(region)}`"
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
        trusted_proxies=_trusted_proxies(table),
    )


def _trusted_proxies(table: Table) -> tuple[str, ...]:
    # X-Forwarded-For is believed only from these peers; a comma-separated list in
    # GATEWAY_SERVER_TRUSTED_PROXIES replaces the file's array.
    key = "trusted_proxies"
    if key in table.env:
        items = [item.strip() for item in table.env[key][1].split(",") if item.strip()]
    elif key in table.values:
        items = table.string_list(key)
    else:
        return ()
    for item in items:
        try:
            ipaddress.ip_network(item, strict=False)
        except ValueError:
            raise table.error(
                key, f"expected IP addresses or CIDR ranges, got `{clip(item)}`"
            ) from None
    return tuple(items)


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


def build_store(table: Table, base_dir: Path) -> StoreSettings:
    """
    Build and check ``[store]``.
    """
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
        outage_grace_seconds=table.number("outage_grace_seconds", DEFAULT_OUTAGE_GRACE_SECONDS),
    )


def _store_url(table: Table, url: str, base_dir: Path) -> tuple[StoreKind, Path | None, Secret]:
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
        path = resolve_path(base_dir, rest[1:])
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
        "url", f"unsupported scheme `{clip(scheme)}`; expected `sqlite` or `postgresql`"
    )


def build_secrets(table: Table, base_dir: Path, environ: Mapping[str, str]) -> SecretsSettings:
    """
    Build and check ``[secrets]``, reading the master key from its variable.
    """
    master_key_file = resolve_path(base_dir, table.path("master_key_file", DEFAULT_MASTER_KEY_FILE))
    master_key_env = table.string("master_key_env", DEFAULT_MASTER_KEY_ENV)
    if not _ENV_NAME.fullmatch(master_key_env):
        raise table.error(
            "master_key_env",
            f"expected an environment variable name, got `{clip(master_key_env)}`",
        )
    section = master_key_env[len(ENV_PREFIX) :].partition("_")[0].lower()
    if master_key_env.startswith(ENV_PREFIX) and section in (*SECTION_KEYS, "upstreams"):
        raise table.error(
            "master_key_env",
            f"`{master_key_env}` collides with the `GATEWAY_<SECTION>_<KEY>` overrides; "
            "pick another name",
        )
    master_key = None
    text = environ.get(master_key_env, "").strip()
    if text:
        # Several keys (during a rotation) are separated by newlines, spaces or commas,
        # the current one first, as in the key file.
        keys = text.replace(",", " ").split()
        # SECURITY: the message never shows the value.
        if not all(_is_base64(key) for key in keys):
            raise ConfigError(
                "expected the master key as base64 text (several: separated by commas, "
                "the current key first)",
                key=master_key_env,
            )
        master_key = Secret("\n".join(keys))
    return SecretsSettings(
        master_key_file=master_key_file, master_key_env=master_key_env, master_key=master_key
    )


def build_session(table: Table) -> SessionSettings:
    """
    Build and check ``[session]``.
    """
    cookie_name = table.string("cookie_name", DEFAULT_COOKIE_NAME)
    if not _COOKIE_NAME.fullmatch(cookie_name):
        raise table.error(
            "cookie_name", f"expected a cookie name (RFC 6265 token), got `{clip(cookie_name)}`"
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


def build_signin(table: Table) -> SigninSettings:
    """
    Build and check ``[signin]``.
    """
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


def build_audit(table: Table, base_dir: Path) -> AuditSettings:
    """
    Build and check ``[audit]``.
    """
    sink = cast("AuditSink", table.choice("sink", DEFAULT_AUDIT_SINK, AUDIT_SINKS))
    file = table.optional_path("file")
    if sink == "file" and file is None:
        raise table.error("file", "required when `audit.sink` is `file`")
    return AuditSettings(sink=sink, file=None if file is None else resolve_path(base_dir, file))


def build_metrics(table: Table) -> MetricsSettings:
    """
    Build and check ``[metrics]``; ``listen`` is ``host:port`` (``[::1]:9464`` for IPv6).
    """
    enabled = table.boolean("enabled", False)
    text = table.optional_string("listen")
    if text is None:
        return MetricsSettings(enabled=enabled)
    host, separator, port = text.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not separator or not _is_host(host) or not port.isdigit() or not 0 < int(port) < 65536:
        raise table.error(
            "listen", f"expected `host:port` such as `127.0.0.1:9464`, got `{clip(text)}`"
        )
    return MetricsSettings(enabled=enabled, listen=(host, int(port)))


# --- shared checks -------------------------------------------------------------------------------


def http_url(table: Table, key: str, url: str) -> str:
    """
    Check an upstream or public URL: absolute http(s), no credentials, query or fragment.
    """
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - parsing the port is the check
    except ValueError:
        raise table.error(key, f"invalid URL `{clip(url)}`") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise table.error(key, f"expected an absolute `http` or `https` URL, got `{clip(url)}`")
    if parts.username is not None or parts.password is not None:
        # SECURITY: the URL holds credentials, so it is not echoed.
        raise table.error(key, "must not contain credentials (`user:password@`)")
    if parts.query or parts.fragment or url.endswith(("?", "#")):
        raise table.error(key, f"must not have a query or fragment, got `{clip(url)}`")
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


def resolve_path(base_dir: Path, path: Path | str) -> Path:
    """
    Resolve a path from the file against the file's directory.
    """
    return (base_dir / path).resolve()
