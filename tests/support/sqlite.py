"""Holding aiosqlite's worker thread at an exact point, to test cancellation."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

from bot.store.db import (
    Database,
)


class WorkerGate:
    """Holds aiosqlite's worker thread inside ``SELECT gate()`` until opened: whatever the
    connection is asked to do meanwhile waits in its queue, so a test can cancel a task at an
    exact await (BEGIN, a statement, COMMIT) while that statement is still to run."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self._open = threading.Event()

    def _wait(self) -> int:
        self.entered.set()
        self._open.wait(10)
        return 1

    async def install(self, db: Database) -> None:
        await db._connection().create_function("gate", 0, self._wait)

    async def close_behind(self, db: Database) -> asyncio.Task[object]:
        """Occupy the worker thread; return the task holding it."""
        self.entered.clear()
        self._open.clear()
        holder = asyncio.create_task(db.fetchall("SELECT gate()"))
        await asyncio.to_thread(self.entered.wait, 10)
        return holder

    def open(self) -> None:
        self._open.set()


async def spin_until(predicate: Callable[[], bool], steps: int = 100_000) -> None:
    """Yield to the event loop until ``predicate()`` holds (bounded, no timing involved)."""
    for _ in range(steps):
        if predicate():
            return
        await asyncio.sleep(0)
    raise AssertionError("the condition never held")
