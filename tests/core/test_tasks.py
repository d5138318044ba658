"""finish_or_cancel: what shutdown does with the tasks still running."""

from __future__ import annotations

import asyncio

from bot.tasks import finish_or_cancel


async def test_finished_tasks_keep_their_results_and_hung_ones_are_cancelled() -> None:
    async def quick() -> str:
        await asyncio.sleep(0)
        return "done"

    async def failing() -> None:
        raise RuntimeError("boom")

    done = asyncio.create_task(quick())
    broken = asyncio.create_task(failing())
    hung = asyncio.create_task(asyncio.Event().wait())
    await finish_or_cancel([done, broken, hung], grace=0.05)
    assert done.result() == "done"
    assert isinstance(broken.exception(), RuntimeError)  # left on the task, not raised here
    assert hung.cancelled()


async def test_nothing_to_wait_for_returns_at_once() -> None:
    await finish_or_cancel([], grace=3600)
