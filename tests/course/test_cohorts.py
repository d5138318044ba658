"""Cohorts through the real client: the list counts students only, and removing a cohort
stops its schedules."""

from __future__ import annotations

from bot.scheduler import schedule_job_id
from cogs.digest.service import DIGEST_KIND
from tests.support.course import Course, app_of
from tests.support.digest import make_lead


async def test_removing_a_cohort_stops_its_schedules(course: Course) -> None:
    await course.setup_course()
    s, app, gid, w = course.sandbox, app_of(course), course.guild_id, course.world
    section_b = s.create_role(gid, "Section B")
    await course.slash(
        w.instructor_id, "course cohort add", {"name": "Section B", "role": section_b}
    )
    cohorts = {c.name: c for c in await app.guild_settings.cohorts(gid)}
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
