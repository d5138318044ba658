"""A value read per guild is kept in memory, and never kept when a write came during the read."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from bot.store.guild_cache import GuildCache


async def test_a_value_is_read_once_per_guild_and_forgotten_by_a_write() -> None:
    cache: GuildCache[frozenset[int]] = GuildCache()
    reads: list[int] = []

    def read(guild_id: int, value: frozenset[int]) -> Callable[[], Awaitable[frozenset[int]]]:
        async def run() -> frozenset[int]:
            reads.append(guild_id)
            return value

        return run

    assert await cache.get(1, read(1, frozenset())) == frozenset()  # empty is kept too
    assert await cache.get(1, read(1, frozenset({9}))) == frozenset()
    assert await cache.get(2, read(2, frozenset({7}))) == frozenset({7})
    assert reads == [1, 2]
    cache.forget(1)
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
