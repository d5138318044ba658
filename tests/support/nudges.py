"""Nudge steps: a course on the calendar and a student who opted in."""

from __future__ import annotations

from tests.support.course import Course


async def start_course(course: Course, breaks: str | None = None) -> None:
    await course.setup_course()
    options: dict[str, object] = {"start": "2026-08-24", "weeks": 10}
    if breaks:
        options["breaks"] = breaks
    record = await course.slash(course.world.instructor_id, "course calendar set", options)
    assert "Saved" in record.text(), record.text()


async def opt_in(course: Course, student: int) -> None:
    record = await course.slash(student, "nudges on")
    assert "Reminders are on" in record.text()
