"""
An audit sink that appends one JSON object per line to a file.

Enabled through the ``gateway.plugins`` entry point ``jsonl-audit``; the file
comes from ``$GATEWAY_AUDIT_JSONL_FILE`` (default ``gateway-audit.jsonl``).
Keys that may carry secrets are dropped before writing, as a second line of
defence behind the core, which never puts secrets in events.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gateway.plugins import Plugin

# SECURITY: never written, whatever an event carries.
REDACTED_KEYS = frozenset(
    {"authorization", "cookie", "password", "secret", "secretaccesskey", "sessiontoken", "token"}
)


def _scrub(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {
            key: _scrub(item)
            for key, item in value.items()
            if str(key).replace("-", "").replace("_", "").lower() not in REDACTED_KEYS
        }
    if isinstance(value, list | tuple):
        return [_scrub(item) for item in value]
    return value


class JsonLinesSink:
    """
    Append audit events to a file, one JSON object per line.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = asyncio.Lock()

    async def emit(self, event: Mapping[str, Any]) -> None:
        line = json.dumps(_scrub(event), separators=(",", ":"), sort_keys=True) + "\n"
        async with self._lock:
            await asyncio.to_thread(self._append, line)

    def _append(self, line: str) -> None:
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "a", encoding="utf-8") as handle:
            handle.write(line)

    async def close(self) -> None:
        return None


def plugin() -> Plugin:
    """
    Build the plugin from the environment.
    """
    path = Path(os.environ.get("GATEWAY_AUDIT_JSONL_FILE", "gateway-audit.jsonl"))
    return Plugin(name="jsonl-audit", audit_sinks=(JsonLinesSink(path),))
