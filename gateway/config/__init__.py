"""
The ops configuration: TOML file -> frozen, validated settings.

``load_config()`` reads the file with ``tomllib``, applies the
``GATEWAY_<SECTION>_<KEY>`` environment overrides, then builds the frozen
dataclasses. Every check runs here, before the gateway serves anything, and every
failure is a ``ConfigError`` naming the file (or the environment variable), the key
and what was expected. Secrets read here are wrapped in ``Secret`` so that they
cannot leak through a repr, a log line or an error.

The package, innermost first:

- ``secret``: ``Secret``, the redacting string wrapper;
- ``settings``: the frozen dataclasses and their named, safe defaults;
- ``reader``: one TOML table with typed getters, env overrides and message helpers;
- ``sections``: the scalar sections (``[server]``, ``[store]``, ...);
- ``upstreams``: ``[[upstreams]]`` and their routes.

This package sits outside the request layers: the edge, the CLI and the store read
its settings. It imports nothing from the gateway except ``gateway.errors``.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Final

from gateway.errors import ConfigError

from .reader import ENV_PREFIX, Table, environment_overrides, parse_bool, unknown_message
from .secret import Secret
from .sections import (
    build_audit,
    build_metrics,
    build_secrets,
    build_server,
    build_session,
    build_signin,
    build_store,
)
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
    DEFAULT_POOL_MAX_SIZE,
    DEFAULT_POOL_MIN_SIZE,
    DEFAULT_PORT,
    DEFAULT_PUBLIC_URL,
    DEFAULT_REGION,
    DEFAULT_SHUTDOWN_GRACE_SECONDS,
    DEFAULT_STORE_CONNECT_TIMEOUT_SECONDS,
    DEFAULT_STORE_URL,
    DEFAULT_UPSTREAM_CONNECT_TIMEOUT_SECONDS,
    DEFAULT_UPSTREAM_READ_TIMEOUT_SECONDS,
    MAX_MFA_DRIFT_STEPS,
    SECTION_KEYS,
    AuditSettings,
    AuditSink,
    MetricsSettings,
    RouteSettings,
    SecretsSettings,
    ServerSettings,
    SessionSettings,
    Settings,
    SigninSettings,
    StoreKind,
    StoreSettings,
    UpstreamSettings,
)
from .upstreams import HTTP_METHODS, RESERVED_PREFIX, ROUTE_BUILTIN_PLACEHOLDERS, build_upstreams

# The named defaults and limits are public too: the CLI and the tests read them from here.
__all__ = [
    "AUDIT_SINKS",
    "CONFIG_ENV_VAR",
    "DEFAULT_ABSOLUTE_TIMEOUT_SECONDS",
    "DEFAULT_AUDIT_SINK",
    "DEFAULT_BACKOFF_BASE_SECONDS",
    "DEFAULT_BACKOFF_MAX_SECONDS",
    "DEFAULT_BUSY_TIMEOUT_MS",
    "DEFAULT_CONFIG_FILE",
    "DEFAULT_COOKIE_NAME",
    "DEFAULT_HOST",
    "DEFAULT_IDLE_TIMEOUT_SECONDS",
    "DEFAULT_LOCK_SECONDS",
    "DEFAULT_MASTER_KEY_ENV",
    "DEFAULT_MASTER_KEY_FILE",
    "DEFAULT_MAX_BODY_BYTES",
    "DEFAULT_MAX_FAILURES",
    "DEFAULT_MFA_DRIFT_STEPS",
    "DEFAULT_POOL_MAX_SIZE",
    "DEFAULT_POOL_MIN_SIZE",
    "DEFAULT_PORT",
    "DEFAULT_PUBLIC_URL",
    "DEFAULT_REGION",
    "DEFAULT_SHUTDOWN_GRACE_SECONDS",
    "DEFAULT_STORE_CONNECT_TIMEOUT_SECONDS",
    "DEFAULT_STORE_URL",
    "DEFAULT_UPSTREAM_CONNECT_TIMEOUT_SECONDS",
    "DEFAULT_UPSTREAM_READ_TIMEOUT_SECONDS",
    "ENV_PREFIX",
    "HTTP_METHODS",
    "MAX_MFA_DRIFT_STEPS",
    "RESERVED_PREFIX",
    "ROUTE_BUILTIN_PLACEHOLDERS",
    "AuditSettings",
    "AuditSink",
    "MetricsSettings",
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

# The old private names, which tests/test_config.py checks directly.
_SECTION_KEYS = SECTION_KEYS
_parse_bool = parse_bool

_TOML_POSITION = re.compile(r"\s*\(at (?:line (\d+), column (\d+)|end of document)\)$")


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
        if key not in SECTION_KEYS and key != "upstreams":
            raise ConfigError(
                unknown_message(key, [*SECTION_KEYS, "upstreams"], "section"), file=file, key=key
            )
    overrides = environment_overrides(environ)
    tables = {
        name: Table.of(data.get(name, {}), file=file, label=name, keys=keys, env=overrides[name])
        for name, keys in SECTION_KEYS.items()
    }
    return Settings(
        server=build_server(tables["server"]),
        store=build_store(tables["store"], base_dir),
        secrets=build_secrets(tables["secrets"], base_dir, environ),
        session=build_session(tables["session"]),
        signin=build_signin(tables["signin"]),
        audit=build_audit(tables["audit"], base_dir),
        upstreams=build_upstreams(data.get("upstreams", []), file, base_dir),
        source=source,
        metrics=build_metrics(tables["metrics"]),
    )


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
