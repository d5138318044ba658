"""The coffee shop's weekly numbers (what the digest reads), through the real client."""

from __future__ import annotations

from datetime import timedelta

from cogs.coffee_shop import CoffeeService
from tests.support.coffee_shop import WEEK, submit_share
from tests.support.course import Course, app_of
from tests.support.digest import make_lead
from tests.support.waiting import eventually_equal


async def test_staff_kudos_count_in_the_receivers_cohort(course: Course) -> None:
    await course.setup_course()
    await make_lead(course)
    app, gid, w = app_of(course), course.guild_id, course.world
    student = w.student_ids[0]
    [cohort] = await app.guild_settings.cohorts(gid)
    given = await course.slash(
        w.lead_id, "kudos", {"member": student, "reason": "Great question in the lab"}
    )
    assert "Your kudos" in given.text(), given.text()
    now = course.clock.now()
    stats = await app.services.get(CoffeeService).week_stats(
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
        stats = await app.services.get(CoffeeService).week_stats(gid, *WEEK)
        return stats.celebration_reactions

    await s.add_reaction(coffee, post_id, w.instructor_id, "🎉")  # staff: not counted
    await s.add_reaction(coffee, post_id, ben, "🎉")
    await s.add_reaction(coffee, post_id, ben, "👏")  # the same classmate: one pair
    await eventually_equal(reactions, 1)
    await s.remove_reaction(coffee, post_id, ben, "🎉")  # 👏 is still there
    await s.remove_reaction(coffee, post_id, ben, "👏")
    await eventually_equal(reactions, 0)
    assert await reactions() == 0
