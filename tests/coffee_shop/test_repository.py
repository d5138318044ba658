"""The coffee shop's repositories on a real SQLite file: pulse privacy, milestones, kudos
erasure, export/erase for every table, and what /course upcoming lists."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest

from bot.app import AppContext, build_features, close_app, open_app
from bot.clock import FakeClock
from bot.store.guilds import GuildConfig
from cogs.coffee_shop import CoffeeService, MilestoneService
from cogs.coffee_shop.service import KIND_PULSE, KIND_QUESTION
from tests.support.postgres import store_settings
from tests.support.reads import ReadSpy

NOW = datetime(2026, 9, 9, 15, 0, tzinfo=UTC)  # a Wednesday
GUILD = 111
OTHER_GUILD = 222


@pytest.fixture
async def app(store_target: str, tmp_path: Path) -> AsyncIterator[AppContext]:
    context = await open_app(store_settings(store_target, tmp_path), clock=FakeClock(NOW))
    build_features(context)
    try:
        yield context
    finally:
        await close_app(context)


async def test_pulse_tables_never_hold_a_student_next_to_an_answer(app: AppContext) -> None:
    columns = {
        table: set(await app.db.column_names(table))
        for table in ("coffee_pulse_tallies", "coffee_pulse_respondents")
    }
    assert "user_id" not in columns["coffee_pulse_tallies"]
    assert "answer" not in columns["coffee_pulse_respondents"]
    # No timestamps either, so answers cannot be matched to respondents by time.
    assert not {c for c in columns["coffee_pulse_tallies"] if "at" in c.split("_")}


async def test_pulse_answers_are_final_and_totals_only(app: AppContext) -> None:
    pulses = app.services.get(CoffeeService).store.pulses
    pulse = await pulses.open_week(GUILD, date(2026, 9, 7), NOW + timedelta(days=4), now=NOW)
    again = await pulses.open_week(GUILD, date(2026, 9, 7), NOW + timedelta(days=4), now=NOW)
    assert again.pulse_id == pulse.pulse_id
    assert await pulses.answer(GUILD, pulse.pulse_id, 1, cohort_id=1, answer="great")
    assert not await pulses.answer(GUILD, pulse.pulse_id, 1, cohort_id=1, answer="hard")
    for user in (2, 3):
        assert await pulses.answer(GUILD, pulse.pulse_id, user, cohort_id=1, answer="hard")
    assert await pulses.pulse_tallies(GUILD, pulse.pulse_id) == {"great": 1, "hard": 2}
    rows = await app.db.fetchall("SELECT * FROM coffee_pulse_tallies")
    assert len(rows) == 2  # one row per answer, not per student
    week = (NOW - timedelta(days=3), NOW + timedelta(days=4))
    assert (await app.services.get(CoffeeService).week_stats(GUILD, *week)).pulse.hidden
    for user in (4, 5):
        await pulses.answer(GUILD, pulse.pulse_id, user, cohort_id=2, answer="okay")
    stats = await app.services.get(CoffeeService).week_stats(GUILD, *week)
    assert stats.pulse.counts == {"great": 1, "okay": 2, "struggling": 0, "hard": 2}
    assert (
        await app.services.get(CoffeeService).week_stats(GUILD, *week, cohort_id=2)
    ).pulse.hidden
    with pytest.raises(ValueError):
        await pulses.answer(GUILD, pulse.pulse_id, 9, cohort_id=1, answer="reach")
    # Export says that they answered, never what.
    exported = await pulses.export_user(GUILD, 1)
    assert exported["coffee_pulse_respondents"][0]["pulse_id"] == pulse.pulse_id
    assert "answer" not in exported["coffee_pulse_respondents"][0]


async def test_milestones_once_per_student_and_counted_per_week(app: AppContext) -> None:
    assert await app.services.get(MilestoneService).reached(GUILD, 7, "intro_posted")
    assert not await app.services.get(MilestoneService).reached(GUILD, 7, "intro_posted")
    assert await app.services.get(MilestoneService).reached(GUILD, 8, "intro_posted")
    assert await app.services.get(MilestoneService).reached(OTHER_GUILD, 7, "intro_posted")
    with pytest.raises(ValueError):
        await app.services.get(MilestoneService).reached(GUILD, 7, "finished_everything")
    counts = await app.services.get(CoffeeService).store.milestones.counts(
        GUILD, NOW - timedelta(days=1), NOW + timedelta(seconds=1)
    )
    assert counts == {"intro_posted": 2}
    # Off by default: no note was attempted.
    assert await app.services.get(MilestoneService).of_user(GUILD, 7) == {"intro_posted": "off"}


async def test_kudos_erasure_keeps_the_other_persons_count(app: AppContext) -> None:
    kudos = app.services.get(CoffeeService).store.kudos
    await kudos.add(
        guild_id=GUILD,
        cohort_id=1,
        giver_id=1,
        receiver_id=2,
        reason="thanks",
        message_id=5,
        now=NOW,
    )
    await kudos.add(
        guild_id=OTHER_GUILD,
        cohort_id=1,
        giver_id=1,
        receiver_id=2,
        reason="x",
        message_id=6,
        now=NOW,
    )
    assert len((await kudos.export_user(GUILD, 1))["coffee_kudos"]) == 1
    await kudos.delete_user(GUILD, 1)
    assert (await kudos.export_user(GUILD, 1))["coffee_kudos"] == []
    given, received = await kudos.counts(GUILD, NOW - timedelta(hours=1), NOW + timedelta(hours=1))
    assert given == {} and received == {2: 1}
    assert len((await kudos.export_user(OTHER_GUILD, 1))["coffee_kudos"]) == 1


async def test_milestone_notes_are_read_once_per_guild_and_never_stale(
    app: AppContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Asked at every milestone (each newcomer's first intro): from memory after one read
    of the guild, and every write (also one during that read) is seen at once."""
    settings = app.services.get(CoffeeService).store.settings
    spy = ReadSpy(monkeypatch, app.db, "fetchcolumn", "FROM coffee_settings")
    reads, during_read = spy.reads, spy.during_read
    await settings.set_milestones(GUILD, 1, True, now=NOW)
    await settings.set_milestones(GUILD, 2, False, now=NOW)
    assert [await settings.milestones_on(GUILD, user) for user in (1, 2, 3)] == [True, False, False]
    assert len(reads) == 1
    await settings.set_milestones(GUILD, 1, False, now=NOW)
    await settings.set_milestones(GUILD, 3, True, now=NOW)
    assert [await settings.milestones_on(GUILD, user) for user in (1, 2, 3)] == [False, False, True]
    assert not await settings.milestones_on(OTHER_GUILD, 3)
    await settings.delete_user(GUILD, 3)  # erased
    assert not await settings.milestones_on(GUILD, 3)
    # Turned on while the guild's notes were being read: not lost to what the read saw.
    settings.forget(GUILD)
    reads.clear()
    during_read.append(lambda: settings.set_milestones(GUILD, 2, True, now=NOW))
    assert not await settings.milestones_on(GUILD, 2)  # what that read saw
    during_read.clear()
    assert await settings.milestones_on(GUILD, 2)
    assert len(reads) == 2
    await settings.delete_guild(GUILD)  # a purge
    assert not await settings.milestones_on(GUILD, 2)


async def test_every_coffee_repository_exports_and_erases(app: AppContext) -> None:
    store = app.services.get(CoffeeService).store
    await store.settings.set_milestones(GUILD, 1, True, now=NOW)
    await store.posts.add(
        guild_id=GUILD,
        cohort_id=1,
        author_id=1,
        kind="rough_week",
        anonymous=True,
        channel_id=3,
        message_id=4,
        now=NOW,
    )
    circle = await store.circles.add(GUILD, "Caregivers", now=NOW)
    assert circle is not None
    assert await store.circles.add(GUILD, "caregivers", now=NOW) is None  # any case
    await store.circles.add_thread(GUILD, circle.circle_id, 99)
    await store.circles.add_member(GUILD, circle.circle_id, 1, 99, now=NOW)
    await app.services.get(MilestoneService).reached(GUILD, 1, "first_answer")
    for repo in store.repositories():
        for table in getattr(repo, "personal_tables", ()):
            exported = await repo.export_user(GUILD, 1)  # type: ignore[attr-defined]
            assert table in exported
    assert (await store.posts.export_user(GUILD, 1))["coffee_posts"][0]["anonymous"] == 1
    for repo in store.repositories():
        if getattr(repo, "personal_tables", ()):
            await repo.delete_user(GUILD, 1)  # type: ignore[attr-defined]
    for repo in store.repositories():
        if getattr(repo, "personal_tables", ()):
            exported = await repo.export_user(GUILD, 1)  # type: ignore[attr-defined]
            assert all(rows == [] for rows in exported.values()), exported
    # The post's count survives, its author does not.
    post = await store.posts.by_message(GUILD, 4)
    assert post is not None and post.author_id is None


async def test_upcoming_lists_the_coffee_schedule_with_the_real_questions(
    app: AppContext,
) -> None:
    await app.guild_configs.save(GuildConfig(guild_id=GUILD, timezone="America/New_York"), now=NOW)
    await app.services.get(CoffeeService).set_schedule(
        GUILD, KIND_QUESTION, 1, time(9, 0)
    )  # Tuesdays 09:00
    await app.services.get(CoffeeService).set_schedule(GUILD, KIND_PULSE, 2, time(10, 0))
    app.upcoming.register(
        "coffee", app.services.get(CoffeeService).upcoming_items
    )  # what the coffee cog does
    items = await app.upcoming.items(GUILD, NOW, NOW + timedelta(days=14))
    coffee = [item for item in items if item.key.startswith("coffee:")]
    assert [item.kind for item in coffee] == [
        "coffee-shop question",
        "weekly pulse",
        "coffee-shop question",
        "weekly pulse",
    ]
    first, second = coffee[0], coffee[2]
    assert first.when == datetime(2026, 9, 15, 13, 0, tzinfo=UTC)
    _, next_question = await app.services.get(CoffeeService).next_question(GUILD)
    assert first.preview == next_question and second.preview != first.preview
    assert first.key == "coffee:coffee_question:2026-09-15"
