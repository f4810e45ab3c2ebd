"""
The ``jsonl-audit`` plugin: audit events appended to a JSON-lines file.

Enabled through the ``gateway.plugins`` entry point ``jsonl-audit``; the file
comes from ``$GATEWAY_AUDIT_JSONL_FILE`` (default ``gateway-audit.jsonl``). The
sink is the core's ``gateway.audit.JsonLinesSink``: mode 0600, append, one line
per event, written off the event loop, reopened after log rotation, and keys
that name a secret (``REDACTED_KEYS``) dropped before writing, as a second line
of defence behind the core, which never puts secrets in events.
"""

from __future__ import annotations

import os
from pathlib import Path

from gateway.audit import REDACTED_KEYS, JsonLinesSink
from gateway.plugins import Plugin

__all__ = ["DEFAULT_FILE", "ENV_FILE", "REDACTED_KEYS", "JsonLinesSink", "plugin"]

ENV_FILE = "GATEWAY_AUDIT_JSONL_FILE"
DEFAULT_FILE = "gateway-audit.jsonl"


def plugin() -> Plugin:
    """
    Build the plugin from the environment; nothing is opened until the first write.
    """
    path = Path(os.environ.get(ENV_FILE, DEFAULT_FILE))
    return Plugin(name="jsonl-audit", audit_sinks=(JsonLinesSink(path),))
