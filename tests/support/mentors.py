"""Alumni-mentor steps: two cohorts (the first closed), offers through the form, /mentor find,
Ask, Accept or Decline from the mentor's DM."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import discord

from bot.store.guilds import Cohort
from cogs.course import TermService
from cogs.profiles import ProfileService
from sandbox.server import InteractionRecord
from tests.support.coffee_chats import button, component_ids
from tests.support.course import Course, app_of


@dataclass
class Cohorts:
    first: Cohort  # closed: its students are alumni
    second: Cohort  # running: its students are mentees
    alumni: list[int]
    students: list[int]


def guild_of(course: Course) -> discord.Guild:
    assert course.runner.bot is not None
    guild = course.runner.bot.get_guild(course.guild_id)
    assert guild is not None
    return guild


async def two_cohorts(course: Course, *, close: bool = True) -> Cohorts:
    """The course fixture's six students: the first three finished cohort 1 (closed), the other
    three study in cohort 2 (running)."""
    await course.setup_course()
    s, w, app = course.sandbox, course.world, app_of(course)
    role = s.create_role(course.guild_id, "Cohort 2")
    await course.slash(w.instructor_id, "course cohort add", {"name": "Cohort 2", "role": role})
    alumni, students = w.student_ids[:3], w.student_ids[3:6]
    for user in students:
        await s.add_member_role(course.guild_id, user, role)
        await s.remove_member_role(course.guild_id, user, w.student_role_id)
    await course.runner.settle()
    first, second = await app.guild_settings.cohorts(course.guild_id)
    if close:
        await app.services.get(TermService).close(guild_of(course), first)
        await app.outbox.drain()
    return Cohorts(first, second, alumni, students)


async def set_profile(
    course: Course, user: int, values: dict[str, str], visibility: str = "private"
) -> None:
    await (
        app_of(course)
        .services.get(ProfileService)
        .set(
            course.guild_id,
            user,
            values,  # type: ignore[arg-type]
            visibility=visibility,  # type: ignore[arg-type]
        )
    )


async def submit_offer(
    record: InteractionRecord,
    course: Course,
    user: int,
    *,
    areas: tuple[str, ...] = ("what_to_expect",),
    capacity: str = "1",
    items: tuple[str, ...] = (),
    note: str = "",
) -> InteractionRecord:
    assert record.modal is not None, record.text()
    values: dict[str, Any] = {
        "mentor_areas": list(areas),
        "mentor_capacity": [capacity],
        "mentor_note": note,
    }
    if "mentor_items" in str(record.modal):
        values["mentor_items"] = list(items)
    submitted = await course.sandbox.submit_modal(record, user, values)
    await submitted.wait_final()
    return submitted


async def offer(course: Course, user: int, **kwargs: Any) -> InteractionRecord:
    opened = await course.sandbox.invoke_slash(
        course.guild_id, course.world.general_channel_id, user, "mentor offer"
    )
    await opened.wait_response()
    return await submit_offer(opened, course, user, **kwargs)


async def find(course: Course, user: int) -> tuple[InteractionRecord, dict[str, Any] | None]:
    record = await course.slash(user, "mentor find")
    for message in reversed(course.sandbox.ephemeral_messages(user)):
        if any(":mentors:ask:" in c for c in component_ids(message)):
            return record, message
    return record, None


def ask_targets(message: dict[str, Any]) -> list[int]:
    return [int(c.rsplit(":", 1)[1]) for c in component_ids(message) if ":mentors:ask:" in c]


async def ask(
    course: Course, message: dict[str, Any], user: int, index: int = 1
) -> InteractionRecord:
    record = await course.sandbox.click_button(
        int(message["channel_id"]), int(message["id"]), user, button(message, f"Ask {index}")
    )
    await record.wait_final()
    return record


def request_dm(course: Course, mentor: int) -> dict[str, Any]:
    for message in reversed(course.sandbox.dm_messages(mentor)):
        if any(":mentors:accept:" in c for c in component_ids(message)):
            return message
    raise AssertionError(f"no mentor request in {mentor}'s DMs")


async def answer(
    course: Course, message: dict[str, Any], user: int, label: str
) -> InteractionRecord:
    record = await course.sandbox.click_button(
        int(message["channel_id"]), int(message["id"]), user, button(message, label)
    )
    await record.wait_final()
    return record
