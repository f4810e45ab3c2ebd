"""
Extension points and the plugin loader (entry-point group ``gateway.plugins``).

A plugin is a distribution that declares, in its own ``pyproject.toml``::

    [project.entry-points."gateway.plugins"]
    my-plugin = "my_package:plugin"

where ``plugin`` is a ``Plugin`` value (or a zero-argument callable returning
one) carrying any of three hook kinds:

- ``AuditSink``: receives each audit event (a JSON-ready dict, never a secret)
- ``RequestFilter``: may refuse or annotate a request before authorization;
  it can never turn a deny into an allow
- ``Authenticator``: may recognise a credential the core does not

First-party plugins in ``plugins/`` are loaded the same way. Loading errors
name the entry point and say which step failed (bad reference, missing
module, missing attribute, wrong type), the way uvicorn's importer does.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from typing import Any, Protocol, runtime_checkable

from gateway.errors import ConfigError

GROUP = "gateway.plugins"


@runtime_checkable
class AuditSink(Protocol):
    """
    Receives one audit event per decision; must not block the event loop.
    """

    async def emit(self, event: Mapping[str, Any]) -> None: ...

    async def close(self) -> None: ...


@runtime_checkable
class RequestFilter(Protocol):
    """
    Looks at a request before authorization; returns a refusal reason or None.
    """

    async def check(self, request: Any) -> str | None: ...


@runtime_checkable
class Authenticator(Protocol):
    """
    Recognises a credential; returns a principal or None to let others try.
    """

    async def authenticate(self, request: Any) -> Any | None: ...


@dataclass(frozen=True, slots=True)
class Plugin:
    """
    What a plugin contributes; every field is optional.
    """

    name: str
    audit_sinks: tuple[AuditSink, ...] = ()
    request_filters: tuple[RequestFilter, ...] = ()
    authenticators: tuple[Authenticator, ...] = ()
    options: Mapping[str, Any] = field(default_factory=dict)


def resolve(reference: str, *, name: str) -> Plugin:
    """
    Import ``module:attribute`` and return the Plugin it names.

    Raises:
        ConfigError: one message for each way the reference can fail.
    """
    module_name, _, attribute = reference.partition(":")
    if not module_name or not attribute:
        raise ConfigError(
            f"plugin `{name}`: reference `{reference}` must be in the form `module:attribute`"
        )
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(
            f"plugin `{name}`: could not import module `{module_name}`: {exc}"
        ) from None
    target: Any = module
    for part in attribute.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise ConfigError(
                f"plugin `{name}`: attribute `{attribute}` not found in module `{module_name}`"
            ) from None
    if callable(target) and not isinstance(target, Plugin):
        target = target()
    if not isinstance(target, Plugin):
        raise ConfigError(
            f"plugin `{name}`: `{reference}` is a {type(target).__name__}, expected a Plugin"
        )
    _check_hooks(target, name)
    return target


def _check_hooks(plugin: Plugin, name: str) -> None:
    kinds: tuple[tuple[str, Iterable[object], type], ...] = (
        ("audit sink", plugin.audit_sinks, AuditSink),
        ("request filter", plugin.request_filters, RequestFilter),
        ("authenticator", plugin.authenticators, Authenticator),
    )
    for label, hooks, protocol in kinds:
        for hook in hooks:
            if not isinstance(hook, protocol):
                raise ConfigError(f"plugin `{name}`: {type(hook).__name__} is not a valid {label}")


def load_plugins(
    enabled: Iterable[str] | None = None, *, available: Iterable[EntryPoint] | None = None
) -> list[Plugin]:
    """
    Load the plugins of the ``gateway.plugins`` entry-point group.

    Args:
        enabled: names to load; None loads every installed plugin.
        available: entry points to choose from (defaults to the installed ones).

    Raises:
        ConfigError: an enabled plugin is not installed or fails to load.
    """
    points = {point.name: point for point in (available or entry_points(group=GROUP))}
    names = sorted(points) if enabled is None else list(enabled)
    loaded: list[Plugin] = []
    for name in names:
        point = points.get(name)
        if point is None:
            known = ", ".join(f"`{n}`" for n in sorted(points)) or "none"
            raise ConfigError(f"plugin `{name}` is not installed; installed plugins: {known}")
        loaded.append(resolve(point.value, name=name))
    return loaded
