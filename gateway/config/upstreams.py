"""
Building ``[[upstreams]]`` and their ``[[upstreams.routes]]``.

Part of ``gateway.config``. An upstream is selected by exactly one of a path
``prefix`` or a ``host``; names, prefixes and hosts are unique, and no prefix may
reach under ``/_gateway/``. A route turns ``methods`` and a ``path`` template into
an IAM ``action``, a ``resource`` ARN template and condition keys, and may not set
the gateway's own ``aws:`` keys. Imports nothing from the gateway except
``gateway.errors``.
"""

from __future__ import annotations

import re
import ssl
from collections.abc import Sequence
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit

from gateway.errors import ConfigError

from .reader import Table, clip, describe, join_options
from .sections import http_url, resolve_path
from .settings import (
    DEFAULT_UPSTREAM_CONNECT_TIMEOUT_SECONDS,
    DEFAULT_UPSTREAM_READ_TIMEOUT_SECONDS,
    RouteSettings,
    UpstreamSettings,
)

__all__ = ["HTTP_METHODS", "RESERVED_PREFIX", "ROUTE_BUILTIN_PLACEHOLDERS", "build_upstreams"]

RESERVED_PREFIX: Final = "/_gateway"
# Placeholders a route's resource and condition templates may use besides its path parameters.
ROUTE_BUILTIN_PLACEHOLDERS: Final = ("account", "region")
HTTP_METHODS: Final = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")

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
    "resource_policy",
    "ca_file",
)

_ROUTE_KEYS: Final = (
    "methods",
    "path",
    "action",
    "resource",
    "condition_keys",
    "unsigned_payload",
    "resource_policy",
)

_VIRTUAL_HOST = re.compile(
    r"[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*(:\d{1,5})?"
)
_UPSTREAM_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
_SERVICE = re.compile(r"[a-z0-9-]+")
_ACTION = re.compile(r"[a-z0-9-]+:[A-Za-z][A-Za-z0-9]*")
_CONDITION_KEY = re.compile(r"[A-Za-z0-9-]+:[A-Za-z0-9_.:/-]+")
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_PLACEHOLDER_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Path characters we accept literally: RFC 3986 pchar without percent-encoding, so that the
# path matched here is byte for byte the path that is authorized and forwarded.
_PATH_CHARS = re.compile(r"[A-Za-z0-9._~!$&'()*+,;=:@/-]*")


def build_upstreams(
    raw: object, file: str, base_dir: Path | None = None
) -> tuple[UpstreamSettings, ...]:
    """
    Build ``[[upstreams]]``, rejecting a name, prefix or host used twice.

    A relative ``ca_file`` is resolved against ``base_dir`` (the config file's
    directory; the working directory when None).
    """
    if not isinstance(raw, list | tuple):
        raise ConfigError(
            f"expected an array of tables (`[[upstreams]]`), got {describe(raw)}",
            file=file,
            key="upstreams",
        )
    upstreams: list[UpstreamSettings] = []
    seen: dict[tuple[str, str], str] = {}  # ("name" | "prefix" | "host", value) -> label
    for index, item in enumerate(raw):
        table = Table.of(item, file=file, label=f"upstreams[{index}]", keys=_UPSTREAM_KEYS)
        upstream = _upstream(table, Path.cwd() if base_dir is None else base_dir)
        for key in ("name", "prefix", "host"):
            value = getattr(upstream, key)
            if value is None:
                continue
            if (key, value) in seen:
                raise table.error(key, f"`{value}` is already used by {seen[key, value]}")
            seen[key, value] = table.label
        upstreams.append(upstream)
    return tuple(upstreams)


def _upstream(table: Table, base_dir: Path) -> UpstreamSettings:
    name = table.required_string("name")
    if not _UPSTREAM_NAME.fullmatch(name):
        raise table.error(
            "name", f"expected lowercase letters, digits, `-` or `_`, got `{clip(name)}`"
        )
    url = http_url(table, "url", table.required_string("url"))
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
                "host", f"expected a hostname such as `backup.internal`, got `{clip(host)}`"
            )
    service = table.required_string("service")
    if not _SERVICE.fullmatch(service):
        raise table.error(
            "service", f"expected lowercase letters, digits or `-`, got `{clip(service)}`"
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
        resource_policy=table.json_document("resource_policy"),
        ca_file=_ca_file(table, url, base_dir),
    )


def _ca_file(table: Table, url: str, base_dir: Path) -> Path | None:
    # Loaded once here, so that a missing or unreadable bundle stops start-up (or a
    # reload) with its key named, instead of failing the first request.
    path = table.optional_path("ca_file")
    if path is None:
        return None
    if urlsplit(url).scheme != "https":
        raise table.error("ca_file", "is only for `https` upstreams")
    path = resolve_path(base_dir, path)
    try:
        ssl.create_default_context(cafile=str(path))
    except ssl.SSLError:  # an OSError too: caught first
        raise table.error(
            "ca_file", f"`{path}` holds no PEM certificate (expected a CA bundle)"
        ) from None
    except OSError as exc:
        raise table.error("ca_file", f"cannot read `{path}`: {exc.strerror or exc}") from None
    return path


def _prefix(table: Table, prefix: str) -> str:
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
            f"no query or percent-encoding), got `{clip(prefix)}`",
        )
    prefix = prefix.rstrip("/") or "/"
    reserved = prefix.casefold()
    if reserved == RESERVED_PREFIX or reserved.startswith(f"{RESERVED_PREFIX}/"):
        raise table.error(
            "prefix", f"`{clip(prefix)}` is under `{RESERVED_PREFIX}/`, reserved for the gateway"
        )
    return prefix


def _route(table: Table) -> RouteSettings:
    methods = _methods(table, table.string_list("methods"))
    path = table.required_string("path")
    names = _path_parameters(table, path)
    action = table.required_string("action")
    if not _ACTION.fullmatch(action):
        raise table.error(
            "action", f"expected `service:Action` such as `backup:PutObject`, got `{clip(action)}`"
        )
    resource = table.required_string("resource")
    if resource != "*" and (not resource.startswith("arn:") or resource.count(":") < 5):
        raise table.error(
            "resource",
            "expected an ARN template such as `arn:aws:backup:{region}:{account}:bucket/{bucket}` "
            f"or `*`, got `{clip(resource)}`",
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
        resource_policy=table.json_document("resource_policy"),
    )


def _methods(table: Table, methods: Sequence[str]) -> tuple[str, ...]:
    normalized = tuple(method.upper() for method in methods)
    if not normalized:
        raise table.error("methods", "expected at least one HTTP method")
    if normalized == ("*",):
        return normalized
    for method in normalized:
        if method not in HTTP_METHODS:
            raise table.error(
                "methods",
                f"unknown HTTP method `{clip(method)}`; "
                f"expected {join_options([*HTTP_METHODS, '*'])} alone",
            )
    if len(set(normalized)) != len(normalized):
        raise table.error("methods", "lists a method twice")
    return normalized


def _path_parameters(table: Table, path: str) -> tuple[str, ...]:
    names: list[str] = []
    for match in _PLACEHOLDER.finditer(path):
        name, colon, converter = match.group(1).partition(":")
        if not _PLACEHOLDER_NAME.fullmatch(name) or (colon and converter != "path"):
            raise table.error(
                "path",
                f"invalid placeholder `{{{clip(match.group(1))}}}`; "
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
            f"got `{clip(path)}`",
        )
    return tuple(names)


def _check_template(table: Table, key: str, template: str, names: Sequence[str]) -> None:
    known = (*names, *ROUTE_BUILTIN_PLACEHOLDERS)
    for match in _PLACEHOLDER.finditer(template):
        if match.group(1) not in known:
            raise table.error(
                key,
                f"unknown placeholder `{{{clip(match.group(1))}}}`; expected one of "
                + ", ".join(f"`{{{name}}}`" for name in known),
            )
    literal = _PLACEHOLDER.sub("", template)
    if "{" in literal or "}" in literal:
        raise table.error(key, f"unbalanced `{{` or `}}` in `{clip(template)}`")


def _reject_duplicate_routes(table: Table, routes: Sequence[RouteSettings]) -> None:
    seen: dict[tuple[str, str], int] = {}
    for index, route in enumerate(routes):
        for method in route.methods:
            first = seen.setdefault((method, route.path), index)
            if first != index:
                raise table.error(
                    f"routes[{index}]",
                    f"`{method} {clip(route.path)}` is already routed by routes[{first}]",
                )
