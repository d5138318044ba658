"""The notes about a request go out once each: their outbox keys (stored data) stay the
request id, then what the note is about (``mentor:…`` for the mentor's)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from cogs.mentors.repository import MentorRequest
from cogs.mentors.service import KIND_NOTE, MentorService


class _Outbox:
    def __init__(self) -> None:
        self.queued: list[dict[str, Any]] = []

    def on_dm_undelivered(self, kind: str, callback: Any) -> None:
        self.undelivered = (kind, callback)

    async def enqueue(self, **row: Any) -> int:
        self.queued.append(row)
        return len(self.queued)


class _Store:
    student_erased: Any = None


async def test_request_notes_are_keyed_by_the_request_and_what_they_say() -> None:
    outbox = _Outbox()
    none: Any = None
    service = MentorService(
        store=_Store(),  # type: ignore[arg-type]
        setup=none,
        roster=none,
        calendar=none,
        profiles=none,
        matching=none,
        milestones=none,
        outbox=outbox,  # type: ignore[arg-type]
        clock=none,
    )
    now = datetime(2026, 1, 5, tzinfo=UTC)
    request = MentorRequest(5, 1, 3, 7, 8, "declined", "ask", now, now, now, None)
    await service._tell_mentor(1, request, "moved-on", "They found someone.")
    await service._note(1, request, 7, "declined", "x" * 2100, ("mentors:suggest", ("1", "9")))
    assert [(r["kind"], r["dedupe_key"], r["user_id"]) for r in outbox.queued] == [
        (KIND_NOTE, "5:mentor:moved-on", 8),
        (KIND_NOTE, "5:declined", 7),
    ]
    assert {r["cohort_id"] for r in outbox.queued} == {3}
    assert outbox.queued[0]["view_key"] is None and outbox.queued[0]["view_args"] == ()
    assert outbox.queued[1]["view_key"] == "mentors:suggest"
    assert outbox.queued[1]["view_args"] == ("1", "9")
    assert len(outbox.queued[1]["content"]) == 2000
