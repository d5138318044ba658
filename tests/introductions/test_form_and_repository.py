"""The intro form's limits and the intro repository's export and erasure."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.app import build_features, close_app, open_app
from bot.clock import FakeClock
from bot.errors import UserFacingError
from cogs.introductions import IntroService
from cogs.introductions.service import INTRO_QUESTIONS, clean_answers
from tests.support.postgres import store_settings

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
    app = await open_app(store_settings(store_target, tmp_path), clock=FakeClock(NOW))
    build_features(app)
    try:
        store = app.services.get(IntroService).repository
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
    finally:
        await close_app(app)
