"""Waiting for the bot to finish handling gateway events whose only effect is in its database."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable


async def eventually(check: Callable[[], Awaitable[bool]]) -> None:
    """Wait (up to 5 s) for the bot to handle an event whose only effect is in the database."""
    for _ in range(500):
        if await check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the bot did not get there within 5 seconds")


async def eventually_equal(probe: Callable[[], Awaitable[object]], expected: object) -> None:
    """Wait (up to 5 s) for the bot to process gateway events that end in a database write."""
    for _ in range(500):
        if await probe() == expected:
            return
        await asyncio.sleep(0.01)
    assert await probe() == expected
