"""Circles through the real discord.py client and the sandbox: private threads that students
join and leave, a size cap that opens a second thread, and threads kept open."""

from __future__ import annotations

from cogs.coffee_shop import CircleService
from tests.support.course import Course, app_of

PRIVATE_THREAD = 12


async def add_circle(course: Course, name: str) -> None:
    record = await course.slash(course.world.instructor_id, "course circle add", {"name": name})
    assert "Added the circle" in record.text(), record.text()


async def test_join_leave_and_a_second_thread_at_the_cap(course: Course) -> None:
    await course.setup_course()
    s, gid = course.sandbox, course.guild_id
    amara, ben, chen = course.world.student_ids[:3]
    coffee = s.find_channel(gid, "coffee-shop")
    await add_circle(course, "Working parents")
    duplicate = await course.slash(
        course.world.instructor_id, "course circle add", {"name": "working  PARENTS"}
    )
    assert "already a circle" in duplicate.text()
    await course.slash(course.world.instructor_id, "course coffee limits", {"circle_size": 2})

    listing = await course.slash(amara, "circle list")
    assert "moderators" in listing.text() and "Working parents** (0 members)" in listing.text()

    joined = await course.slash(amara, "circle join", {"name": "working parents"})
    assert "You joined **Working parents**" in joined.text() and joined.ephemeral
    [thread] = s.threads_in(gid)
    assert thread["type"] == PRIVATE_THREAD and thread["parent_id"] == str(coffee)
    assert thread["thread_metadata"]["invitable"] is False
    assert thread["name"] == "Working parents"
    assert amara in s.thread_members(int(thread["id"]))

    twice = await course.slash(amara, "circle join", {"name": "Working parents"})
    assert "already in" in twice.text()
    missing = await course.slash(amara, "circle join", {"name": "Night owls"})
    assert "no circle called “Night owls”" in missing.text() and "Working parents" in missing.text()

    await course.slash(ben, "circle join", {"name": "Working parents"})
    await course.slash(chen, "circle join", {"name": "Working parents"})
    threads = sorted(s.threads_in(gid), key=lambda t: int(t["id"]))
    assert [t["name"] for t in threads] == ["Working parents", "Working parents 2"]
    first, second = (int(t["id"]) for t in threads)
    assert {amara, ben} <= set(s.thread_members(first)) and chen not in s.thread_members(first)
    assert chen in s.thread_members(second)

    left = await course.slash(ben, "circle leave", {"name": "Working parents"})
    assert "You left" in left.text()
    assert ben not in s.thread_members(first)
    not_in = await course.slash(ben, "circle leave", {"name": "Working parents"})
    assert "not in" in not_in.text()
    # The freed seat in the first thread is used before the second.
    await course.slash(ben, "circle join", {"name": "Working parents"})
    assert ben in s.thread_members(first)
    mine = await course.slash(ben, "circle list")
    assert "you're in it" in mine.text() and "(3 members)" in mine.text()


async def test_circle_threads_are_kept_open(course: Course) -> None:
    await course.setup_course()
    s, gid = course.sandbox, course.guild_id
    amara, ben = course.world.student_ids[:2]
    await add_circle(course, "Caregivers")
    await course.slash(amara, "circle join", {"name": "Caregivers"})
    [thread] = s.threads_in(gid)
    thread_id = int(thread["id"])
    # It idles out: the bot notices and unarchives it.
    s.archive_thread(thread_id)
    await s.wait_for(lambda: s.channel(thread_id)["thread_metadata"]["archived"] is False)
    # Archived again while the bot is down: joining unarchives it before adding.
    await course.runner.stop()
    s.archive_thread(thread_id)
    await course.restart_bot()
    assert s.channel(thread_id)["thread_metadata"]["archived"] is True
    joined = await course.slash(ben, "circle join", {"name": "Caregivers"})
    assert "You joined" in joined.text(), joined.text()
    assert ben in s.thread_members(thread_id)
    assert s.channel(thread_id)["thread_metadata"]["archived"] is False
    # A thread a moderator locked stays closed.
    s.archive_thread(thread_id, locked=True)
    assert await app_of(course).services.get(CircleService).is_circle_thread(gid, thread_id)
    assert s.channel(thread_id)["thread_metadata"]["archived"] is True


async def test_instructors_rename_and_remove_circles(course: Course) -> None:
    await course.setup_course()
    s, gid = course.sandbox, course.guild_id
    instructor, amara = course.world.instructor_id, course.world.student_ids[0]
    await add_circle(course, "Full time workers")
    await course.slash(amara, "circle join", {"name": "Full time workers"})
    renamed = await course.slash(
        instructor, "course circle rename", {"name": "Full time workers", "new_name": "Full-timers"}
    )
    assert "Renamed the circle to **Full-timers**" in renamed.text()
    [thread] = s.threads_in(gid)
    assert thread["name"] == "Full-timers"
    blank = await course.slash(instructor, "course circle add", {"name": "\u200b"})
    assert "empty" in blank.text()
    s.allow_command_for_everyone(gid, "course")
    refused = await course.slash(amara, "course circle add", {"name": "Mine"})
    assert "for course staff" in refused.text()
    removed = await course.slash(instructor, "course circle remove", {"name": "Full-timers"})
    assert "Removed the circle **Full-timers**" in removed.text() and "stay" in removed.text()
    assert await app_of(course).services.get(CircleService).all(gid) == []
    gone = await course.slash(amara, "circle join", {"name": "Full-timers"})
    assert "no circle" in gone.text()
