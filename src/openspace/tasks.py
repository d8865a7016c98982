"""Stopping background tasks for sure, on Python 3.11 (#17).

`asyncio.wait_for` on Python 3.11 returns its inner result and drops a cancellation that arrives
as the inner work finishes (CPython gh-86296, fixed in 3.12). redis-py writes every command under
`wait_for` when a socket timeout is set, and psycopg's pool waits for a connection under it, so a
task cancelled at that moment carries on as if nothing happened, and a `stop()` that awaits it
waits for ever: the Redis-restart test's rare hang was exactly that. Two halves fix it: a loop
calls `honour_cancel()` before each wait of its own, and `stop_tasks` cancels again, a bounded
number of times, until the tasks have ended.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

log = logging.getLogger(__name__)

ROUNDS = 10  # cancels sent, one per tenth of the time allowed


def honour_cancel() -> None:
    """Raise CancelledError if this task was asked to stop and something below swallowed it."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


async def stop_tasks(tasks: Iterable[asyncio.Task[None]], seconds: float = 5.0) -> None:
    """Cancel `tasks` and wait until they have ended, cancelling again each `seconds / ROUNDS`; a
    task still running after that is logged and left. The caller's own cancel is not swallowed."""
    waiting = {task for task in tasks if not task.done()}
    for _ in range(ROUNDS):
        if not waiting:
            break
        for task in waiting:
            task.cancel()
        _, waiting = await asyncio.wait(waiting, timeout=seconds / ROUNDS)
    if waiting:
        log.error("tasks did not stop: %s", sorted(task.get_name() for task in waiting))
    for task in tasks:
        if task.done() and not task.cancelled() and task.exception() is not None:
            log.error("task %s had failed", task.get_name(), exc_info=task.exception())
