"""Activity tracking: what counts as a student's participation."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.client import CohortBot


async def setup(bot: CohortBot) -> None:
    """discord.py's extension entry point: imported lazily so the package stays cheap."""
    from .cog import setup as setup_cog

    await setup_cog(bot)
