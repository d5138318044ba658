"""Shard plans: SHARD_COUNT/SHARD_IDS parsing, which process owns which guild, and the
scheduler running only the schedules of its own shards' guilds."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.app import close_app, open_app
from bot.cli import cluster_problem
from bot.clock import FakeClock
from bot.scheduler import CohortScheduler, ScheduledRun
from bot.settings import Settings, SettingsError, parse_settings
from bot.sharding import ShardPlan, shard_of
from bot.store.db import Database
from bot.store.ledger import LedgerRepository
from bot.store.schedules import Schedule, ScheduleRepository


def guild_on(shard: int, count: int, n: int = 0) -> int:
    """A snowflake-like guild id whose shard is ``shard`` of ``count``."""
    return ((n * count + shard) << 22) | 12345


# ---------------------------------------------------------------------- settings


def test_unset_means_one_unsharded_connection() -> None:
    settings = parse_settings({})
    assert (settings.shard_count, settings.shard_ids) == (None, None)
    plan = ShardPlan(settings.shard_count, settings.shard_ids)
    assert not plan.sharded and not plan.partial and plan.owns(guild_on(1, 2))


def test_count_alone_runs_every_shard() -> None:
    settings = parse_settings({"SHARD_COUNT": "3"})
    assert settings.shard_ids == (0, 1, 2)


def test_ids_are_parsed_and_sorted() -> None:
    settings = parse_settings({"SHARD_COUNT": "4", "SHARD_IDS": " 3, 1 "})
    assert (settings.shard_count, settings.shard_ids) == (4, (1, 3))


@pytest.mark.parametrize(
    ("values", "variable", "words"),
    [
        ({"SHARD_IDS": "0"}, "SHARD_IDS", "needs SHARD_COUNT"),
        ({"SHARD_COUNT": "0"}, "SHARD_COUNT", "≥ 1"),
        ({"SHARD_COUNT": "two"}, "SHARD_COUNT", "whole number"),
        ({"SHARD_COUNT": "2", "SHARD_IDS": "2"}, "SHARD_IDS", "outside SHARD_COUNT=2"),
        ({"SHARD_COUNT": "2", "SHARD_IDS": "0,0"}, "SHARD_IDS", "twice"),
        ({"SHARD_COUNT": "2", "SHARD_IDS": "0;1"}, "SHARD_IDS", "separated by commas"),
        ({"SHARD_COUNT": "2", "SHARD_IDS": "-1"}, "SHARD_IDS", "separated by commas"),
    ],
)
def test_bad_shard_settings_name_the_variable(
    values: dict[str, str | None], variable: str, words: str
) -> None:
    with pytest.raises(SettingsError) as raised:
        parse_settings(values)
    assert raised.value.variable == variable
    assert words in str(raised.value)
    assert "\n" not in str(raised.value)


async def test_a_partial_plan_on_sqlite_is_refused_with_one_line(tmp_path: Path) -> None:
    settings = Settings(database_path=tmp_path / "c.db", shard_count=2, shard_ids=(1,))
    app = await open_app(settings)
    try:
        problem = cluster_problem(app)
    finally:
        await close_app(app)
    assert problem is not None and problem.startswith("SHARD_IDS:")
    assert "PostgreSQL" in problem and "\n" not in problem
    whole = Settings(database_path=tmp_path / "d.db", shard_count=2, shard_ids=(0, 1))
    app = await open_app(whole)
    try:
        assert cluster_problem(app) is None
    finally:
        await close_app(app)


# ---------------------------------------------------------------------- ownership


def test_shard_of_follows_discords_formula() -> None:
    assert shard_of(guild_on(3, 4), 4) == 3
    assert shard_of(81384788765712384, 2) == (81384788765712384 >> 22) % 2
    with pytest.raises(ValueError):
        shard_of(1, 0)


@given(
    count=st.integers(min_value=1, max_value=16),
    cuts=st.lists(st.integers(min_value=0, max_value=16), max_size=4),
    guilds=st.lists(st.integers(min_value=0, max_value=2**63 - 1), min_size=1, max_size=20),
)
def test_a_cluster_owns_every_guild_exactly_once(
    count: int, cuts: list[int], guilds: list[int]
) -> None:
    # Split the shards over processes in contiguous runs, as an operator would.
    edges = sorted({0, count, *(min(cut, count) for cut in cuts)})
    members = [ShardPlan(count, tuple(range(lo, hi))) for lo, hi in itertools.pairwise(edges)]
    for guild in guilds:
        assert sum(plan.owns(guild) for plan in members) == 1
    assert sum(plan.receives_direct_messages for plan in members) == 1
    assert all(plan.partial == (len(members) > 1) for plan in members)


def test_inconsistent_plans_are_rejected() -> None:
    with pytest.raises(ValueError):
        ShardPlan(None, (0,))
    with pytest.raises(ValueError):
        ShardPlan(2, (2,))
    with pytest.raises(ValueError):
        ShardPlan(2, ())


async def test_the_scheduler_runs_only_its_own_shards_guilds(tmp_path: Path) -> None:
    clock = FakeClock(datetime(2026, 9, 7, 13, 0, tzinfo=UTC))  # a Monday
    db = await Database.open(tmp_path / "c.db")
    mine, theirs = guild_on(1, 2), guild_on(0, 2)
    runs: list[ScheduledRun] = []

    async def handler(run: ScheduledRun) -> None:
        runs.append(run)

    schedules = ScheduleRepository(db)
    scheduler = CohortScheduler(
        schedules=schedules,
        ledger=LedgerRepository(db),
        clock=clock,
        owns_guild=ShardPlan(2, (1,)).owns,
    )
    scheduler.register_kind("digest", handler)
    try:
        created = datetime(2026, 8, 1, tzinfo=UTC)
        for guild in (mine, theirs):
            await schedules.upsert(
                Schedule(guild, 1, "digest", 0, time(9, 0), "America/New_York", True, created)
            )
        await scheduler.rebuild()
        names = {job.name for job in scheduler.jobs()}
        assert f"digest guild={mine} cohort=1" in names
        assert not any(str(theirs) in name for name in names)
        await scheduler.run_due()
        assert [run.guild_id for run in runs] == [mine]
    finally:
        await scheduler.shutdown()
        await db.close()


def test_cluster_members_split_the_global_send_budget() -> None:
    from bot.client import sender_config
    from bot.outbox.sender import SenderConfig
    from bot.settings import Settings

    whole, settings = SenderConfig(), Settings()
    for plan in (ShardPlan(), ShardPlan(4, (0, 1, 2, 3))):
        assert sender_config(whole, settings, plan).rate_per_second == whole.rate_per_second
        assert sender_config(whole, settings, plan).burst == whole.burst
    members = [ShardPlan(4, (0,)), ShardPlan(4, (1, 2)), ShardPlan(4, (3,))]
    rates = [sender_config(whole, settings, plan).rate_per_second for plan in members]
    assert rates == [
        whole.rate_per_second / 4,
        whole.rate_per_second / 2,
        whole.rate_per_second / 4,
    ]
    assert sum(rates) == pytest.approx(whole.rate_per_second)
    # Each member's identity is the shards it locks: the same in every run of it.
    assert [sender_config(whole, settings, plan).member for plan in members] == [
        "0/4",
        "1,2/4",
        "3/4",
    ]
    assert sender_config(whole, settings, ShardPlan()).member == "0/1"
    assert sender_config(whole, settings, ShardPlan(4, (2, 1))).member == "1,2/4"
