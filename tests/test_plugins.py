"""
The plugin loader and the first-party JSON-lines audit sink.
"""

from __future__ import annotations

import json
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest
from gateway_jsonl_audit import JsonLinesSink

from gateway.errors import ConfigError
from gateway.plugins import GROUP, Plugin, load_plugins, resolve


def _point(name: str, value: str) -> EntryPoint:
    return EntryPoint(name=name, value=value, group=GROUP)


def test_first_party_plugin_is_installed_as_an_entry_point() -> None:
    """The shipped plugin is found through the same entry-point group as any other."""
    [plugin] = load_plugins(["jsonl-audit"])
    assert plugin.name == "jsonl-audit"
    assert isinstance(plugin.audit_sinks[0], JsonLinesSink)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("no_colon", "must be in the form `module:attribute`"),
        ("gateway_no_such_module:plugin", "could not import module"),
        ("gateway_jsonl_audit:missing", "attribute `missing` not found"),
        ("gateway_jsonl_audit:REDACTED_KEYS", "expected a Plugin"),
    ],
)
def test_each_loading_failure_has_its_message(value: str, message: str) -> None:
    """A broken reference fails with a message naming the step that failed."""
    with pytest.raises(ConfigError, match=message):
        resolve(value, name="broken")


def test_unknown_plugin_lists_installed_ones() -> None:
    """Enabling a plugin that is not installed names those that are."""
    with pytest.raises(ConfigError, match="`nope` is not installed; installed plugins: `a`"):
        load_plugins(["nope"], available=[_point("a", "gateway_jsonl_audit:plugin")])


def test_hooks_must_match_their_protocol() -> None:
    """A plugin whose audit sink lacks `emit` is refused at load time."""
    import types

    module = types.ModuleType("gateway_test_bad_plugin")
    module.plugin = Plugin(name="bad", audit_sinks=(object(),))  # type: ignore[attr-defined,arg-type]
    import sys

    sys.modules["gateway_test_bad_plugin"] = module
    try:
        with pytest.raises(ConfigError, match="not a valid audit sink"):
            resolve("gateway_test_bad_plugin:plugin", name="bad")
    finally:
        del sys.modules["gateway_test_bad_plugin"]


@pytest.mark.anyio
async def test_jsonl_sink_writes_events_without_secrets(tmp_path: Path) -> None:
    """Events land one per line once flushed; secret-looking keys are dropped."""
    path = tmp_path / "audit.jsonl"
    sink = JsonLinesSink(path)
    await sink.emit({"decision": "allowed", "Authorization": "AWS4-HMAC-SHA256 x"})
    await sink.emit({"decision": "implicitDeny", "nested": {"session_token": "t", "ok": 1}})
    await sink.close()
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert lines == [{"decision": "allowed"}, {"decision": "implicitDeny", "nested": {"ok": 1}}]
    assert path.stat().st_mode & 0o777 == 0o600
