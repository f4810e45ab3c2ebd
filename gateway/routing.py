"""
The route table: a normalized request -> upstream, IAM action, resource ARN, context keys.

Layer: next to ``gateway.auth``, below the edge. Reads the settings built by
``gateway.config`` and the ``RequestView`` built by ``gateway.normalize``; knows
no ASGI scope, no store and no policy engine.

``RouteTable.compile()`` runs once, at start-up: it validates the upstreams with
the rules ``gateway.config`` applies to the file and compiles every path template
into a regular expression. ``RouteTable.match()`` then runs per request:

1. The upstream. An upstream with a ``host`` is chosen when the ``Host`` header
   names it (case- and port-insensitive, trailing dot ignored); host upstreams
   win over prefixes. Otherwise the longest ``prefix`` that ends on a segment
   boundary wins (``/backup`` matches ``/backup`` and ``/backup/x``, never
   ``/backupX``). Prefixes are case-sensitive, like the rest of the path. No
   upstream -> ``None``, and the edge answers 404.
2. The route. Routes are tried in file order against the path below the prefix;
   the first whose methods and path template match wins. ``{name}`` matches one
   non-empty segment, ``{name:path}`` the rest (one or more segments). ``*``
   matches any method, and a route that lists ``GET`` also takes ``HEAD``. A
   trailing slash is optional on both sides.
3. The names. Path parameters, ``{region}`` and ``{account}`` render literally
   into the resource and condition-key templates.

SECURITY: when no route of the upstream matches, the request is not let through
unmapped. It gets the default action ``<service>:<Method>``, the method spelled
as an AWS verb (``GET`` -> ``backup:Get``, ``DELETE`` -> ``backup:Delete``,
``VERSION-CONTROL`` -> ``backup:VersionControl``), on the resource
``arn:aws:<service>:<region>:<account>:path/<forward path without its leading
slash>``. No policy grants that unless it was written for it.

Why the leniency in step 2: upstreams commonly treat ``/x/`` as ``/x`` and ``HEAD``
as ``GET``; if the gateway did not, ``/buckets/secret/`` or ``HEAD`` would fall
through to the default action, and an ``Allow backup:*`` with a narrow ``Deny``
would let them past that ``Deny``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

from gateway.config import RouteSettings, UpstreamSettings
from gateway.config.upstreams import build_upstreams
from gateway.errors import ConfigError, InvalidInput
from gateway.policy import Policy, PolicyError, parse_policy
from gateway.types import RequestView

__all__ = ["RouteMatch", "RouteTable", "default_action"]

_PLACEHOLDER: Final = re.compile(r"\{([^{}]*)\}")
_WORDS: Final = re.compile(r"[A-Za-z0-9]+")
# Placeholders that are not path parameters: `gateway.config.ROUTE_BUILTIN_PLACEHOLDERS`.
_REGION: Final = "region"
_ACCOUNT: Final = "account"
# The partition, service, region and account fields of an ARN: the first five `:`-separated parts.
_ARN_HEAD_FIELDS: Final = 5

# One piece of a template: (True, placeholder name) or (False, literal text).
_Part = tuple[bool, str]


@dataclass(frozen=True, slots=True)
class RouteMatch:
    """
    What a request maps to: where it goes and what is authorized.

    ``forward_path`` is the normalized, decoded path to send upstream (the prefix
    stripped unless ``strip_prefix`` is false; it always starts with ``/``); send
    it as ``gateway.normalize.encode_path(forward_path)``. ``route`` is None for
    the default action. ``params`` are the path parameters, decoded.
    """

    upstream: UpstreamSettings
    route: RouteSettings | None
    action: str
    resource: str
    context: dict[str, str | list[str]] = field(hash=False)
    forward_path: str
    unsigned_payload: bool
    params: dict[str, str] = field(hash=False)
    resource_policy: Policy | None = field(default=None, hash=False, repr=False)


@dataclass(frozen=True, slots=True)
class _Template:
    parts: tuple[_Part, ...]
    # Parameters rendered into the ARN's partition, service, region or account field.
    arn_head: frozenset[str] = frozenset()

    @classmethod
    def parse(cls, text: str, *, arn: bool = False) -> _Template:
        parts: list[_Part] = []
        head: set[str] = set()
        colons = 0
        position = 0
        for match in _PLACEHOLDER.finditer(text):
            literal = text[position : match.start()]
            colons += literal.count(":")
            if literal:
                parts.append((False, literal))
            parts.append((True, match.group(1)))
            if arn and colons < _ARN_HEAD_FIELDS:
                head.add(match.group(1))
            position = match.end()
        if position < len(text):
            parts.append((False, text[position:]))
        return cls(tuple(parts), frozenset(head - {_REGION, _ACCOUNT}))

    def render(self, values: Mapping[str, str]) -> str:
        return "".join([values[text] if is_name else text for is_name, text in self.parts])


@dataclass(frozen=True, slots=True)
class _Route:
    settings: RouteSettings
    methods: frozenset[str] | None  # None: any method
    pattern: re.Pattern[str]
    resource: _Template
    context: tuple[tuple[str, _Template], ...]
    policy: Policy | None = None

    def accepts(self, method: str) -> bool:
        return self.methods is None or method in self.methods


@dataclass(frozen=True, slots=True)
class _Upstream:
    settings: UpstreamSettings
    routes: tuple[_Route, ...]
    policy: Policy | None = None


@dataclass(frozen=True, slots=True)
class Located:
    """
    Where a request goes, found before its caller is known (see ``RouteTable.locate``).
    """

    compiled: _Upstream
    route: _Route | None
    params: dict[str, str] = field(hash=False)
    forward_path: str
    method: str

    @property
    def upstream(self) -> UpstreamSettings:
        return self.compiled.settings

    @property
    def unsigned_payload(self) -> bool:
        return self.route is not None and self.route.settings.unsigned_payload


@dataclass(frozen=True, slots=True)
class RouteTable:
    """
    The compiled routes of every upstream; build it once with ``RouteTable.compile()``.
    """

    region: str
    _hosts: Mapping[str, _Upstream] = field(hash=False, repr=False)
    _prefixes: tuple[_Upstream, ...] = field(repr=False)  # longest first

    @classmethod
    def compile(
        cls, upstreams: Sequence[UpstreamSettings], *, region: str, file: str = ""
    ) -> RouteTable:
        """
        Validate the upstreams and compile their routes.

        Args:
            upstreams: the ``[[upstreams]]`` settings, in file order.
            region: the region rendered into ``{region}`` and default ARNs.
            file: the config file errors are reported under.

        Raises:
            ConfigError: a template, method or prefix is invalid; the message names
                it, as in ``upstreams[0].routes[2].path: ...``.
        """
        # Settings built by `gateway.config` pass again unchanged; settings built in code get the
        # same checks and the same normalization (uppercase methods, lowercase hosts).
        valid = build_upstreams([_as_table(upstream) for upstream in upstreams], file)
        hosts: dict[str, _Upstream] = {}
        labels: dict[str, str] = {}
        prefixed: list[_Upstream] = []
        for index, upstream in enumerate(valid):
            label = f"upstreams[{index}]"
            compiled = _Upstream(
                upstream,
                tuple(
                    _compile_route(route, label=f"{label}.routes[{number}]", file=file)
                    for number, route in enumerate(upstream.routes)
                ),
                _resource_policy(upstream.resource_policy, file=file, key=label),
            )
            if upstream.host is not None:
                key = _host_key(upstream.host)
                if key in hosts:
                    raise ConfigError(
                        f"`{upstream.host}` is already used by {labels[key]} (ports are ignored)",
                        file=file,
                        key=f"{label}.host",
                    )
                hosts[key], labels[key] = compiled, label
            elif upstream.prefix is not None:
                _check_no_parameters(upstream.prefix, file=file, key=f"{label}.prefix")
                prefixed.append(compiled)
        prefixed.sort(key=lambda item: len(item.settings.prefix or ""), reverse=True)
        return cls(region, hosts, tuple(prefixed))

    def match(self, view: RequestView, *, account: str) -> RouteMatch | None:
        """
        Map a request to its upstream, action, resource and context keys.

        The same as ``render(locate(view), account=account)``.

        Args:
            view: the request; ``view.path`` must come from ``normalize_path()``.
            account: the 12-digit account that owns the upstream's resources.

        Returns:
            The match, or None when no upstream serves the path (answer 404).

        Raises:
            InvalidInput: a path parameter rendered into an ARN's region or account
                field contains `:`, which would shift the ARN's fields.
        """
        located = self.locate(view)
        return None if located is None else self.render(located, account=account)

    def locate(self, view: RequestView) -> Located | None:
        """
        Find the upstream and route of a request, before the caller (and so the
        account its resources are rendered for) is known; None when no upstream
        serves the path.
        """
        # INVARIANT: view.path is normalized: it starts with `/` and has no `.`, `..` or `//`.
        path = view.path
        upstream: _Upstream | None = None
        if self._hosts:  # most tables route by prefix only: no Host header to read
            host = view.host
            upstream = self._hosts.get(_host_key(host)) if host else None
        relative = path
        if upstream is None:
            upstream = self._by_prefix(path)
            if upstream is None:
                return None
            prefix = upstream.settings.prefix or "/"
            relative = path[len(prefix) :] if prefix != "/" else path
            relative = relative or "/"
        forward_path = relative if upstream.settings.strip_prefix else path
        for route in upstream.routes:
            if not route.accepts(view.method):
                continue
            found = route.pattern.fullmatch(relative)
            if found is not None:
                return Located(upstream, route, found.groupdict(), forward_path, view.method)
        return Located(upstream, None, {}, forward_path, view.method)

    def render(self, located: Located, *, account: str) -> RouteMatch:
        """
        Render a located route's action, resource and context keys for ``account``.

        Raises:
            InvalidInput: see ``match``.
        """
        upstream, route = located.compiled, located.route
        if route is None:
            service = upstream.settings.service
            return RouteMatch(
                upstream=upstream.settings,
                route=None,
                action=default_action(service, located.method),
                resource=f"arn:aws:{service}:{self.region}:{account}:path/"
                f"{located.forward_path[1:]}",
                context={},
                forward_path=located.forward_path,
                unsigned_payload=False,
                params={},
                resource_policy=upstream.policy,
            )
        return self._render(upstream, route, located.params, located.forward_path, account)

    def _by_prefix(self, path: str) -> _Upstream | None:
        for upstream in self._prefixes:
            prefix = upstream.settings.prefix or "/"
            # Segment boundary: `/backup` owns `/backup` and `/backup/...`, not `/backupX`.
            if prefix == "/" or path == prefix or path.startswith(prefix + "/"):
                return upstream
        return None

    def _render(
        self,
        upstream: _Upstream,
        route: _Route,
        params: dict[str, str],
        forward_path: str,
        account: str,
    ) -> RouteMatch:
        for name in route.resource.arn_head:
            if ":" in params[name]:
                raise InvalidInput(
                    f"path parameter `{name}` must not contain `:`", code="InvalidURI"
                )
        values = {**params, _REGION: self.region, _ACCOUNT: account}
        return RouteMatch(
            upstream=upstream.settings,
            route=route.settings,
            action=route.settings.action,
            resource=route.resource.render(values),
            context={key: template.render(values) for key, template in route.context}
            if route.context
            else {},
            forward_path=forward_path,
            unsigned_payload=route.settings.unsigned_payload,
            params=params,
            resource_policy=route.policy or upstream.policy,
        )


def default_action(service: str, method: str) -> str:
    """
    The action of a request no route maps: ``<service>:<Method>`` (``backup:Get``).
    """
    verb = "".join(word.capitalize() for word in _WORDS.findall(method))
    return f"{service}:{verb}"


def _compile_route(route: RouteSettings, *, label: str, file: str) -> _Route:
    _check_no_parameters(route.path, file=file, key=f"{label}.path")
    methods = set(route.methods)
    if "GET" in methods:
        # Upstreams answer HEAD with GET's handler; HEAD must need what GET needs.
        methods.add("HEAD")
    return _Route(
        settings=route,
        methods=None if "*" in methods else frozenset(methods),
        pattern=_path_pattern(route.path),
        resource=_Template.parse(route.resource, arn=True),
        context=tuple((key, _Template.parse(value)) for key, value in route.condition_keys),
        policy=_resource_policy(route.resource_policy, file=file, key=label),
    )


def _resource_policy(document: str | None, *, file: str, key: str) -> Policy | None:
    if document is None:
        return None
    try:
        return parse_policy(document, kind="resource", policy_id=f"{key}.resource_policy")
    except PolicyError as exc:
        raise ConfigError(str(exc), file=file, key=f"{key}.resource_policy") from None


def _path_pattern(template: str) -> re.Pattern[str]:
    # INVARIANT: `template` passed gateway.config's checks: it starts with `/`, has no `.`, `..`
    # or empty inner segments, and `{name:path}` can only end it.
    body = template.rstrip("/") if template != "/" else ""
    pattern: list[str] = []
    position = 0
    ends_with_rest = False
    for match in _PLACEHOLDER.finditer(body):
        pattern.append(re.escape(body[position : match.start()]))
        name, _, converter = match.group(1).partition(":")
        ends_with_rest = converter == "path"
        # SECURITY: `{name}` can never hold a `/`, so it can never span two segments.
        pattern.append(f"(?P<{name}>.+)" if ends_with_rest else f"(?P<{name}>[^/]+)")
        position = match.end()
    pattern.append(re.escape(body[position:]))
    if not ends_with_rest:
        pattern.append("/?" if body else "/")
    return re.compile("".join(pattern))


def _check_no_parameters(path: str, *, file: str, key: str) -> None:
    # gateway.normalize refuses every path holding `;`, so such a template could never match.
    if ";" in path:
        raise ConfigError(
            f"`;` can never match: the gateway refuses paths with `;` parameters, got `{path}`",
            file=file,
            key=key,
        )


def _host_key(host: str) -> str:
    host = host.strip().lower()
    if host.startswith("["):  # `[2001:db8::1]:443`
        return host.partition("]")[0] + "]"
    if host.count(":") == 1:
        host = host.partition(":")[0]
    return host.rstrip(".")


def _as_table(upstream: UpstreamSettings) -> dict[str, object]:
    table: dict[str, object] = {
        "name": upstream.name,
        "url": upstream.url,
        "service": upstream.service,
        "strip_prefix": upstream.strip_prefix,
        "connect_timeout_seconds": upstream.connect_timeout_seconds,
        "read_timeout_seconds": upstream.read_timeout_seconds,
        "routes": [
            {
                "methods": list(route.methods),
                "path": route.path,
                "action": route.action,
                "resource": route.resource,
                "condition_keys": dict(route.condition_keys),
                "unsigned_payload": route.unsigned_payload,
                **({"resource_policy": route.resource_policy} if route.resource_policy else {}),
            }
            for route in upstream.routes
        ],
    }
    if upstream.resource_policy is not None:
        table["resource_policy"] = upstream.resource_policy
    if upstream.ca_file is not None:
        table["ca_file"] = str(upstream.ca_file)
    if upstream.prefix is not None:
        table["prefix"] = upstream.prefix
    if upstream.host is not None:
        table["host"] = upstream.host
    return table
