"""A value read per guild is kept in memory, never kept when a write came during the read,
and read once for callers that miss together."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from bot.store.guild_cache import GuildCache
from tests.support.sqlite import spin_until


async def test_a_value_is_read_once_per_guild_and_forgotten_by_a_write() -> None:
    cache: GuildCache[frozenset[int]] = GuildCache()
    reads: list[int] = []

    def read(guild_id: int, value: frozenset[int]) -> Callable[[], Awaitable[frozenset[int]]]:
        async def run() -> frozenset[int]:
            reads.append(guild_id)
            return value

        return run

    assert cache.cached(1) is None  # nothing read yet, and asking reads nothing
    assert await cache.get(1, read(1, frozenset())) == frozenset()  # empty is kept too
    assert cache.cached(1) == frozenset()
    assert await cache.get(1, read(1, frozenset({9}))) == frozenset()
    assert await cache.get(2, read(2, frozenset({7}))) == frozenset({7})
    assert reads == [1, 2]
    cache.forget(1)
    assert cache.cached(1) is None
    assert await cache.get(1, read(1, frozenset({9}))) == frozenset({9})
    assert reads == [1, 2, 1]


async def test_a_read_overlapping_a_write_is_returned_but_not_kept() -> None:
    cache: GuildCache[str] = GuildCache()

    async def read_then_written() -> str:
        cache.forget(1)  # a write commits while the read is under way
        return "what the read saw"

    async def read_again() -> str:
        return "after the write"

    assert await cache.get(1, read_then_written) == "what the read saw"
    assert await cache.get(1, read_again) == "after the write"
    assert await cache.get(1, read_then_written) == "after the write"  # kept now


async def test_callers_that_miss_together_share_one_read() -> None:
    cache: GuildCache[str] = GuildCache()
    reads: list[str] = []
    release = asyncio.Event()

    def read(value: str) -> Callable[[], Awaitable[str]]:
        async def run() -> str:
            reads.append(value)
            await release.wait()
            return value

        return run

    first = [asyncio.create_task(cache.get(1, read("first"))) for _ in range(5)]
    await spin_until(lambda: reads == ["first"])
    # A write now: a caller missing after it must not get what the earlier read sees.
    cache.forget(1)
    second = asyncio.create_task(cache.get(1, read("second")))
    first[0].cancel()  # one caller gives up: the read goes on for the others
    await spin_until(lambda: reads == ["first", "second"])
    release.set()
    assert await asyncio.gather(*first[1:], second) == ["first"] * 4 + ["second"]
    with pytest.raises(asyncio.CancelledError):
        await first[0]
    assert reads == ["first", "second"]
    assert await cache.get(1, read("third")) == "second"  # the read after the write is kept


async def test_a_failed_read_fails_its_callers_and_the_next_call_reads_again() -> None:
    cache: GuildCache[str] = GuildCache()
    release = asyncio.Event()
    attempts: list[int] = []

    async def failing() -> str:
        attempts.append(1)
        await release.wait()
        raise OSError("database gone")

    waiting = [asyncio.create_task(cache.get(1, failing)) for _ in range(3)]
    await spin_until(lambda: attempts == [1])
    release.set()
    for task in waiting:
        with pytest.raises(OSError, match="database gone"):
            await task
    assert attempts == [1]

    async def works() -> str:
        return "read again"

    assert await cache.get(1, works) == "read again"
