"""A guild's settings and cohorts, read on every tracked message, come from memory: one read
for the callers that miss together (the first burst after a start), and a save is seen."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.app import AppContext, close_app, open_app
from bot.clock import FakeClock
from bot.guild_model import GuildConfig
from tests.support.postgres import store_settings

NOW = datetime(2026, 9, 8, 12, tzinfo=UTC)


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[AppContext]:
    """An app whose guild 1 has settings (intro channel 50) and nothing cached."""
    opened = await open_app(
        store_settings(str(tmp_path / "store.db"), tmp_path), clock=FakeClock(NOW)
    )
    try:
        await opened.guild_configs.save(GuildConfig(guild_id=1, intro_channel_id=50), now=NOW)
        yield opened
    finally:
        await close_app(opened)


async def test_settings_and_cohorts_are_read_once_and_a_save_is_seen(
    app: AppContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = app.guild_settings
    await app.cohorts.add(1, "Fall", 700, None, now=NOW)
    reads: list[str] = []
    for name, method in (("config", "get"), ("cohorts", "list")):
        repository = app.guild_configs if name == "config" else app.cohorts
        real = getattr(repository, method)

        async def spy(guild_id: int, *, real: Any = real, name: str = name) -> Any:
            reads.append(name)
            await asyncio.sleep(0)  # still under way when the others ask
            return await real(guild_id)

        monkeypatch.setattr(repository, method, spy)

    assert settings.cached_config(1) == (False, None)  # asking reads nothing
    configs = await asyncio.gather(*(settings.config(1) for _ in range(20)))
    cohorts = await asyncio.gather(*(settings.cohorts(1) for _ in range(20)))
    assert {c.intro_channel_id for c in configs if c} == {50} and None not in configs
    assert all([c.name for c in found] == ["Fall"] for found in cohorts)
    assert reads == ["config", "cohorts"]
    assert settings.cached_config(1) == (True, configs[0])

    # A guild with no settings is known too: its events are not handled, and not read for.
    assert await settings.config(2) is None
    assert settings.cached_config(2) == (True, None)

    # /course setup saves, then forgets: the next message reads the new settings.
    await app.guild_configs.save(GuildConfig(guild_id=1, intro_channel_id=60), now=NOW)
    settings.forget(1)
    assert settings.cached_config(1) == (False, None)
    config = await settings.config(1)
    assert config is not None and config.intro_channel_id == 60
    assert reads == ["config", "cohorts", "config", "config"]


async def test_a_read_under_way_during_a_save_is_not_kept(
    app: AppContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = app.guild_settings
    real_get = app.guild_configs.get

    async def saved_meanwhile(guild_id: int) -> GuildConfig | None:
        found = await real_get(guild_id)
        await app.guild_configs.save(GuildConfig(guild_id=1, intro_channel_id=60), now=NOW)
        settings.forget(guild_id)
        return found

    monkeypatch.setattr(app.guild_configs, "get", saved_meanwhile)
    old = await settings.config(1)
    assert old is not None and old.intro_channel_id == 50  # what the read saw
    assert settings.cached_config(1) == (False, None)  # but not kept
    monkeypatch.setattr(app.guild_configs, "get", real_get)
    new = await settings.config(1)
    assert new is not None and new.intro_channel_id == 60
