"""Cohort leads and the digest, through the real client: nothing naming students goes to a
leads channel students can read, and a lead acts only on their own cohort's digest."""

from __future__ import annotations

from cogs.coffee_chats import MatchingService
from tests.support.course import Course, app_of
from tests.support.digest import digest_messages, leads_channel, make_lead

VIEW_CHANNEL = 1 << 10


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
    assert not await app.guild_settings.leads_channel_private(guild)

    refused = await course.slash(w.lead_id, "digest now")
    assert "Nothing was posted" in refused.text(), refused.text()
    assert f"@{student_role.name}" in refused.text()
    # A report to staff is not posted there either (the student is told to ask directly).
    assert not await app.services.get(MatchingService).tell_leads(
        guild, "🚩 Report to staff from someone"
    )
    assert digest_messages(course) == []
    status = await course.slash(w.instructor_id, "course status")
    assert f"@{student_role.name} can read it" in status.text(), status.text()

    s.set_overwrites(channel_id, private)
    await s.wait_for(
        lambda: not guild.get_channel(channel_id).permissions_for(student_role).view_channel  # type: ignore[union-attr]
    )
    assert await app.guild_settings.leads_channel_private(guild)
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
