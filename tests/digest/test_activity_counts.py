"""The digest's activity numbers from counted rows: what one row per event gave."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.store.activity import ActivityEvent, ActivityRecorder, ActivityRepository
from bot.store.db import Database
from cogs.digest.repository import DigestRepository

AS_OF = datetime(2026, 3, 9, 12, 0, tzinfo=UTC)
WEEK = timedelta(days=7)
WINDOWS = [(AS_OF - WEEK, AS_OF), (AS_OF - 2 * WEEK, AS_OF - WEEK)]


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await Database.open(tmp_path / "cohortbot.db")
    try:
        yield database
    finally:
        await database.close()


async def test_counted_rows_give_the_same_windows_and_last_activity(db: Database) -> None:
    recorder = ActivityRecorder(ActivityRepository(db))
    second = timedelta(seconds=1)
    # Student 1: five events in one second at the start of this week (counted in it), two
    # in the last second before as_of, one at as_of (after the digest's end: not counted),
    # and three in last week's last second, split over two flushes.
    for at, times in (
        (AS_OF - WEEK, 5),
        (AS_OF - second, 2),
        (AS_OF, 1),
        (AS_OF - WEEK - second, 2),
    ):
        for _ in range(times):
            recorder.record(ActivityEvent(7, 1, "message", 70, at))
    await recorder.flush()
    recorder.record(ActivityEvent(7, 1, "reaction", 70, AS_OF - WEEK - second))
    recorder.record(ActivityEvent(7, 2, "command", 71, AS_OF - 2 * WEEK))  # student 2
    recorder.record(ActivityEvent(7, 3, "message", 70, AS_OF - 3 * WEEK))  # before both
    recorder.record(ActivityEvent(8, 1, "message", 70, AS_OF - second))  # another guild
    await recorder.flush()
    found = await DigestRepository(db).activity(7, [1, 2, 3, 4], WINDOWS)
    assert found.events == {1: [7, 3], 2: [0, 1]}
    assert found.last_active == {
        1: AS_OF - second,
        2: AS_OF - 2 * WEEK,
        3: AS_OF - 3 * WEEK,
    }
