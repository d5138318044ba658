"""Weekly discussion prompts: the bank, weekly posts, groups, answers, peer replies."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.registry import feature_build
from cogs.coffee_shop import build as build_coffee_shop
from cogs.nudges import build as build_nudges
from cogs.prompts.repository import PromptRepository
from cogs.prompts.service import PromptService, load_default_bank

if TYPE_CHECKING:
    from bot.app import AppContext
    from bot.client import CohortBot

__all__ = ["PromptService", "build", "setup"]


@feature_build(PromptService)
def build(app: AppContext) -> PromptService:
    store = PromptRepository(app.db)
    build_coffee_shop(app)  # milestones
    build_nudges(app)  # reminder kinds
    prompts = app.make(PromptService, store=store, default_bank=load_default_bank())
    app.personal_data.register(store)
    return prompts


async def setup(bot: CohortBot) -> None:
    """discord.py's extension entry point: build the services, then add the cog(s)."""
    from .cog import setup as setup_cog

    await bot.add_feature(build, setup_cog)
