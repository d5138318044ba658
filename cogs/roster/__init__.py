"""The roster: the course's enrolment from the LMS, join codes that link accounts and give the
cohort's role, who never arrived (for the digest and status), and the participation export."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.registry import feature_build
from cogs.coffee_chats import build as build_matching
from cogs.course import build as build_course
from cogs.introductions import build as build_intros
from cogs.prompts import build as build_prompts
from cogs.roster.export import ParticipationExport
from cogs.roster.repository import RosterRepository
from cogs.roster.service import NotArrived, RosterService

if TYPE_CHECKING:
    from bot.app import AppContext
    from bot.client import CohortBot

__all__ = ["NotArrived", "ParticipationExport", "RosterService", "build", "setup"]


@feature_build(RosterService)
def build(app: AppContext) -> RosterService:
    store = RosterRepository(app.db)
    build_course(app)  # close-term expires the codes
    roster = app.make(RosterService, repository=store, retention_days=app.settings.retention_days)
    app.services.provide(
        app.make(
            ParticipationExport,
            prompts=build_prompts(app),
            intros=build_intros(app),
            matching=build_matching(app),
        )
    )
    app.personal_data.register(store)
    app.maintenance.register_retention(roster.purge_due)
    return roster


async def setup(bot: CohortBot) -> None:
    """discord.py's extension entry point: build the services, then add the cog(s)."""
    from .cog import setup as setup_cog

    await bot.add_feature(build, setup_cog)
