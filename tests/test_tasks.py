"""Stopping background tasks for sure (tasks.py): a cancel swallowed below a loop, as
Python 3.11's asyncio.wait_for can swallow one (CPython gh-86296), still ends the loop."""

from __future__ import annotations

import asyncio

from openspace.tasks import honour_cancel, stop_tasks


async def test_a_loop_that_honours_a_swallowed_cancel_ends_at_once() -> None:
    rounds: list[int] = []

    async def loop() -> None:
        while True:
            honour_cancel()
            rounds.append(1)
            try:
                await asyncio.sleep(30)
            except asyncio.CancelledError:
                pass  # swallowed, as wait_for does when its inner work finishes with the cancel

    task = asyncio.create_task(loop(), name="swallower")
    await asyncio.sleep(0.01)
    await asyncio.wait_for(stop_tasks([task], seconds=2.0), 5)
    assert task.cancelled() and len(rounds) == 1  # ended by the first cancel: no second round


async def test_a_task_that_swallows_every_cancel_once_is_cancelled_again() -> None:
    """Without honour_cancel, stop_tasks' second cancel is what ends it."""
    swallowed = 0

    async def stubborn() -> None:
        nonlocal swallowed
        while True:
            try:
                await asyncio.sleep(30)
            except asyncio.CancelledError:
                swallowed += 1
                if swallowed > 1:
                    raise

    task = asyncio.create_task(stubborn(), name="stubborn")
    await asyncio.sleep(0.01)
    await asyncio.wait_for(stop_tasks([task], seconds=2.0), 5)
    assert task.cancelled() and swallowed == 2
