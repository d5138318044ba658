"""``AppContext.make``: a feature's service gets the core services by parameter name."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bot.app import CORE_PARAMETERS, AppContext, close_app, open_app
from bot.clock import Clock
from bot.guild_settings import GuildSettings
from bot.settings import Settings


@dataclass(kw_only=True)
class _Service:
    store: str
    setup: GuildSettings
    clock: Clock
    note: str = "default"


async def test_make_passes_the_core_by_name_and_what_is_given_as_given(tmp_path: Path) -> None:
    app = await open_app(Settings(database_path=tmp_path / "c.db"))
    try:
        made = app.make(_Service, store="mine")
        assert made.store == "mine" and made.note == "default"
        assert made.setup is app.guild_settings and made.clock is app.clock
        # What the feature gives wins over the core's.
        other = app.make(_Service, store="mine", clock="fake")
        assert other.clock == "fake"
    finally:
        await close_app(app)


def test_every_core_parameter_names_a_field_of_the_app() -> None:
    fields = set(AppContext.__dataclass_fields__)
    assert set(CORE_PARAMETERS.values()) <= fields
