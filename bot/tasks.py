"""Stopping background tasks at shutdown."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any


async def finish_or_cancel(tasks: Iterable[asyncio.Future[Any]], grace: float) -> None:
    """Wait up to ``grace`` seconds for ``tasks`` to finish; cancel those still running and
    wait until they have ended. Their results and errors are left on the tasks (their own
    done-callbacks report them), so one task's failure never stops the others' shutdown."""
    waiting = set(tasks)
    if not waiting:
        return
    _, pending = await asyncio.wait(waiting, timeout=grace)
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.wait(pending)
