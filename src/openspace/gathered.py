"""Requests made in one turn of the event loop, sent to a server as one call.

A worker's requests to Redis come in crowds: every action of a turn asks for its rate-limit
tokens, and when a hall's wifi drops, hundreds of sockets close and open again at once. One round
trip each cost redis-py's Python every time and queued them behind each other for a connection
(issue #17); gathered, a crowd is a call or a few.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

Item = TypeVar("Item")
Answer = TypeVar("Answer")


class Gathered(Generic[Item, Answer]):
    """`ask` waits for its item's answer; `send` gets every item asked in the same turn, at most
    `most` at a time, and answers each in order. What `send` raises, each of its askers raises."""

    def __init__(self, send: Callable[[list[Item]], Awaitable[list[Answer]]], most: int = 500) -> None:
        self.send = send
        self.most = most
        self.waiting: list[tuple[Item, asyncio.Future[Answer]]] = []
        self.sending: set[asyncio.Future[None]] = set()  # held until done: the loop keeps only weak references

    async def ask(self, item: Item) -> Answer:
        answer: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        self.waiting.append((item, answer))
        if len(self.waiting) == 1:
            asyncio.get_running_loop().call_soon(self._start)
        return await answer

    def _start(self) -> None:
        task = asyncio.ensure_future(self._send_waiting())
        self.sending.add(task)
        task.add_done_callback(self.sending.discard)

    async def _send_waiting(self) -> None:
        waiting, self.waiting = self.waiting, []
        try:
            for at in range(0, len(waiting), self.most):
                await self._answer_chunk(waiting[at : at + self.most])
        finally:  # cancelled (the worker is stopping): nobody waits for ever
            for _, future in waiting:
                if not future.done():
                    future.cancel()

    async def _answer_chunk(self, chunk: list[tuple[Item, asyncio.Future[Answer]]]) -> None:
        try:
            answers = await self.send([item for item, _ in chunk])
            if len(answers) != len(chunk):
                raise ValueError(f"{len(answers)} answers for {len(chunk)} requests")
        except Exception as problem:
            for _, future in chunk:
                if not future.done():  # an asker that was cancelled meanwhile
                    future.set_exception(problem)
            return
        for (_, future), answer in zip(chunk, answers, strict=True):
            if not future.done():
                future.set_result(answer)
