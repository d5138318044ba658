"""The participation chart is drawn off the event loop, and drawing it from several threads at
once gives the same PNG as drawing it alone."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import cogs.digest.service as digest_service
from bot.app import AppContext, build_features, close_app, open_app
from bot.clock import FakeClock
from bot.settings import Settings
from cogs.course import SetupService
from cogs.course.setup import SetupRequest
from cogs.digest import DigestService
from cogs.digest.render import WeekPoint, render_chart
from cogs.digest.service import StudentRef

GUILD = 901
AS_OF = datetime(2026, 9, 21, 13, 0, tzinfo=UTC)


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[AppContext]:
    app = await open_app(Settings(database_path=tmp_path / "bot.db"), clock=FakeClock(AS_OF))
    build_features(app)
    await app.services.get(SetupService).apply(
        GUILD, SetupRequest(student_role_id=10, timezone="America/New_York", lead_role_id=11)
    )
    try:
        yield app
    finally:
        await close_app(app)


async def test_compute_draws_the_chart_in_a_worker_thread(
    app: AppContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    drawn_on: list[int] = []

    def spy(*args: Any) -> bytes:
        drawn_on.append(threading.get_ident())
        return render_chart(*args)

    monkeypatch.setattr(digest_service, "render_chart", spy)
    cohort = (await app.guild_settings.cohorts(GUILD))[0]
    refs = [StudentRef(7, "Ada", AS_OF - timedelta(days=30))]
    built = await app.services.get(DigestService).compute(GUILD, cohort, refs, AS_OF)
    assert drawn_on and drawn_on[0] != threading.get_ident()  # not the event loop's thread
    assert built.chart_png is not None and built.chart_png.startswith(b"\x89PNG")
    # a CSV-only digest (the weekly export) draws nothing
    await app.services.get(DigestService).compute(GUILD, cohort, refs, AS_OF, chart=False)
    assert len(drawn_on) == 1


def test_charts_drawn_at_once_in_threads_are_the_same_as_alone() -> None:
    charts = [
        [WeekPoint(date(2026, 9, 7) + timedelta(weeks=k), k + n, k, None) for k in range(8)]
        for n in range(4)
    ]
    alone = [render_chart(points, f"Cohort {n}") for n, points in enumerate(charts)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        together = list(pool.map(render_chart, charts * 2, [f"Cohort {n}" for n in range(4)] * 2))
    assert together == alone * 2
