"""A value read per guild is kept in memory, never kept when a write came during the read,
and read once for callers that miss together; events that need it wait for one load."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from functools import partial

import pytest

from bot.store.guild_cache import AfterLoad, GuildCache
from tests.support.logs import ErrorLogWatcher
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


class Loads:
    """A load per guild that waits for ``release``, and a spawn that runs each in a task."""

    def __init__(self) -> None:
        self.started: list[int] = []
        self.release = asyncio.Event()
        self.fail = False
        self.tasks: list[asyncio.Task[None]] = []
        self.cache: GuildCache[str] = GuildCache()

    async def load(self, guild_id: int) -> None:
        async def read() -> str:
            self.started.append(guild_id)
            await self.release.wait()
            if self.fail:
                raise RuntimeError("database is locked")
            return f"settings of {guild_id}"

        await self.cache.get(guild_id, read)

    def spawn(self, handler: Callable[[int], Awaitable[None]], guild_id: int) -> None:
        self.tasks.append(asyncio.ensure_future(handler(guild_id)))


async def test_events_parked_while_settings_load_share_one_load_and_run_in_order() -> None:
    loads = Loads()
    after = AfterLoad(loads.load, loads.spawn, "settings")
    seen: list[tuple[int, str | None]] = []

    def handle(guild_id: int, event: int) -> None:
        # What a pre-filter sees when the parked event comes through again.
        seen.append((event, loads.cache.cached(guild_id)))

    for event in range(300):
        after.park(1, partial(handle, 1, event))
    after.park(2, partial(handle, 2, 1000))
    assert after.parked(1) == 300 and after.parked(2) == 1
    await spin_until(lambda: loads.started == [1, 2])
    loads.release.set()
    await asyncio.gather(*loads.tasks)
    assert len(loads.tasks) == 2  # one load per guild, not one task per event
    assert seen == [(e, "settings of 1") for e in range(300)] + [(1000, "settings of 2")]
    assert after.parked(1) == after.parked(2) == 0


async def test_a_failed_load_drops_its_events_with_a_warning_and_the_next_event_loads_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    loads = Loads()
    loads.fail = True
    after = AfterLoad(loads.load, loads.spawn, "settings")
    seen: list[str] = []
    after.park(1, lambda: seen.append("first"))
    after.park(1, lambda: seen.append("second"))
    loads.release.set()
    with pytest.raises(RuntimeError):  # the handler's error path (on_error) logs it
        await loads.tasks[0]
    assert seen == [] and after.parked(1) == 0
    assert "Could not load the settings of guild 1: 2 event(s) not handled" in caplog.text
    loads.fail = False
    after.park(1, lambda: seen.append("third"))
    await loads.tasks[1]
    assert seen == ["third"] and loads.started == [1, 1]


async def test_a_failing_event_does_not_stop_the_others_and_a_forgotten_value_loads_again(
    error_logs: ErrorLogWatcher,
) -> None:
    error_logs.expect("Handling an event parked for the settings of guild 1")
    loads = Loads()
    loads.release.set()
    after = AfterLoad(loads.load, loads.spawn, "settings")
    seen: list[str] = []

    def broken() -> None:
        raise ValueError("a bug in one handler")

    def written_meanwhile() -> None:
        # The settings were saved after the load: the pre-filter finds them unknown again.
        loads.cache.forget(1)
        after.park(1, lambda: seen.append("after the save"))

    after.park(1, broken)
    after.park(1, lambda: seen.append("next"))
    after.park(1, written_meanwhile)
    await loads.tasks[0]
    assert seen == ["next"] and error_logs.seen("Handling an event parked")
    await loads.tasks[1]  # a new load, then the event parked again
    assert seen == ["next", "after the save"] and loads.started == [1, 1]


async def test_a_load_cancelled_at_shutdown_drops_its_events_quietly(
    caplog: pytest.LogCaptureFixture,
) -> None:
    loads = Loads()
    after = AfterLoad(loads.load, loads.spawn, "settings")
    after.park(1, lambda: None)
    await spin_until(lambda: loads.started == [1])
    loads.tasks[0].cancel()
    with pytest.raises(asyncio.CancelledError):
        await loads.tasks[0]
    assert after.parked(1) == 0 and "Could not load" not in caplog.text
