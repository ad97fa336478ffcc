"""Scheduled ticks run to the end even when the scheduler gives up on them at shutdown."""

from __future__ import annotations

import asyncio

from bot.jobs import Jobs


async def test_shutdown_waits_for_a_running_tick_that_the_scheduler_cancelled() -> None:
    jobs = Jobs()
    started, release = asyncio.Event(), asyncio.Event()
    finished: list[str] = []

    async def sweep() -> None:
        started.set()
        await release.wait()
        finished.append("sweep")

    # What APScheduler does: run the job as its own future, cancel it on shutdown(wait=False).
    tick = asyncio.ensure_future(jobs.run("sweep", sweep))
    await started.wait()
    tick.cancel()
    await asyncio.sleep(0)
    assert jobs.running == 1 and finished == []
    closing = asyncio.ensure_future(jobs.close(timeout=5))
    await asyncio.sleep(0)
    assert not closing.done()
    release.set()
    await closing
    assert finished == ["sweep"] and jobs.running == 0
    # After close no new tick starts.
    await jobs.run("sweep", sweep)
    assert finished == ["sweep"]


async def test_a_failing_tick_is_logged_and_does_not_stop_the_next() -> None:
    jobs = Jobs()
    calls: list[int] = []

    async def flaky() -> None:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("database away")

    await jobs.run("flaky", flaky)
    await jobs.run("flaky", flaky)
    assert len(calls) == 2


async def test_a_tick_that_never_ends_is_cancelled_after_the_timeout() -> None:
    jobs = Jobs()
    forever = asyncio.Event()

    async def stuck() -> None:
        await forever.wait()

    tick = asyncio.ensure_future(jobs.run("stuck", stuck))
    await asyncio.sleep(0)
    await jobs.close(timeout=0.01)
    assert jobs.running == 0
    tick.cancel()
