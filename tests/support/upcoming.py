"""/course upcoming steps: pick an occasion and press skip or edit."""

from __future__ import annotations

from typing import Any

from sandbox.server import InteractionRecord
from tests.support.course import Course


def component_ids(message: dict[str, Any]) -> list[str]:
    return [c["custom_id"] for row in message.get("components") or [] for c in row["components"]]


def last_ephemeral_with(course: Course, user_id: int, prefix: str) -> dict[str, Any]:
    for message in reversed(course.sandbox.ephemeral_messages(user_id)):
        if any(cid.startswith(prefix) for cid in component_ids(message)):
            return message
    raise AssertionError(f"no ephemeral message with a {prefix} component")


def picker_for(course: Course, key: str) -> dict[str, Any] | None:
    for message in reversed(course.sandbox.ephemeral_messages(course.world.instructor_id)):
        for row in message.get("components") or []:
            for component in row["components"]:
                if component.get("custom_id") == "cohortbot:upcoming:pick" and any(
                    option["value"] == key for option in component.get("options", [])
                ):
                    return message
    return None


async def pick(course: Course, key: str) -> dict[str, Any]:
    instructor = course.world.instructor_id
    # The listing arrives over several messages; wait for the picker holding this item.
    await course.sandbox.wait_for(lambda: picker_for(course, key) is not None)
    listing = picker_for(course, key)
    assert listing is not None
    record = await course.sandbox.select(
        int(listing["channel_id"]), int(listing["id"]), instructor, "cohortbot:upcoming:pick", [key]
    )
    await record.wait_final()
    return last_ephemeral_with(course, instructor, "cohortbot:upcoming:skip")


async def press(course: Course, message: dict[str, Any], action: str) -> InteractionRecord:
    custom_id = next(c for c in component_ids(message) if f":{action}:" in c)
    record = await course.sandbox.click_button(
        int(message["channel_id"]), int(message["id"]), course.world.instructor_id, custom_id
    )
    await record.wait_final()
    return record
