"""The answer after a command saved a weekly schedule (bot/command_kit.py): the scheduler
takes it up first, then the text says what runs when, in the course's zone, and the next run."""

from __future__ import annotations

from datetime import UTC, datetime, time
from types import SimpleNamespace
from typing import Any, cast

import discord

from bot.command_kit import answer_saved_schedule
from bot.store.schedules import Schedule
from tests.support.fake_interaction import FakeResponse


class FakeScheduler:
    def __init__(self) -> None:
        self.rebuilt = 0

    async def rebuild(self) -> None:
        self.rebuilt += 1


async def test_the_answer_names_the_weekday_time_zone_note_and_next_run() -> None:
    now = datetime(2026, 12, 7, 15, 0, tzinfo=UTC)  # a Monday
    scheduler = FakeScheduler()
    app = SimpleNamespace(scheduler=scheduler, clock=SimpleNamespace(now=lambda: now))
    response = FakeResponse()
    interaction = cast(
        "discord.Interaction[Any]",
        SimpleNamespace(response=response, client=SimpleNamespace(app=app)),
    )
    schedule = Schedule(
        guild_id=1,
        cohort_id=2,
        kind="digest",
        weekday=2,
        local_time=time(9, 5),
        timezone="Europe/Paris",
        enabled=True,
        created_at=now,
    )
    await answer_saved_schedule(interaction, schedule, "The digest goes out", note=", mostly")
    next_run = int(datetime(2026, 12, 9, 8, 5, tzinfo=UTC).timestamp())
    assert scheduler.rebuilt == 1
    assert [m["content"] for m in response.sent] == [
        "The digest goes out every Wednesday at 09:05 (Europe/Paris), mostly. "
        f"Next: <t:{next_run}:f>."
    ]
