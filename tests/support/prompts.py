"""Weekly-prompt steps: schedule, post now, participation and the bot's posts."""

from __future__ import annotations

import asyncio
from typing import Any

from cogs.prompts import PromptService
from cogs.prompts.repository import ParticipationRow
from tests.support.course import Course, app_of

SUBSTANTIVE = (
    "I had the same problem with my schedule, and what helped me was blocking two mornings "
    "a week before work. What made you pick evenings?"
)


async def set_up_prompts(course: Course, channel: int | None = None, **options: object) -> int:
    await course.setup_course()
    s, gid = course.sandbox, course.guild_id
    channel = channel or s.find_channel(gid, "discussion")
    assert channel is not None
    record = await course.slash(
        course.world.instructor_id,
        "course prompt schedule",
        {"channel": channel, "day": 0, "time": "09:00", **options},
    )
    assert "will post in" in record.text(), record.text()
    return channel


async def post_now(course: Course) -> str:
    record = await course.slash(course.world.instructor_id, "course prompt post-now")
    return record.text()


async def participation(course: Course) -> dict[int, ParticipationRow]:
    app = app_of(course)
    cohort = (await app.guild_settings.cohorts(course.guild_id))[0]
    week = await app.services.get(PromptService).week(course.guild_id, cohort.cohort_id)
    rows = await app.services.get(PromptService).store.week_participation(
        course.guild_id, cohort.cohort_id, week.key
    )
    return {r.user_id: r for r in rows}


async def answer_thread(course: Course, channel: int, student: int, text: str) -> int:
    """The student answers in a prompt text channel; returns the answer's thread (its id is
    the answer message's), once the bot has opened it."""
    s = course.sandbox
    answer = await s.send_message(channel, student, text)
    await s.wait_for(lambda: s.channel(int(answer["id"])) is not None)
    return int(answer["id"])


async def wait_for_replies_received(
    course: Course, student: int, expected: int, tries: int = 100
) -> None:
    """Until the student's answer this week has ``expected`` peer replies recorded (``tries``
    as in :func:`wait_until`)."""

    async def received() -> int:
        rows = await participation(course)
        return rows[student].replies_received if student in rows else -1

    await wait_until(course, received, expected, tries)


def bot_posts(course: Course, channel: int) -> list[dict[str, Any]]:
    bot_id = course.sandbox.bot_user_id
    return [m for m in course.sandbox.messages(channel) if int(m["author"]["id"]) == bot_id]


async def wait_until(course: Course, probe: Any, expected: object, tries: int = 100) -> None:
    value = None
    for _ in range(tries):
        value = await probe()
        if value == expected:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"expected {expected!r}, last saw {value!r}")
