"""
``dump_toml()``: writes an IAM file as TOML, for ``gateway export``.

Policy documents become JSON in multi-line literal strings, so that an exported
file reads like the documents AWS shows and loads back unchanged.

The outermost layer, like the rest of ``gateway.cli``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any


def dump_toml(data: Mapping[str, Any]) -> str:
    """
    Write an IAM file as TOML: documents as JSON in multi-line literal strings.

    Args:
        data: the structure ``load_iam_file`` reads, as plain values.
    """
    lines: list[str] = [
        "# IAM state exported by `gateway export`; apply with `gateway apply FILE`."
    ]
    for key in ("account_alias", "prune"):
        if key in data:
            lines.append(f"{key} = {_toml_value(data[key])}")
    if "password_policy" in data:
        lines += ["", "[password_policy]"]
        lines += [f"{k} = {_toml_value(v)}" for k, v in data["password_policy"].items()]
    for section in ("policies", "groups", "users", "roles"):
        for item in data.get(section, []):
            lines += ["", f"[[{section}]]"]
            tables: list[tuple[str, Mapping[str, Any]]] = []
            for key, value in item.items():
                if key == "inline_policies":
                    tables.append((key, value))
                else:
                    lines.append(f"{key} = {_toml_value(value)}")
            for key, value in tables:
                lines.append(f"[{section}.{key}]")
                lines += [f"{_toml_key(name)} = {_toml_value(doc)}" for name, doc in value.items()]
    return "\n".join(lines) + "\n"


_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def _toml_key(key: str) -> str:
    return key if _BARE_KEY.fullmatch(key) else json.dumps(key, ensure_ascii=False)


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        # A JSON string is a valid TOML basic string (same escapes).
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    if isinstance(value, dict) and _is_document(value):
        text = json.dumps(value, indent=2, ensure_ascii=False)
        if "'''" not in text:
            return f"'''\n{text}\n'''"
        return json.dumps(json.dumps(value, ensure_ascii=False), ensure_ascii=False)
    if isinstance(value, dict):
        inner = ", ".join(f"{_toml_key(str(k))} = {_toml_value(v)}" for k, v in value.items())
        return "{ " + inner + " }" if inner else "{}"
    raise TypeError(f"cannot write {type(value).__name__} as TOML")


def _is_document(value: Mapping[str, Any]) -> bool:
    return "Statement" in value
