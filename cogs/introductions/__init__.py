"""Introductions: welcome on join, /intro, plain-message intros, welcomes."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.registry import feature_build
from cogs.introductions.repository import IntroRepository
from cogs.introductions.service import IntroService
from cogs.nudges import build as build_nudges
from cogs.profiles import build as build_profiles

if TYPE_CHECKING:
    from bot.app import AppContext
    from bot.client import CohortBot

__all__ = ["IntroService", "build", "setup"]


@feature_build(IntroService)
def build(app: AppContext) -> IntroService:
    store = IntroRepository(app.db)
    build_nudges(app)  # reminder kinds
    intros = app.make(IntroService, repository=store, profiles=build_profiles(app))
    app.personal_data.register(store)
    app.hooks.on_guild_purged.append(store.forget)  # its cached settings
    return intros


async def setup(bot: CohortBot) -> None:
    """discord.py's extension entry point: build the services, then add the cog(s)."""
    from .cog import setup as setup_cog

    await bot.add_feature(build, setup_cog)
