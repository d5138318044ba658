"""The outbox keys of a round's messages (``MatchContext.queue_for_round``): stored data, so
they must stay as they are — the round id, then the ids the message is about."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from cogs.coffee_chats.common import MatchContext
from cogs.coffee_chats.records import RoundRecord


class _Outbox:
    def __init__(self) -> None:
        self.queued: list[dict[str, Any]] = []

    async def enqueue(self, **row: Any) -> int | None:
        if any(r["dedupe_key"] == row["dedupe_key"] for r in self.queued):
            return None
        self.queued.append(row)
        return len(self.queued)

    async def lookup(self, guild_id: int, kind: str, dedupe_key: str) -> Any:
        for index, row in enumerate(self.queued, start=1):
            if (row["guild_id"], row["kind"], row["dedupe_key"]) == (guild_id, kind, dedupe_key):
                return type("Row", (), {"id": index})()
        return None


def _context(outbox: _Outbox) -> MatchContext:
    none: Any = None
    return MatchContext(
        store=none,
        setup=none,
        roster=none,
        profiles=none,
        away=none,
        calendar=none,
        templates=none,
        clock=none,
        schedules=none,
        milestones=none,
        dm_marks=none,
        outbox=outbox,  # type: ignore[arg-type]
    )


def _round() -> RoundRecord:
    now = datetime(2026, 1, 5, tzinfo=UTC)
    return RoundRecord(
        round_id=12,
        guild_id=1,
        cohort_id=3,
        round_index=0,
        status="posted",
        seed=0,
        group_size=2,
        week_start=now,
        slot=None,
        created_at=now,
        posted_at=now,
        followup_at=None,
        followup_done=False,
        ends_at=None,
        ended_at=None,
    )


async def test_a_rounds_messages_are_keyed_by_the_round_then_what_they_are_about() -> None:
    outbox = _Outbox()
    ctx = _context(outbox)
    round_ = _round()
    thread = await ctx.queue_for_round(1, round_, "match:intro", 40, channel_id=9, content="hi")
    dm = await ctx.queue_for_round(1, round_, "match:dm", 40, 7, user_id=7, content="x" * 2100)
    again = await ctx.queue_for_round(1, round_, "match:intro", 40, channel_id=9, content="hi")
    assert [r["dedupe_key"] for r in outbox.queued] == ["12:40", "12:40:7"]
    assert {r["cohort_id"] for r in outbox.queued} == {3}  # the round's cohort
    assert outbox.queued[0]["channel_id"] == 9 and outbox.queued[0]["user_id"] is None
    assert outbox.queued[1]["user_id"] == 7 and len(outbox.queued[1]["content"]) == 2000
    assert (thread, dm, again) == (1, 2, 1)  # queued before: the existing row's id
