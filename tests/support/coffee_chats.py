"""Coffee-chat steps: join a round, preview, post, click, and read the groups and threads."""

from __future__ import annotations

from typing import Any

from cogs.coffee_chats import MatchingService
from sandbox.server import InteractionRecord
from tests.support.course import Course, app_of


def component_ids(message: dict[str, Any]) -> list[str]:
    return [
        str(c["custom_id"])
        for row in message.get("components") or []
        for c in row.get("components") or []
        if c.get("custom_id")
    ]


def last_ephemeral(course: Course, user_id: int, needle: str) -> dict[str, Any]:
    for message in reversed(course.sandbox.ephemeral_messages(user_id)):
        if any(needle in cid for cid in component_ids(message)) or needle in str(
            message.get("components")
        ):
            return message
    raise AssertionError(f"no ephemeral message for {user_id} with {needle!r}")


def button(message: dict[str, Any], label: str) -> str:
    for row in message.get("components") or []:
        for comp in row.get("components") or []:
            if comp.get("label") == label:
                return str(comp["custom_id"])
    raise AssertionError(f"no button {label!r}")


def select_id(message: dict[str, Any], placeholder: str) -> str:
    for row in message.get("components") or []:
        for comp in row.get("components") or []:
            if comp.get("placeholder") == placeholder:
                return str(comp["custom_id"])
    raise AssertionError(f"no select {placeholder!r}")


async def click(
    course: Course, message: dict[str, Any], user: int, custom_id: str
) -> InteractionRecord:
    record = await course.sandbox.click_button(
        int(message["channel_id"]), int(message["id"]), user, custom_id
    )
    await record.wait_final()
    return record


async def start(course: Course, joined: int = 4) -> list[int]:
    await course.setup_course()
    students = course.world.student_ids[:joined]
    for user in students:
        record = await course.slash(user, "match join")
        assert "You're in" in record.text(), record.text()
    return students


async def run_and_preview(course: Course) -> dict[str, Any]:
    record = await course.slash(course.world.instructor_id, "course match run")
    assert "Coffee-chat preview" in record.text(), record.text()
    assert record.ephemeral
    return last_ephemeral(course, course.world.instructor_id, "Post these")


async def post(course: Course, preview: dict[str, Any]) -> InteractionRecord:
    return await click(course, preview, course.world.instructor_id, button(preview, "Post these"))


async def tick(course: Course) -> None:
    """A scheduler wake-up for matching, then every message it queued is sent."""
    app = app_of(course)
    await app.services.get(MatchingService).tick()
    await app.outbox.drain()


async def groups_now(course: Course) -> list[list[int]]:
    app = app_of(course)
    [row] = await app.db.fetchall(
        "SELECT round_id FROM match_rounds WHERE status IN ('proposed', 'posted') "
        "ORDER BY round_id DESC LIMIT 1"
    )
    groups = await app.services.get(MatchingService).store.groups_of_round(
        course.guild_id, row["round_id"]
    )
    return [sorted(g.user_ids) for g in groups]


def match_threads(course: Course) -> list[dict[str, Any]]:
    return [t for t in course.sandbox.threads_in(course.guild_id) if "Coffee chat" in t["name"]]
