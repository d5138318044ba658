"""The bot's own reactions go out in the background, oldest first, once each, never holding up
the event that queued them; a full queue drops new ones, and stopping sends nothing more."""

from __future__ import annotations

import asyncio

import discord
import pytest

from bot.reactions import ReactionQueue


class FakeResponse:
    def __init__(self, status: int, reason: str) -> None:
        self.status = status
        self.reason = reason


class Recorder:
    def __init__(self, *, fail: dict[int, Exception] | None = None) -> None:
        self.calls: list[tuple[int, int, str]] = []
        self.fail = fail or {}
        self.release = asyncio.Event()
        self.release.set()

    async def __call__(self, channel_id: int, message_id: int, emoji: str) -> None:
        self.calls.append((channel_id, message_id, emoji))
        await self.release.wait()
        if message_id in self.fail:
            raise self.fail[message_id]


async def settle(queue: ReactionQueue) -> None:
    for _ in range(200):
        if not queue.pending:
            return
        await asyncio.sleep(0)
    raise AssertionError(f"{queue.pending} reactions still queued")


async def test_reactions_go_out_oldest_first_and_a_repeat_only_once() -> None:
    add = Recorder()
    queue = ReactionQueue(add, rate=1000)
    assert queue.add(1, 10, "👋") and queue.add(1, 11, "👋") and queue.add(1, 10, "👋")
    assert add.calls == []  # add() only queues: the caller never waits on Discord
    queue.start()
    await settle(queue)
    await queue.stop()
    assert add.calls == [(1, 10, "👋"), (1, 11, "👋")]
    assert (queue.sent, queue.failed, queue.dropped) == (2, 0, 0)


async def test_a_full_queue_drops_new_reactions_and_says_how_many() -> None:
    add = Recorder()
    queue = ReactionQueue(add, rate=1000, max_pending=2)
    assert queue.add(1, 10, "👋") and queue.add(1, 11, "👋")
    assert not queue.add(1, 12, "👋")
    assert queue.dropped == 1 and queue.pending == 2
    queue.start()
    await settle(queue)
    await queue.stop()
    assert [call[1] for call in add.calls] == [10, 11]


async def test_a_refused_reaction_is_counted_and_the_rest_still_go_out() -> None:
    gone = discord.NotFound(FakeResponse(404, "Not Found"), "Unknown Message")
    refused = discord.Forbidden(FakeResponse(403, "Forbidden"), "Missing Access")
    add = Recorder(fail={10: gone, 11: refused})
    queue = ReactionQueue(add, rate=1000)
    for message_id in (10, 11, 12):
        queue.add(1, message_id, "👋")
    queue.start()
    await settle(queue)
    await queue.stop()
    assert [call[1] for call in add.calls] == [10, 11, 12]
    assert (queue.sent, queue.failed) == (1, 2)


async def test_the_pace_holds_back_what_is_over_the_rate() -> None:
    add = Recorder()
    queue = ReactionQueue(add, rate=0.001)  # one now, the next in ~17 minutes
    queue.add(1, 10, "👋")
    queue.add(1, 11, "👋")
    queue.start()
    for _ in range(50):
        await asyncio.sleep(0)
    assert [call[1] for call in add.calls] == [10]
    assert queue.pending == 1
    await queue.stop()
    assert queue.pending == 0 and queue.sent == 1


async def test_stopping_sends_nothing_more_and_one_in_flight_is_not_counted_as_sent() -> None:
    add = Recorder()
    add.release.clear()  # the first request hangs until the stop
    queue = ReactionQueue(add, rate=1000)
    queue.add(1, 10, "👋")
    queue.add(1, 11, "👋")
    queue.start()
    for _ in range(20):
        await asyncio.sleep(0)
    assert add.calls == [(1, 10, "👋")]
    await queue.stop()
    assert queue.sent == 0 and queue.pending == 0
    assert add.calls == [(1, 10, "👋")]
    queue.add(1, 12, "👋")  # queued after the stop: nothing sends it
    await asyncio.sleep(0)
    assert add.calls == [(1, 10, "👋")]


def test_a_queue_needs_room_for_one() -> None:
    with pytest.raises(ValueError, match="max_pending"):
        ReactionQueue(Recorder(), max_pending=0)
