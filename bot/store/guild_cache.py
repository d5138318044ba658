"""What a repository reads per guild and keeps in memory, never older than a write."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from functools import partial
from typing import Generic, TypeVar

__all__ = ["GuildCache", "SharedReads"]

_K = TypeVar("_K", bound=Hashable)
_T = TypeVar("_T")


class SharedReads(Generic[_K, _T]):
    """Callers that ask for the same key while its read is under way wait for that read
    instead of each starting their own: after a start, the first burst of messages would
    otherwise queue the same SELECT once per message on the database's one worker thread.

    Key a read by what makes its answer current (a guild and its generation): a caller that
    comes after a write then starts a read of its own. A caller that is cancelled leaves the
    read running for the others; a read that fails fails every caller waiting for it, and the
    next call reads again."""

    def __init__(self) -> None:
        self._reading: dict[_K, asyncio.Future[_T]] = {}

    async def read(self, key: _K, read: Callable[[], Awaitable[_T]]) -> _T:
        future = self._reading.get(key)
        if future is None:
            future = asyncio.ensure_future(read())
            self._reading[key] = future
            future.add_done_callback(partial(self._read_done, key))
        return await asyncio.shield(future)

    def _read_done(self, key: _K, future: asyncio.Future[_T]) -> None:
        if self._reading.get(key) is future:
            del self._reading[key]
        if not future.cancelled():
            future.exception()  # retrieved: every caller waiting for it may have gone


class GuildCache(Generic[_T]):
    """One value per guild, read once and then served from memory.

    The repository calls :meth:`forget` after every write to what the value is read from
    (committed or not: a read may have seen the open transaction's rows) and after a guild
    purge. Each ``forget`` bumps the guild's generation, and a read that was under way
    during it does not store what it read, so the value kept is never older than a write.
    Callers that miss together share one read (:class:`SharedReads`).
    """

    def __init__(self) -> None:
        self._values: dict[int, _T] = {}
        self._generation: dict[int, int] = {}
        self._reads: SharedReads[tuple[int, int], _T] = SharedReads()

    async def get(self, guild_id: int, read: Callable[[], Awaitable[_T]]) -> _T:
        """The guild's value, from memory, else from ``read()`` (kept unless forgotten
        meanwhile), or from the read of the same generation already under way."""
        if guild_id in self._values:
            return self._values[guild_id]
        generation = self._generation.get(guild_id, 0)
        return await self._reads.read(
            (guild_id, generation), partial(self._read, guild_id, generation, read)
        )

    def cached(self, guild_id: int) -> _T | None:
        """The guild's value if it is in memory, else None (nothing is read): for a check
        that must not await, such as a per-message pre-filter."""
        return self._values.get(guild_id)

    async def _read(self, guild_id: int, generation: int, read: Callable[[], Awaitable[_T]]) -> _T:
        value = await read()
        if self._generation.get(guild_id, 0) == generation:
            self._values[guild_id] = value
        return value

    def forget(self, guild_id: int) -> None:
        self._values.pop(guild_id, None)
        self._generation[guild_id] = self._generation.get(guild_id, 0) + 1
