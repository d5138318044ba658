"""What a repository reads per guild and keeps in memory, never older than a write."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

__all__ = ["GuildCache"]

_T = TypeVar("_T")


class GuildCache(Generic[_T]):
    """One value per guild, read once and then served from memory.

    The repository calls :meth:`forget` after every write to what the value is read from
    (committed or not: a read may have seen the open transaction's rows) and after a guild
    purge. Each ``forget`` bumps the guild's generation, and a read that was under way
    during it does not store what it read, so the value kept is never older than a write.
    """

    def __init__(self) -> None:
        self._values: dict[int, _T] = {}
        self._generation: dict[int, int] = {}

    async def get(self, guild_id: int, read: Callable[[], Awaitable[_T]]) -> _T:
        """The guild's value, from memory, else from ``read()`` (kept unless forgotten
        meanwhile)."""
        if guild_id in self._values:
            return self._values[guild_id]
        generation = self._generation.get(guild_id, 0)
        value = await read()
        if self._generation.get(guild_id, 0) == generation:
            self._values[guild_id] = value
        return value

    def forget(self, guild_id: int) -> None:
        self._values.pop(guild_id, None)
        self._generation[guild_id] = self._generation.get(guild_id, 0) + 1
