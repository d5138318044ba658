"""Privacy: export, erase, tombstones, retention; the bot joining or leaving a server."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from bot.registry import feature_build
from bot.store.tombstones import TombstoneFile
from cogs.privacy.repository import PrivacyRepository
from cogs.privacy.service import PrivacyService

if TYPE_CHECKING:
    from bot.app import AppContext
    from bot.client import CohortBot

__all__ = ["PrivacyService", "build", "setup"]


@feature_build(PrivacyService)
def build(app: AppContext) -> PrivacyService:
    privacy_store = PrivacyRepository(app.db)
    app.personal_data.register(privacy_store)
    privacy = app.make(
        PrivacyService,
        repositories=app.personal_data.repositories,
        hooks=app.hooks,
        privacy=privacy_store,
        tombstones=TombstoneFile.beside(Path(app.db.path)),
        retention_days=app.settings.retention_days,
        guild_grace_days=app.settings.guild_grace_days,
    )
    # A restored older backup may hold rows a student deleted: delete them again at start.
    app.hooks.on_start.append(privacy.reapply_tombstones)
    app.maintenance.register_retention(privacy.purge_due)
    return privacy


async def setup(bot: CohortBot) -> None:
    """discord.py's extension entry point: build the services, then add the cog(s)."""
    from .cog import setup as setup_cog

    await bot.add_feature(build, setup_cog)
