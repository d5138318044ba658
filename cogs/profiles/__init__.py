"""Profiles: life circumstances with per-item visibility (/profile, /classmates)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.registry import feature_build
from cogs.nudges import build as build_nudges
from cogs.profiles.repository import ProfileRepository
from cogs.profiles.rules import (
    ATTRIBUTE_LABELS,
    ATTRIBUTES,
    Attribute,
    Profile,
    ProfileEntry,
    Visibility,
    shared_labels,
    value_label,
    visible_to,
)
from cogs.profiles.service import ProfileService

if TYPE_CHECKING:
    from bot.app import AppContext
    from bot.client import CohortBot

__all__ = [
    "ATTRIBUTES",
    "ATTRIBUTE_LABELS",
    "Attribute",
    "Profile",
    "ProfileEntry",
    "ProfileService",
    "Visibility",
    "build",
    "setup",
    "shared_labels",
    "value_label",
    "visible_to",
]


@feature_build(ProfileService)
def build(app: AppContext) -> ProfileService:
    store = ProfileRepository(app.db)
    build_nudges(app)  # the students' own zones for quiet hours
    profiles = app.make(ProfileService, repository=store)
    app.personal_data.register(store)
    return profiles


async def setup(bot: CohortBot) -> None:
    """discord.py's extension entry point: build the services, then add the cog(s)."""
    from .cog import setup as setup_cog

    await bot.add_feature(build, setup_cog)
