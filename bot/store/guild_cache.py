"""What a repository reads per guild and keeps in memory, never older than a write."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine, Hashable
from functools import partial
from typing import Any, Generic, TypeVar

__all__ = ["AfterLoad", "GuildCache", "SharedReads"]

log = logging.getLogger(__name__)

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

    def lookup(self, guild_id: int) -> tuple[bool, _T | None]:
        """(known, value) without reading: :meth:`cached` for a value that may itself be
        None (a guild with no settings)."""
        if guild_id in self._values:
            return True, self._values[guild_id]
        return False, None

    async def _read(self, guild_id: int, generation: int, read: Callable[[], Awaitable[_T]]) -> _T:
        value = await read()
        if self._generation.get(guild_id, 0) == generation:
            self._values[guild_id] = value
        return value

    def forget(self, guild_id: int) -> None:
        self._values.pop(guild_id, None)
        self._generation[guild_id] = self._generation.get(guild_id, 0) + 1


#: Starts ``load_then_run(guild_id)`` in a task (the bot's ``run_handler``: the same error
#: path and task name as an event handler, so a shutdown waits for it).
Spawn = Callable[[Callable[[int], Coroutine[Any, Any, None]], int], None]


class AfterLoad:
    """Per guild: callbacks that need the guild's cached settings, run once one load of them
    has finished.

    A per-event pre-filter that finds a guild's settings not cached yet parks the event here
    (``park(guild_id, lambda: self.filter(event))``) instead of starting a handler task for
    it: after a start, every message of the first burst would otherwise start its own task,
    each waiting for the same read. The first park of a guild starts the load; the callbacks
    then run in the order they were parked, in that one task, and see the settings cached.
    When the load fails, they are dropped with one log line — their events could not have
    been handled without the settings either — and the next park loads again."""

    def __init__(self, load: Callable[[int], Awaitable[object]], spawn: Spawn, what: str) -> None:
        self._load = load
        self._spawn = spawn
        self._what = what
        self._parked: dict[int, list[Callable[[], None]]] = {}

    def park(self, guild_id: int, callback: Callable[[], None]) -> None:
        parked = self._parked.get(guild_id)
        if parked is not None:
            parked.append(callback)
            return
        self._parked[guild_id] = [callback]
        self._spawn(self._load_then_run, guild_id)

    def parked(self, guild_id: int) -> int:
        """How many callbacks wait for the guild's load."""
        return len(self._parked.get(guild_id, ()))

    async def _load_then_run(self, guild_id: int) -> None:
        try:
            await self._load(guild_id)
        except asyncio.CancelledError:  # stopping
            self._parked.pop(guild_id, None)
            raise
        except Exception:  # the traceback goes where every handler's goes (on_error)
            dropped = self._parked.pop(guild_id, [])
            log.warning(
                "Could not load the %s of guild %s: %d event(s) not handled",
                self._what,
                guild_id,
                len(dropped),
            )
            raise
        for callback in self._parked.pop(guild_id, []):
            try:
                callback()
            except Exception:
                log.exception(
                    "Handling an event parked for the %s of guild %s", self._what, guild_id
                )
