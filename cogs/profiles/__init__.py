"""Profiles: life circumstances with per-item visibility (/profile, /classmates)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cogs.nudges import build as build_nudges
from cogs.profiles.repository import ProfileRepository
from cogs.profiles.rules import Attribute, Profile, Visibility, shared_labels, visible_to
from cogs.profiles.service import ProfileService

if TYPE_CHECKING:
    from bot.app import AppContext
    from bot.client import CohortBot

__all__ = [
    "Attribute",
    "Profile",
    "ProfileService",
    "Visibility",
    "build",
    "setup",
    "shared_labels",
    "visible_to",
]


def build(app: AppContext) -> ProfileService:
    """The feature's services without Discord (for setup, tools and tests); idempotent."""
    found = app.services.find(ProfileService)
    if found is not None:
        return found
    store = ProfileRepository(app.db)
    build_nudges(app)  # the students' own zones for quiet hours
    profiles = ProfileService(store, app.clock)
    app.services.provide(profiles)
    app.personal_data.register(store)
    return profiles


async def setup(bot: CohortBot) -> None:
    """discord.py's extension entry point: build the services, then add the cog(s)."""
    build(bot.app)
    from .cog import setup as setup_cog

    await setup_cog(bot)
