"""
The audit trail: one JSON event per decision, queued without blocking, sent to sinks.

Layer: auth (beside ``routing``); the edge calls it after each request. Imports
``gateway.policy``, ``gateway.principal``, ``gateway.types``, ``gateway.plugins``,
``gateway.config`` and ``gateway.errors``; never the edge, ``iam`` or the store.

Typical use, in the app's lifespan and per request::

    auditor = auditor_from_settings(settings.audit, plugins)
    await auditor.start()
    ...
    auditor.record(build_event(view=view, principal=principal, action=action, ...))
    # or, on the hot path, let the drainer build it (arguments must not change):
    auditor.defer(build_event, view=view, principal=principal, action=action, ...)
    ...
    await auditor.aclose()

- ``events``: ``build_event()``, one CloudTrail-shaped dict per request.
- ``redaction``: ``sanitize_text()``, ``redact_query()``, ``scrub_secrets()``.
- ``auditor``: ``Auditor`` (bounded queue, one drainer task, counters) and
  ``auditor_from_settings()``.
- ``sinks``: ``StdoutSink`` and ``JsonLinesSink`` (also shipped as the
  ``jsonl-audit`` plugin).

SECURITY: no event ever holds an Authorization header, a cookie, a signature, a
session token, a password or a secret key; see ``events`` and ``redaction``.
"""

from __future__ import annotations

from gateway.audit.auditor import (
    DEFAULT_MAX_QUEUE,
    Auditor,
    auditor_from_settings,
)
from gateway.audit.events import EVENT_VERSION, AuditEvent, build_event
from gateway.audit.redaction import REDACTED_KEYS, redact_query, sanitize_text, scrub_secrets
from gateway.audit.sinks import BufferedSink, JsonLinesSink, StdoutSink, encode_line

__all__ = [
    "DEFAULT_MAX_QUEUE",
    "EVENT_VERSION",
    "REDACTED_KEYS",
    "AuditEvent",
    "Auditor",
    "BufferedSink",
    "JsonLinesSink",
    "StdoutSink",
    "auditor_from_settings",
    "build_event",
    "encode_line",
    "redact_query",
    "sanitize_text",
    "scrub_secrets",
]
