"""Course administration: setup, status, cohorts, texts, calendar, close-term."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.registry import feature_build
from cogs.course.repository import KeepInTouchRepository
from cogs.course.setup import SetupRequest, SetupService
from cogs.course.term import CloseReport, TermService
from cogs.nudges import build as build_nudges
from cogs.privacy import build as build_privacy

if TYPE_CHECKING:
    from bot.app import AppContext
    from bot.client import CohortBot

__all__ = ["CloseReport", "SetupRequest", "SetupService", "TermService", "build", "setup"]


@feature_build(SetupService)
def build(app: AppContext) -> SetupService:
    setup_service = app.make(SetupService, settings=app.guild_settings)
    keep_in_touch = KeepInTouchRepository(app.db)
    build_privacy(app)  # close-term schedules the retention
    term = app.make(TermService, nudges=build_nudges(app), keep_in_touch=keep_in_touch)
    app.services.provide(term)
    app.personal_data.register(keep_in_touch)
    return setup_service


async def setup(bot: CohortBot) -> None:
    """discord.py's extension entry point: build the services, then add the cog(s)."""
    from .calendar_cog import setup as setup_calendar_cog
    from .cog import setup as setup_cog

    await bot.add_feature(build, setup_cog, setup_calendar_cog)
