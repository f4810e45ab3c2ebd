"""
The ``Auditor``: a bounded queue between request handling and the audit sinks.

Layer: auth (beside ``routing``). Requests call ``record()``, which never waits:
it puts the event on a bounded ``asyncio.Queue`` or, when the queue is full,
counts a drop. ``defer()`` queues the function that builds the event and its
arguments instead, and the drainer builds it: off the request path, and in batches,
which run faster than the same work spread between requests. One background task
drains the queue into every sink in turn, in batches of what has queued up (at most
``BATCH`` events), with a timeout per sink and batch, so a slow or broken sink
delays only the audit trail (and, once the queue is full, loses events that are
counted) but never a request. Buffered sinks are flushed ``FLUSH_DELAY`` seconds
after the queue runs empty, so a busy gateway writes its trail in a few large
writes instead of one per request.

SECURITY: sink failures are logged by sink class and exception type only, at most
once per ``log_every`` failures; never with the exception's message or the event,
which could repeat what a client sent.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from types import TracebackType
from typing import Any, Final, Self, TextIO

from gateway.audit.sinks import BufferedSink, JsonLinesSink, StdoutSink
from gateway.config import AuditSettings
from gateway.errors import ConfigError
from gateway.plugins import AuditSink, Plugin

__all__ = [
    "DEFAULT_CLOSE_TIMEOUT",
    "DEFAULT_LOG_EVERY",
    "DEFAULT_MAX_QUEUE",
    "DEFAULT_SINK_TIMEOUT",
    "Auditor",
    "auditor_from_settings",
]

DEFAULT_MAX_QUEUE: Final = 10_000
DEFAULT_SINK_TIMEOUT: Final = 5.0
DEFAULT_CLOSE_TIMEOUT: Final = 5.0
DEFAULT_LOG_EVERY: Final = 1_000
BATCH: Final = 256
FLUSH_DELAY: Final = 0.05

logger = logging.getLogger("gateway.audit")


class _Deferred:
    # An event to build when the drainer takes it: `build(**fields)`.
    __slots__ = ("build", "fields")

    def __init__(self, build: Callable[..., Mapping[str, Any]], fields: dict[str, Any]) -> None:
        self.build = build
        self.fields = fields


class Auditor:
    """
    Queue audit events without blocking and deliver them to the sinks in order.

    Counters for metrics: ``dropped`` (events lost to a full queue, to a closed
    auditor, to a deferred build that raised, or still queued when the shutdown
    timeout ran out), ``emitted``
    (successful ``sink.emit`` calls; one event with two sinks counts twice) and
    ``sink_errors`` (sink calls that raised or timed out).

    Args:
        sinks: where events go; with none, ``record()`` does nothing.
        max_queue: events held while the sinks catch up.
        sink_timeout: seconds one sink may take over a batch of ``emit`` calls, or
            over one ``flush`` or ``close`` call.
        close_timeout: seconds ``aclose()`` waits for the queue to drain.
        log_every: log the first failure, then one in every ``log_every``.
    """

    def __init__(
        self,
        sinks: Iterable[AuditSink] = (),
        *,
        max_queue: int = DEFAULT_MAX_QUEUE,
        sink_timeout: float = DEFAULT_SINK_TIMEOUT,
        close_timeout: float = DEFAULT_CLOSE_TIMEOUT,
        log_every: int = DEFAULT_LOG_EVERY,
    ) -> None:
        if max_queue < 1 or sink_timeout <= 0 or close_timeout < 0 or log_every < 1:
            raise ValueError("audit: queue size, timeouts and log_every must be positive")
        self.sinks = tuple(sinks)
        self._queue: asyncio.Queue[Mapping[str, Any] | _Deferred] = asyncio.Queue(max_queue)
        self._sink_timeout = sink_timeout
        self._close_timeout = close_timeout
        self._log_every = log_every
        self._task: asyncio.Task[None] | None = None
        # Flushes scheduled or running; a new one is scheduled once none is waiting.
        self._flushers: set[asyncio.Task[None]] = set()
        self._flush_waiting = False
        # Events of the batch in hand that no sink has been given yet.
        self._unstarted = 0
        self._closed = False
        self._dropped = 0
        self._emitted = 0
        self._sink_errors = 0

    @property
    def dropped(self) -> int:
        return self._dropped

    @property
    def emitted(self) -> int:
        return self._emitted

    @property
    def sink_errors(self) -> int:
        return self._sink_errors

    @property
    def pending(self) -> int:
        """Events queued, or taken by the drainer and not yet given to any sink."""
        return self._queue.qsize() + self._unstarted

    def record(self, event: Mapping[str, Any]) -> None:
        """
        Queue ``event`` for the sinks; never blocks, never raises.

        Events recorded before ``start()`` wait in the queue; after ``aclose()``
        they are counted as dropped.
        """
        self._enqueue(event)

    def defer(self, build: Callable[..., Mapping[str, Any]], /, **fields: Any) -> None:
        """
        Queue the event ``build(**fields)`` returns, built by the drainer; never blocks,
        never raises.

        ``fields`` must not change once passed (frozen views, principals and
        decisions; fresh lists). An event whose build raises is counted as dropped.
        """
        self._enqueue(_Deferred(build, fields))

    def _enqueue(self, item: Mapping[str, Any] | _Deferred) -> None:
        if not self.sinks:
            return
        if self._closed:
            self._drop(1)
            return
        try:
            self._queue.put_nowait(item)
        except asyncio.QueueFull:
            self._drop(1)

    async def start(self) -> None:
        """
        Start the drainer task on the running loop; a second call does nothing.

        Raises:
            RuntimeError: the auditor was closed.
        """
        if self._closed:
            raise RuntimeError("audit: the auditor is closed")
        if self._task is None and self.sinks:
            self._task = asyncio.create_task(self._drain(), name="gateway-audit-drainer")

    async def aclose(self) -> None:
        """
        Deliver what is queued within ``close_timeout`` seconds, then close every sink.

        Events still queued when the time is up are counted as dropped.
        """
        if self._closed:
            return
        self._closed = True
        if self._task is None and not self._queue.empty():
            self._task = asyncio.create_task(self._drain(), name="gateway-audit-drainer")
        if self._task is not None:
            try:
                async with asyncio.timeout(self._close_timeout):
                    await self._queue.join()
            except TimeoutError:
                pass
            await self._stop_drainer(self._task)
        if self._flushers:
            # Waited for, not cancelled: a write handed to a thread must end first.
            await asyncio.wait(set(self._flushers))
        left = self._discard_queue() + self._unstarted
        self._unstarted = 0
        if left:
            self._drop(left)
            logger.warning("audit: %d events were not delivered before shutdown", left)
        for sink in self.sinks:
            await self._call(sink, sink.close)

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def _drain(self) -> None:
        buffered = [sink for sink in self.sinks if isinstance(sink, BufferedSink)]
        queue = self._queue
        while True:
            taken = [await queue.get()]
            while len(taken) < BATCH and not queue.empty():
                taken.append(queue.get_nowait())
            batch = self._built(taken)
            self._unstarted = len(batch)
            try:
                for index, sink in enumerate(self.sinks):
                    self._emitted += await self._emit(sink, batch, first=index == 0)
                self._unstarted = 0
                if buffered and not self._flush_waiting and queue.empty():
                    # Idle: write out what buffered sinks hold, soon, in one go.
                    self._flush_waiting = True
                    flusher = asyncio.create_task(self._flush_soon(buffered))
                    self._flushers.add(flusher)
                    flusher.add_done_callback(self._flushers.discard)
            finally:
                for _ in taken:
                    queue.task_done()

    def _built(self, taken: list[Mapping[str, Any] | _Deferred]) -> list[Mapping[str, Any]]:
        # Deferred events are built here, one batch at a time; a build that fails loses
        # its event (counted and logged by exception type only, like a sink failure).
        events: list[Mapping[str, Any]] = []
        for item in taken:
            if not isinstance(item, _Deferred):
                events.append(item)  # from record()
                continue
            try:
                events.append(item.build(**item.fields))
            except Exception as exc:  # a bug in a builder: the trail loses one event
                self._drop(1, f"an event could not be built ({type(exc).__name__})")
        return events

    async def _emit(self, sink: AuditSink, batch: list[Mapping[str, Any]], *, first: bool) -> int:
        # Give `batch` to `sink` within one timeout; return how many emits succeeded.
        delivered = attempted = 0
        try:
            async with asyncio.timeout(self._sink_timeout):
                for event in batch:
                    attempted += 1
                    if first:
                        self._unstarted -= 1
                    if await self._guarded(sink, sink.emit(event)):
                        delivered += 1
        except TimeoutError:
            # The emit in progress and every one not attempted count as failures.
            for _ in range(len(batch) - attempted + 1):
                self._sink_failed(sink, "TimeoutError")
            if first:
                self._unstarted = 0
        return delivered

    async def _guarded(self, sink: AuditSink, call: Awaitable[None]) -> bool:
        # Run one sink call; a failure is counted (by type only) and never propagates.
        try:
            await call
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise  # the drainer is being stopped, or the batch timed out
            self._sink_failed(sink, "CancelledError")
            return False
        except Exception as exc:  # any sink bug: count it, keep draining
            self._sink_failed(sink, type(exc).__name__)
            return False
        return True

    async def _flush_soon(self, buffered: list[BufferedSink]) -> None:
        try:
            await asyncio.sleep(FLUSH_DELAY)
        finally:
            self._flush_waiting = False
        for sink in buffered:
            await self._call(sink, sink.flush)

    async def _call(self, sink: AuditSink, operation: Callable[[], Awaitable[None]]) -> bool:
        # One flush or close, within its own timeout.
        try:
            async with asyncio.timeout(self._sink_timeout):
                return await self._guarded(sink, operation())
        except TimeoutError:
            self._sink_failed(sink, "TimeoutError")
            return False

    async def _stop_drainer(self, task: asyncio.Task[None]) -> None:
        task.cancel()
        # asyncio.wait neither raises the task's CancelledError nor swallows our own.
        await asyncio.wait({task})
        if not task.cancelled() and task.exception() is not None:
            logger.error("audit: the drainer stopped unexpectedly")

    def _discard_queue(self) -> int:
        left = 0
        while not self._queue.empty():
            self._queue.get_nowait()
            self._queue.task_done()
            left += 1
        return left

    def _drop(self, count: int, why: str = "queue full or closed") -> None:
        before = self._dropped
        self._dropped += count
        if before // self._log_every != self._dropped // self._log_every or before == 0:
            logger.warning("audit: %s; %d events dropped so far", why, self._dropped)

    def _sink_failed(self, sink: AuditSink, error: str) -> None:
        self._sink_errors += 1
        if (self._sink_errors - 1) % self._log_every == 0:
            logger.warning(
                "audit: sink %s failed with %s; %d sink errors so far",
                type(sink).__name__,
                error,
                self._sink_errors,
            )


def auditor_from_settings(
    settings: AuditSettings,
    plugins: Iterable[Plugin] = (),
    *,
    max_queue: int = DEFAULT_MAX_QUEUE,
    stream: TextIO | None = None,
) -> Auditor:
    """
    Build the auditor for ``[audit]``: its sink, then every plugin's audit sinks.

    Args:
        settings: ``sink`` is ``stdout``, ``file`` (with ``file`` set) or ``none``.
        plugins: loaded plugins; their audit sinks are added after the core one.
        max_queue: the auditor's queue size.
        stream: where the stdout sink writes (defaults to ``sys.stdout``).

    Raises:
        ConfigError: ``sink`` is ``file`` and no file is set.
    """
    sinks: list[AuditSink] = []
    if settings.sink == "stdout":
        sinks.append(StdoutSink(stream))
    elif settings.sink == "file":
        if settings.file is None:
            raise ConfigError("required when `audit.sink` is `file`", key="audit.file")
        sinks.append(JsonLinesSink(settings.file))
    for plugin in plugins:
        sinks.extend(plugin.audit_sinks)
    return Auditor(sinks, max_queue=max_queue)
