"""Demo scenes for the calendar, nudges and the outbox, appended to demo.run.SCENES."""

from __future__ import annotations

import textwrap
from datetime import datetime, time, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from bot.clock import FakeClock
from cogs.nudges import NudgeEngine

if TYPE_CHECKING:
    from demo.run import Transcript

NEW_YORK = ZoneInfo("America/New_York")


async def _slash(
    t: Transcript, user: int, command: str, options: dict[str, object] | None = None
) -> None:
    w = t.world
    shown = " ".join(f"{k}:{v}" for k, v in (options or {}).items())
    t.action(user, f"runs /{command} {shown}".rstrip())
    record = await t.sandbox.invoke_slash(w.guild_id, w.general_channel_id, user, command, options)
    await record.wait_final()
    await record.wait_responses(len(record.responses))
    t.answer(record)


def _dm(t: Transcript, user: int, message: dict[str, Any]) -> None:
    from demo.run import render_payload  # demo.run imports this module

    t.out(f"◀ DM to {t.name(user)} — CohortBot:")
    for line in render_payload(message):
        t.out(textwrap.indent(line, "    "))


def _students(t: Transcript) -> tuple[int, int, int]:
    ids = t.world.student_ids
    return ids[20], ids[21], ids[22]


async def scene_nudge_delivered(t: Transcript) -> None:
    app = t.app
    w, s = t.world, t.sandbox
    t.scene("The course calendar, and a gentle check-in delivered by DM")
    today = app.clock.now().astimezone(NEW_YORK).date()
    start = today - timedelta(days=today.weekday() + 14)
    await _slash(
        t,
        w.instructor_id,
        "course calendar set",
        {
            "start": start.isoformat(),
            "weeks": 12,
            "breaks": (start + timedelta(weeks=6)).isoformat(),
        },
    )
    opted, closed, _ = _students(t)
    await _slash(t, opted, "nudges on")
    await _slash(t, closed, "nudges on")
    s.close_dms(closed)
    t.out(f"  ({t.name(closed)} has since closed DMs from server members)")
    await app.activity_recorder.flush()
    # The demo's clock moves to the first check-in day (a Wednesday, 10:05 course time) after
    # ten quiet days.
    clock = app.clock
    assert isinstance(clock, FakeClock)
    day = (clock.now() + timedelta(days=10)).astimezone(NEW_YORK).date()
    day += timedelta(days=(2 - day.weekday()) % 7)
    clock.set(datetime.combine(day, time(10, 5)).replace(tzinfo=NEW_YORK))
    t.out(f"  (the clock moves to {day:%A %d %B}, 10:05 course time: the check-in day)")
    await _slash(t, w.instructor_id, "course nudge preview")
    results = await app.services.get(NudgeEngine).run_due()
    queued = sum(r.queued for r in results)
    t.out(f"  (the nudge engine queues {queued} check-in DM(s) in the outbox; the sender delivers)")
    await app.outbox.drain()
    for message in s.dm_messages(opted):
        _dm(t, opted, message)


async def scene_dm_closed(t: Transcript) -> None:
    app = t.app
    w, s = t.world, t.sandbox
    _, closed, _ = _students(t)
    t.scene("A student whose DMs are closed: recorded, never named in public")
    row = next(iter(await app.outbox.repository.list_state(w.guild_id, "failed", 50)), None)
    if row is not None:
        t.out(f"  (Discord refused the DM with 50007; the outbox row is marked “{row.last_error}”)")
    public = [
        m
        for c in s.channels_in(w.guild_id)
        for m in s.messages(int(c["id"]))
        if t.name(closed) in str(m.get("content"))
    ]
    t.out(f"  (public messages naming {t.name(closed)}: {len(public)})")
    await _slash(t, w.instructor_id, "course status")


async def scene_upcoming(t: Transcript) -> None:
    w = t.world
    t.scene("What's coming: /course upcoming")
    await _slash(t, w.instructor_id, "course upcoming", {"days": 7})


async def scene_away(t: Transcript) -> None:
    app = t.app
    _, _, away = _students(t)
    t.scene("A student is away for a while")
    until = (app.clock.now().astimezone(NEW_YORK) + timedelta(days=12)).date()
    await _slash(t, away, "away start", {"until": until.isoformat(), "note": "family matters"})
    t.out(
        f"  (is_away → {await app.away.is_away(t.world.guild_id, away, app.clock.now())}: "
        "no nudges, no matching, leads see “away”)"
    )
    await _slash(t, away, "away end")


SCENES = [scene_nudge_delivered, scene_dm_closed, scene_upcoming, scene_away]
