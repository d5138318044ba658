"""Review fixes for the digest, the leads channel, the coffee shop and cohorts, through the
real client: open pulses stay out of the digest, nothing naming students goes to a leads
channel students can read, a lead acts only on their own cohort's digest."""

from __future__ import annotations

from datetime import timedelta

from bot.scheduler import schedule_job_id
from cogs.digest.service import DIGEST_KIND
from tests.support.coffee_shop import WEEK, submit_share
from tests.support.course import Course, app_of
from tests.support.digest import digest_messages, leads_channel, make_lead
from tests.support.waiting import eventually_equal

VIEW_CHANNEL = 1 << 10


async def test_a_still_open_pulse_never_counts_in_the_digest(course: Course) -> None:
    await course.setup_course()
    app, gid = app_of(course), course.guild_id
    guild = course.runner.bot.get_guild(gid) if course.runner.bot else None
    assert guild is not None
    [cohort] = await app.setup.cohorts(gid)
    now = course.clock.now()
    pulses = app.coffee_store.pulses
    pulse = await pulses.open_week(gid, now.date(), now + timedelta(days=3), now=now)
    for student in course.world.student_ids[:5]:
        await pulses.answer(
            gid, pulse.pulse_id, student, cohort_id=cohort.cohort_id, answer="great"
        )
    course.clock.advance(timedelta(hours=1))
    # Five answers while it is open: a digest now (and again after one more click) would
    # reveal that click, so the open pulse is not in it at all.
    built = await app.digest.build(guild, cohort, course.clock.now())
    assert built.model.pulse_lines is not None
    assert "Fewer than 5" in built.model.pulse_lines[0]
    course.clock.advance(timedelta(days=3))
    built = await app.digest.build(guild, cohort, course.clock.now())
    assert built.model.pulse_lines is not None
    assert any(line.endswith(": 5") for line in built.model.pulse_lines)


async def test_nothing_goes_to_a_leads_channel_students_can_read(course: Course) -> None:
    await course.setup_course()
    await make_lead(course)
    s, app, gid, w = course.sandbox, app_of(course), course.guild_id, course.world
    bot = course.runner.bot
    assert bot is not None
    channel_id = leads_channel(course)
    private = [dict(o) for o in s.world.channel(channel_id).overwrites]
    s.set_overwrites(
        channel_id,
        [*private, {"id": w.student_role_id, "type": 0, "allow": VIEW_CHANNEL, "deny": 0}],
    )
    guild = bot.get_guild(gid)
    assert guild is not None
    student_role = guild.get_role(w.student_role_id)
    assert student_role is not None
    await s.wait_for(
        lambda: guild.get_channel(channel_id).permissions_for(student_role).view_channel  # type: ignore[union-attr]
    )
    assert not await app.setup.leads_channel_private(guild)

    refused = await course.slash(w.lead_id, "digest now")
    assert "Nothing was posted" in refused.text(), refused.text()
    assert f"@{student_role.name}" in refused.text()
    # A report to staff is not posted there either (the student is told to ask directly).
    assert not await app.matching.tell_leads(guild, "🚩 Report to staff from someone")
    assert digest_messages(course) == []
    status = await course.slash(w.instructor_id, "course status")
    assert f"@{student_role.name} can read it" in status.text(), status.text()

    s.set_overwrites(channel_id, private)
    await s.wait_for(
        lambda: not guild.get_channel(channel_id).permissions_for(student_role).view_channel  # type: ignore[union-attr]
    )
    assert await app.setup.leads_channel_private(guild)
    posted = await course.slash(w.lead_id, "digest now")
    assert "Posted the digest" in posted.text(), posted.text()
    assert digest_messages(course)


async def test_a_lead_acts_only_on_their_own_cohorts_digest(course: Course) -> None:
    await course.setup_course()
    await make_lead(course)
    s, gid, w = course.sandbox, course.guild_id, course.world
    section_b = s.create_role(gid, "Section B")
    section_b_leads = s.create_role(gid, "Section B Leads")
    added = await course.slash(
        w.instructor_id,
        "course cohort add",
        {"name": "Section B", "role": section_b, "lead_role": section_b_leads},
    )
    assert "Added cohort" in added.text(), added.text()

    for command in ("digest export", "digest now"):
        refused = await course.slash(w.lead_id, command, {"cohort": "Section B"})
        assert "Only Section B's leads" in refused.text(), refused.text()
    student = w.student_ids[0]
    follow = await course.slash(
        w.lead_id,
        "digest follow-up",
        {"student": student, "state": "reach", "cohort": "Section B"},
    )
    assert "Only Section B's leads" in follow.text(), follow.text()
    own = await course.slash(w.lead_id, "digest export", {"cohort": "Cohort 1"})
    assert "per-student table for Cohort 1" in own.text(), own.text()


async def test_removing_a_cohort_stops_its_schedules(course: Course) -> None:
    await course.setup_course()
    s, app, gid, w = course.sandbox, app_of(course), course.guild_id, course.world
    section_b = s.create_role(gid, "Section B")
    await course.slash(
        w.instructor_id, "course cohort add", {"name": "Section B", "role": section_b}
    )
    cohorts = {c.name: c for c in await app.setup.cohorts(gid)}
    for name in ("Cohort 1", "Section B"):
        scheduled = await course.slash(
            w.instructor_id,
            "course digest schedule",
            {"day": 0, "time": "09:00", "cohort": name},
        )
        assert "goes to the leads channel" in scheduled.text(), scheduled.text()
    b_id = cohorts["Section B"].cohort_id
    b_job = schedule_job_id(gid, b_id, DIGEST_KIND)
    assert b_job in {job.id for job in app.scheduler.jobs()}

    removed = await course.slash(w.instructor_id, "course cohort remove", {"cohort": "Section B"})
    assert "Removed cohort **Section B**" in removed.text(), removed.text()
    left = await app.schedules.list_for_guild(gid)
    assert [sc.cohort_id for sc in left] == [cohorts["Cohort 1"].cohort_id]
    jobs = {job.id for job in app.scheduler.jobs()}
    assert b_job not in jobs
    assert schedule_job_id(gid, cohorts["Cohort 1"].cohort_id, DIGEST_KIND) in jobs


async def test_cohort_list_counts_students_only(course: Course) -> None:
    await course.setup_course()
    s, gid, w = course.sandbox, course.guild_id, course.world
    # A lead who also holds the student role is staff, never a student.
    await s.add_member_role(gid, w.lead_id, w.student_role_id)
    await make_lead(course)
    listing = await course.slash(w.instructor_id, "course cohort list")
    assert f"({len(w.student_ids)} students)" in listing.text(), listing.text()


async def test_staff_kudos_count_in_the_receivers_cohort(course: Course) -> None:
    await course.setup_course()
    await make_lead(course)
    app, gid, w = app_of(course), course.guild_id, course.world
    student = w.student_ids[0]
    [cohort] = await app.setup.cohorts(gid)
    given = await course.slash(
        w.lead_id, "kudos", {"member": student, "reason": "Great question in the lab"}
    )
    assert "Your kudos" in given.text(), given.text()
    now = course.clock.now()
    stats = await app.coffee.week_stats(
        gid, now - timedelta(days=1), now + timedelta(hours=1), cohort.cohort_id
    )
    assert stats.kudos_received == {student: 1}


async def test_celebration_reactions_count_distinct_students_and_removals(course: Course) -> None:
    await course.setup_course()
    s, app, gid, w = course.sandbox, app_of(course), course.guild_id, course.world
    amara, ben = w.student_ids[:2]
    coffee = s.find_channel(gid, "coffee-shop")
    assert coffee is not None
    await submit_share(course, amara, "celebrate", {"kind": "personal win"}, "My first 5k!")
    [post] = s.messages(coffee)
    post_id = int(post["id"])

    async def reactions() -> int:
        stats = await app.coffee.week_stats(gid, *WEEK)
        return stats.celebration_reactions

    await s.add_reaction(coffee, post_id, w.instructor_id, "🎉")  # staff: not counted
    await s.add_reaction(coffee, post_id, ben, "🎉")
    await s.add_reaction(coffee, post_id, ben, "👏")  # the same classmate: one pair
    await eventually_equal(reactions, 1)
    await s.remove_reaction(coffee, post_id, ben, "🎉")  # 👏 is still there
    await s.remove_reaction(coffee, post_id, ben, "👏")
    await eventually_equal(reactions, 0)
    assert await reactions() == 0
