"""The weekly digest through the real client: delivery, buttons, permissions, schedules, and
a pulse still open never counts."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from cogs.coffee_shop import CoffeeService
from cogs.course import SetupService
from cogs.digest import DigestService
from cogs.digest.render import parse_csv
from cogs.digest.service import DIGEST_KIND
from tests.support.course import Course, app_of
from tests.support.digest import (
    attention_pages,
    button_ids,
    digest_messages,
    drift,
    leads_channel,
    make_lead,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


async def test_lead_posts_the_digest_and_follow_up_buttons_persist(course: Course) -> None:
    await course.setup_course()
    await make_lead(course)
    s, gid, w = course.sandbox, course.guild_id, course.world
    app = course.runner.app
    assert app is not None
    active, quiet = w.student_ids[0], w.student_ids[1]
    coffee = s.find_channel(gid, "coffee-shop")
    assert coffee
    # `quiet` last spoke 20 days ago; `active` spoke today. (The others joined "now" by
    # Discord's clock, after this fake clock's date, so they are too new to be listed.)
    await s.send_message(coffee, quiet, "Hello!")
    await s.wait_for(lambda: app.activity_recorder.pending >= 1)
    await app.activity_recorder.flush()
    course.clock.advance(timedelta(days=20))
    await s.send_message(coffee, active, "Finished the first assignment!")
    await s.wait_for(lambda: app.activity_recorder.pending >= 1)
    course.clock.advance(timedelta(minutes=5))
    record = await course.slash(w.lead_id, "digest now")
    assert "Posted the digest" in record.text(), record.text()
    messages = digest_messages(course)
    first = messages[0]
    names = sorted(a["filename"] for a in first["attachments"])
    assert names[0].startswith("digest-cohort-1-") and names[0].endswith(".csv")
    assert names[1] == "participation.png"
    png = next(a for a in first["attachments"] if a["filename"] == "participation.png")
    assert s.attachment_bytes(int(png["id"])).startswith(PNG_MAGIC)
    assert "Line chart of participation" in (png.get("description") or "")
    csv_file = next(a for a in first["attachments"] if a["filename"].endswith(".csv"))
    rows = parse_csv(s.attachment_bytes(int(csv_file["id"])))
    assert sorted(int(r["user_id"]) for r in rows) == sorted(w.student_ids)
    by_id = {int(r["user_id"]): r for r in rows}
    assert by_id[active]["activity_this_week"] == "1"
    assert by_id[quiet]["needs_attention"] == "no activity for 20 days"
    assert by_id[active]["needs_attention"] == ""
    assert by_id[quiet]["trend"] == "quiet" and by_id[active]["trend"] == "steady"
    # Headline: one of six students active.
    fields = {f["name"]: f["value"] for f in first["embeds"][0]["fields"]}
    assert fields["Students active"].startswith("**1 of 6**")
    # Matching is installed but no round ran: zero, not "not available".
    assert fields["Coffee chats met (students)"] == "**0** → (last week 0)"
    assert by_id[active]["matched"] == "no"

    pages = attention_pages(messages)
    listed = [cid for page in pages for cid in button_ids(page)]
    cohort = (await app.guild_settings.cohorts(gid))[0]
    reach_quiet = f"cohortbot:digest:reach:{cohort.cohort_id}:{quiet}"
    assert reach_quiet in listed
    # Only `quiet` needs attention: one row of four buttons.
    assert listed == [
        f"cohortbot:digest:{action}:{cohort.cohort_id}:{quiet}"
        for action in ("reach", "contacted", "excused", "clear")
    ]
    page = next(p for p in pages if reach_quiet in button_ids(p))

    # A student (who can see the channel only if someone misconfigured it) is refused.
    s.set_overwrites(leads_channel(course), [])
    click = await s.click_button(leads_channel(course), int(page["id"]), active, reach_quiet)
    await click.wait_final()
    assert "Only cohort leads and instructors" in click.text()
    assert (
        await app.services.get(DigestService).repository.follow_up(gid, cohort.cohort_id, quiet)
        is None
    )

    # The lead takes it, across a restart.
    await course.restart_bot()
    app = course.runner.app
    assert app is not None
    click = await s.click_button(leads_channel(course), int(page["id"]), w.lead_id, reach_quiet)
    await click.wait_final()
    assert "reaching out" in click.text(), click.text()
    stored = await app.services.get(DigestService).repository.follow_up(
        gid, cohort.cohort_id, quiet
    )
    assert stored is not None and stored.state == "reaching_out" and stored.lead_id == w.lead_id
    updated = s.message(int(page["id"]))
    assert updated is not None
    assert any(
        f"<@{quiet}>" in f["value"] and "Tomás (TA) is reaching out" in f["value"]
        for f in updated["embeds"][0]["fields"]
    )

    # A mis-click is undone with Clear: the row reads "nobody yet" again, nothing is stored.
    clear_quiet = f"cohortbot:digest:clear:{cohort.cohort_id}:{quiet}"
    click = await s.click_button(leads_channel(course), int(page["id"]), w.lead_id, clear_quiet)
    await click.wait_responses(2)  # the row's edit, then the private answer
    assert "Cleared: nobody is marked" in click.text(), click.text()
    assert (
        await app.services.get(DigestService).repository.follow_up(gid, cohort.cohort_id, quiet)
        is None
    )
    updated = s.message(int(page["id"]))
    assert updated is not None
    value = next(f["value"] for f in updated["embeds"][0]["fields"] if f"<@{quiet}>" in f["value"])
    assert "Follow-up: nobody yet (cleared by Tomás (TA)" in value
    click = await s.click_button(leads_channel(course), int(page["id"]), w.lead_id, clear_quiet)
    await click.wait_responses(2)
    assert "nothing to clear" in click.text(), click.text()


async def test_follow_up_command_works_for_anyone_on_the_list(course: Course) -> None:
    await course.setup_course()
    await make_lead(course)
    s, gid, w = course.sandbox, course.guild_id, course.world
    app = course.runner.app
    assert app is not None
    cohort = (await app.guild_settings.cohorts(gid))[0]
    student = w.student_ids[2]
    before = len(digest_messages(course))
    record = await course.slash(
        w.lead_id, "digest follow-up", {"student": student, "state": "contacted"}
    )
    assert "was contacted by you" in record.text() and "next 14 days" in record.text()
    assert all(r.get("ephemeral") for r in record.responses if r["kind"] != "deferred")
    stored = await app.services.get(DigestService).repository.follow_up(
        gid, cohort.cohort_id, student
    )
    assert stored is not None and (stored.state, stored.lead_id) == ("contacted", w.lead_id)
    # The other leads see it in the leads channel (no ping: allowed mentions none).
    await s.wait_for(lambda: len(digest_messages(course)) == before + 1)
    note = digest_messages(course)[-1]
    assert note["content"] == (
        f"📝 {w.names[student]} (<@{student}>, Cohort 1): ✅ contacted by Tomás (TA) — via "
        "/digest follow-up"
    )
    assert note["mentions"] == []  # nobody pinged
    # It shows in the next digest's CSV; Clear forgets it.
    course.clock.advance(timedelta(minutes=1))
    _, data = await app.services.get(DigestService).export(bot_guild(course), cohort, 1)
    row = next(r for r in parse_csv(data) if int(r["user_id"]) == student)
    assert (row["follow_up"], row["follow_up_by"]) == ("contacted", "Tomás (TA)")
    record = await course.slash(
        w.lead_id, "digest follow-up", {"student": student, "state": "clear"}
    )
    assert "Cleared" in record.text(), record.text()
    assert (
        await app.services.get(DigestService).repository.follow_up(gid, cohort.cohort_id, student)
        is None
    )
    # Someone who is not a student: refused, nothing recorded.
    record = await course.slash(
        w.lead_id, "digest follow-up", {"student": w.instructor_id, "state": "excused"}
    )
    assert "nothing was recorded" in record.text(), record.text()
    assert await app.services.get(DigestService).repository.follow_ups(gid, cohort.cohort_id) == {}
    # A student can't use it, even when the command is visible to everyone.
    record = await course.slash(
        w.student_ids[0], "digest follow-up", {"student": student, "state": "excused"}
    )
    assert "Only cohort leads and instructors" in record.text()
    assert await app.services.get(DigestService).repository.follow_ups(gid, cohort.cohort_id) == {}


def bot_guild(course: Course) -> Any:
    bot = course.runner.bot
    assert bot is not None
    return bot.get_guild(course.guild_id)


async def test_forged_follow_up_ids_are_refused(course: Course) -> None:
    await course.setup_course()
    await make_lead(course)
    s, gid, w = course.sandbox, course.guild_id, course.world
    app = course.runner.app
    assert app is not None
    await drift(course, w.student_ids[0])
    await course.slash(w.lead_id, "digest now")
    page = attention_pages(digest_messages(course))[0]
    real = button_ids(page)[0]
    cohort = (await app.guild_settings.cohorts(gid))[0]
    # Rewrite the stored button so its custom_id names someone who is not a student.
    for forged in (
        f"cohortbot:digest:reach:{cohort.cohort_id}:{w.instructor_id}",
        f"cohortbot:digest:reach:{cohort.cohort_id + 77}:{w.student_ids[0]}",
    ):
        stored = s.rest.world.messages[int(page["id"])]
        stored["components"][0]["components"][0]["custom_id"] = forged
        click = await s.click_button(leads_channel(course), int(page["id"]), w.lead_id, forged)
        await click.wait_final()
        assert "nothing was recorded" in click.text() or "no longer exists" in click.text()
    assert real.startswith("cohortbot:digest:reach:")
    assert await app.services.get(DigestService).repository.follow_ups(gid, cohort.cohort_id) == {}


async def test_students_are_refused_even_when_the_command_is_visible(course: Course) -> None:
    await course.setup_course()
    s, gid, w = course.sandbox, course.guild_id, course.world
    s.allow_command_for_everyone(gid, "digest")
    student = w.student_ids[0]
    for command, options in (
        ("digest now", None),
        ("digest export", {"weeks": 2}),
        ("digest dm", {"state": "on"}),
    ):
        record = await course.slash(student, command, options)
        assert "Only cohort leads and instructors" in record.text(), (command, record.text())
    assert digest_messages(course) == []
    app = course.runner.app
    assert app is not None
    assert await app.services.get(DigestService).repository.dm_subscribers(gid) == set()
    s.allow_command_for_everyone(gid, "course")
    record = await course.slash(student, "course digest schedule", {"day": 0, "time": "09:00"})
    assert "Manage Server" in record.text() or "can't" in record.text().lower(), record.text()


async def test_scheduled_digest_once_per_week_across_restarts_with_dm_copy(
    course: Course,
) -> None:
    await course.setup_course()
    await make_lead(course)
    s, w = course.sandbox, course.world
    record = await course.slash(
        w.instructor_id, "course digest schedule", {"day": 0, "time": "09:00"}
    )
    assert "every Monday at 09:00 (America/New_York)" in record.text(), record.text()
    record = await course.slash(w.lead_id, "digest dm", {"state": "on"})
    assert "by DM" in record.text()
    app = course.runner.app
    assert app is not None
    # 2026-09-07 14:00 UTC is Monday 10:00 in New York: the schedule began after 09:00 today.
    course.clock.set(course.clock.now() + timedelta(days=7))  # next Monday 10:00
    ran = await app.scheduler.run_due()
    await app.outbox.drain()
    assert [r.kind for r in ran] == [DIGEST_KIND]
    first_count = len(digest_messages(course))
    assert first_count >= 2
    dms = s.dm_messages(w.lead_id)
    assert dms and "Act on it in the leads channel" in dms[0]["content"]
    assert all(not m.get("components") for m in dms)

    await course.restart_bot()
    app = course.runner.app
    assert app is not None
    assert await app.scheduler.run_due() == []
    await app.outbox.drain()
    assert len(digest_messages(course)) == first_count

    course.clock.advance(timedelta(days=7))
    ran = await app.scheduler.run_due()
    await app.outbox.drain()
    assert [r.kind for r in ran] == [DIGEST_KIND]
    assert len(digest_messages(course)) == 2 * first_count


async def test_two_cohorts_get_separate_digests_and_one_final_digest(course: Course) -> None:
    await course.setup_course()
    s, gid, w = course.sandbox, course.guild_id, course.world
    app = course.runner.app
    bot = course.runner.bot
    assert app is not None and bot is not None
    evening_role = s.create_role(gid, "Evening")
    evening = w.student_ids[4:]
    for uid in evening:
        await s.remove_member_role(gid, uid, w.student_role_id)
        await s.add_member_role(gid, uid, evening_role)
    guild = bot.get_guild(gid)
    assert guild is not None
    await s.wait_for(
        lambda: all(
            {r.id for r in guild.get_member(uid).roles}  # type: ignore[union-attr]
            & {evening_role, w.student_role_id}
            == {evening_role}
            for uid in evening
        )
    )
    await app.services.get(SetupService).add_cohort(gid, "Evening", evening_role, None)
    for name in ("Cohort 1", "Evening"):
        record = await course.slash(
            w.instructor_id, "course digest schedule", {"day": 0, "time": "09:00", "cohort": name}
        )
        assert f"The digest for {name}" in record.text(), record.text()
    course.clock.advance(timedelta(days=7))
    ran = await app.scheduler.run_due()
    await app.outbox.drain()
    assert sorted(r.cohort_id for r in ran) == sorted(
        c.cohort_id for c in await app.guild_settings.cohorts(gid)
    )
    firsts = [m for m in digest_messages(course) if m.get("attachments")]
    assert len(firsts) == 2
    by_title: dict[str, set[int]] = {}
    for message in firsts:
        title = message["embeds"][0]["title"]
        csv_file = next(a for a in message["attachments"] if a["filename"].endswith(".csv"))
        ids = {int(r["user_id"]) for r in parse_csv(s.attachment_bytes(int(csv_file["id"])))}
        by_title["Evening" if "— Evening —" in title else "Cohort 1"] = ids
    assert by_title == {"Cohort 1": set(w.student_ids[:4]), "Evening": set(evening)}

    cohort = (await app.guild_settings.cohorts(gid))[0]
    before = len(digest_messages(course))
    line = await app.services.get(DigestService).send_final(guild, cohort)
    assert line.startswith("✅ Final digest posted"), line
    after = digest_messages(course)
    assert after[before]["embeds"][0]["title"].startswith("Final digest — Cohort 1")
    assert (await app.services.get(DigestService).send_final(guild, cohort)).startswith("ℹ️")
    assert len(digest_messages(course)) == len(after)


VIEW_CHANNEL = 1 << 10


async def test_setup_checklist_marks_a_leads_channel_everyone_can_read(course: Course) -> None:
    """The digest names students: /course setup shows the leads channel red while @everyone
    can read it, green once it is private to staff."""
    await course.setup_course()
    s, gid, w = course.sandbox, course.guild_id, course.world
    bot = course.runner.bot
    assert bot is not None
    staff_room = s.create_channel(gid, "staff-room")  # an admin's channel, public by default
    await s.wait_for(lambda: bot.get_channel(staff_room) is not None)
    record = await course.slash(w.instructor_id, "course setup", {"leads": staff_room})
    text = record.text()
    assert (
        "❌ Needs attention — **Leads channel**: #staff-room: @everyone can read it — make it "
        "private to staff"
    ) in text, text
    assert "Some items need attention" in text

    # Private: @everyone may not view it; the bot's role (and staff) may.
    s.set_overwrites(
        staff_room,
        [
            {"id": gid, "type": 0, "allow": 0, "deny": VIEW_CHANNEL},
            {"id": w.bot_role_id, "type": 0, "allow": VIEW_CHANNEL, "deny": 0},
        ],
    )
    guild = bot.get_guild(gid)
    assert guild is not None

    def private() -> bool:
        channel = guild.get_channel(staff_room)
        return channel is not None and not channel.permissions_for(guild.default_role).view_channel

    await s.wait_for(private)
    record = await course.slash(w.instructor_id, "course setup", {"leads": staff_room})
    text = record.text()
    assert "✅ OK — **Leads channel**: #staff-room" in text, text
    assert "@everyone can read it" not in text


async def test_a_still_open_pulse_never_counts_in_the_digest(course: Course) -> None:
    await course.setup_course()
    app, gid = app_of(course), course.guild_id
    guild = course.runner.bot.get_guild(gid) if course.runner.bot else None
    assert guild is not None
    [cohort] = await app.guild_settings.cohorts(gid)
    now = course.clock.now()
    pulses = app.services.get(CoffeeService).store.pulses
    pulse = await pulses.open_week(gid, now.date(), now + timedelta(days=3), now=now)
    for student in course.world.student_ids[:5]:
        await pulses.answer(
            gid, pulse.pulse_id, student, cohort_id=cohort.cohort_id, answer="great"
        )
    course.clock.advance(timedelta(hours=1))
    # Five answers while it is open: a digest now (and again after one more click) would
    # reveal that click, so the open pulse is not in it at all.
    built = await app.services.get(DigestService).build(guild, cohort, course.clock.now())
    assert built.model.pulse_lines is not None
    assert "Fewer than 5" in built.model.pulse_lines[0]
    course.clock.advance(timedelta(days=3))
    built = await app.services.get(DigestService).build(guild, cohort, course.clock.now())
    assert built.model.pulse_lines is not None
    assert any(line.endswith(": 5") for line in built.model.pulse_lines)
