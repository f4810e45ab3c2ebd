"""
Reading one TOML table: typed getters, ``GATEWAY_<SECTION>_<KEY>`` overrides, messages.

Part of ``gateway.config``. A ``Table`` checks each value's type, applies the
environment override for its key and knows where the value came from, so that a
``ConfigError`` names the variable or the ``file: section.key``. The message
helpers (did-you-mean, ``describe``, ``clip``) keep errors in one style. Imports
nothing from the gateway except ``gateway.errors``.
"""

from __future__ import annotations

import difflib
import json
import math
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Final, TypeVar, cast

from gateway.errors import ConfigError

from .settings import SECTION_KEYS

__all__ = [
    "ENV_PREFIX",
    "Table",
    "clip",
    "describe",
    "environment_overrides",
    "join_options",
    "parse_bool",
    "unknown_message",
]

ENV_PREFIX: Final = "GATEWAY_"

_INT_TEXT = re.compile(r"[+-]?[0-9]+")
_BOOL_TEXT: Final = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}

_T = TypeVar("_T")
_D = TypeVar("_D")


class Table:
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
    ) -> Table:
        """
        Check that ``raw`` is a table whose keys are all in ``keys``, then wrap it.
        """
        if not isinstance(raw, Mapping):
            raise ConfigError(f"expected a table, got {describe(raw)}", file=file, key=label)
        table = cls(cast("Mapping[str, object]", raw), file=file, label=label, env=env or {})
        for key in table.values:
            if key not in keys:
                raise table.error(key, unknown_message(key, keys, "key"))
        return table

    def child(self, key: str, raw: object, keys: Sequence[str]) -> Table:
        """
        The sub-table at ``key`` (an array item such as ``routes[0]``), without overrides.
        """
        return Table.of(raw, file=self.file, label=f"{self.label}.{key}", keys=keys)

    def error(self, key: str | None, message: str) -> ConfigError:
        """
        A ``ConfigError`` for ``key`` (None: the table itself), naming its variable or file.
        """
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
        return self._get(key, default, "a boolean", _as_bool, parse_bool)

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
            raise self.error(key, f"expected {join_options(choices)}, got `{clip(value)}`")
        return value

    # Structures: never overridden from the environment.

    def string_list(self, key: str) -> list[str]:
        raw = self.values.get(key)
        if raw is None:
            raise self.error(key, "missing required key")
        if not isinstance(raw, list | tuple) or not all(isinstance(item, str) for item in raw):
            raise self.error(key, f"expected an array of strings, got {describe(raw)}")
        return list(raw)

    def string_table(self, key: str) -> dict[str, str]:
        raw = self.values.get(key, {})
        if not isinstance(raw, Mapping):
            raise self.error(key, f"expected a table of strings, got {describe(raw)}")
        for name, value in raw.items():
            if not isinstance(value, str):
                raise self.error(f"{key}.{name}", f"expected a string, got {describe(value)}")
        return dict(raw)

    def json_document(self, key: str) -> str | None:
        """
        A JSON object given as JSON text or as a TOML table, returned as JSON text.
        """
        raw = self.values.get(key)
        if raw is None:
            return None
        if isinstance(raw, Mapping):
            return json.dumps(raw, indent=2, default=str)
        if isinstance(raw, str):
            try:
                decoded = json.loads(raw)
            except ValueError as exc:
                raise self.error(key, f"expected a JSON object, got invalid JSON: {exc}") from None
            if not isinstance(decoded, dict):
                raise self.error(key, f"expected a JSON object, got {describe(decoded)}")
            return raw
        raise self.error(key, f"expected a table or JSON text, got {describe(raw)}")

    def tables(self, key: str) -> list[object]:
        raw = self.values.get(key, [])
        if not isinstance(raw, list | tuple):
            raise self.error(key, f"expected an array of tables, got {describe(raw)}")
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
                raise ConfigError(f"expected {expected}, got `{clip(text)}`", key=name)
            return parsed
        if key not in self.values:
            return default
        raw = self.values[key]
        value = coerce(raw)
        if value is None:
            raise self.error(key, f"expected {expected}, got {describe(raw)}")
        return value


def _as_str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _parse_str(text: str) -> str | None:
    return text


def _as_path(value: object) -> str | None:
    return os.fspath(value) if isinstance(value, str | os.PathLike) else None


def _as_bool(value: object) -> bool | None:
    return value if isinstance(value, bool) else None


def parse_bool(text: str) -> bool | None:
    """
    Read an env boolean: ``true``/``1``/``yes`` or ``false``/``0``/``no``, any case; else None.
    """
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


# --- environment overrides -----------------------------------------------------------------------


def environment_overrides(environ: Mapping[str, str]) -> dict[str, dict[str, tuple[str, str]]]:
    """
    Collect ``GATEWAY_<SECTION>_<KEY>`` variables as section -> key -> (variable, text).

    Only a variable whose second word names a section is an override, so
    ``GATEWAY_CONFIG``, ``GATEWAY_MASTER_KEY`` and ``GATEWAY_TEST_*`` pass by.
    """
    overrides: dict[str, dict[str, tuple[str, str]]] = {name: {} for name in SECTION_KEYS}
    for name in sorted(environ):
        if not name.startswith(ENV_PREFIX):
            continue
        section, _, key = name[len(ENV_PREFIX) :].partition("_")
        section, key = section.lower(), key.lower()
        if section == "upstreams":
            raise ConfigError(
                "upstreams cannot be set from the environment; edit the config file", key=name
            )
        if section not in SECTION_KEYS:
            continue
        keys = SECTION_KEYS[section]
        if key not in keys:
            known = [f"{ENV_PREFIX}{section}_{k}".upper() for k in keys]
            raise ConfigError(unknown_message(name, known, "variable"), key=name)
        overrides[section][key] = (name, environ[name])
    return overrides


# --- messages ------------------------------------------------------------------------------------


def unknown_message(name: str, choices: Iterable[str], what: str) -> str:
    """
    The message for an unknown ``what`` (key, section, variable), with a did-you-mean.
    """
    options = list(choices)
    close = difflib.get_close_matches(name, options, n=1)
    if close:
        return f"unknown {what}; did you mean `{close[0]}`?"
    return f"unknown {what}; expected {join_options(options)}"


def join_options(options: Sequence[str]) -> str:
    """
    Quote options for "expected ...": ``a``, ``b`` or ``c``, each in backticks.
    """
    quoted = [f"`{option}`" for option in options]
    if len(quoted) == 1:
        return quoted[0]
    return f"{', '.join(quoted[:-1])} or {quoted[-1]}"


def describe(value: object) -> str:
    """Name a value's TOML type, with the value when it is short, for "got ..."."""
    if isinstance(value, bool):
        return f"boolean `{str(value).lower()}`"
    if isinstance(value, str):
        return f"string `{clip(value)}`"
    if isinstance(value, int):
        return f"integer `{value}`"
    if isinstance(value, float):
        return f"float `{value}`"
    if isinstance(value, list | tuple):
        return "an array"
    if isinstance(value, Mapping):
        return "a table"
    return type(value).__name__


def clip(text: str, limit: int = 60) -> str:
    """
    Make user text safe for a one-line message: no newlines or backticks, at most ``limit``.
    """
    text = text.replace("\n", "\\n").replace("`", "'")
    return text if len(text) <= limit else f"{text[: limit - 3]}..."
