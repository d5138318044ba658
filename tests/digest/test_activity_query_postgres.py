"""The digest's activity aggregate on PostgreSQL: the same numbers as on SQLite, read with one
index range scan per student (not one per window, which made it five times slower), each row's
window found once, and a large roster read in parts at once on several connections."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.store.activity import ActivityRepository, CountedRow
from bot.store.db import Database, DatabaseBusyError
from bot.store.engine import open_database
from bot.store.times import to_db_time
from cogs.digest import repository as digest_repository
from cogs.digest.repository import ActivityAggregate, DigestRepository
from cogs.digest.rules import week_windows

AS_OF = datetime(2026, 3, 9, 12, 0, tzinfo=UTC)
WEEK = timedelta(days=7)
WINDOWS = [(AS_OF - (k + 1) * WEEK, AS_OF - k * WEEK) for k in range(4)]
MICRO = timedelta(microseconds=1)

Windows = Sequence[tuple[datetime, datetime]]


async def _filled(target: str, rows: Sequence[CountedRow] | None = None) -> Database:
    db = await open_database(target)
    if rows is None:
        rows = [
            (1, user, "message", 5, to_db_time(at), 1)
            for user, at in (
                (7, AS_OF - timedelta(seconds=1)),  # this week's last second
                (7, AS_OF - WEEK),  # this week's first second
                (7, AS_OF - WEEK - timedelta(seconds=1)),  # last week
                (7, AS_OF),  # after the digest's end: neither counted nor last
                (8, AS_OF - 10 * WEEK),  # before every window: only its last activity
                (9, AS_OF - 3 * WEEK - timedelta(hours=1)),
                (9, AS_OF - 3 * WEEK - timedelta(hours=2)),
            )
        ]
    await ActivityRepository(db).insert_counts(list(rows))
    return db


async def _both(
    postgres_url: str,
    tmp_path: Path,
    rows: Sequence[CountedRow] | None,
    queries: Sequence[tuple[Sequence[int], Windows]],
) -> list[tuple[ActivityAggregate, ActivityAggregate]]:
    """Each query's answer on SQLite and on PostgreSQL, both filled with ``rows``."""
    answers: list[list[ActivityAggregate]] = []
    for target in (str(tmp_path / "digest.db"), postgres_url):
        db = await _filled(target, rows)
        try:
            repo = DigestRepository(db)
            answers.append([await repo.activity(1, users, windows) for users, windows in queries])
        finally:
            await db.close()
    return list(zip(answers[0], answers[1], strict=True))


def _same(sqlite: ActivityAggregate, postgres: ActivityAggregate) -> None:
    assert postgres.events == sqlite.events
    assert postgres.last_active == sqlite.last_active


async def test_postgresql_gives_sqlites_numbers(postgres_url: str, tmp_path: Path) -> None:
    [(sqlite, postgres)] = await _both(postgres_url, tmp_path, None, [([7, 8, 9, 10], WINDOWS)])
    _same(sqlite, postgres)
    assert postgres.events == {7: [2, 1, 0, 0], 9: [0, 0, 0, 2]}
    assert set(postgres.last_active) == {7, 8, 9}


async def test_rows_on_every_window_edge(postgres_url: str, tmp_path: Path) -> None:
    # On each edge, one microsecond before it and one after; events > 1 (counted rows).
    edges = sorted({t for window in WINDOWS for t in window})
    rows: list[CountedRow] = []
    for n, edge in enumerate(edges):
        for offset, events in ((-MICRO, 2), (timedelta(0), 3), (MICRO, 5)):
            rows.append((1, 7, "message", 5, to_db_time(edge + offset), events + n))
    rows.append((1, 8, "message", 5, to_db_time(AS_OF - MICRO), 4))  # only the last µs
    rows.append((1, 9, "message", 5, to_db_time(WINDOWS[-1][0] - MICRO), 1))  # just before
    [(sqlite, postgres)] = await _both(postgres_url, tmp_path, rows, [([7, 8, 9, 10], WINDOWS)])
    _same(sqlite, postgres)
    # Window k gets its start and the µs after it, and the µs before its end.
    assert postgres.events[7] == [
        (3 + 3) + (5 + 3) + (2 + 4),
        (3 + 2) + (5 + 2) + (2 + 3),
        (3 + 1) + (5 + 1) + (2 + 2),
        (3 + 0) + (5 + 0) + (2 + 1),
    ]
    assert postgres.events[8] == [4, 0, 0, 0]
    assert 9 not in postgres.events and 10 not in postgres.events
    assert postgres.last_active[7] == AS_OF - MICRO
    assert postgres.last_active[9] == WINDOWS[-1][0] - MICRO
    assert 10 not in postgres.last_active


async def test_windows_across_daylight_saving_time(postgres_url: str, tmp_path: Path) -> None:
    # New York springs forward on 2026-03-08 and falls back on 2026-11-01: the weeks around
    # them are 167 and 169 hours long in UTC, so the edges are not evenly spaced.
    zone = ZoneInfo("America/New_York")
    queries = []
    rows: list[CountedRow] = []
    for as_of in (datetime(2026, 3, 16, 14, tzinfo=UTC), datetime(2026, 11, 9, 15, tzinfo=UTC)):
        windows = week_windows(as_of, zone, 4)
        assert len({end - start for start, end in windows}) == 2
        queries.append(([7, 8], windows))
        for start, end in windows:
            for at in (start, start + timedelta(hours=1), end - timedelta(hours=1), end - MICRO):
                rows.append((1, 7, "message", 5, to_db_time(at), 1))
            rows.append((1, 8, "message", 5, to_db_time(start - timedelta(minutes=30)), 1))
    for sqlite, postgres in await _both(postgres_url, tmp_path, rows, queries):
        _same(sqlite, postgres)
        assert all(count >= 4 for count in postgres.events[7])


async def test_windows_with_gaps_overlaps_and_empty_ones(postgres_url: str, tmp_path: Path) -> None:
    # Not what week_windows gives, but the PostgreSQL form must still agree: a gap between
    # two windows, one window inside another, an empty one, and one ending after as_of.
    day = timedelta(days=1)
    odd = [
        (AS_OF - 3 * day, AS_OF),
        (AS_OF - 10 * day, AS_OF - 5 * day),  # a gap of two days before the first
        (AS_OF - 9 * day, AS_OF - 8 * day),  # inside the second
        (AS_OF - 4 * day, AS_OF - 4 * day),  # empty
        (AS_OF - 2 * day, AS_OF + 2 * day),  # past as_of: counted there, not "last"
    ]
    rows: list[CountedRow] = [
        (1, 7, "message", 5, to_db_time(AS_OF + hours * timedelta(hours=1)), 1 + hours % 3)
        for hours in range(-11 * 24, 3 * 24, 7)
    ]
    rows.append((1, 8, "message", 5, to_db_time(AS_OF + day), 1))  # only after as_of
    [(sqlite, postgres)] = await _both(postgres_url, tmp_path, rows, [([7, 8], odd)])
    _same(sqlite, postgres)
    assert postgres.events[8] == [0, 0, 0, 0, 1]
    assert 8 not in postgres.last_active


async def test_a_large_roster_is_read_in_parts_with_the_same_numbers(
    postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Parts of 10 students, so 25 students are read in two parts (at most _PG_PARTS).
    monkeypatch.setattr(digest_repository, "_PG_PART_MIN", 10)
    rng = random.Random(5)
    zone = ZoneInfo("America/New_York")
    windows = week_windows(datetime(2026, 3, 20, 17, 30, tzinfo=UTC), zone, 12)
    start, end = to_db_time(windows[-1][0]), to_db_time(windows[0][1])
    users = [rng.randrange(1, 10**12) for _ in range(25)]
    rows: list[CountedRow] = [
        (1, user, "message", 5, rng.randrange(start - 10**12, end + 10**11), rng.randint(1, 4))
        for user in users[:20]  # the last five never active
        for _ in range(rng.randrange(0, 60))
    ]
    rows += [(1, user, "message", 5, to_db_time(t), 1) for user in users[:3] for t in windows[3]]
    rows += [(2, user, "message", 5, end - 1, 1) for user in users]  # another guild's
    parts = DigestRepository.activity_queries(1, users, windows, "postgresql")
    assert len(parts) == 2
    assert sorted(users) == [u for part in parts for u in _roster_of(part)]
    assert len(DigestRepository.activity_queries(1, users[:19], windows, "postgresql")) == 1
    assert len(DigestRepository.activity_queries(1, users, windows, "sqlite")) == 1
    [(sqlite, postgres)] = await _both(postgres_url, tmp_path, rows, [(users, windows)])
    _same(sqlite, postgres)
    assert len(postgres.events) >= 15
    assert not set(users[20:]) & (set(postgres.events) | set(postgres.last_active))


def _roster_of(statement: tuple[str, tuple[Any, ...]]) -> list[int]:
    _, params = statement
    return [int(u) for u in json.loads(next(p for p in params if isinstance(p, str)))]


class _FailingStore:
    """A PostgreSQL-like store: the part holding student 0 fails at once, the other takes a
    few turns of the event loop to finish."""

    dialect = "postgresql"

    def __init__(self) -> None:
        self.finished: list[int] = []

    async def fetchall(self, sql: str, params: tuple[Any, ...]) -> list[Any]:
        roster = _roster_of((sql, params))
        if roster[0] == 0:
            raise DatabaseBusyError("PostgreSQL statement failed; try again")
        for _ in range(3):
            await asyncio.sleep(0)
        self.finished.append(roster[0])
        return []


async def test_a_failed_part_fails_the_whole_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(digest_repository, "_PG_PART_MIN", 2)
    store = _FailingStore()
    repo = DigestRepository(store)  # type: ignore[arg-type]
    with pytest.raises(DatabaseBusyError):
        await repo.activity(1, [3, 2, 1, 0], WINDOWS)
    assert store.finished == [2]  # the other part ran to its end, not left behind


async def test_postgresql_reads_each_student_with_one_range_scan(postgres_url: str) -> None:
    db = await _filled(postgres_url)
    try:
        sql, params = DigestRepository.activity_query(1, [7, 8, 9], WINDOWS, "postgresql")
        rows = await db.fetchall("EXPLAIN (VERBOSE) " + sql, params)
        plan = [str(r[0]).strip() for r in rows]
    finally:
        await db.close()
    # The windows' sums in one scan per student, plus the latest-activity lookup: two
    # scans of the activity table in the plan, whatever the number of windows.
    assert sum("on public.activity" in line for line in plan) == 2, plan
    # Each row's window is found once, by the scan (flattened into the aggregate, the
    # width_bucket would run once per window's FILTER).
    scan = next(i for i, line in enumerate(plan) if "Index Only Scan using" in line)
    assert plan[scan + 1].startswith("Output: width_bucket("), plan
