"""The prompt settings, read on every message in a guild, come from memory: one read for the
messages that miss together, and a save is seen by the next message."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.app import build_features, close_app, open_app
from bot.clock import FakeClock
from cogs.prompts import PromptService
from cogs.prompts.repository import PromptSettings
from tests.support.postgres import store_settings

NOW = datetime(2026, 9, 8, 12, tzinfo=UTC)


async def test_settings_are_read_once_and_a_save_is_seen(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = await open_app(store_settings(str(tmp_path / "store.db"), tmp_path), clock=FakeClock(NOW))
    build_features(app)
    try:
        prompts = app.services.get(PromptService)
        await prompts.save_settings(PromptSettings(guild_id=1, cohort_id=1, channel_id=50))
        real_all_settings = prompts.store.all_settings
        reads: list[int] = []

        async def all_settings(guild_id: int) -> Any:
            reads.append(guild_id)
            return await real_all_settings(guild_id)

        monkeypatch.setattr(prompts.store, "all_settings", all_settings)
        assert prompts._settings.cached(1) is None  # the save forgot what was kept
        together = await asyncio.gather(*(prompts.guild_settings(1) for _ in range(5)))
        assert [[s.channel_id for s in settings] for settings in together] == [[50]] * 5
        assert reads == [1]
        assert [s.channel_id for s in await prompts.guild_settings(1)] == [50]
        assert reads == [1]
        await prompts.save_settings(PromptSettings(guild_id=1, cohort_id=1, channel_id=60))
        assert [s.channel_id for s in await prompts.guild_settings(1)] == [60]
        assert reads == [1, 1]
    finally:
        await close_app(app)
