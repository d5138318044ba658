"""Scheduled posts go through the outbox: coffee shop, weekly prompts, digest.

Each is delivered exactly once across a restart in the middle of sending (the bot stops after
the outbox claimed the rows, with the HTTP call either done or not), on the course calendar,
and the coffee question and the weekly prompt can be skipped or edited from /course upcoming.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from bot.outbox.repository import OutboxMessage, OutboxRow
from bot.outbox.transport import DiscordTransport
from cogs.coffee_shop import CoffeeService, MilestoneService
from cogs.course import SetupService
from cogs.digest.service import follow_up_args, parse_follow_up_args
from cogs.prompts import PromptService
from sandbox.world import FORUM
from tests.support.course import Course, app_of, channel, modal_input_ids
from tests.support.digest import (
    attention_pages,
    button_ids,
    digest_messages,
    drift,
    leads_channel,
    make_lead,
)
from tests.support.prompts import bot_posts, set_up_prompts
from tests.support.upcoming import pick, press

# 2026-09-14 is a Monday; 09:00 in New York is 13:00 UTC (EDT).
MONDAY_0900 = datetime(2026, 9, 14, 13, 0, tzinfo=UTC)
TUESDAY_0900 = datetime(2026, 9, 15, 13, 0, tzinfo=UTC)


async def stop_sender(course: Course) -> None:
    """Stop delivering, so that rows stay queued for the test to claim."""
    sender = app_of(course).outbox.sender
    assert sender is not None
    await sender.stop()


async def claim_all(course: Course) -> list[OutboxRow]:
    """What the sender does before its HTTP calls: the rows become 'sending'."""
    app = app_of(course)
    claimed = await app.outbox.repository.claim_due(app.clock.now(), 50)
    assert claimed and all(r.state == "sending" for r in claimed)
    return claimed


async def send_without_recording(course: Course, row: OutboxRow) -> int:
    """The HTTP call went through but the process died before recording it."""
    app, bot = app_of(course), course.runner.bot
    assert bot is not None and row.channel_id is not None
    transport = DiscordTransport(bot)
    view = app.outbox.build_view(row.message)
    files = await app.outbox.repository.attachments(row.guild_id, row.id)
    if row.target == "forum_post":
        return await transport.create_forum_post(row.channel_id, row.message, view, files)
    return await transport.send(row.channel_id, row.message, row.id, view, files)


async def outbox_rows(course: Course, kind: str) -> list[dict[str, Any]]:
    rows = await app_of(course).db.fetchall(
        "SELECT id, state, message_id, dedupe_key FROM outbox WHERE guild_id = ? AND kind = ? "
        "ORDER BY id",
        (course.guild_id, kind),
    )
    return [dict(r) for r in rows]


async def schedule_coffee(course: Course, what: str, day: int, at: str) -> None:
    record = await course.slash(
        course.world.instructor_id, "course coffee schedule", {"what": what, "day": day, "time": at}
    )
    assert "Scheduled" in record.text(), record.text()


# ---------------------------------------------------------------------- the coffee shop


async def test_coffee_question_and_pulse_once_across_a_restart(course: Course) -> None:
    await course.setup_course()
    s, gid = course.sandbox, course.guild_id
    coffee = channel(course, "coffee-shop")
    await schedule_coffee(course, "question", 1, "09:00")
    await schedule_coffee(course, "pulse", 1, "09:00")
    await stop_sender(course)
    course.clock.set(TUESDAY_0900)
    runs = await app_of(course).scheduler.run_due()
    assert sorted(r.kind for r in runs) == ["coffee_pulse", "coffee_question"]
    assert s.messages(coffee) == []  # queued, not sent: the outbox sends
    claimed = {r.kind: r for r in await claim_all(course)}
    # The pulse reached Discord before the "crash"; the question did not.
    pulse_message_id = await send_without_recording(course, claimed["coffee_pulse"])

    await course.expire_claims()
    await course.restart_bot()
    app = app_of(course)
    await app.outbox.drain()
    await app.scheduler.run_due()  # the ledger: the slots are not run again
    await app.outbox.drain()
    messages = s.messages(coffee)
    assert sorted(m["content"] for m in messages) == [
        "☕ Coffee-shop question of the week",
        "☕ Weekly check-in: **How is this week going?**",
    ]
    assert [r["state"] for r in await outbox_rows(course, "coffee_pulse")] == ["sent"]
    assert [r["state"] for r in await outbox_rows(course, "coffee_question")] == ["sent"]
    # The reconciled pulse is the one message, and its id was recorded for the week.
    [pulse] = await outbox_rows(course, "coffee_pulse")
    assert pulse["message_id"] == pulse_message_id
    pulse_id = int(claimed["coffee_pulse"].message.view_args[0])
    stored = await app.services.get(CoffeeService).store.pulses.get(gid, pulse_id)
    assert stored is not None and stored.message_id == pulse_message_id
    # Its buttons (rebuilt from the row's view args) work after the restart.
    pulse_msg = next(m for m in messages if int(m["id"]) == pulse_message_id)
    custom_id = pulse_msg["components"][0]["components"][0]["custom_id"]
    click = await s.click_button(coffee, pulse_message_id, course.world.student_ids[0], custom_id)
    await click.wait_final()
    assert "recorded anonymously" in click.text(), click.text()


async def test_coffee_posts_nothing_in_a_break_week_or_after_the_course(course: Course) -> None:
    await course.setup_course()
    s, w, gid = course.sandbox, course.world, course.guild_id
    coffee = channel(course, "coffee-shop")
    app = app_of(course)
    await course.slash(
        w.instructor_id,
        "course calendar set",
        {"start": "2026-09-07", "weeks": 2, "breaks": "2026-09-14"},
    )
    for what, day in (("question", 1), ("pulse", 1), ("roundup", 4)):
        await schedule_coffee(course, what, day, "09:00")
    await app.services.get(MilestoneService).reached(gid, w.student_ids[0], "intro_posted")
    now = course.clock.now()
    listed = [
        i.when
        for i in await app.upcoming.items(gid, now, now + timedelta(days=21))
        if i.key.startswith("coffee:coffee_question:")
    ]
    # Not in the break week (the 15th); the course ends after its week 2 (week of the 21st).
    assert listed == [datetime(2026, 9, 8, 13, 0, tzinfo=UTC), TUESDAY_0900 + timedelta(days=7)]
    for instant in (TUESDAY_0900, TUESDAY_0900 + timedelta(days=3)):  # break: Tue and Fri
        course.clock.set(instant)
        await app.scheduler.run_due()
    await app.outbox.drain()
    assert s.messages(coffee) == []
    assert await outbox_rows(course, "coffee_question") == []
    # Back from the break: posts again.
    course.clock.set(TUESDAY_0900 + timedelta(days=7))
    await app.scheduler.run_due()
    await app.outbox.drain()
    assert len(s.messages(coffee)) == 2  # the question and the pulse
    # After the last course week: nothing.
    course.clock.set(TUESDAY_0900 + timedelta(days=14))
    await app.scheduler.run_due()
    await app.outbox.drain()
    assert len(s.messages(coffee)) == 2
    # A second cohort without a calendar keeps the server-wide coffee shop open.
    evening = s.create_role(gid, "Evening")
    await app.services.get(SetupService).add_cohort(gid, "Evening", evening, None)
    assert (await app.services.get(CoffeeService).season(gid, course.clock.now()))[0] == "running"


async def test_coffee_question_edit_and_skip_from_upcoming(course: Course) -> None:
    await course.setup_course()
    s, w = course.sandbox, course.world
    coffee = channel(course, "coffee-shop")
    app = app_of(course)
    await schedule_coffee(course, "question", 1, "09:00")
    course.clock.set(TUESDAY_0900 - timedelta(days=1))
    _, bank_question = await app.services.get(CoffeeService).next_question(course.guild_id)
    await course.slash(w.instructor_id, "course upcoming", {"days": 14})
    detail = await pick(course, "coffee:coffee_question:2026-09-15")
    opened = await press(course, detail, "edit")
    (text_id,) = modal_input_ids(opened)
    blank = await s.submit_modal(opened, w.instructor_id, {text_id: "\u200b "})
    await blank.wait_final()
    assert "Nothing was posted" in blank.text() or "empty" in blank.text().lower(), blank.text()
    saved = await s.submit_modal(opened, w.instructor_id, {text_id: "Tea or coffee — and why?"})
    await saved.wait_final()
    assert "Saved for this one occasion" in saved.text(), saved.text()
    await course.slash(w.instructor_id, "course upcoming", {"days": 14})
    detail = await pick(course, "coffee:coffee_question:2026-09-22")
    assert "Skipped" in (await press(course, detail, "skip")).text()

    course.clock.set(TUESDAY_0900)
    await app.scheduler.run_due()
    await app.outbox.drain()
    [question] = s.messages(coffee)
    assert question["embeds"][0]["description"] == "Tea or coffee — and why?"
    # The edit used no question of the bank: the bank's next one is still ahead.
    assert (await app.services.get(CoffeeService).next_question(course.guild_id))[
        1
    ] == bank_question
    course.clock.set(TUESDAY_0900 + timedelta(days=7))
    await app.scheduler.run_due()
    await app.outbox.drain()
    assert len(s.messages(coffee)) == 1  # skipped
    course.clock.set(TUESDAY_0900 + timedelta(days=14))
    await app.scheduler.run_due()
    await app.outbox.drain()
    assert s.messages(coffee)[-1]["embeds"][0]["description"] == bank_question


# ---------------------------------------------------------------------- weekly prompts


async def test_forum_prompt_post_once_across_a_restart(course: Course) -> None:
    s, gid = course.sandbox, course.guild_id
    await course.setup_course()
    forum = s.create_channel(gid, "forum-talk", type=FORUM)
    await set_up_prompts(course, channel=forum)
    await stop_sender(course)
    course.clock.set(MONDAY_0900)
    runs = await app_of(course).scheduler.run_due()
    assert [r.kind for r in runs if r.kind == "prompt"] == ["prompt"]
    (row,) = await claim_all(course)
    assert row.target == "forum_post" and row.message.tag_ids
    # The forum post was created, then the process died before recording it.
    thread_id = await send_without_recording(course, row)

    await course.expire_claims()
    await course.restart_bot()
    app = app_of(course)
    await app.outbox.drain()
    threads = [t for t in s.threads_in(gid) if int(t["parent_id"]) == forum]
    assert [int(t["id"]) for t in threads] == [thread_id]  # reconciled, not created again
    assert [int(t) for t in threads[0]["applied_tags"]] == [row.message.tag_ids[0]]
    cohort = (await app.guild_settings.cohorts(gid))[0]
    week = await app.services.get(PromptService).week(gid, cohort.cohort_id)
    (post,) = await app.services.get(PromptService).store.posts_for_week(
        gid, cohort.cohort_id, week.key
    )
    assert post.message_id == thread_id
    # Answers attach to the reconciled post.
    mine = await course.slash(course.world.student_ids[0], "prompt mine")
    assert str(thread_id) in mine.text(), mine.text()


async def test_text_prompt_claimed_but_not_sent_is_sent_once_after_a_restart(
    course: Course,
) -> None:
    discussion = await set_up_prompts(course)
    await stop_sender(course)
    course.clock.set(MONDAY_0900)
    await app_of(course).scheduler.run_due()
    (row,) = await claim_all(course)
    await course.expire_claims()
    await course.restart_bot()
    app = app_of(course)
    await app.outbox.drain()
    (post,) = bot_posts(course, discussion)
    assert "Week of Sep 14 discussion" in post["content"]
    sent = await app.outbox.get(course.guild_id, row.id)
    assert sent is not None and sent.state == "sent" and sent.message_id == int(post["id"])
    await app.scheduler.run_due()
    await app.outbox.drain()
    assert len(bot_posts(course, discussion)) == 1


async def test_weekly_prompt_edit_and_skip_from_upcoming_buttons(course: Course) -> None:
    discussion = await set_up_prompts(course)
    s, w = course.sandbox, course.world
    app = app_of(course)
    cohort = (await app.guild_settings.cohorts(course.guild_id))[0]
    await course.slash(w.instructor_id, "course upcoming", {"days": 14})
    detail = await pick(course, f"prompt:{cohort.cohort_id}:2026-09-14")
    opened = await press(course, detail, "edit")
    (text_id,) = modal_input_ids(opened)
    saved = await s.submit_modal(
        opened, w.instructor_id, {text_id: "What is one thing you want to learn this week?"}
    )
    await saved.wait_final()
    assert "Saved for this one occasion" in saved.text(), saved.text()
    await course.slash(w.instructor_id, "course upcoming", {"days": 14})
    detail = await pick(course, f"prompt:{cohort.cohort_id}:2026-09-21")
    assert "Skipped" in (await press(course, detail, "skip")).text()
    course.clock.set(MONDAY_0900)
    await app.scheduler.run_due()
    await app.outbox.drain()
    (post,) = bot_posts(course, discussion)
    assert "What is one thing you want to learn this week?" in post["content"]
    course.clock.set(MONDAY_0900 + timedelta(weeks=1))
    await app.scheduler.run_due()
    await app.outbox.drain()
    assert len(bot_posts(course, discussion)) == 1


# ---------------------------------------------------------------------- the digest


async def test_digest_with_files_and_buttons_once_across_a_restart(course: Course) -> None:
    await course.setup_course()
    await make_lead(course)
    s, w, gid = course.sandbox, course.world, course.guild_id
    quiet = w.student_ids[1]
    await drift(course, quiet)  # then 20 days of silence: needs attention
    await course.slash(w.instructor_id, "course digest schedule", {"day": 0, "time": "09:00"})
    await stop_sender(course)
    course.clock.set(datetime(2026, 9, 28, 13, 5, tzinfo=UTC))  # Monday 09:05 in New York
    await app_of(course).scheduler.run_due()
    claimed = await claim_all(course)
    assert [r.kind for r in claimed] == ["digest"] * len(claimed) and len(claimed) >= 2
    first_id = await send_without_recording(course, claimed[0])  # with the CSV and the chart

    await course.expire_claims()
    await course.restart_bot()
    app = app_of(course)
    await app.outbox.drain()
    messages = digest_messages(course)
    assert len(messages) == len(claimed)
    assert int(messages[0]["id"]) == first_id
    names = sorted(a["filename"] for a in messages[0]["attachments"])
    assert names[0].endswith(".csv") and names[1] == "participation.png"
    assert all(not m.get("attachments") for m in messages[1:])
    # The files' bytes are not kept once the rows are sent.
    assert await app.db.fetchall("SELECT 1 FROM outbox_attachments") == []
    # The follow-up buttons came back from the rows' view args and work.
    cohort = (await app.guild_settings.cohorts(gid))[0]
    reach_quiet = f"cohortbot:digest:reach:{cohort.cohort_id}:{quiet}"
    page = next(p for p in attention_pages(messages) if reach_quiet in button_ids(p))
    click = await s.click_button(leads_channel(course), int(page["id"]), w.lead_id, reach_quiet)
    await click.wait_final()
    assert "reaching out" in click.text(), click.text()
    assert await app.scheduler.run_due() == []
    await app.outbox.drain()
    assert len(digest_messages(course)) == len(claimed)


# ---------------------------------------------------------------------- what a row carries

ids = st.integers(min_value=1, max_value=2**63 - 1)


@given(cohort=ids, rows=st.lists(st.tuples(st.integers(1, 10_000), ids), max_size=5))
def test_follow_up_buttons_round_trip_through_view_args(
    cohort: int, rows: list[tuple[int, int]]
) -> None:
    args = follow_up_args(cohort, rows)
    assert all(isinstance(a, str) for a in args)
    assert parse_follow_up_args(args) == (cohort, rows)


@given(
    content=st.none() | st.text(max_size=50),
    roles=st.lists(ids, max_size=3),
    name=st.none() | st.text(min_size=1, max_size=100),
    tags=st.lists(ids, max_size=5),
)
def test_forum_and_role_fields_survive_the_payload(
    content: str | None, roles: list[int], name: str | None, tags: list[int]
) -> None:
    message = OutboxMessage(
        content=content, mention_role_ids=tuple(roles), thread_name=name, tag_ids=tuple(tags)
    )
    assert OutboxMessage.from_json(message.to_json()) == message
