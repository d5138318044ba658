"""The intro form's limits and the intro repository's export and erasure."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.app import build_features, close_app, open_app
from bot.clock import FakeClock
from bot.errors import UserFacingError
from bot.settings import Settings
from cogs.introductions import IntroService
from cogs.introductions.service import INTRO_QUESTIONS, clean_answers
from tests.introductions.support import intro_repository

NOW = datetime(2026, 9, 1, 12, tzinfo=UTC)


def test_intro_form_fits_one_embed() -> None:
    assert len(INTRO_QUESTIONS) <= 5
    assert sum(q.max_length for q in INTRO_QUESTIONS) + 256 + 200 < 6000
    assert all(q.max_length <= 1024 and len(q.label) <= 45 for q in INTRO_QUESTIONS)
    with pytest.raises(UserFacingError, match="empty"):
        clean_answers({"call_me": "\u200b", "hopes": "x"})
    assert clean_answers({"call_me": " Sam ", "hopes": "\u200b\u200b"}) == {"call_me": "Sam"}


async def test_intro_repository_export_and_delete_cover_both_sides_of_a_welcome(
    store_target: str, tmp_path: Path
) -> None:
    async with intro_repository(store_target, tmp_path, NOW) as store:
        await store.record_arrival(1, 10, now=NOW)
        await store.save(
            1,
            10,
            source="modal",
            channel_id=5,
            message_id=6,
            answers={"call_me": "Ten"},
            now=NOW,
            reposted=True,
        )
        await store.add_welcome(1, 10, 20, channel_id=5, message_id=7, now=NOW)
        await store.record_reminder(1, 10, "introduce", now=NOW)
        exported = await store.export_user(1, 10)
        assert exported["intros"][0]["call_me"] == "Ten"
        assert len(exported["intro_welcomes"]) == 1
        assert (await store.export_user(1, 20))["intro_welcomes"][0]["newcomer_id"] == 10
        await store.delete_user(1, 20)
        # The newcomer keeps being welcomed; the erased welcomer is anonymous, their message gone.
        (kept,) = await store.welcomes(1)
        assert kept.newcomer_id == 10 and kept.welcomer_id < 0 and kept.message_id is None
        assert await store.welcome_counts(1) == {10: 1}
        assert (await store.export_user(1, 20))["intro_welcomes"] == []
        await store.delete_user(1, 10)
        assert all(rows == [] for rows in (await store.export_user(1, 10)).values())


async def test_posted_intros_are_answered_from_memory_and_never_stale(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``has_posted`` reads the guild's posted intros once; a deleted post, an erasure or a
    purge is seen at once, also by a read that was under way when it happened."""
    app = await open_app(Settings(database_path=tmp_path / "i.db"), clock=FakeClock(NOW))
    build_features(app)
    try:
        store = app.services.get(IntroService).repository
        real_read = store.posted_user_ids
        reads: list[int] = []
        during_read: list[Any] = []

        async def counted_read(guild_id: int) -> set[int]:
            reads.append(guild_id)
            found = await real_read(guild_id)
            for action in during_read:
                await action()
            return found

        monkeypatch.setattr(store, "posted_user_ids", counted_read)

        async def post(user: int, message_id: int) -> None:
            await store.save(
                1, user, source="message", channel_id=5, message_id=message_id,
                answers={}, now=NOW, reposted=True,
            )  # fmt: skip

        await post(11, 99)
        assert await store.has_posted(1, 10) is False
        assert reads == [1]  # the guild's set, once
        assert await store.has_posted(1, 11) is True
        assert await store.has_posted(1, 12) is False  # a newcomer: no read either
        await post(10, 100)
        assert await store.has_posted(1, 10) is True
        assert reads == [1]  # saved: known without a read
        await store.mark_removed(1, [100])  # the post was deleted
        assert await store.has_posted(1, 10) is False
        assert reads == [1, 1]
        await post(10, 101)
        await store.delete_user(1, 10)  # erased
        assert await store.has_posted(1, 10) is False
        await post(10, 102)
        store.forget(1)  # a purge done elsewhere
        assert await store.has_posted(1, 10) is True
        reads.clear()
        assert await store.has_posted(1, 10) is True
        assert await store.has_posted(1, 13) is False
        assert reads == []
        # A read that saw the post just before it was deleted does not remember it.
        store.forget(1)
        during_read.append(lambda: store.mark_removed(1, [102]))
        assert await store.has_posted(1, 10) is True  # what it read
        during_read.clear()
        assert await store.has_posted(1, 10) is False
        # A save that commits while the set is being read is in the set kept.
        store.forget(1)
        during_read.append(lambda: post(14, 140))
        assert await store.has_posted(1, 14) is True
        during_read.clear()
        reads.clear()
        assert await store.has_posted(1, 14) is True
        assert reads == []
        assert await store.has_posted(2, 10) is False  # another guild knows nothing of it
    finally:
        await close_app(app)
