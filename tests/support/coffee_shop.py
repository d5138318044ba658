"""Coffee-shop steps: a course week and sharing through a command's modal."""

from __future__ import annotations

from datetime import UTC, datetime

from sandbox.server import InteractionRecord
from tests.support.course import Course, modal_input_ids

WEEK = (datetime(2026, 9, 1, tzinfo=UTC), datetime(2026, 9, 21, tzinfo=UTC))


async def submit_share(
    course: Course, user: int, command: str, options: dict[str, object], text: str
) -> InteractionRecord:
    opened = await course.slash(user, command, options)
    assert opened.modal is not None, opened.text()
    submitted = await course.sandbox.submit_modal(opened, user, {modal_input_ids(opened)[0]: text})
    await submitted.wait_final()
    return submitted
