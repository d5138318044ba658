"""Whose intro (or bot welcome) a replied-to message is, asked for every reply in the intro
channel, comes from memory once a guild's posts are read, and always says what the table
says: after any sequence of writes, and when a write commits while the posts are being read."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from cogs.introductions.repository import IntroRepository
from tests.introductions.support import intro_repository
from tests.support.reads import ReadSpy

NOW = datetime(2026, 9, 1, 12, tzinfo=UTC)
GUILD = 1


async def post(store: IntroRepository, user: int, message_id: int) -> None:
    await store.save(
        GUILD, user, source="message", channel_id=5, message_id=message_id, answers={},
        now=NOW, reposted=True,
    )  # fmt: skip


async def test_the_memory_says_what_the_table_says_after_any_writes(
    store_target: str, tmp_path: Path
) -> None:
    async with intro_repository(store_target, tmp_path, NOW) as store:
        rng = random.Random(2026)
        used: list[int] = [1_000]  # an id no post ever had
        users = range(10, 16)

        def fresh() -> int:
            used.append(used[-1] + 1)
            return used[-1]

        async def welcome(user: int) -> None:
            await store.record_arrival(GUILD, user, now=NOW)
            await store.set_welcome_post(GUILD, user, 6, fresh())

        operations: list[Callable[[int], Awaitable[Any]]] = [
            lambda user: post(store, user, fresh()),
            lambda user: post(store, user, fresh()),
            welcome,
            lambda user: store.mark_removed(GUILD, [rng.choice(used)]),
            lambda user: store.delete_user(GUILD, user),
            lambda user: store.record_arrival(GUILD, user, now=NOW),
        ]
        for step in range(150):
            if step % 40 == 39:
                store.forget(GUILD)  # a purge done elsewhere
            await rng.choice(operations)(rng.choice(users))
            for message_id in used:
                remembered = await store.newcomer_of_post(GUILD, message_id)
                in_table = await store._newcomer_of_post_in_table(GUILD, message_id)
                assert remembered == in_table, (step, message_id)
        assert await store.newcomer_of_post(GUILD + 1, used[-1]) is None  # another guild


async def test_the_posts_are_read_once_and_writes_during_the_read_are_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with intro_repository(str(tmp_path / "store.db"), tmp_path, NOW) as store:
        spy = ReadSpy(
            monkeypatch,
            store._db,
            "fetchall",
            "FROM intros WHERE guild_id = ? AND message_id IS NOT NULL",
        )
        reads, during_read = spy.reads, spy.during_read
        await post(store, 10, 100)
        await store.record_arrival(GUILD, 20, now=NOW)
        await store.set_welcome_post(GUILD, 20, 6, 200)
        assert await store.newcomer_of_post(GUILD, 100) == 10
        assert await store.newcomer_of_post(GUILD, 200) == 20
        assert await store.newcomer_of_post(GUILD, 300) is None
        assert len(reads) == 1  # the guild's posts, once
        await post(store, 10, 101)  # a new post: the old one is not theirs any more
        assert await store.newcomer_of_post(GUILD, 100) is None
        assert await store.newcomer_of_post(GUILD, 101) == 10
        assert len(reads) == 1
        # A post and a welcome that commit while the posts are being read are kept.
        store.forget(GUILD)
        await store.record_arrival(GUILD, 21, now=NOW)
        during_read.append(lambda: post(store, 11, 110))
        during_read.append(lambda: store.set_welcome_post(GUILD, 21, 6, 210))
        during_read.append(lambda: post(store, 10, 102))
        assert await store.newcomer_of_post(GUILD, 110) == 11
        during_read.clear()
        reads.clear()
        assert await store.newcomer_of_post(GUILD, 210) == 21
        assert await store.newcomer_of_post(GUILD, 102) == 10
        assert await store.newcomer_of_post(GUILD, 101) is None
        assert reads == []
        # A post deleted while the posts are being read: answered from the table, not kept.
        store.forget(GUILD)
        during_read.append(lambda: store.mark_removed(GUILD, [102]))
        assert await store.newcomer_of_post(GUILD, 102) is None
        during_read.clear()
        assert await store.newcomer_of_post(GUILD, 110) == 11
        assert len(reads) == 2  # the next question read the posts again


async def test_replies_that_miss_together_share_one_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first replies and first messages after a start ask together: one read of the
    posts and one of the posted intros, not one each."""
    async with intro_repository(str(tmp_path / "store.db"), tmp_path, NOW) as store:
        await post(store, 10, 100)
        store.forget(GUILD)
        reads = ReadSpy(monkeypatch, store._db, "fetchall").reads  # fetchcolumn's too
        owners = await asyncio.gather(*(store.newcomer_of_post(GUILD, 100) for _ in range(8)))
        posted = await asyncio.gather(*(store.has_posted(GUILD, u) for u in (10, 11, 10, 12)))
        assert owners == [10] * 8
        assert posted == [True, False, True, False]
        assert len([sql for sql in reads if "FROM intros " in sql]) == 2
        assert len([sql for sql in reads if "FROM intro_newcomers" in sql]) == 1
