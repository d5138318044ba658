"""An app with the features built (no bot), for the intro repository's tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path

from bot.app import build_features, close_app, open_app
from bot.clock import FakeClock
from cogs.introductions import IntroService
from cogs.introductions.repository import IntroRepository
from tests.support.postgres import store_settings


@asynccontextmanager
async def intro_repository(
    store_target: str, tmp_path: Path, now: datetime
) -> AsyncIterator[IntroRepository]:
    """The intro repository of an app on ``store_target`` ("sqlite" or a PostgreSQL URL)."""
    app = await open_app(store_settings(store_target, tmp_path), clock=FakeClock(now))
    build_features(app)
    try:
        yield app.services.get(IntroService).repository
    finally:
        await close_app(app)
