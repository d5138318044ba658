"""Nudges: /nudges, /away; the nudge engine other features register reminder kinds with."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.registry import feature_build
from cogs.nudges.repository import NudgeRepository
from cogs.nudges.rules import REASON_TEXT
from cogs.nudges.service import (
    NUDGE_KIND_PREFIX,
    NudgeCandidate,
    NudgeContext,
    NudgeEngine,
    NudgeKind,
)

if TYPE_CHECKING:
    from bot.app import AppContext
    from bot.client import CohortBot

__all__ = [
    "NUDGE_KIND_PREFIX",
    "REASON_TEXT",
    "NudgeCandidate",
    "NudgeContext",
    "NudgeEngine",
    "NudgeKind",
    "build",
    "setup",
]


@feature_build(NudgeEngine)
def build(app: AppContext) -> NudgeEngine:
    store = NudgeRepository(app.db)
    engine = app.make(NudgeEngine, store=store, flush_activity=app.activity_recorder.flush)
    app.personal_data.register(store)
    return engine


async def setup(bot: CohortBot) -> None:
    """discord.py's extension entry point: build the services, then add the cog(s)."""
    from .cog import setup as setup_cog

    await bot.add_feature(build, setup_cog)
