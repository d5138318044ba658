"""Steps the introductions tests and other features' tests share: join, write an intro."""

from __future__ import annotations

from typing import Any

from cogs.introductions import IntroService
from cogs.introductions.repository import Intro, Welcome
from tests.support.course import Course, app_of, modal_input_ids
from tests.support.waiting import eventually

FULL_INTRO = {
    "call_me": "Amara (she/her)",
    "location": "Lagos, Nigeria",
    "balancing": "A full-time job in logistics and two kids",
    "hopes": "Confidence with statistics and a study buddy",
    "fun_fact": "I have run three marathons",
}


async def intro_channel(course: Course) -> int:
    config = await app_of(course).guild_settings.config(course.guild_id)
    assert config is not None and config.intro_channel_id is not None
    return config.intro_channel_id


async def write_intro(course: Course, user: int, values: dict[str, str]) -> Any:
    opened = await course.slash(user, "intro write")
    assert opened.modal is not None, opened.text()
    ids = modal_input_ids(opened)
    assert len(ids) <= 5
    submitted = await course.sandbox.submit_modal(
        opened, user, {key: value for key, value in values.items() if key in ids}
    )
    await submitted.wait_final()
    return submitted


async def stored_intro(course: Course, user: int) -> Intro | None:
    return await app_of(course).services.get(IntroService).get(course.guild_id, user)


async def join(course: Course, name: str, *, student: bool = True) -> int:
    s = course.sandbox
    user = s.create_user(name)
    roles = [course.world.student_role_id] if student else []
    await s.add_member(course.guild_id, user, roles=roles)
    return user


def posts_mentioning(course: Course, channel: int, user: int) -> list[dict[str, Any]]:
    return [m for m in course.sandbox.messages(channel) if f"<@{user}>" in (m["content"] or "")]


async def wait_for_welcomes(course: Course, count: int) -> list[Welcome]:
    app = app_of(course)

    async def enough() -> bool:
        return len(await app.services.get(IntroService).welcomes(course.guild_id)) >= count

    await eventually(enough)
    return await app.services.get(IntroService).welcomes(course.guild_id)
