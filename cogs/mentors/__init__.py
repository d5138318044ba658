"""Alumni mentors: students who finished a cohort help the next one, matched by the
circumstances they chose to show (/mentor, /course mentors)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.registry import feature_build
from cogs.coffee_chats import build as build_coffee_chats
from cogs.coffee_shop import MilestoneService
from cogs.course import build as build_course
from cogs.digest import DigestService
from cogs.mentors.repository import MentorRepository
from cogs.mentors.service import MentorService
from cogs.profiles import build as build_profiles

if TYPE_CHECKING:
    from bot.app import AppContext
    from bot.client import CohortBot

__all__ = ["MentorService", "build", "setup"]


@feature_build(MentorService)
def build(app: AppContext) -> MentorService:
    store = MentorRepository(app.db, app.clock)
    build_course(app)  # the close-term thank-you offers mentoring
    mentors = app.make(
        MentorService,
        store=store,
        profiles=build_profiles(app),
        matching=build_coffee_chats(app),
        milestones=app.services.get(MilestoneService),
    )
    app.personal_data.register(store)
    digest = app.services.find(DigestService)  # built first (FEATURES order) when installed
    if digest is not None:
        digest.attach_mentors(mentors.digest_week)
    return mentors


async def setup(bot: CohortBot) -> None:
    """discord.py's extension entry point: build the services, then add the cog(s)."""
    from .cog import setup as setup_cog

    await bot.add_feature(build, setup_cog)
