"""Roster steps: import a file and apply it, issue codes, read the codes CSV."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from sandbox.server import InteractionRecord
from tests.support.coffee_chats import button, click, component_ids
from tests.support.course import Course

DATA = Path(__file__).parent.parent / "roster" / "data"


def sample(name: str) -> bytes:
    return (DATA / name).read_bytes()


def ephemeral_with(course: Course, user: int, needle: str) -> dict[str, Any]:
    for message in reversed(course.sandbox.ephemeral_messages(user)):
        if any(needle in cid for cid in component_ids(message)):
            return message
    raise AssertionError(f"no ephemeral message with {needle!r}")


async def import_file(course: Course, filename: str, data: bytes) -> InteractionRecord:
    return await course.slash(
        course.world.instructor_id, "course roster import", {"file": (filename, data)}
    )


async def import_and_apply(course: Course, filename: str, data: bytes) -> InteractionRecord:
    preview = await import_file(course, filename, data)
    assert "Apply" in preview.text(), preview.text()
    message = ephemeral_with(course, course.world.instructor_id, "cohortbot:roster:apply:")
    return await click(course, message, course.world.instructor_id, button(message, "Apply"))


def attached_csv(record: InteractionRecord) -> list[dict[str, str]]:
    for response in record.responses:
        for upload in response.get("files") or []:
            data = bytes(upload["data"])
            return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    raise AssertionError(f"no attachment in {record.responses}")


async def issue_codes(course: Course) -> dict[str, str]:
    """LMS id -> code, from /course roster codes."""
    record = await course.slash(course.world.instructor_id, "course roster codes")
    return {row["lms_id"]: row["code"] for row in attached_csv(record)}
