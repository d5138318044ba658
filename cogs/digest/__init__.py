"""The weekly digest for cohort leads: follow-ups, CSV and chart."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.registry import feature_build
from cogs.coffee_chats import build as build_coffee_chats
from cogs.coffee_shop import build as build_coffee_shop
from cogs.course import build as build_course
from cogs.digest.repository import DigestRepository
from cogs.digest.service import DigestService
from cogs.introductions import build as build_introductions
from cogs.nudges import build as build_nudges
from cogs.prompts import build as build_prompts
from cogs.roster import build as build_roster

if TYPE_CHECKING:
    from bot.app import AppContext
    from bot.client import CohortBot

__all__ = ["DigestService", "build", "setup"]


@feature_build(DigestService)
def build(app: AppContext) -> DigestService:
    store = DigestRepository(app.db)
    build_course(app)  # close-term runs the final digest
    digest = app.make(
        DigestService,
        repository=store,
        nudges=build_nudges(app),
        coffee=build_coffee_shop(app),
        prompts=build_prompts(app),
        intros=build_introductions(app),
        matching=build_coffee_chats(app),
        before_compute=app.activity_recorder.flush,
        enrolment=build_roster(app),
    )
    app.personal_data.register(store)
    return digest


async def setup(bot: CohortBot) -> None:
    """discord.py's extension entry point: build the services, then add the cog(s)."""
    from .cog import setup as setup_cog

    await bot.add_feature(build, setup_cog)
