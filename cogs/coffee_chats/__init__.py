"""Coffee chats: weekly matching rounds by life circumstances."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.registry import feature_build
from cogs.coffee_chats.common import MatchContext
from cogs.coffee_chats.fit import Fit, mentor_fit, restricted
from cogs.coffee_chats.repository import MatchRepository
from cogs.coffee_chats.service import MatchingService
from cogs.coffee_shop import MilestoneService
from cogs.coffee_shop import build as build_coffee_shop
from cogs.profiles import build as build_profiles

if TYPE_CHECKING:
    from bot.app import AppContext
    from bot.client import CohortBot

__all__ = ["Fit", "MatchingService", "build", "mentor_fit", "restricted", "setup"]


@feature_build(MatchingService)
def build(app: AppContext) -> MatchingService:
    store = MatchRepository(app.db)
    build_coffee_shop(app)
    ctx = app.make(
        MatchContext,
        store=store,
        profiles=build_profiles(app),
        milestones=app.services.get(MilestoneService),
        dm_marks=app.outbox.dm_channels,
    )
    matching = MatchingService(ctx)
    app.personal_data.register(store)
    return matching


async def setup(bot: CohortBot) -> None:
    """discord.py's extension entry point: build the services, then add the cog(s)."""
    from .cog import setup as setup_cog

    await bot.add_feature(build, setup_cog)
