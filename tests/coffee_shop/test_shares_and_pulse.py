"""The coffee shop through the real discord.py client and the sandbox: celebrations, rough
weeks, kudos, milestones, the weekly pulse, the social question and the roundup."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from cogs.coffee_shop import CoffeeService, MilestoneService
from cogs.coffee_shop.rules import CELEBRATION_REACTIONS
from cogs.coffee_shop.service import KIND_MILESTONE_NOTE
from cogs.introductions import IntroService
from sandbox.harness import BOT_ROLE_PERMISSIONS
from sandbox.server import InteractionRecord
from tests.support.coffee_shop import WEEK, submit_share
from tests.support.course import Course, app_of, channel
from tests.support.waiting import eventually_equal


def reaction_names(message: dict[str, Any]) -> set[str]:
    return {r["emoji"]["name"] for r in message.get("reactions") or []}


async def test_celebration_is_credited_and_cheered_and_responses_counted(
    course: Course,
) -> None:
    await course.setup_course()
    s, amara, ben = course.sandbox, *course.world.student_ids[:2]
    coffee = channel(course, "coffee-shop")
    record = await submit_share(
        course, amara, "celebrate", {"kind": "personal win"}, "I ran my first 5k!"
    )
    assert "Posted your celebration" in record.text() and record.ephemeral
    [post] = s.messages(coffee)
    embed = post["embeds"][0]
    assert embed["title"] == "Celebrating a personal win from Amara Okafor"
    assert embed["description"] == "I ran my first 5k!"
    assert reaction_names(post) == set(CELEBRATION_REACTIONS)
    assert post["mentions"] == []  # credited, not pinged
    # Classmates' reactions and replies are counted; the author's own and the bot's are not.
    await s.add_reaction(coffee, int(post["id"]), ben, "🎉")
    await s.add_reaction(coffee, int(post["id"]), amara, "👏")
    await s.send_message(coffee, ben, "Congratulations!!", reply_to=int(post["id"]))
    app = app_of(course)

    async def engagement() -> tuple[int, int]:
        stats = await app.services.get(CoffeeService).week_stats(course.guild_id, *WEEK)
        return stats.celebration_reactions, stats.celebration_replies

    await eventually_equal(lambda: engagement(), (1, 1))
    assert await engagement() == (1, 1)
    stats = await app.services.get(CoffeeService).week_stats(course.guild_id, *WEEK)
    assert stats.celebrations == 1 and stats.posts == {"personal_win": 1}


async def test_rough_week_without_a_name(course: Course) -> None:
    await course.setup_course()
    s, dana = course.sandbox, course.world.student_ids[3]
    coffee, leads = channel(course, "coffee-shop"), channel(course, "cohort-leads")
    record = await submit_share(
        course,
        dana,
        "share",
        {"kind": "rough week", "without_my_name": True},
        "Caring for my dad this week. Behind on everything.",
    )
    assert "without your name" in record.text()
    [post] = s.messages(coffee)
    text = str(post)
    assert "Dana" not in text and str(dana) not in text
    assert "posted without a name" in post["embeds"][0]["title"]
    assert post.get("reactions") in (None, [])  # never a celebratory reaction
    fields = {f["name"]: f["value"] for f in post["embeds"][0]["fields"]}
    assert "counselling" in fields["If you need support"]
    # The leads get a private note with the link; it stays unnamed there too.
    [note] = s.messages(leads)
    assert post["id"] in note["content"] and "without a name" in note["content"]
    assert str(dana) not in note["content"]
    # Only an instructor can look the author up.
    link = f"https://discord.com/channels/{course.guild_id}/{coffee}/{post['id']}"
    lookup = await course.slash(
        course.world.instructor_id, "course coffee author", {"message_link": link}
    )
    assert f"<@{dana}>" in lookup.text() and lookup.ephemeral
    s.allow_command_for_everyone(course.guild_id, "course")
    refused = await course.slash(
        course.world.student_ids[0], "course coffee author", {"message_link": link}
    )
    assert "for course staff" in refused.text() and str(dana) not in refused.text()
    bad = await course.slash(
        course.world.instructor_id, "course coffee author", {"message_link": "nope"}
    )
    assert "isn't a message link" in bad.text()


async def test_life_update_named_no_reactions_and_bad_texts(course: Course) -> None:
    await course.setup_course()
    s, eli = course.sandbox, course.world.student_ids[4]
    coffee = channel(course, "coffee-shop")
    for blank in ("\u200b\u200b", "   \u2800 "):
        record = await submit_share(course, eli, "share", {"kind": "life update"}, blank)
        assert "empty" in record.text() and record.ephemeral
    assert s.messages(coffee) == []
    await submit_share(
        course,
        eli,
        "share",
        {"kind": "life update"},
        f"New job! Thanks <@{course.world.student_ids[0]}> and @everyone",
    )
    [post] = s.messages(coffee)
    assert post["mentions"] == [] and not post["mention_everyone"]
    assert "life update from Eli Brooks" in post["embeds"][0]["title"]
    assert post.get("reactions") in (None, [])
    assert "If you need support" not in str(post)


async def test_kudos_pings_only_the_recipient_and_is_limited(course: Course) -> None:
    await course.setup_course()
    s, gid = course.sandbox, course.guild_id
    amara, ben, chen = course.world.student_ids[:3]
    coffee = channel(course, "coffee-shop")
    limits = await course.slash(
        course.world.instructor_id, "course coffee limits", {"kudos_per_day": 2}
    )
    assert "2 kudos" in limits.text()
    reason = f"explaining joins to me (and <@{chen}> @everyone)"
    record = await course.slash(amara, "kudos", {"member": ben, "reason": reason})
    assert "Your kudos" in record.text()
    [post] = s.messages(coffee)
    assert [int(u["id"]) for u in post["mentions"]] == [ben]
    assert not post["mention_everyone"]
    assert post["embeds"][0]["title"] == "Kudos from Amara Okafor to Ben Carter"
    # Refusals: yourself, a bot, a non-member, empty and oversized reasons.
    outsider = s.create_user("Not In Course")
    for options, expected in (
        ({"member": amara, "reason": "me"}, "not yourself"),
        ({"member": s.bot_user_id, "reason": "bot"}, "Bots don't need kudos"),
        ({"member": outsider, "reason": "hi"}, "isn't a member"),
        ({"member": ben, "reason": "\u200b"}, "empty"),
        ({"member": ben, "reason": "x" * 301}, "limit is 300"),
    ):
        refused = await course.slash(amara, "kudos", options)
        assert expected in refused.text(), (options, refused.text())
        assert refused.ephemeral
    assert len(s.messages(coffee)) == 1
    # The per-day limit.
    await course.slash(amara, "kudos", {"member": chen, "reason": "great notes"})
    third = await course.slash(amara, "kudos", {"member": ben, "reason": "again"})
    assert "daily limit" in third.text()
    assert len(s.messages(coffee)) == 2
    course.clock.advance(timedelta(hours=25))
    fourth = await course.slash(amara, "kudos", {"member": ben, "reason": "again"})
    assert "Your kudos" in fourth.text()
    given, received = (
        await app_of(course)
        .services.get(CoffeeService)
        .store.kudos.counts(
            gid, *(course.clock.now() - timedelta(days=3), course.clock.now() + timedelta(hours=1))
        )
    )
    assert given == {amara: 3} and received == {ben: 2, chen: 1}


async def test_milestones_are_off_by_default_and_private_when_on(course: Course) -> None:
    await course.setup_course()
    s, app, gid = course.sandbox, app_of(course), course.guild_id
    amara, ben, chen = course.world.student_ids[:3]
    assert await app.services.get(MilestoneService).reached(gid, amara, "intro_posted")
    assert not s.has_dm_channel(amara) or s.dm_messages(amara) == []
    shown = await course.slash(ben, "coffee settings")
    assert "**off**" in shown.text()
    turned_on = await course.slash(ben, "coffee settings", {"milestones": True})
    assert "Saved" in turned_on.text() and "**on**" in turned_on.text()
    assert await app.services.get(MilestoneService).reached(gid, ben, "first_answer")
    assert not await app.services.get(MilestoneService).reached(gid, ben, "first_answer")
    # Queued in the outbox (the caller may be answering an interaction), then sent once.
    queued = await app.outbox.lookup(gid, KIND_MILESTONE_NOTE, f"{ben}:first_answer")
    assert queued is not None
    await app.outbox.wait_settled(gid, [queued.id], 5)
    [note] = s.dm_messages(ben)
    assert "answered your first discussion prompt" in note["content"]
    assert (await app.services.get(MilestoneService).of_user(gid, ben)) == {"first_answer": "sent"}
    # A closed DM is recorded and skipped: no error, no retry.
    await course.slash(chen, "coffee settings", {"milestones": True})
    s.close_dms(chen)
    assert await app.services.get(MilestoneService).reached(gid, chen, "first_peer_reply")
    row = await app.outbox.lookup(gid, KIND_MILESTONE_NOTE, f"{chen}:first_peer_reply")
    assert row is not None
    await app.outbox.wait_settled(gid, [row.id], 5)
    assert (await app.services.get(MilestoneService).of_user(gid, chen)) == {
        "first_peer_reply": "dm_closed"
    }
    # Nothing about milestones was posted in public.
    assert s.messages(channel(course, "coffee-shop")) == []
    # "Completed the course" only when an instructor marks it.
    done = await course.slash(
        course.world.instructor_id, "course coffee completed", {"member": ben}
    )
    assert "completed the course" in done.text()
    # The instructor's answer did not wait on the DM: it follows through the outbox.
    await s.wait_for(lambda: "completed the course" in s.dm_messages(ben)[-1]["content"])


async def test_weekly_pulse_anonymous_answers_and_reach_out(course: Course) -> None:
    await course.setup_course()
    s, app, gid = course.sandbox, app_of(course), course.guild_id
    amara, ben = course.world.student_ids[:2]
    coffee, leads = channel(course, "coffee-shop"), channel(course, "cohort-leads")
    scheduled = await course.slash(
        course.world.instructor_id,
        "course coffee schedule",
        {"what": "pulse", "day": 2, "time": "10:00"},
    )
    assert "every Wednesday at 10:00 (America/New_York)" in scheduled.text()
    course.clock.set(datetime(2026, 9, 9, 14, 1, tzinfo=UTC))  # Wednesday 10:01 in New York
    runs = await app.scheduler.run_due()
    assert [r.kind for r in runs] == ["coffee_pulse"]
    assert await app.scheduler.run_due() == []  # the ledger: at most once
    await app.outbox.drain()  # scheduled posts go through the outbox
    [pulse_msg] = s.messages(coffee)
    labels = [c["label"] for row in pulse_msg["components"] for c in row["components"]]
    assert labels == [
        "Going well",
        "Okay",
        "Struggling a bit",
        "Really hard",
        "Please reach out to me",
    ]
    ids = {c["label"]: c["custom_id"] for row in pulse_msg["components"] for c in row["components"]}
    mid = int(pulse_msg["id"])

    async def click(user: int, label: str) -> InteractionRecord:
        record = await s.click_button(coffee, mid, user, ids[label])
        await record.wait_final()
        return record

    first = await click(amara, "Really hard")
    assert "recorded anonymously" in first.text() and first.ephemeral
    again = await click(amara, "Going well")
    assert "already answered" in again.text()
    reach = await click(amara, "Please reach out to me")
    assert "NOT anonymous" in reach.text()
    [note] = s.messages(leads)
    assert f"<@{amara}>" in note["content"] and note["mentions"] == []
    assert "already asked" in (await click(amara, "Please reach out to me")).text()
    staff = await click(course.world.lead_id, "Okay")
    assert "for the course's students" in staff.text()
    # The answer table holds totals, never who answered what.
    rows = [dict(r) for r in await app.db.fetchall("SELECT * FROM coffee_pulse_tallies")]
    assert rows and all("user_id" not in r and amara not in r.values() for r in rows)
    assert [r["answer"] for r in rows] == ["hard"]
    stats = await app.services.get(CoffeeService).week_stats(gid, *WEEK)
    assert stats.pulse.hidden and stats.reach_out_user_ids == (amara,)
    # Survives a restart (persistent buttons), then closes with the week.
    await course.restart_bot()
    assert "recorded anonymously" in (await click(ben, "Okay")).text()
    course.clock.set(datetime(2026, 9, 14, 4, 0, tzinfo=UTC))  # Monday 00:00 in New York
    closed = await click(course.world.student_ids[2], "Okay")
    assert "has closed" in closed.text()
    assert (
        await app_of(course).services.get(CoffeeService).store.pulses.pulse_tallies(gid, 1)
    ) == {
        "hard": 1,
        "okay": 1,
    }


async def test_pulse_button_from_another_guild_is_refused(course: Course) -> None:
    await course.setup_course()
    s, app = course.sandbox, app_of(course)
    posted = await course.slash(course.world.instructor_id, "course coffee post", {"what": "pulse"})
    assert "Posted the weekly pulse" in posted.text()
    [pulse_msg] = s.messages(channel(course, "coffee-shop"))
    custom_id = pulse_msg["components"][0]["components"][0]["custom_id"]
    # Another server with the bot in it; someone crafts a message carrying that custom_id.
    owner = s.create_user("Other Owner")
    other = s.create_guild("Other", owner_id=owner, bot_permissions=BOT_ROLE_PERMISSIONS.value)
    general = s.find_channel(other, "general")
    assert general is not None
    await s.wait_for(
        lambda: course.runner.bot is not None and course.runner.bot.get_guild(other) is not None
    )
    forged = s.world.build_message(
        general,
        s.bot_user_id,
        {
            "content": "x",
            "components": [
                {
                    "type": 1,
                    "components": [
                        {"type": 2, "style": 1, "label": "Going well", "custom_id": custom_id}
                    ],
                }
            ],
        },
    )
    s.world.store_message(forged)
    record = await s.click_button(general, int(forged["id"]), owner, custom_id)
    await record.wait_final()
    assert "doesn't belong to this server" in record.text()
    assert await app.db.fetchall("SELECT * FROM coffee_pulse_respondents") == []


async def test_question_on_its_schedule_and_milestone_roundup(course: Course) -> None:
    await course.setup_course()
    s, app, gid = course.sandbox, app_of(course), course.guild_id
    coffee = channel(course, "coffee-shop")
    instructor = course.world.instructor_id
    for what, day, at in (("question", 1, "09:00"), ("roundup", 4, "17:00")):
        record = await course.slash(
            instructor, "course coffee schedule", {"what": what, "day": day, "time": at}
        )
        assert "Scheduled" in record.text()
    bad = await course.slash(
        instructor, "course coffee schedule", {"what": "question", "day": 1, "time": "25:00"}
    )
    assert "HH:MM" in bad.text() and "Nothing was changed" in bad.text()
    upcoming = await course.slash(instructor, "course coffee upcoming")
    _, preview = await app.services.get(CoffeeService).next_question(gid)
    assert "coffee-shop question: <t:" in upcoming.text() and preview in upcoming.text()
    # The course calendar's /course upcoming gets the same items from the coffee cog.
    listed = await app.upcoming.items(
        gid, course.clock.now(), course.clock.now() + timedelta(days=7)
    )
    assert [(i.kind, i.preview) for i in listed if i.key.startswith("coffee:")] == [
        ("coffee-shop question", preview),
        ("milestone roundup", "Milestone roundup: counts of the week's milestones, no names"),
    ]
    # Intros hands over a mention-free "say hi to our newest classmates" line.
    asked: list[datetime] = []

    async def newest_line(guild_id: int, now: datetime) -> str | None:
        asked.append(now)
        return "Say hi to our newest classmates: Ben Carter!" if guild_id == gid else None

    app.services.get(IntroService).newest_unwelcomed_line = newest_line  # type: ignore[method-assign]
    course.clock.set(datetime(2026, 9, 8, 13, 0, tzinfo=UTC))  # Tuesday 09:00 New York
    assert [r.kind for r in await app.scheduler.run_due()] == ["coffee_question"]
    await app.outbox.drain()
    [question] = s.messages(coffee)
    assert question["embeds"][0]["description"].startswith(preview)
    assert question["embeds"][0]["description"].endswith("newest classmates: Ben Carter!")
    assert question["mentions"] == [] and asked == [course.clock.now()]
    assert "Not coursework" in question["embeds"][0]["footer"]["text"]
    _, following = await app.services.get(CoffeeService).next_question(gid)
    assert following != preview
    # Milestones during the week, then the roundup counts them without names.
    amara, ben = course.world.student_ids[:2]
    await app.services.get(MilestoneService).reached(gid, amara, "intro_posted")
    await app.services.get(MilestoneService).reached(gid, ben, "intro_posted")
    await app.services.get(MilestoneService).reached(gid, ben, "first_answer")
    course.clock.set(datetime(2026, 9, 11, 21, 0, tzinfo=UTC))  # Friday 17:00 New York
    assert [r.kind for r in await app.scheduler.run_due()] == ["coffee_roundup"]
    await app.outbox.drain()
    roundup = s.messages(coffee)[-1]
    text = str(roundup)
    assert "3 milestones reached this week" in text
    assert "2 classmates posted their introduction" in text
    assert "Amara" not in text and "Ben" not in text and str(amara) not in text
    # A week without milestones posts no roundup.
    course.clock.set(datetime(2026, 9, 18, 21, 0, tzinfo=UTC))
    await app.scheduler.run_due()
    await app.outbox.drain()
    assert s.messages(coffee)[-1]["id"] == roundup["id"]
    removed = await course.slash(instructor, "course coffee unschedule", {"what": "roundup"})
    assert "no longer scheduled" in removed.text()
