"""Requests of one turn of the event loop go out together, and each asker gets its own answer."""

from __future__ import annotations

import asyncio

import pytest

from openspace.gathered import Gathered


async def test_a_turns_requests_are_one_call_at_most_most_each_and_answered_in_order() -> None:
    calls: list[list[int]] = []

    async def double(items: list[int]) -> list[int]:
        calls.append(items)
        return [2 * n for n in items]

    gathered: Gathered[int, int] = Gathered(double, most=4)
    assert await asyncio.gather(*(gathered.ask(n) for n in range(10))) == [2 * n for n in range(10)]
    assert calls == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert await gathered.ask(5) == 10 and calls[-1] == [5]  # a later turn: a call of its own


async def test_a_failed_call_fails_its_own_askers_only_and_a_cancelled_asker_is_skipped() -> None:
    async def fussy(items: list[int]) -> list[int]:
        if 13 in items:
            raise ConnectionError("no answer")
        return items[:-1] if 7 in items else items  # 7: one answer short

    gathered: Gathered[int, int] = Gathered(fussy, most=2)
    answers = await asyncio.gather(*(gathered.ask(n) for n in (1, 2, 13, 3, 7, 4)), return_exceptions=True)
    assert answers[:2] == [1, 2] and all(isinstance(a, ConnectionError) for a in answers[2:4])
    assert all(isinstance(a, ValueError) for a in answers[4:])  # answers that do not match: none trusted
    leaving = asyncio.ensure_future(gathered.ask(1))
    staying = asyncio.ensure_future(gathered.ask(2))
    await asyncio.sleep(0)
    leaving.cancel()
    assert await staying == 2 and leaving.cancelled()


async def test_askers_do_not_wait_for_ever_when_the_sender_is_stopped() -> None:
    started = asyncio.Event()

    async def hangs(items: list[int]) -> list[int]:
        started.set()
        await asyncio.sleep(3600)
        return items

    gathered: Gathered[int, int] = Gathered(hangs)
    asker = asyncio.ensure_future(gathered.ask(1))
    await started.wait()
    for task in list(gathered.sending):
        task.cancel()
    done, _ = await asyncio.wait({asker}, timeout=10)
    assert asker in done
    with pytest.raises(asyncio.CancelledError):
        asker.result()
