"""Scheduled work that is allowed to finish before the database closes.

APScheduler 3 runs a coroutine job as a future of its own and, on shutdown, cancels what is still
running instead of waiting for it. A sweep cancelled halfway through a database call leaves its
connection to be terminated after the engine was disposed; with aiosqlite that termination waits
for a worker thread that is already gone, and the process hangs on exit (seen in the test suite,
about one start/stop in ten). So every job runs as a task of its own behind `asyncio.shield`, and
the app's shutdown awaits `Jobs.close()` before it disposes the database.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)


class Jobs:
    """The scheduled jobs in flight, so shutdown can wait for them."""

    def __init__(self) -> None:
        self._running: set[asyncio.Task[None]] = set()
        self._closed = False

    @property
    def running(self) -> int:
        return len(self._running)

    async def run(self, name: str, work: Callable[[], Awaitable[None]]) -> None:
        """The scheduler's entry point for one tick of `work`."""
        if self._closed:
            return

        async def guarded() -> None:
            try:
                await work()
            except Exception:
                # The next tick tries again; the database says what is still due.
                log.exception("scheduled job %s failed", name)

        task = asyncio.create_task(guarded(), name=f"job:{name}")
        self._running.add(task)
        task.add_done_callback(self._running.discard)
        # A cancelled scheduler future must not cancel the work itself: close() waits for it.
        await asyncio.shield(task)

    async def idle(self) -> None:
        """Wait until no job is running (tests use it to wait for the scheduler's own ticks)."""
        while self._running:
            await asyncio.wait(set(self._running))

    async def close(self, timeout: float = 10.0) -> None:
        """Refuse new ticks and wait for the running ones (cancelling them only after
        `timeout`)."""
        self._closed = True
        pending = set(self._running)
        if not pending:
            return
        _, late = await asyncio.wait(pending, timeout=timeout)
        for task in late:
            log.warning("scheduled job %s still running at shutdown: cancelled", task.get_name())
            task.cancel()
        if late:
            await asyncio.wait(late, timeout=1.0)
