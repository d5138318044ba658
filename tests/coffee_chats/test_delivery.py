"""Coffee-chat delivery through the outbox, through the real client and the sandbox: per-group
thread failures, a restart in the middle of posting a round, re-matches with students whose
partner stayed silent, students leaving mid-round, the instructor's move and its fairness
adjustment, unscheduling and a scheduled round that cannot run."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from cogs.coffee_chats import MatchingService
from cogs.profiles import ProfileService
from tests.support.coffee_chats import (
    button,
    click,
    groups_now,
    last_ephemeral,
    match_threads,
    post,
    run_and_preview,
    select_id,
    start,
    tick,
)
from tests.support.course import Course, app_of, channel
from tests.support.logs import ErrorLogWatcher


def intros(course: Course, thread: dict[str, Any]) -> list[dict[str, Any]]:
    return [m for m in course.sandbox.messages(int(thread["id"])) if "Coffee chat" in m["content"]]


def members_of(course: Course, thread: dict[str, Any]) -> set[int]:
    s = course.sandbox
    return {u for u in s.thread_members(int(thread["id"])) if u != s.bot_user_id}


async def pairs(course: Course, *groups: tuple[int, int]) -> None:
    """Block every cross-group pair, so the matcher proposes exactly these groups."""
    app = app_of(course)
    for i, first in enumerate(groups):
        for second in groups[i + 1 :]:
            for a in first:
                for b in second:
                    await app.services.get(MatchingService).store.add_block(
                        course.guild_id, a, b, now=course.clock.now()
                    )


async def lift_blocks(course: Course) -> None:
    await app_of(course).db.execute_write(
        "DELETE FROM match_blocks WHERE guild_id = ?", (course.guild_id,)
    )


async def test_only_the_refused_group_gets_dms_and_transient_errors_retry(course: Course) -> None:
    a, b, c, d, e, f = await start(course, 6)
    s = course.sandbox
    await pairs(course, (a, b), (c, d), (e, f))
    # Group 1's thread: missing permission (50013). Group 2's: a 503 (transient).
    s.inject_fault("POST", r"/channels/\d+/threads$", 403, code=50013)
    s.inject_fault("POST", r"/channels/\d+/threads$", 503)
    posted = await post(course, await run_and_preview(course))
    text = posted.text()
    assert "Posted 3 group(s): 1 thread(s), 1 by DM." in text, text
    assert "group 1 (missing permission)" in text
    assert "1 group(s) are still waiting" in text
    # Only group 1 went by DM; group 3 still got its thread after group 1's refusal.
    for user in (a, b):
        [dm] = s.dm_messages(user)
        assert "couldn't open a private thread" in dm["content"]
    assert [members_of(course, t) for t in match_threads(course)] == [{e, f}]
    # The next tick retries group 2's thread; nobody gets anything twice.
    await tick(course)
    threads = match_threads(course)
    assert sorted(sorted(members_of(course, t)) for t in threads) == [sorted([c, d]), [e, f]]
    assert all(len(intros(course, t)) == 1 for t in threads)
    assert all(len(s.dm_messages(u)) == 1 for u in (a, b))
    assert not any(s.dm_messages(u) for u in (c, d, e, f))
    notes = [m["content"] for m in s.messages(channel(course, "cohort-leads"))]
    assert sum("fully delivered" in n for n in notes) == 1
    assert any("3 group(s): 2 thread(s), 1 by DM" in n for n in notes), notes


async def test_restart_mid_round_delivers_every_group_exactly_once(course: Course) -> None:
    a, b, c, d, e, f = await start(course, 6)
    s, app = course.sandbox, app_of(course)
    await pairs(course, (a, b), (c, d), (e, f))
    # The bot goes down mid-round: its sender is stopped (group 1's message stays queued) and
    # Discord fails the other two threads before it dies.
    assert app.outbox.sender is not None
    await app.outbox.sender.stop()
    s.inject_fault("POST", r"/channels/\d+/threads$", 503, count=2)
    posted = await post(course, await run_and_preview(course))
    assert "1 thread(s), 0 by DM" in posted.text(), posted.text()
    assert "2 group(s) are still waiting" in posted.text()
    [first] = match_threads(course)
    assert intros(course, first) == []

    await course.restart_bot()
    app = app_of(course)
    await tick(course)  # what a wake-up after the restart does
    for _ in range(2):  # and later wake-ups change nothing
        await tick(course)
    threads = match_threads(course)
    assert sorted(sorted(members_of(course, t)) for t in threads) == sorted(
        [sorted([a, b]), sorted([c, d]), sorted([e, f])]
    )
    for thread in threads:
        [intro] = intros(course, thread)
        assert "Report to staff" in str(intro["components"])
    notes = [m["content"] for m in s.messages(channel(course, "cohort-leads"))]
    assert sum("fully delivered" in n for n in notes) == 1
    rounds = await app.db.fetchall("SELECT delivered_at FROM match_rounds")
    assert rounds[0]["delivered_at"] is not None
    # The round was counted once for fairness: a restart doesn't post or count it again.
    assert (
        len(await app.services.get(MatchingService).store.history_groups(course.guild_id, 1)) == 3
    )


async def test_couldnt_connect_rematches_with_a_student_whose_partner_stayed_silent(
    course: Course,
) -> None:
    a, b, c, d = await start(course, 4)
    s = course.sandbox
    await pairs(course, (a, b), (c, d))
    await post(course, await run_and_preview(course))
    await lift_blocks(course)
    course.clock.advance(timedelta(days=4))
    await tick(course)

    def followup_of(user: int) -> dict[str, Any]:
        thread = next(t for t in match_threads(course) if user in members_of(course, t))
        return s.messages(int(thread["id"]))[-1]

    # c answers "Not yet"; c's partner d never clicks anything. b stays silent too.
    not_yet = await click(course, followup_of(c), c, button(followup_of(c), "Not yet"))
    assert "still time" in not_yet.text()
    answered = await click(course, followup_of(a), a, button(followup_of(a), "Couldn't connect"))
    assert "new partner" in answered.text()
    offer = last_ephemeral(course, a, "cohortbot:match:after")
    rematched = await click(course, offer, a, button(offer, "Find me a new partner"))
    assert "re-matched with" in rematched.text(), rematched.text()
    await app_of(course).outbox.drain()
    newest = max(match_threads(course), key=lambda t: int(t["id"]))
    assert members_of(course, newest) == {a, c}
    [intro] = intros(course, newest)
    assert "re-match" in intro["content"]


async def test_student_leaving_mid_round_leaves_the_thread_and_partner_is_offered_rematch(
    course: Course,
) -> None:
    a, b, c, d = await start(course, 4)
    s, app, gid = course.sandbox, app_of(course), course.guild_id
    await pairs(course, (a, b), (c, d))
    await post(course, await run_and_preview(course))
    await lift_blocks(course)
    course.clock.advance(timedelta(days=4))
    await tick(course)
    thread = next(t for t in match_threads(course) if a in members_of(course, t))
    # c couldn't connect (d stayed silent) and hasn't chosen yet.
    other = next(t for t in match_threads(course) if c in members_of(course, t))
    followup = s.messages(int(other["id"]))[-1]
    await click(course, followup, c, button(followup, "Couldn't connect"))

    await s.remove_member(gid, a)
    path = f"/channels/{thread['id']}/thread-members/{a}"
    await s.wait_for(lambda: any(m == "DELETE" and p == path for m, p, _ in s.requests))
    await s.wait_for(lambda: any("left the server" in m["content"] for m in s.dm_messages(b)))
    assert members_of(course, thread) == {b}
    [told] = [m for m in s.dm_messages(b) if "left the server" in m["content"]]
    assert str(a) not in told["content"]  # told privately, without naming anyone
    assert not [m for m in s.messages(int(thread["id"])) if "left the server" in m["content"]]
    rematched = await click(course, told, b, button(told, "Find me a new partner"))
    assert "re-matched with" in rematched.text(), rematched.text()
    await app.outbox.drain()
    newest = max(match_threads(course), key=lambda t: int(t["id"]))
    assert members_of(course, newest) == {b, c}
    # At the round's end, the student who left isn't counted as ignoring it.
    course.clock.advance(timedelta(days=4))
    await tick(course)
    gone = await app.services.get(MatchingService).store.participant(gid, a)
    assert gone is not None and gone.ignored_rounds == 0
    silent = await app.services.get(MatchingService).store.participant(gid, d)
    assert silent is not None and silent.ignored_rounds == 1


async def test_move_and_swap_by_the_instructor_adjust_fairness(course: Course) -> None:
    a, b, c, d, e = await start(course, 5)
    s, app, gid = course.sandbox, app_of(course), course.guild_id
    evening = {
        "work": "full_time",
        "caregiving": "school_age_children",
        "availability": "weekday_evenings",
        "timezone": "America/New_York",
    }
    morning = {
        "work": "not_working",
        "caregiving": "adult_family",
        "availability": "weekday_mornings",
        "timezone": "Europe/London",
    }
    for user in (a, b):
        await app.services.get(ProfileService).set(gid, user, evening, visibility="matches")
    for user in (c, d, e):
        await app.services.get(ProfileService).set(gid, user, morning, visibility="matches")
    await pairs(course, (a, b), (c, d, e))
    preview = await run_and_preview(course)
    assert sorted(await groups_now(course)) == [sorted([a, b]), sorted([c, d, e])]
    await app.db.execute_write("DELETE FROM match_blocks WHERE guild_id = ?", (gid,))
    instructor = course.world.instructor_id
    channel_id, message_id = int(preview["channel_id"]), int(preview["id"])

    async def choose(placeholder: str, values: list[str]) -> str:
        record = await s.select(
            channel_id, message_id, instructor, select_id(preview, placeholder), values
        )
        if placeholder == "Move one person…":
            await record.wait_responses(1)  # a silent acknowledgement
        else:
            await record.wait_final()
        return record.text()

    # A move takes someone out of a trio only.
    await choose("Move one person…", [str(a)])
    # groups_now lists the groups in proposal order (their position).
    trio = next(i for i, g in enumerate(await groups_now(course)) if len(g) == 3)
    assert "out of a trio" in await choose("…into group", [str(trio)])
    await choose("Move one person…", [str(e)])
    pair = 1 - trio
    assert "Moved" in await choose("…into group", [str(pair)])
    assert sorted(await groups_now(course)) == [sorted([a, b, e]), sorted([c, d])]
    # Then a swap breaks up the well-matched a and b.
    assert "Swapped" in await choose("Swap two people…", [str(b), str(c)])
    assert sorted(await groups_now(course)) == [sorted([a, c, e]), sorted([b, d])]
    posted = await post(course, preview)
    assert "Posted 2 group(s): 2 thread(s)" in posted.text(), posted.text()
    parts = await app.services.get(MatchingService).store.participants(gid)
    # Everyone whose partners got worse than the matcher proposed is owed a better match.
    for user in (a, b, c, e):
        assert parts[user].shortfall > 0.05, (user, parts[user].shortfall)


async def test_unschedule_and_a_scheduled_round_that_cannot_run(
    course: Course, error_logs: ErrorLogWatcher
) -> None:
    (a,) = await start(course, 1)
    s, app = course.sandbox, app_of(course)
    instructor = course.world.instructor_id
    await course.slash(
        instructor, "course match schedule", {"cadence": "weekly", "day": 1, "time": "09:00"}
    )
    items = await app.upcoming.items(
        course.guild_id, course.clock.now(), course.clock.now() + timedelta(days=8)
    )
    when = next(i.when for i in items if i.kind == "coffee-chat round")
    course.clock.set(when)
    await app.scheduler.run_due()
    await app.outbox.drain()
    leads = channel(course, "cohort-leads")
    note = s.messages(leads)[-1]["content"]
    assert "No coffee-chat round for" in note and "Only 1 student(s)" in note
    assert match_threads(course) == []

    # An unexpected failure is logged and told to the leads too.
    await course.slash(course.world.student_ids[1], "match join")
    error_logs.expect("Scheduled match round failed")

    async def broken(*args: Any, **kwargs: Any) -> int:
        raise RuntimeError("disk on fire")

    app.services.get(MatchingService).store.create_round = broken  # type: ignore[method-assign]
    course.clock.set(when + timedelta(days=7))
    await app.scheduler.run_due()
    await app.outbox.drain()
    assert "couldn't be prepared" in s.messages(leads)[-1]["content"]

    off = await course.slash(instructor, "course match unschedule")
    assert "are off" in off.text(), off.text()
    schedules = await app.schedules.list_for_guild(course.guild_id)
    assert not [sch for sch in schedules if sch.kind == "match_round"]
    items = await app.upcoming.items(
        course.guild_id, course.clock.now(), course.clock.now() + timedelta(days=15)
    )
    assert not [i for i in items if i.kind == "coffee-chat round"]
    again = await course.slash(instructor, "course match unschedule")
    assert "had no scheduled" in again.text()
    assert "not scheduled yet" in (await course.slash(a, "match status")).text()
