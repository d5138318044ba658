"""The coffee shop: celebrations, kudos, questions, pulse, milestones, circles."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.registry import feature_build
from cogs.coffee_shop.circles import CircleService
from cogs.coffee_shop.repository import CoffeeStore
from cogs.coffee_shop.service import CoffeeService, MilestoneService, load_questions
from cogs.introductions import build as build_introductions

if TYPE_CHECKING:
    from bot.app import AppContext
    from bot.client import CohortBot

__all__ = ["CircleService", "CoffeeService", "MilestoneService", "build", "setup"]


@feature_build(CoffeeService)
def build(app: AppContext) -> CoffeeService:
    store = CoffeeStore.open(app.db)
    build_introductions(app)  # the question names the newest unwelcomed classmates
    coffee = app.make(CoffeeService, store=store, questions=load_questions())
    app.services.provide(app.make(MilestoneService, store=store))
    app.services.provide(app.make(CircleService, store=store))
    app.personal_data.register(*store.repositories())
    return coffee


async def setup(bot: CohortBot) -> None:
    """discord.py's extension entry point: build the services, then add the cog(s)."""
    from .circles_cog import setup as setup_circles_cog
    from .cog import setup as setup_cog

    await bot.add_feature(build, setup_cog, setup_circles_cog)
